"""Shared test helpers: hypothesis strategies for shapes, dtypes, arrays and memory layouts, and `compare`, which runs
the same code in learntorch and in PyTorch and checks that they agree (values, dtype, shape, errors, aliasing, in-place
effects), in the spirit of tinygrad's `helper_test_op`."""
import builtins, contextlib, functools, math
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
import learntorch

# ---------------------------------------------------------------------------------------------------------- dtypes
FLOATS = ('float32', 'float64', 'float16')
INTS = ('int64', 'int32', 'int16', 'int8', 'uint8')
NUMERIC = FLOATS + INTS
ALL = NUMERIC + ('bool',)

# (rtol, atol) per floating dtype; `compare(..., tol=k)` multiplies both (reductions accumulate rounding errors).
# float64 is tight on purpose: a value that went through float32 on the way (rel. error ~6e-8) must fail.
TOLERANCES = {'float64': (1e-10, 1e-12), 'float32': (1e-5, 1e-5), 'float16': (2e-3, 2e-3)}


class D:
    "A dtype by name: `compare` passes `learntorch.<name>` to learntorch and `torch.<name>` to PyTorch."
    def __init__(self, name): self.name = name
    def __repr__(self): return f'D({self.name!r})'


def dtype_names(names=ALL):
    "A dtype (as `D`) drawn from `names`."
    return st.sampled_from([D(n) for n in names])

# ---------------------------------------------------------------------------------------------------------- shapes
def shapes(min_dims=0, max_dims=4, min_side=0, max_side=5):
    "Array shapes, including 0-d (`()`) and zero-size dimensions."
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcast_shapes(n=2, min_dims=0, max_dims=4, min_side=0, max_side=5):
    "Tuples of `n` shapes that broadcast together (pairs, triples, ...), including 0-d and zero-size dims."
    return hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=min_dims, max_dims=max_dims,
                                             min_side=min_side, max_side=max_side).map(lambda b: b.input_shapes)


@st.composite
def shape_broadcasting_to(draw, shape):
    "A shape that broadcasts *to* `shape` (a suffix of it, some sizes replaced by 1)."
    k = draw(st.integers(0, len(shape)))
    return tuple(1 if draw(st.booleans()) else s for s in shape[len(shape) - k:])

# ---------------------------------------------------------------------------------------------------------- values
def elements(dtype, lo=-10, hi=10, specials=False, nonzero=False, min_abs=0.0):
    "Values of `dtype` in [lo, hi]; `specials` mixes in nan, +-inf and -0.0 for floats; `nonzero` drops 0; floats below `min_abs` in size are dropped."
    if dtype == 'bool': s = st.just(True) if nonzero else st.booleans()
    elif dtype in INTS:
        info = np.iinfo(dtype)
        s = st.integers(builtins.max(math.ceil(lo), info.min), builtins.min(math.floor(hi), info.max))
        if nonzero: s = s.filter(lambda v: v != 0)
    else:
        lo, hi = _representable(lo, dtype, 1), _representable(hi, dtype, -1)
        s = st.floats(lo, hi, width={'float16': 16, 'float32': 32, 'float64': 64}[dtype],
                      allow_nan=False, allow_infinity=False, allow_subnormal=False)
        if nonzero: s = s.filter(lambda v: v != 0)
        if min_abs: s = s.filter(lambda v: builtins.abs(v) >= min_abs)
        if specials: s = st.one_of(s, st.sampled_from([math.nan, math.inf, -math.inf, -0.0]))
    return s


def _representable(x, dtype, direction):
    "The value of `dtype` nearest to `x` on the inside of a bound (`direction` 1 for a lower bound, -1 for an upper)."
    v = np.dtype(dtype).type(x)
    if direction * (float(v) - x) < 0: v = np.nextafter(v, np.dtype(dtype).type(direction * math.inf))
    return float(v)


def arrays(dtype, shape, lo=-10, hi=10, specials=False, nonzero=False, unique=False, min_abs=0.0):
    "numpy arrays of `dtype` and `shape` (a shape or a strategy) with bounded values."
    return hnp.arrays(np.dtype(dtype), shape, elements=elements(dtype, lo, hi, specials, nonzero, min_abs), unique=unique)


def scalars(kinds=('int', 'float', 'bool'), lo=-5, hi=5, nonzero=False):
    "Python numbers (weak scalars in type promotion): ints, floats (with halves) and bools."
    s = {'int': st.integers(lo, hi), 'bool': st.booleans(),
         'float': st.one_of(st.integers(2 * lo, 2 * hi).map(lambda v: v / 2), st.floats(lo, hi, width=32))}
    out = st.one_of(*[s[k] for k in kinds])
    return out.filter(lambda v: v != 0) if nonzero else out

# ---------------------------------------------------------------------------------------------------------- layouts
_SENTINEL = 77  # fills the memory around a strided view, so reading outside the view shows up as a wrong value


@st.composite
def layouts(draw, a):
    "`a`'s values in a random memory layout: contiguous, with permuted strides, or a strided view of a bigger array."
    kind = draw(st.sampled_from(['contiguous', 'permuted', 'strided']))
    if kind == 'contiguous' or a.ndim == 0: return a
    if kind == 'permuted':
        perm = draw(st.permutations(range(a.ndim)))
        return np.ascontiguousarray(a.transpose(perm)).transpose(np.argsort(perm))
    big = np.full(tuple(2 * s + 1 for s in a.shape), _SENTINEL, a.dtype)
    view = big[tuple(slice(1, None, 2) for _ in a.shape)]
    view[...] = a
    return view


def fresh(a):
    "A copy of array `a` with the same strides (a non-contiguous input stays non-contiguous), in its own memory."
    if a.size == 0 or a.flags.c_contiguous: return a.copy()
    assert all(s >= 0 for s in a.strides), 'layouts with negative strides cannot become tensors'
    span = builtins.sum((n - 1) * s for n, s in zip(a.shape, a.strides)) // a.itemsize + 1
    out = np.lib.stride_tricks.as_strided(np.full(span, _SENTINEL, a.dtype), a.shape, a.strides)
    out[...] = a
    return out

# ---------------------------------------------------------------------------------------------------------- arguments
@st.composite
def tensors(draw, n=1, dtypes=FLOATS, lo=-10, hi=10, specials=False, nonzero=(), shapes_=None, same_dtype=False,
            noncontig=True, unique=False, min_abs=0.0, **shape_kw):
    """A tuple of `n` numpy arrays (they become tensors in `compare`) with broadcastable shapes.
    `dtypes` are drawn independently per array unless `same_dtype`; `nonzero` lists the positions whose values avoid 0;
    `shapes_` overrides the shapes strategy (it must draw a tuple of `n` shapes)."""
    shps = draw(shapes_ if shapes_ is not None else broadcast_shapes(n, **shape_kw))
    first = draw(st.sampled_from(dtypes))
    dts = [first if same_dtype or i == 0 else draw(st.sampled_from(dtypes)) for i in range(n)]
    out = []
    for i, (d, s) in enumerate(zip(dts, shps)):
        a = draw(arrays(d, s, lo, hi, specials, nonzero=i in nonzero, unique=unique, min_abs=min_abs if i in nonzero else 0.0))
        out.append(draw(layouts(a)) if noncontig else a)
    return tuple(out)


def dims(ndim):
    "A valid dim for an `ndim`-d tensor (negative ones too; a 0-d tensor accepts 0 and -1)."
    n = builtins.max(ndim, 1)
    return st.integers(-n, n - 1)


@st.composite
def dim_tuples(draw, ndim, min_size=1):
    "A tuple of distinct valid dims (as the user might write them, some negative)."
    if ndim == 0: return draw(st.sampled_from([(0,), (-1,)])) if min_size else ()
    picked = draw(st.lists(st.integers(0, ndim - 1), min_size=min_size, max_size=ndim, unique=True))
    return tuple(d - ndim if draw(st.booleans()) else d for d in picked)


@st.composite
def reduce_kw(draw, ndim, dim='opt', tuples=True, keepdim=True):
    """Keyword arguments of a reduction: `dim` absent/None/int/tuple ('opt'), always an int ('int'), int or absent
    ('int_opt'); `keepdim` sometimes given."""
    kw = {}
    if dim == 'int': kw['dim'] = draw(dims(ndim))
    else:
        choice = draw(st.sampled_from(['absent', 'int', 'tuple'] if tuples else ['absent', 'int']))
        if choice == 'int': kw['dim'] = draw(dims(ndim))
        elif choice == 'tuple': kw['dim'] = draw(dim_tuples(ndim))
    if keepdim and 'dim' in kw and draw(st.booleans()): kw['keepdim'] = draw(st.booleans())
    return kw


@st.composite
def basic_indices(draw, shape):
    "A key made of ints, slices (positive steps), None and at most one Ellipsis that is valid for `shape`."
    n = len(shape)
    if draw(st.booleans()):  # with an Ellipsis: some dims indexed in front of it, some behind
        front = draw(st.integers(0, n))
        back = draw(st.integers(0, n - front))
        parts = [draw(_dim_index(s)) for s in shape[:front]] + [Ellipsis] + [draw(_dim_index(s)) for s in shape[n - back:]]
    else:
        parts = [draw(_dim_index(s)) for s in shape[:draw(st.integers(0, n))]]
    for _ in range(draw(st.integers(0, 2))): parts.insert(draw(st.integers(0, len(parts))), None)
    if len(parts) == 1 and draw(st.booleans()): return parts[0]
    return tuple(parts)


def _dim_index(size):
    "An int or slice index for one dimension of length `size`."
    bound = st.one_of(st.none(), st.integers(-size - 2, size + 2))
    sl = st.builds(slice, bound, bound, st.sampled_from([None, 1, 2, 3]))
    return st.one_of(st.integers(-size, size - 1), sl) if size else sl


@st.composite
def advanced_indices(draw, shape):
    "A key with index arrays (int64 arrays or lists of ints) or bool masks, possibly mixed with slices and ints."
    n = len(shape)
    def index_array(size, ishape=None):
        ishape = draw(shapes(0, 2, 0, 4)) if ishape is None else ishape
        if size == 0: ishape = (0,)
        return draw(hnp.arrays(np.int64, ishape, elements=st.integers(-size, builtins.max(size - 1, 0))))
    kinds = ['array', 'list', 'mask', 'mask_prefix']
    if n >= 2: kinds += ['array_after_slice', 'array_int', 'two_arrays']
    kind = draw(st.sampled_from(kinds))
    if kind == 'array': return index_array(shape[0])
    if kind == 'list':
        return draw(st.lists(st.integers(-shape[0], shape[0] - 1), max_size=4)) if shape[0] else []
    if kind == 'array_after_slice': return (slice(None), index_array(shape[1]))
    if kind == 'array_int':
        return (index_array(shape[0]), draw(st.integers(-shape[1], shape[1] - 1))) if shape[1] else index_array(shape[0])
    if kind == 'two_arrays':  # two index arrays broadcast together; a slice between them moves the result dims first
        sep = [slice(None)] if n >= 3 and draw(st.booleans()) else []
        ishape = draw(shapes(0, 2, 1, 3))
        i0 = index_array(shape[0], ishape)
        i1 = index_array(shape[len(sep) + 1], draw(shape_broadcasting_to(ishape)))
        if i0.shape == (0,) or i1.shape == (0,): return i0
        return (i0, *sep, i1)
    k = n if kind == 'mask' else draw(st.integers(1, n))
    return draw(hnp.arrays(np.bool_, shape[:k]))


# ---------------------------------------------------------------------------------------------------------- compare
def _torch():
    import torch
    return torch


class _Built:
    """Arguments for one library: numpy arrays become tensors sharing memory with a fresh copy (kept in `sources`);
    with a `device` they are then moved there (`.to(device)`), so `sources` no longer share their memory."""
    def __init__(self, args, T, as_view, device=None):
        self.T, self.device, self.sources, self.tensors, self.base = T, device, [], [], None
        self.args = self.convert(args, as_view)

    def convert(self, x, as_view=False):
        T = self.T
        move = (lambda t: t) if self.device is None else (lambda t: _to_device_keeping_strides(t, self.device))
        if isinstance(x, np.ndarray):
            if as_view and self.base is None:  # the first array becomes `base[1]`, a view into a bigger tensor
                src = np.stack([np.full_like(x, _SENTINEL if x.dtype != np.bool_ else True), x])
                self.base = move(T.from_numpy(src))
                t = self.base[1]
            else:
                src = fresh(x)
                t = move(T.from_numpy(src))
            self.sources.append(src)
            self.tensors.append(t)
            return t
        if isinstance(x, D): return getattr(T, x.name)
        if isinstance(x, tuple): return tuple(self.convert(v, as_view) for v in x)
        if isinstance(x, list): return [self.convert(v, as_view) for v in x]
        if isinstance(x, dict): return {k: self.convert(v, as_view) for k, v in x.items()}
        return x


def _to_device_keeping_strides(t, device):
    """`t` (a CPU learntorch tensor over a numpy array) copied to `device` with the same strides, as a test input:
    a non-contiguous input stays non-contiguous on the device, as PyTorch's stays on the CPU."""
    a = t._array
    if a.size == 0 or a.flags.c_contiguous: return t.to(device)
    span = builtins.sum((n - 1) * s for n, s in zip(a.shape, a.strides)) // a.itemsize + 1
    flat = np.lib.stride_tricks.as_strided(a, (span,), (a.itemsize,))   # the memory under `a`, gaps included
    xp = learntorch.tensors.cupy_module()
    with xp.cuda.Device(learntorch.device(device).index or 0):
        on_device = xp.lib.stride_tricks.as_strided(xp.asarray(flat), a.shape, a.strides)
    return learntorch.tensors._wrap(on_device)


def _call(fn, args):
    try: return fn(*args), None
    except Exception as e: return None, e


def _builtin_base(cls):
    "The first built-in exception class in `cls`'s ancestry (PyTorch raises subclasses such as `torch.AcceleratorError`)."
    return next(c for c in cls.__mro__ if c.__module__ == 'builtins')


def _is_missing_feature(exc):
    "Whether learntorch failed for lack of an attribute or operator (rather than by raising a wrong error)."
    return isinstance(exc, AttributeError) or isinstance(exc, TypeError) and 'unsupported operand' in str(exc)


def is_seam_leak(exc):
    """Whether `exc` comes from numpy meeting a strict array (an op called numpy on device data, see
    tests/strict_array.py): always a failure, even where PyTorch raises too."""
    return 'Strict' in str(exc) or 'strict array' in str(exc)


def unsupported_in_torch(exc):
    "Whether PyTorch raised only because it has no kernel for this dtype (learntorch may support more)."
    return isinstance(exc, (RuntimeError, NotImplementedError)) and 'not implemented for' in str(exc)


def compare(lt_fn, torch_fn, *inputs, tol=1, as_view=False, check_aliasing=True, device=None):
    """Run `lt_fn` on learntorch tensors and `torch_fn` on PyTorch tensors built from the same `inputs` and check:
    the results match (values within a dtype-based tolerance times `tol`, NaN equal to NaN; dtype names; shapes;
    Python scalars, Sizes and tuples too); both raise an exception of the same built-in type, or neither does; each
    output aliases (is, or shares memory with) the same inputs; and the inputs, the numpy arrays behind them and their
    version counters agree afterwards (in-place effects and memory sharing). `inputs`: numpy arrays become tensors
    (`from_numpy` of copies with the same layout), `D('int32')` a dtype, tuples/lists/dicts are converted inside,
    other values (Python numbers, slices, ...) pass unchanged. With `as_view` the first array is given as a view into
    a bigger tensor, whose values and version are compared too. With `device` ('cuda', see `on_device`) learntorch's
    tensors live there while PyTorch's stay on the CPU; learntorch's results must be on that device too and are
    compared after `.cpu()`. Returns False when PyTorch has no kernel for the inputs' dtype (nothing compared), True
    otherwise."""
    torch = _torch()
    th, lt = _Built(inputs, torch, as_view), _Built(inputs, learntorch, as_view, device)
    th_out, th_exc = _call(torch_fn, th.args)
    if th_exc is not None and unsupported_in_torch(th_exc): return False
    lt_out, lt_exc = _call(lt_fn, lt.args)
    if lt_exc is not None and is_seam_leak(lt_exc): raise lt_exc
    if th_exc is not None:
        if lt_exc is None:
            raise AssertionError(f'PyTorch raised {type(th_exc).__name__}({th_exc}) but learntorch returned {lt_out!r}')
        if _builtin_base(type(lt_exc)) is not _builtin_base(type(th_exc)):
            if _is_missing_feature(lt_exc): raise lt_exc  # reported as 'not implemented yet', not as a wrong error
            raise AssertionError(f'PyTorch raised {type(th_exc).__name__}({th_exc}) but learntorch raised '
                                 f'{type(lt_exc).__name__}({lt_exc})') from lt_exc
        return True
    if lt_exc is not None: raise lt_exc
    assert_same(lt_out, th_out, 'result', tol)
    if device is not None: assert_on_device(lt_out, device)
    if check_aliasing: _check_aliasing(lt_out, th_out, lt.tensors, th.tensors)
    for i, (a, b) in enumerate(zip(lt.tensors, th.tensors)):
        assert_same(a, b, f'input {i} after the call', tol)
        assert_same(a._version, b._version, f'input {i} version counter (_version)')
    if device is None:      # on a device the numpy sources were copied: in-place effects show in the tensors above
        for i, (a, b) in enumerate(zip(lt.sources, th.sources)):
            assert_values(a, b, f'numpy array behind input {i} after the call (memory sharing)', tol)
    if as_view:
        assert_same(lt.base, th.base, 'base tensor of the view after the call', tol)
        assert_same(lt.base._version, th.base._version, 'version counter of the base tensor')
    return True


def compare_op(fn, *inputs, device=None, **kw):
    """`compare` for table-style code written once: `fn(T, *args)` with `T` the library module (with a `device`,
    learntorch's creation functions default to it: see `OnDevice`)."""
    T = learntorch if device is None else OnDevice(device)
    return compare(lambda *a: fn(T, *a), lambda *a: fn(_torch(), *a), *inputs, device=device, **kw)


def _flat_tensors(x):
    torch = _torch()
    if isinstance(x, (torch.Tensor, learntorch.Tensor)): return [x]
    if isinstance(x, (tuple, list)): return [t for v in x for t in _flat_tensors(v)]
    return []


def _numpy_of(t):
    "A numpy array with `t`'s values (a copy when `t` lives on a GPU)."
    return t.detach().cpu().numpy()


def _shares_memory(a, b):
    "Whether tensors `a` and `b` (one library, one device) share memory, asked of their own array module."
    if isinstance(a, learntorch.Tensor):
        if a.device != b.device: return False
        xp = learntorch.tensors.array_module(a._array)
        return builtins.bool(xp.shares_memory(a._array, b._array))
    return np.shares_memory(a.detach().numpy(), b.detach().numpy())


def _check_aliasing(lt_out, th_out, lt_in, th_in):
    "Each output must be, or share memory with, the same inputs in both libraries (views stay views, copies copies)."
    for k, (o_lt, o_th) in enumerate(zip(_flat_tensors(lt_out), _flat_tensors(th_out))):
        for i, (a_lt, a_th) in enumerate(zip(lt_in, th_in)):
            where = f'output {k} vs input {i}'
            assert (o_lt is a_lt) == (o_th is a_th), \
                f'{where}: PyTorch returns {"the input itself" if o_th is a_th else "a new tensor"}, learntorch does not'
            s_th, s_lt = _shares_memory(o_th, a_th), _shares_memory(o_lt, a_lt)
            assert s_lt == s_th, f'{where}: PyTorch {"shares" if s_th else "does not share"} memory (view vs copy), ' \
                                 f'learntorch {"does" if s_lt else "does not"}'


def tolerance(dtype_name, tol=1):
    rtol, atol = TOLERANCES.get(dtype_name, (0, 0))
    return rtol * tol, atol * tol


def assert_values(lt, th, where, tol=1):
    "numpy arrays `lt` and `th` hold the same values: exactly for ints/bools, within tolerance for floats, NaN == NaN."
    lt, th = np.asarray(lt), np.asarray(th)
    assert lt.shape == th.shape, f'{where}: shape {lt.shape} != PyTorch {th.shape}'
    if th.dtype.kind == 'f' or lt.dtype.kind == 'f':
        rtol, atol = tolerance(th.dtype.name if th.dtype.kind == 'f' else lt.dtype.name, tol)
        np.testing.assert_allclose(lt.astype(np.float64), th.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True,
                                   err_msg=f'{where}: values differ (learntorch first, PyTorch second)')
    else:
        assert np.array_equal(lt, th), f'{where}: values differ\nlearntorch: {lt.tolist()}\nPyTorch:    {th.tolist()}'


def assert_same(lt, th, where='result', tol=1):
    "learntorch's `lt` matches PyTorch's `th`: tensors, Sizes, dtypes, (named) tuples, lists and Python scalars."
    torch = _torch()
    if isinstance(th, torch.Tensor):
        assert isinstance(lt, learntorch.Tensor), f'{where}: expected a Tensor, got {type(lt).__name__}: {lt!r}'
        assert tuple(lt.shape) == tuple(th.shape), f'{where}: shape {tuple(lt.shape)} != PyTorch {tuple(th.shape)}'
        assert str(lt.dtype) == str(th.dtype), f'{where}: dtype {lt.dtype} != PyTorch {th.dtype}'
        assert_values(_numpy_of(lt), _numpy_of(th), where, tol)
    elif isinstance(th, torch.Size):
        assert isinstance(lt, learntorch.Size) and repr(lt) == repr(th), f'{where}: {lt!r} != PyTorch {th!r}'
    elif isinstance(th, torch.dtype):
        assert str(lt) == str(th), f'{where}: {lt} != PyTorch {th}'
    elif isinstance(th, (tuple, list)):
        assert isinstance(lt, (tuple, list)), f'{where}: expected a sequence, got {type(lt).__name__}'
        assert isinstance(lt, tuple) == isinstance(th, tuple), \
            f'{where}: {type(lt).__name__} where PyTorch returns {type(th).__name__}'
        assert len(lt) == len(th), f'{where}: {len(lt)} items != PyTorch {len(th)}'
        for field in ('values', 'indices'):  # torch.return_types (max, min, sort, topk, ...)
            if hasattr(th, field): assert hasattr(lt, field), f'{where}: no .{field} (PyTorch returns a named tuple)'
        for i, (a, b) in enumerate(zip(lt, th)): assert_same(a, b, f'{where}[{i}]', tol)
    elif isinstance(th, builtins.bool):
        assert type(lt) is builtins.bool and lt == th, f'{where}: {lt!r} != PyTorch {th!r}'
    elif isinstance(th, builtins.int):
        assert type(lt) is builtins.int and lt == th, f'{where}: {lt!r} ({type(lt).__name__}) != PyTorch {th!r}'
    elif isinstance(th, builtins.float):
        assert type(lt) is builtins.float, f'{where}: {lt!r} is a {type(lt).__name__}, PyTorch gives a float'
        assert (math.isnan(lt) and math.isnan(th)) or math.isclose(lt, th, rel_tol=1e-6 * tol, abs_tol=1e-6 * tol), \
            f'{where}: {lt!r} != PyTorch {th!r}'
    else:
        assert lt == th, f'{where}: {lt!r} != PyTorch {th!r}'


# ---------------------------------------------------------------------------------------------------------- devices
def cupy_gpu_available():
    "Whether real cupy and a GPU are here (the 'cuda' device runs; they skip otherwise)."
    return learntorch.tensors._load_cupy() is not None


@contextlib.contextmanager
def on_device(name):
    """Run the body on device `name`, yielding learntorch's device string: 'cpu'; 'strict' gives 'cuda' backed by the
    strict array module (tests/strict_array.py) standing in cupy's slot, so any op that calls numpy on device data
    raises; 'cuda' is the real GPU through cupy (pytest skips without one). The slot is restored afterwards."""
    import pytest
    tensors = learntorch.tensors
    saved = tensors._cupy, tensors._cupy_checked
    if name == 'cpu': yield 'cpu'; return
    if name == 'strict':
        import strict_array
        tensors._cupy, tensors._cupy_checked = strict_array, True
    elif name == 'cuda':
        cp = tensors._load_cupy()
        if cp is None: pytest.skip('no GPU with cupy here')
        tensors._cupy, tensors._cupy_checked = cp, True
    else: raise ValueError(f'unknown test device {name!r}')
    try: yield 'cuda'
    finally: tensors._cupy, tensors._cupy_checked = saved


# creation functions that take `device=` and would otherwise make CPU tensors
CREATION = ('tensor as_tensor zeros ones empty full arange linspace eye rand randn randint randperm').split()


class OnDevice:
    """`learntorch` for table rows run on a device: the same module, except that creation functions (`CREATION`)
    put their tensors on `device` unless told otherwise, so rows that build tensors run on the device too."""
    def __init__(self, device): self._device = device
    def __getattr__(self, name):
        v = getattr(learntorch, name)
        if name in CREATION:
            @functools.wraps(v)
            def on_device(*args, **kw):
                kw.setdefault('device', self._device)
                return v(*args, **kw)
            return on_device
        return v


def assert_on_device(x, device, where='result'):
    "Every tensor in `x` (nested in tuples and lists) lives on `device`."
    want = learntorch.device(device)
    for k, t in enumerate(_flat_tensors(x)):
        assert t.device.type == want.type, f'{where}: tensor {k} is on {t.device}, expected {device}'
