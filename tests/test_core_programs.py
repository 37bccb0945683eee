"""Short programs over tensors and ops, run in learntorch and in PyTorch, that must agree.

Each program is a few statements of code written once for both libraries (`T` is the library module) and leaves its
result in `r`; the results are compared with `assert_same` (values, dtypes, shapes, tuples, numbers), and when PyTorch
raises, learntorch must raise the same built-in exception type with the same message. The programs pin rules that
single-op tests miss: augmented assignment writing through views, PyTorch's axis order for mixed indices, integer
casts leaving the graph, half precision with Python numbers, layouts of results, `out=` of creation functions, and
validation messages. A second group checks that in-place updates write into the tensor's own memory."""
import subprocess, sys, textwrap, tracemalloc

import numpy as np
import pytest

import learntorch
from helpers import assert_same

torch = pytest.importorskip("torch")

PROGRAMS = {
    # augmented assignment is in place: views see the write, leaves requiring grad refuse it
    'imod_view': "a = T.tensor([5, 7]); v = a[:]; v %= 3; r = a",
    'ifloordiv_view': "a = T.tensor([5, 7]); v = a[:]; v //= 3; r = (a, a._version)",
    'iand_view': "a = T.tensor([5, 7]); v = a[:]; v &= 3; r = a",
    'ior_view': "a = T.tensor([5, 7]); v = a[1:]; v |= 8; r = a",
    'ixor_view': "a = T.tensor([True, False]); v = a[:]; v ^= True; r = a",
    'ilshift_view': "a = T.tensor([5, 7]); v = a[:]; v <<= 1; r = a",
    'irshift_view': "a = T.tensor([5, -7]); v = a[:]; v >>= 1; r = a",
    'shifts': "x = T.tensor([5, 7], dtype=T.int8); r = (x << 2, x >> 1, 3 << x, T.tensor([True]) << 1)",
    'shift_float': "r = T.ones(2) << 1",
    'imod_leaf': "a = T.tensor([5., 7.], requires_grad=True); a %= 3; r = a",
    'iand_identity': "a = T.tensor([5, 7]); b = a; a &= 6; r = (a is b, b)",
    # copy_ writes the source's values, whatever self held (no `self * 0 + src`)
    'copy_over_inf': "a = T.tensor([float('inf'), 1.]); a.copy_(T.tensor([2., 3.], requires_grad=True)); "
                     "r = a.detach()",
    'copy_broadcast_cast': "a = T.zeros(2, 3, dtype=T.int32); a.copy_(T.tensor([1.7, -2.2, 3.])); r = a",
    # mixed advanced indexing: integers are applied first, as selections
    'index_int_slice_list': "r = T.arange(24.).reshape(2, 3, 4)[0, :, [0, 1]]",
    'index_ellipsis_list': "r = T.arange(24.).reshape(2, 3, 4)[1, ..., [2, 0]]",
    'index_none_int_list': "r = T.arange(24.).reshape(2, 3, 4)[None, 0, :, [0, 1]]",
    'index_mask_int': "x = T.arange(24.).reshape(2, 3, 4); r = x[1, :, x[0, 0] > 1]",
    'index_lists_apart': "r = T.arange(120.).reshape(2, 3, 4, 5)[:, [0, 1], 0, [1, 2]]",
    'setitem_int_slice_list': "a = T.zeros(2, 3, 4); a[0, :, [0, 1]] = T.arange(6.).reshape(3, 2); r = a",
    # a cast to an integer type leaves the graph
    'long_leaves_graph': "x = T.ones(2, requires_grad=True); y = (x * 2).long(); r = (y, y.requires_grad, y.is_leaf)",
    'int_to_leaves_graph': "x = T.ones(2, requires_grad=True); r = (x.to(T.int32).requires_grad, "
                           "x.bool().requires_grad, x.double().requires_grad)",
    # values
    'half_times_big_int': "r = T.zeros(1, dtype=T.float16) * 2**40",
    'half_plus_int': "r = T.tensor([1., 2.], dtype=T.float16) + 70000",
    'half_sum_float32_accumulation': "r = T.full((3000,), 1.0, dtype=T.float16).sum()",
    'half_cumsum': "r = T.full((3000,), 1.0, dtype=T.float16).cumsum(0)[-1]",
    'narrow_negative_start': "r = T.tensor([1, 2, 3, 4]).narrow(0, -2, 2)",
    'arange_integer_dtype_float_end': "r = (T.arange(2, 3.3, dtype=T.int64), T.arange(-2.5, 3, dtype=T.int64))",
    'std_near_1e30': "x = T.tensor([1e30, -1e30, 3e30]); r = (x.std(), x.var())",
    # layout: results of computations are row-major like PyTorch's
    'cumsum_of_transpose_strides': "r = T.arange(8.).reshape(2, 2, 2).mT.cumsum(0).stride()",
    'cumsum_then_view': "r = T.arange(8.).reshape(2, 2, 2).mT.cumsum(0).view(-1)",
    'reduction_strides': "x = T.arange(24.).reshape(2, 3, 4).permute(2, 0, 1); "
                         "r = (x.mean(1).stride(), x.std(2).stride(), x.logsumexp(1).stride())",
    'copies_strides': "x = T.arange(24.).reshape(2, 3, 4).permute(2, 0, 1); "
                      "r = (x.clone().stride(), x.flip(0).stride(), x.roll(1, 0).stride(), x.tril().stride(), "
                      "T.cat([x, x], 1).stride(), T.stack([x, x]).stride(), x.contiguous().stride())",
    'inplace_on_same_shape_expand': "a = T.zeros(2, 3); b = a.expand(2, 3); b.add_(1); r = a",
    'inplace_on_stretched_expand': "a = T.zeros(1, 3); a.expand(2, 3).add_(1); r = a",
    # missing API
    'scatter_src': "r = T.zeros(3, 4).scatter(1, T.tensor([[0], [2], [1]]), T.ones(3, 1))",
    'scatter_value': "r = T.scatter(T.zeros(3, 4), 1, T.tensor([[0], [2], [1]]), 5.)",
    'scatter_reduce_add': "r = T.ones(3).scatter(0, T.tensor([1, 1]), 2., reduce='add')",
    'scatter_reduce_multiply': "r = T.ones(3, 4).scatter(1, T.tensor([[0, 0], [2, 2], [1, 1]]), T.full((3, 2), 2.), "
                               "reduce='multiply')",
    'scatter_inplace_one_hot': "a = T.zeros(10); r = (a.scatter_(0, T.tensor(3), value=1) is a, a)",
    'scatter_int_value': "r = T.zeros(3, dtype=T.int64).scatter(0, T.tensor([1]), 2.5)",
    'scatter_out_of_bounds': "r = T.zeros(3).scatter(0, T.tensor([3]), 1.)",
    'scatter_bad_reduce': "r = T.zeros(3).scatter(0, T.tensor([1]), 1., reduce='max')",
    'scatter_dtype_mismatch': "r = T.zeros(3).scatter(0, T.tensor([1]), T.ones(1, dtype=T.float64))",
    'scatter_index_too_big': "r = T.zeros(2, 2).scatter(0, T.tensor([[1, 1, 1]]), 1.)",
    'hstack_numbers': "r = T.hstack([T.tensor(1.), T.tensor(2.), T.ones(2)])",
    'vstack_numbers': "r = T.vstack([T.tensor(1.), T.tensor(2.)])",
    'flip_0d': "r = (T.flip(T.tensor(1.), [0]), T.tensor(2.).flip(-1))",
    'roll_0d': "r = T.roll(T.tensor(1.), 1)",
    'roll_0d_dims': "r = T.roll(T.tensor(1.), 1, 0)",
    # validation: PyTorch's exception types and messages
    'tril_1d': "r = T.tril(T.ones(3))",
    'triu_0d': "r = T.triu(T.tensor(1.))",
    'outer_matrix': "r = T.outer(T.ones(2, 2), T.ones(2))",
    'outer_matrix_vec2': "r = T.outer(T.ones(2), T.ones(2, 1))",
    'narrow_past_end': "r = T.ones(4).narrow(0, 2, 5)",
    'narrow_start_out_of_range': "r = T.ones(4).narrow(0, -5, 1)",
    'narrow_negative_length': "r = T.ones(4).narrow(0, 1, -1)",
    'squeeze_repeated_dims': "r = T.ones(1, 2).squeeze((0, 0))",
    'index_select_negative': "r = T.index_select(T.arange(4), 0, T.tensor([-1]))",
    'index_select_too_big': "r = T.arange(4).index_select(0, T.tensor([4]))",
    'index_select_matrix_index': "r = T.arange(4).index_select(0, T.tensor([[1]]))",
    'index_select_float_index': "r = T.arange(4).index_select(0, T.tensor([1.]))",
    'abs_bool': "r = T.abs(T.tensor([True]))",
    'floor_bool': "r = T.tensor([True]).floor()",
    'ceil_trunc_bool': "r = T.ceil(T.tensor([False]))",
    'round_bool': "r = T.round(T.tensor([True]))",
    'frac_int': "r = T.frac(T.tensor([3]))",
    'frac_uint8': "r = T.tensor([3], dtype=T.uint8).frac()",
    'abs_floor_round_int_keep_dtype': "x = T.tensor([-3, 2], dtype=T.int8); r = (x.abs(), x.floor(), x.round())",
    'matmul_bool': "r = T.matmul(T.tensor([[True]]), T.tensor([[True]]))",
    'matmul_bool_vectors': "r = T.ones(2, dtype=T.bool) @ T.ones(2, dtype=T.bool)",
    'matmul_bool_batched': "r = T.ones(2, dtype=T.bool) @ T.ones(3, 2, 2, dtype=T.bool)",
    'mm_mv_bool': "r = T.mv(T.ones(2, 2, dtype=T.bool), T.ones(2, dtype=T.bool))",
    'bitwise_float': "r = T.ones(2) & T.ones(2)",
    'bitwise_not_float': "r = T.bitwise_not(T.ones(1))",
    'invert_float': "r = ~T.ones(1)",
    'rand_int_dtype': "r = T.rand(2, dtype=T.int64)",
    'randn_int_dtype': "r = T.randn(2, dtype=T.int64)",
    'rand_like_int': "r = T.rand_like(T.ones(2, dtype=T.int64))",
    'maximum_number_first': "r = T.maximum(-1.5, T.ones(2))",
    'minimum_number_second': "r = T.minimum(T.ones(2), 2.)",
    'atan2_number': "r = T.atan2(T.ones(1), 1)",
    'logical_or_number': "r = T.logical_or(T.ones(1), 1)",
    'var_int': "r = T.tensor([1, 2]).var()",
    # out= of creation functions writes into `out` and returns it
    'zeros_out': "o = T.ones(3); r = (T.zeros(2, out=o) is o, o)",
    'zeros_out_int': "o = T.ones(3, dtype=T.int64); r = (T.zeros(2, out=o), o.dtype)",
    'zeros_out_dtype_mismatch': "o = T.ones(3); r = T.zeros(2, out=o, dtype=T.int64)",
    'ones_empty_out': "o = T.zeros(2, 2); r = (T.ones(2, 2, out=o) is o, o.clone(), T.empty(3, out=o).shape)",
    'full_out': "o = T.ones(3, dtype=T.int64); r = (T.full((2,), 2.5, out=o) is o, o)",
    'arange_out': "o = T.ones(4); r = (T.arange(4, out=o) is o, o)",
    'linspace_eye_out': "o = T.ones(3); r = (T.linspace(0, 1, 4, out=o), T.eye(2, out=o), o)",
    'rand_randn_out_shape': "o = T.ones(1); r = (T.rand(2, 3, out=o) is o, o.shape, T.randn(4, out=o).shape)",
    'rand_out_int': "r = T.rand(2, out=T.ones(1, dtype=T.int64))",
    'out_view_writes_base': "o = T.ones(6); v = o[:3]; T.zeros(3, out=v); r = o",
    'out_requires_grad': "o = T.ones(3, requires_grad=True); r = T.zeros(3, out=o)",
    # pickle keeps values, requires_grad and device (not history); deepcopy also copies grad
    'pickle_leaf_after_backward': "import pickle; x = T.ones(2, requires_grad=True); (x * 2).sum().backward(); "
                                  "y = pickle.loads(pickle.dumps(x)); r = (y, y.requires_grad, y.grad, y.is_leaf)",
    'pickle_view_and_nonleaf': "import pickle; b = T.arange(4.); x = T.ones(2, requires_grad=True); "
                               "r = (pickle.loads(pickle.dumps(b[1:3])), pickle.loads(pickle.dumps(x * 2)).requires_grad)",
    'deepcopy_keeps_grad': "import copy; x = T.ones(2, requires_grad=True); (x * 3).sum().backward(); "
                           "d = copy.deepcopy(x); r = (d, d.grad, d.requires_grad, d.data_ptr() == x.data_ptr())",
    'deepcopy_nonleaf': "import copy; x = T.ones(2, requires_grad=True); r = copy.deepcopy(x * 2)",
    # cases the differential fuzz test found
    'scatter_add_0d': "v = T.zeros((), requires_grad=True); r = v.scatter_add(0, T.zeros_like(v, dtype=T.int64), v)",
    'scatter_add_bounds': "r = T.zeros(3).scatter_add(0, T.tensor([3]), T.ones(1))",
    'arange_int32_float_end': "r = (T.arange(1, 2.5, dtype=T.int32), T.arange(1.5, 3, 0.5, dtype=T.int16), "
                              "T.arange(-2.5, 3, dtype=T.uint8))",
    'arange_out_keeps_shape': "o = T.zeros(2, 1, dtype=T.float64); T.arange(2, out=o); r = o",
    'idiv_zero_no_warning': "import warnings; v = T.tensor([0., 1.]); w = v / 2.25\n"
                            "with warnings.catch_warnings():\n    warnings.simplefilter('error')\n"
                            "    w /= v; w.div_(v); w -= 1e38; w *= 1e38; m = T.ones(0).mean()\nr = (w, m)",
    'setitem_0d_index_list': "v = T.tensor(1.); v.requires_grad_(); v[[0]] = -1.5; r = v",
    'setitem_overlap_index_put': "a = T.arange(12.).reshape(3, 4); a[[0, 1]] = a[:2]; r = a",
    'setitem_overlap_basic': "a = T.arange(12.).reshape(3, 4); a[1:] = a[:-1]; r = a",
    'setitem_no_overlap_cases': "a = T.arange(12.).reshape(3, 4); a[0] = a[1]; a[...] = a; a[:, :2] = a[:, 1:3]; "
                                "a[a > 3] = a[a > 3] * 2; r = a",
    'copy_overlap': "a = T.arange(6.); a[1:].copy_(a[:-1]); r = a",
    'setitem_float_overflow_is_inf': "h = T.zeros(3, dtype=T.float16); h[h >= 0] = 1e30; h[0] = -1e30; r = h",
    'setitem_int_overflow': "i = T.zeros(2, dtype=T.int8); i[0] = 300; r = i",
    'ior_bool_with_float': "b = T.tensor([True]); b |= T.ones(1); r = b",
    'imod_bool': "b = T.tensor([True]); b %= 2; r = b",
    'ifloordiv_int_by_float': "i = T.tensor([1]); i //= 2.5; r = i",
    'split_chunk_narrow_0d': "r = T.tensor(1.).split(1)",
    'chunk_0d': "r = T.tensor(1.).chunk(1)",
    'narrow_0d': "r = T.tensor(1.).narrow(0, 0, 1)",
    'eq_number_first': "r = T.eq(2, T.ones(1))",
    'lt_number_first': "r = T.lt(2, T.ones(1))",
    'fmod_number_first': "r = T.fmod(2, T.ones(1))",
    'isclose_number': "r = T.isclose(T.ones(1), 2)",
    'allclose_number': "r = T.allclose(-7, T.ones(1))",
    'equal_number': "r = T.equal(T.ones(1), 1)",
    'masked_select_float_mask': "r = T.masked_select(T.ones(2), T.ones(2))",
    'requires_grad_on_computed': "x = T.ones(1, 1, requires_grad=True); y = T.vstack([x, x[-1, :]]); "
                                 "y.requires_grad_(); r = (y.requires_grad, y.is_leaf)",
    'requires_grad_false_on_computed': "x = T.ones(1, requires_grad=True); y = x * 2; y.requires_grad_(False); r = y",
    'half_remainder_floor_scalars': "h = T.tensor([1.], dtype=T.half); a = T.tensor(-1., dtype=T.half); s = 1.2e-33; "
                                    "r = (h % 0.1, h // 0.1, T.fmod(h, 0.1), s // a, a // s, 0.1 // h)",
    'out_keeps_numpy_memory': "import numpy as np; x = np.array([-4]); v = T.as_tensor(x); T.mul(v.any(), v.any(), out=v); "
                              "r = (T.from_numpy(x), v)",
    'gather_negative_index': "r = T.tensor([1, 2]).gather(-1, T.tensor([1, 0, -1]))",
    'mm_empty_bool': "v = T.zeros(1, 0) != -1.5; r = T.mm(v, v.mT)",
    'sub_bool_inplace': "v = T.zeros(2, dtype=T.bool); v.sub_(v <= v); r = v",
    'unflatten_0d': "r = T.tensor(3).unflatten(-1, (2, -1))",
    'half_compared_with_number': "a = T.tensor(1.062, dtype=T.float16); s = 1.0614054203033447; "
                                 "r = (a == s, a < s, s < a, a >= s, T.eq(a, s))",
    'imod_bool_kernel': "v = T.tensor([True]); v %= v; r = v",
    'ifloordiv_bool_kernel': "v = T.tensor([False]); v //= v; r = v",
    'fmod_div_trunc_bool': "r = (T.fmod(T.tensor([True]), T.tensor([True])), )",
    'isclose_dtype_mismatch': "r = T.zeros(2).allclose(T.tensor(False))",
    'sum_out_bool': "v = T.tensor([True]); o = T.ne(v, v); T.sum(v, 0, out=o); r = o",
    'clamp_out_requires_grad': "o = T.full((3, 3), 2.25, requires_grad=True); r = T.clamp(T.zeros(1, 1, 0).isnan(), 0, 1, out=o)",
    'inplace_partial_overlap': "v = T.tensor([[2]], dtype=T.uint8); v.add_(v[:, -1]); r = v",
    'isub_partial_overlap': "v = T.arange(4).view(4, 1, 1).swapaxes(-2, -1); v -= v[2, -2:3:3, ...]; r = v",
    'inplace_full_overlap_ok': "v = T.arange(4.); v.add_(v); v.mul_(v); r = v",
    'matmul_empty_bool_mismatch': "v = T.zeros(1, 0, dtype=T.bool); r = T.matmul(v, v)",
    'logsumexp_empty': "import warnings\nwith warnings.catch_warnings():\n    warnings.simplefilter('error')\n"
                       "    r = T.zeros(0).logsumexp(-1, keepdim=True)",
    'topk_bool': "r = T.tensor([True]).topk(1)",
    'norm_int': "r = T.tensor([1]).norm()",
    'round_decimals_int': "r = T.tensor([3], dtype=T.int8).round(decimals=2)",
    'where_int_condition': "r = T.where(T.tensor([1]), 1., 2.)",
    'masked_fill_int_mask': "r = T.tensor([1.]).masked_fill(T.tensor([1], dtype=T.uint8), 0.)",
    'sort_keeps_layout': "x = T.arange(24.).reshape(2, 3, 4).permute(2, 0, 1); s = x.sort(0); "
                         "r = (s.values.stride(), s.indices.stride(), T.ones(3, 4).T.sort(1).values.stride())",
    'empty_strides': "r = (T.full((0, 1), 3).stride(), T.ones(2, 0, 3).stride(), T.ones(4, 4)[:, :0].stride())",
}


def _run(code, T):
    "Run `code` with `T` bound to a library; return (r, None) or (None, exception)."
    env = {'T': T}
    try: exec(code, env)
    except Exception as e: return None, e
    return env['r'], None


@pytest.mark.parametrize('name', sorted(PROGRAMS))
def test_program_matches_pytorch(name):
    "learntorch computes what PyTorch computes, or raises the same exception with the same message."
    th, th_exc = _run(PROGRAMS[name], torch)
    lt, lt_exc = _run(PROGRAMS[name], learntorch)
    if th_exc is not None:
        assert lt_exc is not None, f'PyTorch raised {th_exc!r}, learntorch returned {lt!r}'
        assert type(lt_exc).__name__ == type(th_exc).__name__, f'{lt_exc!r} where PyTorch raises {th_exc!r}'
        assert str(lt_exc).split('\n')[0] == str(th_exc).split('\n')[0], f'{lt_exc!r} vs PyTorch {th_exc!r}'
        return
    if lt_exc is not None: raise lt_exc
    assert_same(lt, th)


def test_no_numpy_warnings_reach_users():
    "Overflow and invalid values give inf and nan silently, as in PyTorch: no numpy RuntimeWarning is printed."
    code = textwrap.dedent("""
        import learntorch as torch
        x = torch.tensor([1e30, 3e38, 0.])
        y = (x * x, x + x, torch.square(x), x.std(), x.var(), x ** 3, torch.exp(x), x.log(), x / 0, x.half(),
             torch.zeros(1, dtype=torch.float16) * 2**40, x.sum(), x.prod(), x.norm(), torch.tensor([float('nan')]).long())
        x.copy_(torch.tensor([1e300, 1., 2.], dtype=torch.float64))
        """)
    done = subprocess.run([sys.executable, '-W', 'default', '-c', code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert 'Warning' not in done.stderr, done.stderr


# ------------------------------------------------------------------------------------- in-place updates in memory

def _pointer(t): return t.numpy().__array_interface__['data'][0]


@pytest.mark.parametrize('step', ['sub_alpha', 'add_alpha', 'sub', 'mul', 'div', 'add_scalar', 'exp_', 'iadd'])
def test_inplace_update_writes_into_own_memory(step):
    "An optimizer-style in-place update keeps the tensor object, its memory and the views on it, and bumps the version."
    def run(T):
        p, g = T.arange(12.).reshape(3, 4) / 10, T.full((3, 4), 0.5)
        view, ident = p[1], p
        before = (_pointer(p) if T is learntorch else p.data_ptr(), p._version)
        {'sub_alpha': lambda: p.sub_(g, alpha=0.1), 'add_alpha': lambda: p.add_(g, alpha=-2.0),
         'sub': lambda: p.sub_(g), 'mul': lambda: p.mul_(g), 'div': lambda: p.div_(g),
         'add_scalar': lambda: p.add_(1.5), 'exp_': lambda: p.exp_(), 'iadd': lambda: p.__iadd__(g)}[step]()
        after = (_pointer(p) if T is learntorch else p.data_ptr(), p._version)
        return p, view, ident is p, before[0] == after[0], after[1] - before[1], view._version
    lt, th = run(learntorch), run(torch)
    assert_same(lt[0], th[0]); assert_same(lt[1], th[1], 'view of the updated tensor')
    assert lt[2:] == th[2:] == (True, True, 1, 1)


def test_sgd_step_makes_no_copy_of_the_parameter():
    "`p.sub_(g, alpha=lr)` allocates at most one temporary (`lr * g`) and `p.sub_(g)` none: no copy back into `p`."
    n = 1 << 20
    p, g = learntorch.ones(n), learntorch.full((n,), 0.5)
    with learntorch.no_grad():
        p.sub_(g, alpha=0.1)                     # warm up
        tracemalloc.start()
        p.sub_(g, alpha=0.1)
        _, peak_alpha = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        p.sub_(g)
        _, peak_plain = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    nbytes = p.numpy().nbytes
    assert peak_alpha < 1.5 * nbytes, f'{peak_alpha} bytes allocated for a {nbytes}-byte parameter'
    assert peak_plain < 0.1 * nbytes, f'{peak_plain} bytes allocated for a {nbytes}-byte parameter'
    np.testing.assert_allclose(p.numpy(), 1 - 2 * 0.05 - 0.5, rtol=1e-6)
