"""The generated pages of the course site: API reference, seeds map and glossary.

`docs/build.py` calls `write_pages`. Everything is discovered at build time (the notebooks in `nbs/`,
the modules of `learntorch`), so a new notebook or module joins the site without an edit here.
"""
import importlib, inspect, json, pkgutil, re, sys
from pathlib import Path
from myst_parser.slugs import github_slugify  # the slug MyST gives a heading's anchor

DOCS = Path(__file__).resolve().parent
SEEDS = DOCS.parent.parent/'shared'/'seeds'   # the five seed tutorials, beside the clone (optional)


# ---- reading notebooks ---------------------------------------------------------------------------

class Notebook:
    "A course notebook `NN_name.ipynb`: its number, title, markdown headings and exported module."
    def __init__(self, path):
        self.path, self.name, self.num = path, path.stem, path.stem[:2]
        cells = json.loads(path.read_text(encoding='utf-8'))['cells']
        self.markdown = [''.join(c['source']) for c in cells if c['cell_type'] == 'markdown']
        code = '\n'.join(''.join(c['source']) for c in cells if c['cell_type'] == 'code')
        prose = [re.sub(r'^```.*?^```', '', md, flags=re.M | re.S) for md in self.markdown]   # without code blocks
        self.headings = [h for md in prose for h in re.findall(r'^#{1,6} +(.+?) *$', md, re.M)]
        self.title = self.headings[0] if self.headings else self.name
        m = re.search(r'^#\s*\|\s*default_exp\s+(\S+)', code, re.M)
        self.module = f'learntorch.{m.group(1)}'.removesuffix('.__init__') if m else None   # a package's own module

    def link(self, section=None, up=''):
        "A MyST link to this notebook's page, or to one of its sections."
        if section is None: return f'[{self.num} · {self.title}]({up}{self.name}.ipynb)'
        return f'[{section}]({up}{self.name}.ipynb#{anchor(section)})'

def anchor(heading):
    "The HTML anchor of a markdown heading, as MyST makes it (code marks and links reduced to their text)."
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', heading).replace('`', '')
    return github_slugify(text)


# ---- API reference: one page per public module ---------------------------------------------------

def public_modules(package='learntorch'):
    """The package and its public modules (no part of the name starts with `_`): the files pkgutil finds, and the
    namespace modules (such as `nn.functional`) that they register in `sys.modules` when imported."""
    pkg = importlib.import_module(package)
    for m in pkgutil.walk_packages(pkg.__path__, package + '.'): importlib.import_module(m.name)
    names = [n for n in list(sys.modules) if n == package or n.startswith(package + '.')]
    return [n for n in names if not any(p.startswith('_') for p in n.split('.'))]

def exported(modname):
    "The public names of a module: its `__all__`, or else every name not starting with `_`."
    mod = importlib.import_module(modname)
    return getattr(mod, '__all__', None) or [n for n in vars(mod) if not n.startswith('_')]

def home(modname, name, obj, modules):
    """Where the page of `modname` should send the reader for `name`: the public module that defines and exports
    `obj` (for an instance, the module of its class), `modname` itself if none does, None for other libraries' names."""
    defines = inspect.isclass(obj) or inspect.isroutine(obj)
    where = obj.__module__ if defines else type(obj).__module__
    if where in modules and getattr(sys.modules[where], name, None) is obj and name in exported(where): return where
    return None if defines and where.split('.')[0] != 'learntorch' else modname

def directive(full, obj):
    "The autodoc directive that documents `obj`, with its full docstring."
    if inspect.isclass(obj): return f'.. autoclass:: {full}\n   :members:\n'
    if inspect.isroutine(obj): return f'.. autofunction:: {full}\n'
    # other objects (constants, tables): their value when short, else their type; never their type's docstring
    value = repr(obj)
    if ' at 0x' in value or len(value) > 80 or '\n' in value: return f'.. py:data:: {full}\n   :type: {type(obj).__name__}\n'
    return f'.. py:data:: {full}\n   :value: {value}\n'


def summary(obj):
    "One line for the summary table: a docstring's first line, or for other objects their value."
    if inspect.isclass(obj) or inspect.isroutine(obj): text = (inspect.getdoc(obj) or '').split('\n')[0]
    else: text = f'`{obj!r}`' if ' at 0x' not in repr(obj) else f'a `{type(obj).__name__}` object'
    return text.replace('|', '\\|')

def api_page(modname, nb, modules):
    "A module's page: its docstring, where it is taught, a table of its names, then the docs of its own."
    mod = importlib.import_module(modname)
    objs = [(n, getattr(mod, n)) for n in exported(modname) if not inspect.ismodule(getattr(mod, n))]
    homes = {n: home(modname, n, o, modules) for n, o in objs}
    ours = [(n, o) for n, o in objs if homes[n] == modname]   # documented here; the rest link to their homes
    page = [f'# `{modname}`\n', f'```{{eval-rst}}\n.. automodule:: {modname}\n```\n']
    if nb: page.append(f'Built in the notebook {nb.link(up="../")}.\n')
    if any(homes.values()):
        page += ['| name | summary |', '|---|---|']
        page += [f'| {{py:obj}}`~{homes[n]}.{n}` | {summary(o)} |' for n, o in objs if homes[n]]
    if ours: page.append('\n```{eval-rst}\n' + '\n'.join(directive(f'{modname}.{n}', o) for n, o in ours) + '```\n')
    return '\n'.join(page)

def write_api(src, notebooks):
    "`api/index.md` and a page per module, in course order (the notebook whose `default_exp` made it)."
    taught = {nb.module: nb for nb in notebooks if nb.module}
    mods = sorted(public_modules(), key=lambda m: (m != 'learntorch', taught[m].num if m in taught else '99', m))
    (src/'api').mkdir()
    for m in mods: (src/'api'/f'{m}.md').write_text(api_page(m, taught.get(m), mods), encoding='utf-8')
    (src/'api'/'index.md').write_text(
        '# API reference\n\nEvery public name of every `learntorch` module, generated from the docstrings. '
        'With `import learntorch as torch`, the top-level names are the ones PyTorch puts under `torch`.\n\n'
        '```{toctree}\n:maxdepth: 1\n\n' + '\n'.join(mods) + '\n```\n', encoding='utf-8')


# ---- seeds map: where each section of the seed tutorials is taught --------------------------------

def read_seed_map(path=DOCS/'seed_map.txt'):
    """Rows of `seed | level | section | notebook number or - | notebook section or note` ('#' starts a comment).
    Level 0 is a seed's title, where its headings do not start with one."""
    rows = []
    for line in path.read_text(encoding='utf-8').splitlines():
        if line.strip() and not line.startswith('#'):
            seed, level, section, nb, where = [f.strip() for f in line.split('|')]
            rows.append(dict(seed=seed, level=int(level), section=section, nb=nb, where=where))
    return rows

def seed_headings(text):
    "A seed's section headings: markdown headings outside code blocks, or for a slide deck, its agenda."
    heads, in_code = [], False
    for line in text.splitlines():
        if re.match(r'\s*(```|~~~)', line): in_code = not in_code
        elif not in_code and (m := re.match(r'#{1,6}\s+(.*\S)', line)): heads.append(m.group(1))
    if heads: return heads
    agenda = re.search(r'^((?:\d+\. .*\n)+)', text, re.M).group(1)
    return [re.sub(r'^\d+\. ', '', l).replace('**', '') for l in agenda.splitlines()]

def check_seed_map(rows):
    "Fail unless the map lists every heading of every seed, in order, and quotes only text the seeds contain."
    if not SEEDS.is_dir(): return print(f'note: {SEEDS} not found; the seeds map is not checked against the seeds')
    for f in sorted(SEEDS.glob('*.txt')):
        text, mine = f.read_text(encoding='utf-8'), [r['section'] for r in rows if r['seed'] == f.name[:3]]
        bad = [s for s in mine if s not in text.replace('**', '')]
        it = iter(mine)   # each heading must be found after the previous one: an ordered subsequence
        missing = [h for h in seed_headings(text) if not any(h == s for s in it)]
        if bad or missing:
            raise SystemExit(f'docs/seed_map.txt is out of step with {f}:\n  not in the seed: {bad}\n'
                             f'  headings missing or out of order (first one): {missing[:1]}')

def plain(text):
    "Markdown showing `text` as written: markup characters outside `code` are escaped."
    parts = re.split(r'(`[^`]*`)', text)
    return ''.join(p if p.startswith('`') else re.sub(r'([\\[\]*_$<])', r'\\\1', p) for p in parts)

def write_seeds(src, notebooks, planned):
    "seeds.md: per seed, a table from each section to the notebook (and section) that teaches it."
    rows, by_num = read_seed_map(), {nb.num: nb for nb in notebooks}
    check_seed_map(rows)
    page = ['# The seeds, section by section\n',
            'learntorch follows five Chinese PyTorch tutorials, the *seeds* (numbered 000 to 004), and teaches '
            'everything they use. This page lists every section of each seed with the notebook, and where there '
            'is one the section, that teaches it. Notebooks not written yet are marked *planned*.\n']
    for seed in sorted({r['seed'] for r in rows}):
        mine = [r for r in rows if r['seed'] == seed]
        title = mine.pop(0)['section'] if mine[0]['level'] == 0 else mine[0]['section']
        page += [f'## Seed {seed}: {plain(title)}\n', '| seed section | taught in |', '|---|---|']
        for r in mine:
            nb = by_num.get(r['nb'])
            if r['nb'] == '-': where = f'*{r["where"]}*'
            elif nb is None: where = f'{r["nb"]} {planned.get(r["nb"], "")} (planned)'
            elif r['where'] and r['where'] not in nb.headings:
                raise SystemExit(f'docs/seed_map.txt: {nb.name} has no section {r["where"]!r}; update the map')
            else: where = nb.link() + (f', § {nb.link(r["where"])}' if r['where'] else '')
            page.append(f'| {"&emsp;" * (r["level"] - 1)}{plain(r["section"])} | {where} |')
        page.append('')
    (src/'seeds.md').write_text('\n'.join(page), encoding='utf-8')


# ---- glossary: the English/Chinese tables at the end of every notebook, gathered ------------------

def glossary_rows(nb):
    "The rows (English, Chinese, meaning) of the notebook's `## Glossary` table."
    found = (re.search(r'^#+ Glossary.*', m, re.M | re.S) for m in nb.markdown)
    md = next((f.group(0) for f in found if f), None)   # the heading and what follows it in its cell
    if md is None: raise SystemExit(f'{nb.path} has no "## Glossary" section; every notebook ends with one')
    lines = md.splitlines()
    table = [l for l in lines[1:] if l.startswith('|')]
    rows = [[c.strip() for c in l.strip().strip('|').split('|')] for l in table]
    return [r for r in rows[2:] if len(r) >= 3]   # skip the header and the |---| line

def write_glossary(src, notebooks):
    "glossary.md: every notebook's glossary in one table, sorted by the English term."
    rows = [r + [f'[{nb.num}]({nb.name}.ipynb#glossary)'] for nb in notebooks for r in glossary_rows(nb)]
    rows.sort(key=lambda r: r[0].lower())
    page = ['# Glossary 术语表\n',
            'The terms the notebooks introduce, in English and in the Chinese the seed tutorials use, gathered '
            'from the glossary at the end of every notebook. The last column links to that notebook.\n',
            '| English | 中文 | meaning here | notebook |', '|---|---|---|---|']
    (src/'glossary.md').write_text('\n'.join(page + ['| ' + ' | '.join(r) + ' |' for r in rows]) + '\n',
                                   encoding='utf-8')


def write_pages(src, notebooks, planned):
    "Write every generated page into the Sphinx source folder `src`."
    write_api(src, notebooks)
    write_seeds(src, notebooks, planned)
    write_glossary(src, notebooks)
