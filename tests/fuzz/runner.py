"""The runner and comparator: run a program statement by statement in PyTorch and in learntorch, and find the first
place where they differ.

After every statement the runner records what each library did: the exception it raised (its built-in class) and the
warnings it emitted, and a snapshot of *every* variable (so a view that misses a later write shows up at the write)
with its gradient. `first_difference` walks the two records in step and compares, in this order: the existence and
type of an error, numpy warnings leaking out, then for the statement's target and every other variable the kind of
value, dtype, shape, `requires_grad`, `grad_fn` name, values (tolerances per dtype), strides (where PyTorch defines
them: views, and non-view results that are contiguous), and the `.grad` of every tensor.

Rounding-only differences are excluded, not reported: after a statement, a variable whose values differ by less
than the tolerance is *approximate*; a statement that reads an approximate variable and whose result jumps (floor,
comparisons, argmax, relu and its derivative: `Statement.discrete`) makes its outputs *fragile*, as does a random
statement; differences in a statement that reads a fragile variable are put down to rounding (or chance)."""
import builtins, math, warnings
from dataclasses import dataclass, field
import numpy as np
import torch
import learntorch
from .generator import namespace, _CODE

__all__ = ['Trace', 'Difference', 'run', 'compare', 'difference_class', 'TOLERANCES']

# (rtol, atol); atol is scaled by the size of the largest finite reference value (cancellation in sums).
TOLERANCES = {'float64': (1e-9, 1e-12), 'float32': (1e-5, 1e-6), 'float16': (1e-2, 1e-3)}
GRAD_TOLERANCES = {'float64': (1e-8, 1e-10), 'float32': (1e-4, 1e-5), 'float16': (2e-2, 2e-3)}
LIBRARIES = {'torch': torch, 'learntorch': learntorch}
EXCUSED = None       # set to a list to collect the differences put down to rounding or chance (for inspection)
# The warning filters learntorch installs for itself when imported (say, to keep numpy's RuntimeWarnings from its
# own modules away from users): a user sees warnings through them, so the runner applies them before its own
# "record everything". Taken now, just after the import, since pytest resets filters between collection and tests.
LIBRARY_FILTERS = [f for f in warnings.filters if 'learntorch' in str(getattr(f[3], 'pattern', f[3]))]


@dataclass
class Step:
    "What one statement did in one library."
    error: str = None                      # the built-in class of the exception it raised
    message: str = ''
    warnings: tuple = ()                  # categories of warnings it emitted
    snapshot: dict = field(default_factory=dict)   # variable -> `snap` of its value after the statement


@dataclass
class Trace:
    "A program's run in one library: one `Step` per statement."
    library: str
    steps: list


@dataclass
class Difference:
    "The first place two traces differ."
    index: int          # the statement
    op: str             # its operation (for a gradient or an alias, with the program's other operations)
    symptom: str        # what differs, in a few stable words: `dtype float32 vs float64`, `alias value`
    var: str = None
    torch_side: str = ''
    learntorch_side: str = ''
    def key(self): return f'{self.op}: {self.symptom}'

# ------------------------------------------------------------------------------------------------ running
def _builtin_class(e):
    "The first built-in exception class in `e`'s MRO (`RuntimeError` for torch's own subclasses)."
    return next(c.__name__ for c in type(e).__mro__ if getattr(builtins, c.__name__, None) is c)


def run(program, library):
    "Run `program` in `library` ('torch' or 'learntorch'), recording a `Step` per statement."
    lib = LIBRARIES[library]
    ns = namespace(lib, program.inputs)
    lib.manual_seed(0)
    steps = []
    for st in program.statements:
        code = _CODE.get(st.code) or _CODE.setdefault(st.code, compile(st.code, '<program>', 'exec'))
        step = Step()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            warnings.filters[:0] = LIBRARY_FILTERS
            try: exec(code, ns)
            except Exception as e:
                step.error, step.message = _builtin_class(e), f'{type(e).__name__}: {e}'.split('\n')[0][:200]
        step.warnings = tuple(sorted({w.category.__name__ for w in caught}))
        step.snapshot = snapshot(ns, library)
        steps.append(step)
    return Trace(library, steps)

# ------------------------------------------------------------------------------------------------ snapshots
@dataclass
class TensorSnap:
    dtype: str
    shape: tuple
    array: np.ndarray
    strides: tuple
    requires_grad: bool
    grad_fn: str
    is_view: bool
    contiguous: bool
    grad: object = None


def _grad_fn_name(g):
    if g is None: return None
    try: return g.name().split('::')[-1]          # PyTorch's C++ nodes: `torch::autograd::CopySlices`
    except Exception: return type(g).__name__


def snap(x, library, with_grad=True):
    "A comparable copy of a value: tensors as `TensorSnap`, sequences as tuples, numbers as they are."
    is_tensor = isinstance(x, torch.Tensor) if library == 'torch' else isinstance(x, learntorch.Tensor)
    if is_tensor:
        try:
            if library == 'torch':
                arr = x.detach().numpy().copy()
                is_view = x._is_view()
            else:
                arr = np.array(x._array, copy=True)
                is_view = x._base is not None
            s = TensorSnap(str(x.dtype).split('.')[-1], tuple(x.shape), arr, tuple(x.stride()), bool(x.requires_grad),
                           _grad_fn_name(x.grad_fn), is_view, bool(x.is_contiguous()))
            if with_grad:
                g = x.grad if (x.is_leaf or x.retains_grad) else None
                s.grad = None if g is None else snap(g, library, with_grad=False)
            return s
        except Exception as e:
            return ('broken', f'{type(e).__name__}: {e}')
    if isinstance(x, np.ndarray):                         # a program input (the numpy bridge writes into them)
        return TensorSnap(x.dtype.name, x.shape, x.copy(), tuple(s // x.itemsize for s in x.strides), False, None,
                          False, x.flags.c_contiguous)
    if isinstance(x, (tuple, list)): return tuple(snap(y, library, with_grad) for y in x)
    if isinstance(x, (builtins.bool, builtins.int, builtins.float, builtins.str, type(None))): return x
    if isinstance(x, (torch.Size, learntorch.Size)): return tuple(x)
    return ('object', type(x).__name__.replace('learntorch', 'torch'))


def snapshot(ns, library):
    "Snapshots of every program variable (`v0`, `v1`, ...) in `ns`."
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return {k: snap(v, library) for k, v in ns.items() if k[0] in 'vx' and k[1:].isdigit()}

# ------------------------------------------------------------------------------------------------ comparing
def _values_close(a, b, dtype, tol):
    "(close, exact): `a` (PyTorch) and `b` agree within `tol`; `exact`: bit for bit (nan matching nan)."
    if a.shape != b.shape: return False, False
    if a.dtype.kind in 'biu' or dtype in ('bool',) or dtype.startswith(('int', 'uint')):
        eq = np.array_equal(a, b)
        return eq, eq
    with np.errstate(all='ignore'): a64, b64 = a.astype(np.float64), b.astype(np.float64)
    if np.array_equal(a64, b64, equal_nan=True) and np.array_equal(np.signbit(a64), np.signbit(b64)): return True, True
    rtol, atol = tol.get(dtype, (1e-5, 1e-6))
    finite = a64[np.isfinite(a64)]
    scale = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
    with np.errstate(all='ignore'):
        close = np.isclose(b64, a64, rtol=rtol, atol=atol * scale, equal_nan=True)
    return bool(close.all()), False


def _describe(s):
    if isinstance(s, TensorSnap):
        vals = np.array2string(s.array, threshold=20, precision=6)
        return (f'tensor({vals}, dtype={s.dtype}, shape={s.shape}, stride={s.strides}, '
                f'requires_grad={s.requires_grad}, grad_fn={s.grad_fn})')
    return repr(s)


def compare_snaps(t, l, tol=TOLERANCES, strides=False):
    """The first field where `t` (PyTorch) and `l` (learntorch) differ, as (field, detail suffix), or None; and
    whether their values are bit for bit equal. `strides`: also compare strides."""
    if isinstance(t, tuple) and t and t[0] == 'object' and isinstance(l, tuple) and l and l[0] == 'object':
        return None, True                          # hook handles and such: only their existence is compared
    if isinstance(t, tuple) and not (t and t[0] in ('broken', 'object')):
        if not isinstance(l, tuple) or len(t) != len(l): return ('kind', f' {_kind(t)} vs {_kind(l)}'), False
        exact = True
        for a, b in zip(t, l):
            d, e = compare_snaps(a, b, tol, strides)
            if d: return d, False
            exact &= e
        return None, exact
    if isinstance(t, TensorSnap) != isinstance(l, TensorSnap): return ('kind', f' {_kind(t)} vs {_kind(l)}'), False
    if not isinstance(t, TensorSnap):
        if isinstance(t, float) and isinstance(l, float) and (t == l or math.isnan(t) and math.isnan(l)): return None, True
        if isinstance(t, float) and isinstance(l, float) and math.isclose(t, l, rel_tol=1e-5, abs_tol=1e-6):
            return None, False
        if type(t) != type(l): return ('kind', f' {_kind(t)} vs {_kind(l)}'), False
        return (None, True) if t == l else (('value', ''), False)
    if t.dtype != l.dtype: return ('dtype', f' {t.dtype} vs {l.dtype}'), False
    if t.shape != l.shape: return ('shape', ''), False
    if t.requires_grad != l.requires_grad: return ('requires_grad', f' {t.requires_grad} vs {l.requires_grad}'), False
    if t.grad_fn != l.grad_fn: return ('grad_fn', f' {t.grad_fn} vs {l.grad_fn}'), False
    close, exact = _values_close(t.array, l.array, t.dtype, tol)
    if not close: return ('value', ''), False
    if strides and (t.is_view or t.contiguous) and 0 not in t.shape:
        if [s for s, n in zip(t.strides, t.shape) if n != 1] != [s for s, n in zip(l.strides, l.shape) if n != 1]:
            return ('strides', ''), exact
    return None, exact


def _kind(s):
    if isinstance(s, TensorSnap): return 'Tensor'
    if isinstance(s, tuple) and s and s[0] in ('broken', 'object'): return s[1].split(':')[0]
    return type(s).__name__


def compare(program, tt, lt):
    """Walk the two traces in step. Returns (first `Difference` or None, number of differences put down to
    rounding or randomness)."""
    approx, fragile = set(), set()
    approx_tol = {}             # an approximate variable keeps the tolerance it was compared with
    excused = 0
    for i, (st, a, b) in enumerate(zip(program.statements, tt.steps, lt.steps)):
        reads = set(st.reads)
        shaky = st.random or bool(reads & fragile)           # any difference here is rounding or chance
        rounding = bool(reads & approx) and st.discrete      # outputs may jump
        if a.error != b.error:
            if shaky:
                if EXCUSED is not None: EXCUSED.append((program, i, None, ('error', f' {a.error} vs {b.error}')))
                return None, excused + 1
            return Difference(i, st.op, f'error {a.error or "none"} vs {b.error or "none"}', None,
                              a.message or 'no error', b.message or 'no error'), excused
        leaked = [w for w in b.warnings if w == 'RuntimeWarning' and w not in a.warnings]
        if leaked and not shaky:
            return Difference(i, st.op, 'numpy RuntimeWarning leaks', None, 'no warning', 'RuntimeWarning'), excused
        order = [st.target] + sorted(set(a.snapshot) - {st.target}, key=lambda k: (k[0] == 'x', int(k[1:])))
        tol = _tolerances_after(reads & approx, tt.steps[i - 1].snapshot if i else {})
        for var in order:
            if var not in a.snapshot and var not in b.snapshot: continue
            ta, lb = a.snapshot.get(var, 'missing'), b.snapshot.get(var, 'missing')
            # strides of results; a gradient's layout (often an expanded view in PyTorch) is PyTorch's own choice
            strides = var == st.target and not st.op.endswith(('autograd.grad', 'Tensor.grad'))
            vtol = approx_tol.get(var, tol)
            diff, exact = compare_snaps(ta, lb, vtol, strides=strides)
            where = '' if var == st.target else 'alias '
            if diff is None and isinstance(ta, TensorSnap) and isinstance(lb, TensorSnap):
                gd, gexact = compare_snaps(ta.grad, lb.grad, GRAD_TOLERANCES)
                if gd: diff, where = gd, 'grad '
                else: exact = exact and gexact
            if diff is None:
                if not exact:
                    (fragile if (shaky or rounding) else approx).add(var)
                    approx_tol.setdefault(var, vtol)
                continue
            chance = shaky or var in fragile              # only values (and what follows from them) can be chance
            if diff[0] in ('value', 'shape', 'strides') and (chance or rounding or
                                                            where == 'grad ' and _fragile_grad(program, i, approx | fragile)):
                fragile.add(var); excused += 1
                if EXCUSED is not None: EXCUSED.append((program, i, var, diff))
                continue
            symptom = f'{where}{diff[0]}{diff[1]}'
            if diff[0] == 'value' and where == '' and st.op in TIE_OPS and i and \
                    _ties_only(tt.steps[i - 1].snapshot.get(st.reads[0]), ta, lb):
                symptom = 'order of equal elements'
            return Difference(i, st.op, symptom, var, _describe(ta if not where == 'grad ' else ta.grad),
                              _describe(lb if not where == 'grad ' else lb.grad)), excused
    return None, excused


def _tolerances_after(approximate, before):
    "Tolerances for results computed from approximate inputs: at least those of the least precise such input."
    names = [before[k].dtype for k in approximate if isinstance(before.get(k), TensorSnap)]
    worst = max((TOLERANCES[n] for n in names if n in TOLERANCES), default=(0, 0))
    return {k: (max(r, worst[0]), max(a, worst[1])) for k, (r, a) in TOLERANCES.items()}


TIE_OPS = ('Tensor.sort', 'Tensor.argsort', 'Tensor.topk')


def _ties_only(x, t, l):
    "Whether sort/argsort/topk results `t` and `l` differ only in which of equal elements of `x` comes first."
    if not isinstance(x, TensorSnap) or x.array.ndim == 0: return False
    it, il = (t[1], l[1]) if isinstance(t, tuple) else (t, l)
    if not (isinstance(it, TensorSnap) and isinstance(il, TensorSnap)) or it.shape != il.shape: return False
    for d in range(x.array.ndim):
        try:
            vt = np.take_along_axis(x.array, it.array, d)
            vl = np.take_along_axis(x.array, il.array, d)
        except (ValueError, IndexError): continue
        if np.array_equal(vt, vl, equal_nan=x.array.dtype.kind == 'f'): return True
    return False


def _fragile_grad(program, i, tainted):
    "A gradient can differ by rounding alone when a discrete operation of the program read approximate values."
    return any(s.discrete and set(s.reads) & tainted for s in program.statements[:i + 1])


def difference_class(program, diff):
    """The class of a difference: the operation and the symptom; for an alias difference also the operation that made
    the variable (a view, mostly); for a gradient difference the program's other operations (creation left out),
    since one of them may be the cause."""
    if diff.symptom.startswith('alias'):
        maker = 'a numpy input' if diff.var.startswith('x') else \
            next((s.op for s in program.statements if s.target == diff.var and
                  (s.code.startswith(f'{diff.var} =') or f': {diff.var} =' in s.code)), '?')
        return f'{diff.op}: {diff.symptom} (of {maker})'
    if diff.symptom.startswith('grad '):
        others = [s.op for j, s in enumerate(program.statements) if j != diff.index and not s.creation]
        if others: return f'{diff.op} after {" + ".join(dict.fromkeys(others))}: {diff.symptom}'
    return diff.key()


def differ(program):
    "Run `program` in both libraries: (first `Difference` or None, differences excused, the two traces)."
    tt, lt = run(program, 'torch'), run(program, 'learntorch')
    d, excused = compare(program, tt, lt)
    return d, excused, tt, lt
