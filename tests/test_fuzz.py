"""Differential fuzz test: random statement programs run in PyTorch and learntorch must agree (see `tests/fuzz/`).

The CI run is a fixed seed set (`CI_SEED`, `CI_PROGRAMS` programs, about a minute on 2 cores). Differences it
still finds must be known failures (`fuzz/known_failures.py`, each naming its cause) and the difference rate must stay
at or under `MAX_RATE`: a new difference class fails the test with its minimal reproduction. Differences where
PyTorch is itself inconsistent or wrong are in the one table `fuzz/accepted.py`, each pinned here. A longer run:
`python -m tests.fuzz --programs 20000 --seed 7`."""
import os
import numpy as np
import pytest

torch = pytest.importorskip('torch')
import learntorch
from fuzz import program_for, differ, shrink, report, Program, Statement
from fuzz.campaign import campaign, classify
import re
from fuzz.accepted import ACCEPTED_PROGRAMS, accepted_program, accepted
from fuzz.known_failures import KNOWN_FAILURES, MAX_RATE
from fuzz.runner import compare_snaps, TensorSnap

CI_SEED, CI_PROGRAMS = 0, 4000


@pytest.fixture(scope='module')
def ci_run():
    return campaign(CI_SEED, CI_PROGRAMS)


def test_no_new_difference_classes(ci_run):
    print(ci_run.table(examples=False))
    new = [k for k in ci_run.classes if k not in KNOWN_FAILURES]
    assert not new, (f'{len(new)} new difference classes (not in fuzz/known_failures.py):\n\n' +
                     '\n\n'.join(ci_run.examples[k] for k in new))


def test_difference_rate_within_known(ci_run):
    assert ci_run.rate <= MAX_RATE, ci_run.table(examples=False)


def test_stale_known_failures(ci_run):
    "Known failures the run no longer finds are fixed: listed, and failing under LEARNTORCH_FUZZ_STRICT=1."
    stale = sorted(set(KNOWN_FAILURES) - set(ci_run.classes))
    if stale: print(f'{len(stale)} known failures no longer found (delete them):\n' + '\n'.join(stale))
    if os.environ.get('LEARNTORCH_FUZZ_STRICT') == '1': assert not stale, stale


def test_known_failures_name_owner_and_cause():
    for k, why in KNOWN_FAILURES.items():
        who, _, cause = why.partition(': ')
        assert who in ('core', 'autograd', 'nn') and cause, (k, why)


@pytest.mark.parametrize('entry', ACCEPTED_PROGRAMS, ids=lambda e: e['statements'][-1][1])
def test_accepted_difference_is_pinned(entry):
    "Each accepted difference still shows exactly as recorded (else its reason is gone: delete the entry)."
    key, text, _ = classify(accepted_program(entry))
    assert key and re.fullmatch(entry['match'], key), text
    assert accepted(key) == entry['reason']


def test_programs_are_deterministic():
    for i in (0, 17, 123):
        assert program_for(CI_SEED, i).source() == program_for(CI_SEED, i).source()
    assert program_for(1, 5).source() != program_for(2, 5).source()


def test_programs_cover_the_surface():
    "The CI seed set reaches the parts of the surface the fuzz test is about."
    programs = [program_for(CI_SEED, i) for i in range(1500)]
    ops = {s.op for p in programs for s in p.statements}
    text = '\n'.join(p.source() for p in programs)
    for op in ('setitem:basic', 'setitem:advanced', 'setitem:mixed', 'setitem:mask', 'getitem:mixed', 'operator %=',
               'Tensor.copy_', 'Tensor.backward', 'torch.autograd.grad', 'Tensor.register_hook', 'Tensor.retain_grad',
               'F.cross_entropy', 'F.nll_loss', 'F.layer_norm', 'Tensor.view', 'Tensor.expand', 'torch.arange'):
        assert op in ops, op
    for piece in ('torch.no_grad()', "'float16'", "'int64'", "'bool'", 'inf', 'nan', '.reshape(0', '[()]'):
        assert piece in text, piece


def test_runnable_reproduction():
    "A program prints as code that runs on its own in both libraries."
    p = program_for(CI_SEED, 3)
    for lib in ('torch', 'learntorch'):
        src = p.source(lib)
        assert ('import learntorch as torch' in src) == (lib == 'learntorch')
        try: exec(compile(src, '<repro>', 'exec'), {})
        except Exception: pass                      # a statement may raise; the point is that the source parses


def test_comparator_finds_a_planted_bug(monkeypatch):
    "A wrong value, a missed view write and a wrong grad_fn are each found and shrunk to the statement causing it."
    prog = Program({'x0': np.array([1.0, -2.0, 0.5], dtype='float32')}, [
        Statement('torch.tensor', 'v0 = torch.tensor(x0, requires_grad=True)', 'v0'),
        Statement('torch.tensor', 'v1 = torch.tensor(x0)', 'v1'),
        Statement('operator +', 'v2 = v1 + 1', 'v2'),
        Statement('Tensor.sin', 'v3 = v0.sin()', 'v3'),
        Statement('operator *', 'v4 = v3 * 2', 'v4')])
    assert differ(prog)[0] is None
    monkeypatch.setattr(learntorch.Tensor, 'sin', lambda self: self.cos())
    d = differ(prog)[0]
    assert (d.index, d.op) == (3, 'Tensor.sin') and d.symptom.startswith('grad_fn'), d
    small, sd = shrink(prog, d)
    assert [s.op for s in small.statements] == ['torch.tensor', 'Tensor.sin'], report(small, sd)
    assert 'v3 = v0.sin()' in report(small, sd)


def test_rounding_only_differences_are_excused():
    a = TensorSnap('float32', (2,), np.array([1.0, 2.0], 'float32'), (1,), False, None, False, True)
    b = TensorSnap('float32', (2,), np.array([1.0, np.nextafter(np.float32(2), np.float32(3))], 'float32'), (1,),
                   False, None, False, True)
    assert compare_snaps(a, b) == (None, False)            # close, not exact: later jumps are put down to rounding
    c = TensorSnap('float32', (2,), np.array([1.0, 2.1], 'float32'), (1,), False, None, False, True)
    assert compare_snaps(a, c)[0][0] == 'value'
    n = TensorSnap('float32', (2,), np.array([1.0, np.nan], 'float32'), (1,), False, None, False, True)
    assert compare_snaps(a, n)[0][0] == 'value' and compare_snaps(n, n) == (None, True)
