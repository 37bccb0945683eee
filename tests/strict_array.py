"""A test-only stand-in for cupy that proves the backend seam without a GPU.

`import strict_array as xp` gives a module that computes like numpy, but whose arrays (`StrictArray`) are a distinct
type that numpy refuses: `np.asarray(a)`, `np.add(a, 1)` and `np.sum(a)` raise TypeError, and so do this module's own
functions when handed a numpy array (as cupy's do). The tests put this module in the slot where learntorch keeps cupy
(`learntorch.tensors.cupy_module()`), so `device='cuda'` tensors hold strict arrays. An op that asks its inputs for
their array module (`xp = array_module(a)`) computes through this module and works; an op that calls numpy directly
on device data raises a TypeError and fails its test.

What cupy offers and learntorch uses is mirrored: ndarray operators (in-place and reflected), indexing (a scalar
index gives a 0-d view, as in cupy), attributes (`shape`, `dtype`, `strides`, `base`, `flags`, `data.ptr`,
`device.id`), methods, `.get()`/`.set()`, DLPack, `get_array_module`, `asnumpy`, `cuda.runtime`, `cuda.Device`, the
memory pool and `random`. Views share memory like real views: a strict array wraps a numpy array, and a view wraps a
numpy view. The library never imports this module."""
import builtins, sys, time, types, weakref
import numpy as np

__all__ = ['StrictArray', 'ndarray', 'get_array_module', 'asnumpy', 'asarray', 'array', 'from_dlpack', 'cuda',
           'random', 'get_default_memory_pool', 'get_default_pinned_memory_pool', 'is_available']

DEVICE_COUNT = 2          # two fake GPUs, so that 'cuda:1' and moves between GPUs can be tested
_current = [0]            # the current device (cupy.cuda.Device / runtime.setDevice change it)
_live = {}                # id -> (weakref, memory pointer) of each numpy array owning strict memory (its allocation)

_REFUSED = ("Implicit conversion to a NumPy array is not allowed: a StrictArray stands for GPU memory. "
            "Use `.get()` or `strict_array.asnumpy()` to copy it to the host explicitly.")


def _refuse_host(x):
    raise TypeError(f"Unsupported type {type(x)}: the strict array module, like cupy, does not take numpy arrays "
                    "(move host data with `asarray` first)")


class StrictFlags:
    "cupy's `flags`: only c_contiguous, f_contiguous and owndata (no `writeable`)."
    __slots__ = ('_a',)
    def __init__(self, a): self._a = a
    c_contiguous = property(lambda self: bool(self._a.flags.c_contiguous))
    f_contiguous = property(lambda self: bool(self._a.flags.f_contiguous))
    owndata = property(lambda self: bool(self._a.flags.owndata))
    def __getitem__(self, name): return getattr(self, {'C_CONTIGUOUS': 'c_contiguous', 'F_CONTIGUOUS':
                                                       'f_contiguous', 'OWNDATA': 'owndata'}[name])
    def __repr__(self): return f'  C_CONTIGUOUS : {self.c_contiguous}\n  F_CONTIGUOUS : {self.f_contiguous}\n' \
                               f'  OWNDATA : {self.owndata}'


class _DataPointer:
    "cupy's `a.data`: `.ptr` is the address of the first element, `.device_id` the GPU."
    __slots__ = ('ptr', 'device_id')
    def __init__(self, ptr, device_id): self.ptr, self.device_id = ptr, device_id


class _StrictCapsule:
    "What `StrictArray.__dlpack__` hands out: only this module's `from_dlpack` can open it (numpy's refuses)."
    __slots__ = ('array',)
    def __init__(self, array): self.array = array


class StrictArray:
    "An array on a fake GPU: a numpy array inside, refused by numpy itself."
    __slots__ = ('_a', '_dev', '__weakref__')
    __array_ufunc__ = None          # np.add(strict, ...) and numpy's operators with a strict operand raise TypeError
    __hash__ = None

    def __init__(self, a, dev=None):
        assert type(a) is np.ndarray, type(a)
        self._a, self._dev = a, _current[0] if dev is None else dev
        if a.base is None and id(a) not in _live:
            if self._dev == _current[0]: _register(a)
            else:
                with cuda.Device(self._dev): _register(a)

    def __array__(self, *args, **kwargs): raise TypeError(_REFUSED)
    def __array_function__(self, func, types, args, kwargs): return NotImplemented  # np.sum(strict) raises TypeError

    # ------------------------------------------------------------------------------------------ attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: StrictFlags(self._a))
    T = property(lambda self: _wrap(self._a.T, self._dev))
    mT = property(lambda self: _wrap(np.swapaxes(self._a, -1, -2), self._dev))
    real = property(lambda self: _wrap(self._a.real, self._dev))
    imag = property(lambda self: _wrap(self._a.imag, self._dev))
    device = property(lambda self: cuda.Device(self._dev))
    data = property(lambda self: _DataPointer(self._a.__array_interface__['data'][0], self._dev))

    @property
    def base(self):
        "The strict array owning this view's memory, or None when this array owns it (as in cupy)."
        b = self._a.base
        return _wrap(b, self._dev) if type(b) is np.ndarray else None

    # ------------------------------------------------------------------------------------------ host transfer
    def get(self, stream=None, order='C', out=None):
        "A numpy copy on the host (cupy's explicit device-to-host copy)."
        if out is not None:
            out[...] = self._a
            return out
        return np.array(self._a, order=order, copy=True)

    def set(self, arr, stream=None):
        "Copy the numpy array `arr` into this array (host to device)."
        if type(arr) is not np.ndarray: raise TypeError(f'Only numpy.ndarray can be set to cupy.ndarray, not {type(arr)}')
        if arr.shape != self.shape: raise ValueError('Shape mismatch')
        self._a[...] = arr

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        if copy: return _StrictCapsule(self._a.copy())
        return _StrictCapsule(self._a)
    def __dlpack_device__(self): return (2, self._dev)      # kDLCUDA
    def toDlpack(self): return self.__dlpack__()

    # ------------------------------------------------------------------------------------------ Python protocol
    def __repr__(self): return repr(self._a).replace('array(', 'strict(', 1)
    def __str__(self): return str(self._a)
    def __format__(self, spec): return format(self._a.item() if self._a.ndim == 0 else self._a, spec)
    def __len__(self): return len(self._a)
    def __iter__(self):
        if self._a.ndim == 0: raise TypeError('iteration over a 0-d array')
        return (self[i] for i in range(len(self._a)))
    def __bool__(self): return bool(self._a)
    def __int__(self): return int(self._a)
    def __float__(self): return float(self._a)
    def __complex__(self): return complex(self._a)
    def __index__(self): return self._a.__index__()
    def __copy__(self): return _wrap(self._a.copy(), self._dev)
    def __deepcopy__(self, memo): return _wrap(self._a.copy(), self._dev)
    def __reduce__(self): return (_unpickle, (self.get(), self._dev))

    def __getitem__(self, key):
        key = _unwrap_key(key)
        r = self._a[key]
        if isinstance(r, np.generic):   # a full integer index: cupy gives a 0-d view, not a scalar copy
            k = key if isinstance(key, tuple) else (key,)
            r = self._a[k + (Ellipsis,)]
        return _wrap(r, self._dev)

    def __setitem__(self, key, value):
        self._a[_unwrap_key(key)] = _unwrap(value)


def _register(a):
    "Allocate `a`'s bytes (a numpy array that owns strict memory) through the current allocator until `a` is freed."
    mp = _allocator[0](a.nbytes)
    _live[id(a)] = (weakref.ref(a, lambda _, k=id(a): _live.pop(k, None)), mp)


def _unpickle(host, dev): return _wrap(np.array(host), dev)


def _unwrap_key(key):
    "An index for the numpy array inside: strict arrays unwrapped; numpy index arrays and lists allowed as in cupy."
    if isinstance(key, tuple): return tuple(_unwrap_key(k) for k in key)
    if isinstance(key, StrictArray): return key._a
    return key


def _unwrap(x, host_ok=False):
    "The numpy arrays inside `x` (nested in tuples and lists); a numpy array itself is refused unless `host_ok`."
    if isinstance(x, StrictArray): return x._a
    t = type(x)
    if t is np.ndarray:
        if host_ok: return x
        _refuse_host(x)
    if t is tuple or t is list: return t(_unwrap(v, host_ok) for v in x)
    if isinstance(x, tuple) and hasattr(x, '_fields'): return t(*(_unwrap(v, host_ok) for v in x))
    if isinstance(x, np.ndarray): _refuse_host(x)   # subclasses (np.matrix, memmap) too
    return x


def _writable(a):
    "`a`, writable: cupy has no read-only arrays (numpy's diagonal and broadcast views are read-only)."
    if not a.flags.writeable:
        try: a.flags.writeable = True
        except ValueError: pass
    return a


def _wrap(r, dev=None):
    "Results as strict arrays: numpy arrays and numpy scalars (0-d, as cupy returns them), inside tuples/lists too."
    if type(r) is np.ndarray: return StrictArray(_writable(r), dev)
    if isinstance(r, np.generic): return StrictArray(np.asarray(r), dev)
    t = type(r)
    if t is tuple or t is list: return t(_wrap(v, dev) for v in r)
    if isinstance(r, tuple) and hasattr(r, '_fields'): return t(*(_wrap(v, dev) for v in r))
    return r


def _device_of(args, kwargs):
    "The device of the first strict array among the arguments (else the current device)."
    for v in list(args) + list(kwargs.values()):
        if isinstance(v, StrictArray): return v._dev
        if type(v) in (tuple, list):
            for w in v:
                if isinstance(w, StrictArray): return w._dev
    return _current[0]


def _call(f, args, kwargs, host_ok=False, dev=None):
    "Call numpy's `f` on the unwrapped arguments and wrap its result; `out=` strict arrays are written in place."
    if dev is None: dev = _device_of(args, kwargs)
    out = kwargs.get('out')
    r = f(*_unwrap(args, host_ok), **{k: _unwrap(v, host_ok) for k, v in kwargs.items()})
    if isinstance(out, StrictArray) and r is out._a: return out
    if type(out) is tuple and type(r) is tuple:
        return tuple(o if isinstance(o, StrictArray) and x is o._a else _wrap(x, dev) for o, x in zip(out, r))
    return _wrap(r, dev)


def _function(f, host_ok=False):
    "numpy's function `f` working on strict arrays."
    def wrapped(*args, **kwargs): return _call(f, args, kwargs, host_ok)
    wrapped.__name__ = getattr(f, '__name__', 'function')
    wrapped.__qualname__ = wrapped.__name__
    wrapped.__doc__ = f'numpy.{wrapped.__name__} on strict arrays.'
    return wrapped


_CUPY_AT = ('add', 'subtract', 'maximum', 'minimum')   # the ufuncs whose `.at` cupy implements


class ufunc:
    "numpy's ufunc on strict arrays, with its methods (`at`, `reduce`, `accumulate`, `outer`) and attributes."
    def __init__(self, u): self._u, self.__name__ = u, u.__name__
    def __call__(self, *args, **kwargs): return _call(self._u, args, kwargs)
    def __getattr__(self, name):
        v = getattr(self._u, name)
        if name == 'at':
            def at(a, indices, b=None):
                "In place `a[indices] op= b`, repeats accumulating; indices may be host arrays, as in cupy."
                if self.__name__ not in _CUPY_AT:
                    raise NotImplementedError(f'cupy has no {self.__name__}.at (only {", ".join(_CUPY_AT)})')
                v(_unwrap(a), _unwrap_key(indices), *(() if b is None else (_unwrap(b),)))
            return at
        return _function(v) if callable(v) else v
    def __repr__(self): return f'<strict ufunc {self.__name__!r}>'


def _method(name):
    "An ndarray method, forwarded to the numpy array inside."
    def method(self, *args, **kwargs): return _call(getattr(self._a, name), args, kwargs, dev=self._dev)
    method.__name__ = name
    return method


# the ndarray methods cupy has (numpy-only ones such as `tofile`'s relatives, `byteswap`, `setflags` are absent)
_METHODS = ('all any argmax argmin argpartition argsort astype choose clip compress conj conjugate copy cumprod '
            'cumsum diagonal dot dump dumps fill flatten item max mean min nonzero partition prod ptp put ravel '
            'repeat reshape round sort squeeze std sum swapaxes take tobytes tofile tolist trace transpose var '
            'view').split()
for _name in _METHODS: setattr(StrictArray, _name, _method(_name))


def _operator(name, inplace=False):
    "A Python operator: numpy's on the arrays inside, refusing numpy operands (in-place ones write into self)."
    def op(self, other):
        if isinstance(other, np.ndarray): _refuse_host(other)
        if not isinstance(other, (StrictArray, int, float, complex, bool, np.generic)): return NotImplemented
        r = getattr(self._a, name)(_unwrap(other))
        if r is NotImplemented: return r
        if inplace: return self
        return _wrap(r, self._dev)
    op.__name__ = name
    return op


for _n in ('add sub mul truediv floordiv mod pow matmul and or xor lshift rshift divmod lt le gt ge eq ne'
           .split()):
    setattr(StrictArray, f'__{_n}__', _operator(f'__{_n}__'))
    if _n not in ('lt', 'le', 'gt', 'ge', 'eq', 'ne'):
        setattr(StrictArray, f'__r{_n}__', _operator(f'__r{_n}__'))
    if _n not in ('lt', 'le', 'gt', 'ge', 'eq', 'ne', 'divmod'):
        setattr(StrictArray, f'__i{_n}__', _operator(f'__i{_n}__', inplace=True))
for _n in ('neg', 'pos', 'abs', 'invert'):
    setattr(StrictArray, f'__{_n}__', (lambda n: lambda self: _wrap(getattr(self._a, n)(), self._dev))(f'__{_n}__'))

ndarray = StrictArray

# ---------------------------------------------------------------------------------------------------- module functions
def get_array_module(*args):
    "This module when any argument is a strict array, else numpy (cupy's `get_array_module`)."
    return sys.modules[__name__] if any(isinstance(a, StrictArray) for a in args) else np


def asnumpy(a, stream=None, order='C', out=None):
    "A host (numpy) copy of `a`; numpy arrays and other values go through `np.asarray`."
    if isinstance(a, StrictArray): return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def _to_current(a):
    "Strict array `a` on the current device (a copy when it lives on another one)."
    return a if a._dev == _current[0] else _wrap(a._a.copy(), _current[0])


def array(obj, dtype=None, copy=True, order='K', subok=False, ndmin=0):
    "A new strict array on the current device from a strict array, a numpy array (host to device) or Python data."
    if isinstance(obj, StrictArray):
        r = np.array(obj._a, dtype=dtype, copy=copy or obj._dev != _current[0], order=order, ndmin=ndmin)
        return obj if r is obj._a else _wrap(r, _current[0])
    if type(obj) in (list, tuple) and any(isinstance(v, StrictArray) for v in obj):
        return _wrap(np.array([_unwrap(v) for v in obj], dtype=dtype, order=order, ndmin=ndmin))
    return _wrap(np.array(obj, dtype=dtype, copy=True, order=order, ndmin=ndmin))


def asarray(a, dtype=None, order=None, *, blocking=False):
    "`a` as a strict array on the current device, copying only when it must (host data is always copied)."
    return array(a, dtype=dtype, copy=False, order='K' if order is None else order)


asanyarray = asarray


def from_dlpack(x, *, device=None, copy=None):
    "A strict array sharing memory with `x`, which must export a strict DLPack capsule."
    cap = x.__dlpack__() if hasattr(x, '__dlpack__') else x
    if not isinstance(cap, _StrictCapsule):
        raise TypeError(f'strict_array.from_dlpack: {type(x).__name__} does not hold (fake) GPU memory')
    dev = x.__dlpack_device__()[1] if hasattr(x, '__dlpack_device__') else _current[0]
    return _wrap(cap.array.copy() if copy else cap.array, dev)


fromDlpack = from_dlpack


def is_available(): return DEVICE_COUNT > 0


def ascontiguousarray(a, dtype=None):
    if isinstance(a, np.ndarray): _refuse_host(a)
    return _call(np.ascontiguousarray, (a,), {'dtype': dtype})


# ---------------------------------------------------------------------------------------------------- memory pool
class _Memory:
    "One allocation; when nothing refers to it any more its bytes go back to the pool's cache."
    def __init__(self, pool, size, device_id): self.pool, self.size, self.device_id = pool, size, device_id
    def __del__(self):
        try: self.pool._release(self)
        except Exception: pass


class MemoryPointer:
    "cupy's pointer into device memory: `.mem` (the allocation), `.ptr`, `.device_id`."
    def __init__(self, mem, ptr=0): self.mem, self.ptr, self.device_id = mem, ptr, mem.device_id
    def __int__(self): return self.ptr


class MemoryPool:
    """cupy's memory pool: `malloc(nbytes)` allocates (rounded up to 512 bytes); freed allocations stay cached until
    `free_all_blocks()`. Sizes are per device; the methods report the current device."""
    _round = 512
    def __init__(self): self._used, self._cached = {}, {}
    def malloc(self, size):
        size = -(-int(size) // self._round) * self._round
        dev = _current[0]
        cached = self._cached.get(dev, [])
        if size in cached: cached.remove(size)
        self._used[dev] = self._used.get(dev, 0) + size
        return MemoryPointer(_Memory(self, size, dev))
    def _release(self, mem):
        self._used[mem.device_id] -= mem.size
        self._cached.setdefault(mem.device_id, []).append(mem.size)
    def used_bytes(self): return self._used.get(_current[0], 0)
    def free_bytes(self): return sum(self._cached.get(_current[0], []))
    def total_bytes(self): return self.used_bytes() + self.free_bytes()
    def free_all_blocks(self, stream=None): self._cached.pop(_current[0], None)
    def n_free_blocks(self): return len(self._cached.get(_current[0], []))
    def get_limit(self): return 0
    def set_limit(self, size=None, fraction=None): pass


_pool, _pinned_pool = MemoryPool(), MemoryPool()
_allocator = [_pool.malloc]
def get_default_memory_pool(): return _pool
def get_default_pinned_memory_pool(): return _pinned_pool
def _used_bytes(): return _pool.used_bytes()
def _set_allocator(allocator=None): _allocator[0] = _pool.malloc if allocator is None else allocator
def _get_allocator(): return _allocator[0]


class _Event:
    "cupy.cuda.Event: `record()` notes the time (nothing runs asynchronously here); `get_elapsed_time` subtracts."
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.disable_timing, self._t = disable_timing, None
    def record(self, stream=None): self._t = time.perf_counter()
    def synchronize(self): pass
    done = property(lambda self: True)


def _elapsed_time(start, end):
    "Milliseconds between two recorded events."
    if start.disable_timing or end.disable_timing: raise RuntimeError('cudaErrorInvalidResourceHandle')
    if start._t is None or end._t is None: raise RuntimeError('cudaErrorInvalidResourceHandle: event not recorded')
    return (end._t - start._t) * 1000.0


# ---------------------------------------------------------------------------------------------------- cuda namespace
def _check_device(i):
    if not 0 <= i < DEVICE_COUNT:
        raise RuntimeError(f'cudaErrorInvalidDevice: invalid device ordinal ({i})')


class _Device:
    "cupy.cuda.Device: `.id`, a context that makes it current, `synchronize()`, `use()`."
    def __init__(self, device=None):
        self.id = _current[0] if device is None else int(device)
        _check_device(self.id)
        self._prev = []
    def __enter__(self):
        self._prev.append(_current[0])
        _current[0] = self.id
        return self
    def __exit__(self, *exc): _current[0] = self._prev.pop()
    def use(self): _current[0] = self.id
    def synchronize(self): pass
    def __eq__(self, other): return isinstance(other, _Device) and other.id == self.id
    def __hash__(self): return hash(self.id)
    def __repr__(self): return f'<CUDA Device {self.id}>'
    compute_capability = '00'


def _set_device(i):
    _check_device(i)
    _current[0] = i


_runtime = types.SimpleNamespace(
    getDeviceCount=lambda: DEVICE_COUNT, getDevice=lambda: _current[0], setDevice=_set_device,
    deviceSynchronize=lambda: None, CUDARuntimeError=RuntimeError,
    memGetInfo=lambda: (64 * 2 ** 30 - _used_bytes(), 64 * 2 ** 30),
    getDeviceProperties=lambda i: {'name': b'Strict test device (numpy in disguise)', 'totalGlobalMem': 64 * 2 ** 30,
                                   'major': 0, 'minor': 0, 'multiProcessorCount': 1})
cuda = types.SimpleNamespace(Device=_Device, runtime=_runtime, is_available=is_available,
                             get_device_id=lambda: _current[0], MemoryPointer=MemoryPointer, MemoryPool=MemoryPool,
                             set_allocator=_set_allocator, get_allocator=_get_allocator, Event=_Event,
                             get_elapsed_time=_elapsed_time,
                             Stream=types.SimpleNamespace(null=None),
                             get_current_stream=lambda: types.SimpleNamespace(synchronize=lambda: None))


# ---------------------------------------------------------------------------------------------------- numpy's namespace
class _Namespace(types.SimpleNamespace):
    "A numpy submodule (random, linalg, fft, lib.stride_tricks) whose functions take and give strict arrays."
    def __init__(self, mod): super().__init__(); object.__setattr__(self, '_mod', mod)
    def __getattr__(self, name):
        v = _lookup(getattr(object.__getattribute__(self, '_mod'), name))
        object.__setattr__(self, name, v)
        return v


def _lookup(v):
    "numpy's attribute `v` as this module offers it: functions wrapped, ufuncs wrapped, types and constants as is."
    if isinstance(v, np.ufunc): return ufunc(v)
    if isinstance(v, type) or not callable(v):
        return _Namespace(v) if isinstance(v, types.ModuleType) else v
    return _function(v)


random = _Namespace(np.random)
linalg = _Namespace(np.linalg)
fft = _Namespace(np.fft)
lib = types.SimpleNamespace(stride_tricks=_Namespace(np.lib.stride_tricks))


def __getattr__(name):
    "Every other name: numpy's, working on strict arrays (e.g. `xp.exp`, `xp.zeros`, `xp.float32`, `xp.pi`)."
    if name.startswith('__'): raise AttributeError(name)
    try: v = getattr(np, name)
    except AttributeError: raise AttributeError(f"module 'strict_array' has no attribute {name!r}") from None
    v = _lookup(v)
    if not hasattr(builtins, name): globals()[name] = v   # caching `sum` would shadow the builtin here
    return v
