"""The strict array module (tests/strict_array.py) is fit to prove the backend seam: numpy refuses its arrays, it
refuses numpy arrays, and otherwise it computes exactly like numpy, views sharing memory."""
import pickle
import numpy as np
import pytest

import strict_array as xp
from strict_array import StrictArray


def strict(values, dtype=None): return xp.asarray(np.array(values, dtype=dtype))


@pytest.mark.parametrize('call', [
    lambda a: np.add(a, 1), lambda a: np.asarray(a), lambda a: np.array(a), lambda a: np.sum(a),
    lambda a: np.exp(a), lambda a: np.concatenate([a, a]), lambda a: np.ones(3) + a,
    lambda a: np.matmul(np.ones((3, 3)), a), lambda a: np.ascontiguousarray(a), lambda a: np.where(a > 0, a, 0),
    lambda a: np.lib.stride_tricks.as_strided(a, (3,), (8,))],
    ids=['add', 'asarray', 'array', 'sum', 'exp', 'concatenate', 'ndarray+', 'matmul',
         'ascontiguousarray', 'where', 'as_strided'])
def test_numpy_refuses_strict_arrays(call):
    "numpy's own functions, its operators and its conversions raise TypeError on a strict array."
    a = strict([1.0, 2.0, 3.0])
    with pytest.raises(TypeError): call(a)


@pytest.mark.parametrize('call', [
    lambda a, h: xp.add(a, h), lambda a, h: a + h, lambda a, h: h * a, lambda a, h: xp.concatenate([a, h]),
    lambda a, h: xp.where(h > 0, a, 0), lambda a, h: a.__setitem__(slice(None), h),
    lambda a, h: xp.copyto(a, h), lambda a, h: xp.maximum(a, h, out=h)],
    ids=['add', '+', 'reflected *', 'concatenate', 'where', 'setitem', 'copyto', 'out='])
def test_strict_module_refuses_numpy_arrays(call):
    "Like cupy, the module takes no numpy arrays (only `asarray`/`array` move host data)."
    a, h = strict([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])
    with pytest.raises(TypeError): call(a, h)


def test_computes_like_numpy():
    "Functions, ufuncs and their methods, operators (reflected and in place), reductions and methods match numpy."
    h = np.arange(12, dtype=np.float32).reshape(3, 4) - 5
    a = xp.asarray(h)
    checks = [
        (xp.exp(a), np.exp(h)), (xp.add(a, 2), h + 2), (a @ a.T, h @ h.T), (2 - a, 2 - h), (a ** 2, h ** 2),
        (-a, -h), (abs(a), abs(h)), (a > 0, h > 0), (xp.sum(a, axis=0), h.sum(0)), (a.max(axis=1), h.max(1)),
        (a.astype(np.int64), h.astype(np.int64)), (a.reshape(4, 3), h.reshape(4, 3)), (a.T.copy(), h.T.copy()),
        (xp.concatenate([a, a], axis=1), np.concatenate([h, h], 1)), (xp.where(a > 0, a, 0), np.where(h > 0, h, 0)),
        (xp.maximum.reduce(a, axis=1), np.maximum.reduce(h, axis=1)), (a[a > 0], h[h > 0]),
        (a[xp.asarray(np.array([2, 0]))], h[[2, 0]]), (a[[1, 1]], h[[1, 1]]), (xp.argsort(a, axis=0), h.argsort(0)),
        (xp.lib.stride_tricks.as_strided(a, (2, 2), (16, 4)), np.lib.stride_tricks.as_strided(h, (2, 2), (16, 4))),
        (xp.linalg.norm(a), np.linalg.norm(h)), (xp.einsum('ij,kj->ik', a, a), np.einsum('ij,kj->ik', h, h))]
    for r, expected in checks:
        assert isinstance(r, StrictArray), type(r)
        np.testing.assert_allclose(r.get(), expected, rtol=1e-6)
        assert r.dtype == expected.dtype
    b = a.copy()
    b += 1
    b *= a
    b[0] = xp.asarray(np.float32(7))
    hb = (h + 1) * h
    hb[0] = 7
    np.testing.assert_array_equal(b.get(), hb)
    t = xp.zeros(5, dtype=np.float32)
    xp.add.at(t, xp.asarray(np.array([0, 0, 3])), 1)
    np.testing.assert_array_equal(xp.asnumpy(t), [2, 0, 0, 1, 0])


def test_numpy_names_do_not_shadow_builtins():
    "Looking up `xp.any`, `xp.max`, `xp.bool` leaves the module's own use of Python's builtins intact."
    for name in ('any', 'all', 'max', 'min', 'sum', 'abs', 'round', 'bool', 'pow'): getattr(xp, name)
    assert xp.get_array_module(np.ones(2)) is np and xp.get_array_module(xp.ones(2)) is xp
    assert bool(xp.ones(1)) is True and xp.zeros(3).sum().item() == 0


def test_scalars_are_zero_d_arrays():
    "As in cupy, reductions and integer indexing give 0-d arrays (an index gives a view), and Python conversions work."
    a = strict([[1, 2], [3, 4]], np.int64)
    s, e = a.sum(), a[1, 0]
    assert isinstance(s, StrictArray) and s.shape == () and int(s) == 10 and float(s) == 10.0 and s.item() == 10
    assert isinstance(e, StrictArray) and e.shape == () and bool(e) and [0, 1, 2][a[0, 0]] == 1
    e[...] = 9
    assert a[1, 0].item() == 9 and a.tolist() == [[1, 2], [9, 4]]


def test_views_share_memory():
    "Views (slices, transpose, reshape, view, as_strided) write into the base's memory; copies do not."
    a = xp.zeros((3, 4), dtype=np.float32)
    assert a.base is None and a.flags.c_contiguous and a.flags.owndata and not hasattr(a.flags, 'writeable')
    v, t, r = a[1:, ::2], a.T, a.reshape(12)
    v[...] = 1
    t[0, 0] = 5
    r[-1] = 7
    assert v.base is not None and not t.flags.c_contiguous and t.flags.f_contiguous
    assert a.tolist() == [[5, 0, 0, 0], [1, 0, 1, 0], [1, 0, 1, 7]]
    assert xp.shares_memory(a, v) and xp.shares_memory(a, t) and not xp.shares_memory(a, a.copy())
    assert v.data.ptr == a.data.ptr + 4 * 4 and a.strides == (16, 4) and a.nbytes == 48 and a.itemsize == 4
    c = a.copy()
    c[0, 0] = -1
    assert a[0, 0].item() == 5


def test_host_transfers_copy():
    "`asarray(numpy)` copies host to device, `.get()`/`asnumpy` device to host; `asarray(strict)` is the same array."
    h = np.ones(3)
    a = xp.asarray(h)
    h[0] = 9
    assert a[0].item() == 1 and xp.asarray(a) is a and xp.asarray(a, dtype=np.float64) is a
    g = a.get()
    g[1] = 9
    assert type(g) is np.ndarray and a[1].item() == 1 and type(xp.asnumpy(a)) is np.ndarray
    assert xp.get_array_module(a) is xp and xp.get_array_module(h) is np and xp.get_array_module(1.0) is np
    assert pickle.loads(pickle.dumps(a)).tolist() == [1.0, 1.0, 1.0]


def test_devices_and_cuda_namespace():
    "Arrays live on the current fake GPU; `cuda.Device` switches it; `asarray` moves arrays between GPUs."
    assert xp.cuda.runtime.getDeviceCount() == 2 and xp.cuda.runtime.getDevice() == 0
    a = xp.ones(2)
    with xp.cuda.Device(1):
        assert xp.cuda.runtime.getDevice() == 1
        b = xp.asarray(a)
        c = xp.zeros(2)
    assert a.device.id == 0 and b.device.id == 1 and c.device.id == 1 and b is not a
    assert (a + 1).device.id == 0 and (c * 2).device.id == 1 and xp.cuda.runtime.getDevice() == 0
    with pytest.raises(RuntimeError): xp.cuda.Device(2)
    xp.cuda.runtime.deviceSynchronize()


def test_memory_pool_counts_live_arrays():
    """The memory pool counts the bytes of live strict arrays per device, in 512-byte blocks (views own none); freed
    blocks stay cached until `free_all_blocks`; allocations go through the allocator `cuda.set_allocator` sets."""
    pool = xp.get_default_memory_pool()
    pool.free_all_blocks()
    before = pool.used_bytes()
    a = xp.zeros(1000, dtype=np.float32)
    v = a[::2]
    with xp.cuda.Device(1): on_1 = pool.used_bytes()
    assert pool.used_bytes() - before == 4096 and on_1 == 0
    del a, v
    assert pool.used_bytes() == before and pool.total_bytes() == before + 4096
    pool.free_all_blocks()
    assert pool.total_bytes() == before
    sizes = []
    def tracking(n):
        sizes.append(n)
        return pool.malloc(n)
    xp.cuda.set_allocator(tracking)
    try: b = xp.ones((2, 3))
    finally: xp.cuda.set_allocator(pool.malloc)
    assert sizes == [48] and xp.cuda.get_allocator() == pool.malloc and pool.used_bytes() == before + 512


def test_events_time_between_records():
    "`cuda.Event().record()` twice and `cuda.get_elapsed_time` give milliseconds."
    start, end = xp.cuda.Event(), xp.cuda.Event()
    start.record()
    end.record()
    end.synchronize()
    assert end.done and 0 <= xp.cuda.get_elapsed_time(start, end) < 1000


def test_dlpack_stays_between_strict_arrays():
    "A strict array's DLPack capsule opens only in this module, sharing memory; it reports a CUDA device."
    a = xp.arange(4)
    assert a.__dlpack_device__() == (2, 0)
    b = xp.from_dlpack(a)
    b[0] = 7
    assert a[0].item() == 7 and type(b) is StrictArray
    with pytest.raises(TypeError): xp.from_dlpack(np.arange(3))
    with pytest.raises((TypeError, ValueError, BufferError)): np.from_dlpack(a)
