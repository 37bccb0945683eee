"""Notebooks 03-05 keep the numbers DESIGN.md holds a lesson to: at least 30% of code cells show output when run,
at least 2 figures, at least 3 exercises with `#| solution` cells, no code stretch over 60 lines without prose or a
demonstration, at most 2% of code lines over 90 characters, a glossary, and "The complete version" as the last
section before it."""
import json, os, subprocess, sys
from pathlib import Path

import pytest

NBS = Path(__file__).resolve().parents[1] / 'nbs'
LESSONS = ['03_module.ipynb', '04_layers.ipynb', '05_losses.ipynb']


def _cells(name): return json.load(open(NBS / name))['cells']


def _src(c): return ''.join(c['source'])


_RUN = """
import json, os, sys
from execnb.nbio import read_nb
from execnb.shell import CaptureShell
os.chdir(sys.argv[1])
result = {}
for name in sys.argv[2:]:
    nb = read_nb(name)
    CaptureShell().run_all(nb, exc_stop=True)
    result[name] = ([bool(c.get('outputs')) for c in nb.cells],
                    [sum('image/png' in o.get('data', {}) for o in c.get('outputs', [])) for c in nb.cells])
print(json.dumps(result))
"""


@pytest.fixture(scope='module')
def executed():
    "Each lesson run once in a separate process (its export cells must not replace this process's classes)."
    p = subprocess.run([sys.executable, '-c', _RUN, str(NBS), *LESSONS], capture_output=True, text=True,
                       timeout=600, env={**os.environ, 'PYTHONPATH': str(NBS.parent)})
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('name', LESSONS)
def test_static_numbers(name):
    cells = _cells(name)
    code = [c for c in cells if c['cell_type'] == 'code']
    lines = [l for c in code for l in _src(c).splitlines()]
    assert sum(len(l) > 90 for l in lines) <= 0.02 * len(lines)
    assert sum(_src(c).startswith('#| solution') for c in code) >= 3
    heads = [_src(c).split('\n')[0] for c in cells if c['cell_type'] == 'markdown' and _src(c).startswith('## ')]
    assert '## Exercises' in heads and heads[-1] == '## Glossary' and heads[-2] == '## The complete version'
    glossary = _src([c for c in cells if _src(c).startswith('## Glossary')][0])
    assert '| English | 中文 |' in glossary and glossary.count('\n|') >= 8


@pytest.mark.parametrize('name', LESSONS)
def test_executed_numbers(name, executed):
    cells = _cells(name)
    has_out, figures = executed[name]
    code = [i for i, c in enumerate(cells) if c['cell_type'] == 'code']
    assert sum(has_out[i] for i in code) >= 0.3 * len(code)
    assert sum(figures) >= 2
    run = longest = 0
    for i, c in enumerate(cells):
        if c['cell_type'] == 'markdown': run = 0; continue
        n = len(_src(c).splitlines())
        longest = max(longest, max(run, n) if has_out[i] else run + n)
        run = 0 if has_out[i] else run + n
    assert longest <= 60
