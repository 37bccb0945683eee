"""Every course notebook (`nbs/NN_*.ipynb`) keeps to the numbers of DESIGN.md's "A notebook is a lesson".

What is measured, precisely:
- *code line*: a line of a code cell that is neither blank nor an nbdev directive (`#| ...`).
- *code stretch without prose*: consecutive code lines not interrupted by a markdown cell or by a code cell that shows
  output. Walking the cells in order, a code cell adds its code lines to the current stretch; a markdown cell ends the
  stretch before it; a code cell that shows output ends the stretch after its own lines (the reader sees a result).
  The longest stretch must be at most 60 lines.
- *long lines*: code lines over 90 characters; at most 2% of the code lines.
- *exercises*: code cells whose first line is the `#| solution` directive, in the section under a markdown heading
  containing "Exercises" (up to the next heading of the same or a higher level); at least 3.
- *glossary*: a markdown table with a Chinese term (a CJK character in a table row) under a heading containing
  "Glossary" (or in the same cell).
- *display maths*: `$$ ... $$` blocks in markdown (reported, no threshold).
- *cells with output* and *figures* count what the notebook shows after execution: the notebook is executed the way
  `nbdev_test` executes it (execnb's `CaptureShell`, in `nbs/`, skipping `#| eval: false` and `notest` cells), one
  subprocess per notebook. A code cell shows output when execution leaves any output in it (printed text, a value,
  a display, an error); a figure is an image output (`image/png` or `image/svg+xml`). At least 30% of code cells
  show output and at least 2 figures.

The static numbers are checked always; the execution-based ones only with `LEARNTORCH_LESSON_CHECK=1` (CI sets it
after `nbdev_test`; all notebooks take a few minutes on 2 cores). `python tests/test_lessons.py` executes the
notebooks and prints the table (`--static` to skip execution; notebook names as arguments to choose)."""
import json, os, re, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted((ROOT / 'nbs').glob('[0-9][0-9]_*.ipynb'))
LIMITS = dict(stretch=60, long_share=0.02, exercises=3, figures=2, output_share=0.30)
HEADING = re.compile(r'^(#{1,6})\s+(.*)$')
CJK = re.compile(r'[\u4e00-\u9fff]')


def code_lines(source):
    "The code lines of a cell's source: not blank, not an nbdev directive."
    return [l for l in source.splitlines() if l.strip() and not l.lstrip().startswith('#|')]


def _source(cell):
    s = cell['source']
    return ''.join(s) if isinstance(s, list) else s


def static_counts(cells):
    "Counts that need no execution, from a list of cells (dicts with `cell_type` and `source`)."
    n_lines = n_long = exercises = maths = 0
    glossary = False
    section = None                                  # (level, title) of the last heading
    exercise_level = None                           # level of the "Exercises" heading we are under
    for c in cells:
        src = _source(c)
        if c['cell_type'] == 'markdown':
            maths += src.count('$$') // 2
            for line in src.splitlines():
                m = HEADING.match(line)
                if not m: continue
                level, title = len(m.group(1)), m.group(2)
                if exercise_level is not None and level <= exercise_level: exercise_level = None
                if 'exercise' in title.lower(): exercise_level = level
                section = title
            rows = [l for l in src.splitlines() if l.lstrip().startswith('|')]
            if section and 'glossary' in section.lower() and any(CJK.search(r) for r in rows): glossary = True
        elif c['cell_type'] == 'code':
            lines = code_lines(src)
            n_lines += len(lines)
            n_long += sum(len(l) > 90 for l in lines)
            first = src.lstrip().splitlines()[0].replace(' ', '') if src.strip() else ''
            if exercise_level is not None and first == '#|solution': exercises += 1
    return dict(code_lines=n_lines, long_lines=n_long, exercises=exercises, maths=maths, glossary=glossary)


def _shows_output(cell): return bool(cell.get('outputs'))


def longest_stretch(cells, shows_output=_shows_output):
    "The longest run of code lines without a markdown cell or a code cell showing output in between."
    best = run = 0
    for c in cells:
        if c['cell_type'] == 'markdown': run = 0
        elif c['cell_type'] == 'code':
            run += len(code_lines(_source(c)))
            best = max(best, run)
            if shows_output(c): run = 0
    return best


def executed_counts(cells):
    "Counts after execution: code cells, those showing output, figures, and the longest stretch."
    code = [c for c in cells if c['cell_type'] == 'code' and code_lines(_source(c))]
    figures = sum(1 for c in code for o in c.get('outputs', [])
                  if {'image/png', 'image/svg+xml'} & set(o.get('data', {})))
    return dict(code_cells=len(code), output_cells=sum(map(_shows_output, code)), figures=figures,
                stretch=longest_stretch(cells))


def execute(path):
    "Run notebook `path` as nbdev_test does and return its cells with outputs (JSON-able dicts) and the seconds."
    from nbdev.process import NBProcessor
    from nbdev.frontmatter import FrontmatterProc
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    os.environ['IN_TEST'] = '1'
    path = Path(path).resolve()
    nb = NBProcessor(path, procs=FrontmatterProc, process=True).nb

    def skip(cell):
        if cell.cell_type != 'code': return True
        if 'nbdev_export' + '(' in cell.source: return True
        direc = getattr(cell, 'directives_', {}) or {}
        return direc.get('eval:', [''])[0].lower() == 'false' or 'notest' in direc

    t0 = time.perf_counter()
    error = None
    with working_directory(path.parent):
        try: CaptureShell(path).run_all(nb, exc_stop=True, preproc=skip)
        except Exception as e: error = f'{type(e).__name__}: {e}'[:300]
    cells = [dict(cell_type=c.cell_type, source=c.source, outputs=[dict(o) for o in c.get('outputs', [])])
             for c in nb.cells]
    return dict(cells=cells, seconds=time.perf_counter() - t0, error=error)


def _execute_in_subprocess(path):
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')])}
    out = subprocess.run([sys.executable, __file__, '--execute-json', str(path)], capture_output=True, text=True,
                         env=env, timeout=600)
    if out.returncode: return dict(cells=None, seconds=0, error=out.stderr[-300:])
    return json.loads(out.stdout.splitlines()[-1])


def measure(paths, run=True):
    "One row per notebook: its numbers, executed (`run`) or static only."
    rows = {}
    raw = {p: json.loads(p.read_text())['cells'] for p in paths}
    results = {}
    if run:
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = dict(zip(paths, pool.map(_execute_in_subprocess, paths)))
    for p in paths:
        row = dict(static_counts(raw[p]))
        r = results.get(p)
        if r and r['cells'] is not None:
            row.update(executed_counts(r['cells']), seconds=r['seconds'], error=r['error'])
        elif r: row.update(error=r['error'])
        else: row.update(stretch=longest_stretch(raw[p], lambda c: False))   # static: no cell shows output
        rows[p.stem] = row
    return rows


def problems(row, executed=True):
    "The numbers a notebook's row breaks, in words."
    out = []
    if row['long_lines'] > LIMITS['long_share'] * max(row['code_lines'], 1):
        out.append(f"{row['long_lines']}/{row['code_lines']} code lines over 90 characters (max 2%)")
    if row['exercises'] < LIMITS['exercises']: out.append(f"{row['exercises']} exercises (min 3)")
    if not row['glossary']: out.append('no glossary table (English / 中文)')
    if executed:
        if row.get('error'): out.append(f"execution failed: {row['error']}")
        if 'code_cells' not in row: return out
        if row['stretch'] > LIMITS['stretch']: out.append(f"code stretch of {row['stretch']} lines (max 60)")
        if row['output_cells'] < LIMITS['output_share'] * row['code_cells']:
            out.append(f"{row['output_cells']}/{row['code_cells']} code cells show output (min 30%)")
        if row['figures'] < LIMITS['figures']: out.append(f"{row['figures']} figures (min 2)")
    return out


def table(rows):
    "The rows as a markdown table (the numbers DESIGN.md holds a lesson to, plus glossary and run time)."
    head = ('| notebook | code cells that show output | figures | exercises | display maths | '
            'longest code stretch without prose | code lines > 90 chars | glossary | seconds |')
    lines = [head, '|---|---|---|---|---|---|---|---|---|']
    for name, r in rows.items():
        shown = f"{r['output_cells']} / {r['code_cells']}" if 'code_cells' in r else 'not run'
        stretch = (f"{r['stretch']} lines" if 'code_cells' in r else f"({r['stretch']} without outputs)")
        lines.append(f"| {name} | {shown} | {r.get('figures', '-')} | {r['exercises']} | {r['maths']} | {stretch} | "
                     f"{r['long_lines']} / {r['code_lines']} | {'yes' if r['glossary'] else 'no'} | "
                     f"{r.get('seconds', 0):.0f} |")
    return '\n'.join(lines)


def _report(rows, executed):
    bad = {n: problems(r, executed) for n, r in rows.items()}
    text = table(rows) + '\n' + '\n'.join(f'{n}: ' + '; '.join(p) for n, p in bad.items() if p)
    return bad, text


def test_lessons_static_numbers():
    "Long lines, exercises and the glossary, read from the notebooks as stored."
    rows = measure(NBS, run=False)
    bad, text = _report(rows, executed=False)
    assert not any(bad.values()), '\n' + text


@pytest.mark.skipif(os.environ.get('LEARNTORCH_LESSON_CHECK') != '1',
                    reason='executes every notebook: set LEARNTORCH_LESSON_CHECK=1 (CI does, after nbdev_test)')
def test_lessons_executed_numbers():
    "Everything, with outputs, figures and stretches counted after executing each notebook."
    rows = measure(NBS, run=True)
    bad, text = _report(rows, executed=True)
    print(text)
    assert not any(bad.values()), '\n' + text


def test_measures_on_a_small_notebook():
    "The definitions above on a hand-made notebook."
    md = lambda s: dict(cell_type='markdown', source=s)
    code = lambda s, out=False: dict(cell_type='code', source=s, outputs=[{'output_type': 'stream'}] if out else [])
    cells = [md('# Title'), code('#| export\na = 1\n\nb = 2'), code('c = 3', out=True), code('d = 4\ne = 5'),
             code('f = 6'), md('## Exercises\n1. write'), code('#| solution\nx = 1\nassert x'),
             md('### Exercise 2'), code('#|solution\ny=2'), md('## Glossary\n| English | 中文 |\n|---|---|\n| tensor | 张量 |'),
             code('#| solution\nz = 3'), md('$$ a $$ and $$ b $$'), code('w = "' + 'x' * 100 + '"', out=True)]
    s = static_counts(cells)
    assert s == dict(code_lines=11, long_lines=1, exercises=2, maths=2, glossary=True), s
    assert longest_stretch(cells) == 3                      # a, b, c, then output; d, e, f
    e = executed_counts(cells)
    assert (e['code_cells'], e['output_cells'], e['figures']) == (8, 2, 0)


if __name__ == '__main__':
    args = sys.argv[1:]
    if args[:1] == ['--execute-json']:
        print(json.dumps(execute(args[1]), default=str))
        sys.exit(0)
    static = '--static' in args
    names = [a for a in args if not a.startswith('--')]
    paths = [p for p in NBS if not names or any(n in p.name for n in names)]
    rows = measure(paths, run=not static)
    bad, text = _report(rows, executed=not static)
    print(text)
    sys.exit(1 if any(bad.values()) else 0)
