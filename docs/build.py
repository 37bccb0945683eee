"""Build the learntorch course site into docs/_build/html:

    .venv/bin/python docs/build.py

1. copy nbs/ to docs/_nbs, turning nbdev's `#|` directives into the cell tags myst-nb understands;
2. write the generated pages (API reference, seeds map, glossary) and the table of contents beside them;
3. run Sphinx (settings in docs/conf.py): it executes every notebook afresh and stops on any error or warning.
"""
import json, os, re, shutil, subprocess, sys, time
from pathlib import Path
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # the learntorch of this checkout, installed or not
from pages import DOCS, Notebook, write_pages

SRC, OUT = DOCS/'_nbs', DOCS/'_build'/'html'

# nbdev/Quarto directive -> myst-nb tag. Exported code stays visible: reading it is the course.
TAGS = {'default_exp': 'remove-cell', 'hide': 'remove-cell', 'include: false': 'remove-cell',
        'echo: false': 'remove-input', 'output: false': 'remove-output', 'eval: false': 'skip-execution',
        'export': 'export', 'exporti': 'export', 'exports': 'export',
        'solution': 'hide-cell'}   # an exercise's solution: folded away, one click to open (conf.py names the toggle)

DIRECTIVE = re.compile(r'#\s*\|\s*(.*)')

def tag_cell(cell):
    "Move the `#| ...` directive lines of a code cell into its tags (the code itself is unchanged)."
    lines = ''.join(cell['source']).split('\n')
    directives = [re.sub(r'\s*:\s*', ': ', m.group(1).strip()) for m in map(DIRECTIVE.match, lines) if m]
    tags = {TAGS.get(d) or TAGS.get(d.split()[0]) for d in directives} - {None}
    cell['source'] = '\n'.join(l for l in lines if not DIRECTIVE.match(l)).strip('\n')
    cell.setdefault('metadata', {})['tags'] = sorted(tags | set(cell['metadata'].get('tags', [])))

def copy_notebook(path, dest, extra_cells=()):
    "Copy one notebook with its directives turned into tags, and extra markdown cells appended."
    nb = json.loads(path.read_text(encoding='utf-8'))
    for cell in nb['cells']:
        if cell['cell_type'] == 'code': tag_cell(cell)
    nb['cells'] += [{'cell_type': 'markdown', 'id': f'extra{i}', 'metadata': {}, 'source': source}
                    for i, source in enumerate(extra_cells)]
    dest.write_text(json.dumps(nb, ensure_ascii=False, indent=1), encoding='utf-8')

def toctree(caption, entries):
    "A MyST table of contents: it makes the sidebar and the previous/next links, in this order."
    return f'```{{toctree}}\n:caption: {caption}\n:hidden:\n\n' + '\n'.join(entries) + '\n```'

def course_map(index):
    "The concept of every notebook number, read from the course map table of the home page."
    return dict(re.findall(r'^\| (\d\d) \| ([^|]+?) \|', '\n'.join(Notebook(index).markdown), re.M))

def prepare():
    "Fill docs/_nbs with the notebooks (course order is the number in their names) and the generated pages."
    shutil.rmtree(SRC, ignore_errors=True)
    shutil.copytree(ROOT/'nbs', SRC, ignore=shutil.ignore_patterns('*.ipynb', '.ipynb_checkpoints'))
    notebooks = [Notebook(p) for p in sorted((ROOT/'nbs').glob('[0-9][0-9]_*.ipynb'))]
    for nb in notebooks: copy_notebook(nb.path, SRC/nb.path.name)
    copy_notebook(ROOT/'nbs'/'index.ipynb', SRC/'index.ipynb', [
        toctree('Course', [nb.name for nb in notebooks]),
        toctree('Reference', ['api/index', 'seeds', 'glossary'])])
    write_pages(SRC, notebooks, course_map(ROOT/'nbs'/'index.ipynb'))
    return notebooks

def main():
    start = time.time()
    if not (DOCS/'node_modules'/'mathjax').is_dir():   # MathJax is served by the site itself, from npm
        subprocess.run(['npm', 'ci', '--prefix', str(DOCS), '--no-audit', '--no-fund'], check=True)
    notebooks = prepare()
    # The notebooks' kernel is this Python (first on PATH), and it imports the learntorch of this checkout.
    env = dict(os.environ, PATH=f'{Path(sys.executable).parent}{os.pathsep}{os.environ.get("PATH", "")}',
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get('PYTHONPATH')])))
    shutil.rmtree(OUT, ignore_errors=True)
    subprocess.run([sys.executable, '-m', 'sphinx', '-W', '--keep-going', '-T', '-E', '-j', 'auto', '-b', 'html',
                    '-c', str(DOCS), str(SRC), str(OUT)], check=True, env=env)
    pages = len([p for p in OUT.rglob('*.html') if '_static' not in p.parts])
    print(f'built {pages} pages ({len(notebooks)} notebooks) in {time.time() - start:.0f}s: {OUT/"index.html"}')

if __name__ == '__main__':
    try: main()
    except subprocess.CalledProcessError as e: sys.exit(f'docs build failed: {" ".join(map(str, e.cmd[:3]))} ...')
