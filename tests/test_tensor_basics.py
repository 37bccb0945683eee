"""Tensor basics checked against PyTorch: memory sharing and version counters, printing, and error messages."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import learntorch
from helpers import FLOATS, INTS, arrays, assert_same, shapes

torch = pytest.importorskip("torch")
LIBS = (learntorch, torch)

# ================================================================================================ memory sharing

VIEWS = {  # name: a function making a view of x = arange(24.).reshape(2, 3, 4)
    'view': lambda x: x.view(6, 4), 'view_as': lambda x: x.view_as(x.new_zeros(4, 6)),
    'reshape_contiguous': lambda x: x.reshape(-1), 'flatten': lambda x: x.flatten(1),
    'unflatten': lambda x: x.unflatten(2, (2, 2)), 'transpose': lambda x: x.transpose(0, 2),
    'permute': lambda x: x.permute(2, 0, 1), 'mT': lambda x: x.mT, 't_of_slice': lambda x: x[0].t(),
    'T_of_slice': lambda x: x[1].T, 'squeeze': lambda x: x[:1].squeeze(0), 'unsqueeze': lambda x: x.unsqueeze(1),
    'int_index': lambda x: x[1], 'slice': lambda x: x[:, 1:], 'step_slice': lambda x: x[..., ::2],
    'none_ellipsis': lambda x: x[None, ..., 1], 'detach': lambda x: x.detach(), 'data': lambda x: x.data,
    'split_piece': lambda x: x.split(2, dim=2)[1], 'chunk_piece': lambda x: x.chunk(3, dim=1)[2],
    'unbind_piece': lambda x: x.unbind(1)[0], 'narrow': lambda x: x.narrow(2, 1, 2),
    'view_of_view': lambda x: x[1].view(12)[3:],
}


@pytest.mark.parametrize('name', sorted(VIEWS))
def test_views_write_through(name):
    "Writing into a view changes the base tensor; both see the same version counter, as in PyTorch."
    out = {}
    for T in LIBS:
        x = T.arange(24.).reshape(2, 3, 4)
        v = VIEWS[name](x)
        v.mul_(-1)
        v[...] = v + 100
        out[T] = (x, v, x._version, v._version)
    for a, b, where in zip(out[learntorch], out[torch], ('base', 'view', 'base._version', 'view._version')):
        assert_same(a, b, where)


def test_copies_do_not_share():
    "tensor(), clone(), contiguous() of a non-contiguous tensor and advanced indexing copy."
    for make in (lambda x: learntorch.tensor(x.tolist()), lambda x: x.clone(), lambda x: x.t().contiguous(),
                 lambda x: x[[0, 1]], lambda x: x[x > 2], lambda x: x.reshape(2, 3).t().reshape(-1)):
        x = learntorch.arange(6.).reshape(2, 3)
        y = make(x)
        y.mul_(0)
        assert x.tolist() == [[0., 1., 2.], [3., 4., 5.]]


def test_from_numpy_shares_both_ways():
    a = np.arange(6.0)
    t = learntorch.from_numpy(a)
    a[0] = 100.
    assert t[0].item() == 100.
    t[1] = -5.
    assert a[1] == -5.
    t.add_(1)
    assert a.tolist() == [101., -4., 3., 4., 5., 6.]
    assert t.dtype is learntorch.float64


def test_numpy_shares_both_ways():
    t = learntorch.zeros(2, 3)
    n = t.numpy()
    n[0, 0] = 7
    assert t[0, 0].item() == 7
    t.mul_(2)
    assert n[0, 0] == 14
    t[1] = 1
    assert n[1].tolist() == [1., 1., 1.]
    assert n.dtype == np.float32


def test_as_tensor_shares_and_tensor_copies():
    a = np.zeros(3, np.float32)
    shared, copied = learntorch.as_tensor(a), learntorch.tensor(a)
    a[0] = 1
    assert shared[0].item() == 1 and copied[0].item() == 0


def _version_steps(T):
    "A sequence of in-place changes; returns the version counters seen after each step."
    x = T.zeros(4, 3)
    v = x[1:]
    seen = [x._version]
    for step in (lambda: x.add_(1), lambda: x.__setitem__(0, 5.), lambda: v.mul_(2), lambda: x.zero_(),
                 lambda: x.fill_(3), lambda: x.copy_(T.ones(4, 3)), lambda: x.clamp_(0, 1), lambda: v[0].sub_(1),
                 lambda: x.masked_fill_(x > 0, 2.), lambda: x.div_(2), lambda: x.pow_(2)):
        step()
        seen.append((x._version, v._version))
    y = x + 1  # out-of-place ops leave versions alone
    seen.append((x._version, y._version))
    return seen


def test_version_counter_matches_torch():
    assert _version_steps(learntorch) == _version_steps(torch)

# ================================================================================================ printing

REPRS = [
    'T.tensor([1, 2, 3])', 'T.tensor([[1, 2], [3, 4]])', 'T.tensor(5)', 'T.tensor(3.5)', 'T.tensor(-0.)',
    'T.tensor([1.5, 2.25, -3.0])', 'T.tensor([1., 2., 3.])', 'T.tensor([1e-5, 1., 1000.])', 'T.tensor([1e10, 1.])',
    'T.tensor([123456789., 1.])', 'T.tensor([0.1, 0.01, 0.001])', 'T.tensor([1e-10])', 'T.tensor([-0.0, 0.0])',
    "T.tensor([float('inf'), float('-inf'), float('nan'), 1.])", "T.tensor([float('nan')])", 'T.tensor([0.])',
    'T.tensor([1e-3, 12345.678])', 'T.tensor([[1.0, -1.0], [100.0, 0.001]])', 'T.linspace(-1, 1, 7)',
    'T.tensor([1, -1000000])', 'T.tensor([0.1234567])', 'T.full((2, 2), 1e20)', 'T.tensor([2 ** 40, -3])',
    'T.tensor([[1e-8, 1.0]], dtype=T.float64)', 'T.tensor(1., dtype=T.float64)', 'T.tensor([1000., 1e-4])',
    'T.tensor([999.5, -0.5])', 'T.tensor([1e8, 1.])', 'T.tensor([1e9])', 'T.tensor([-1e-4, 5.])',
    'T.zeros(0)', 'T.zeros(2, 0)', 'T.zeros(0, 3, dtype=T.int64)', 'T.zeros(0, dtype=T.float64)',
    'T.tensor([], dtype=T.bool)', 'T.zeros(2, 3)[:, :0]', 'T.zeros(1, 0, 2, dtype=T.float16)',
    'T.arange(2000.)', 'T.arange(1001)', 'T.arange(1000)', 'T.ones(40, 40)', 'T.arange(30.) * 1.5', 'T.arange(100)',
    'T.arange(24.).reshape(2, 3, 4)', 'T.arange(48).reshape(2, 2, 3, 4)', 'T.arange(5000.).reshape(10, 10, 50)',
    'T.arange(30.).reshape(5, 6) / 7', 'T.arange(12).reshape(3, 4) - 5',
    'T.zeros(3, dtype=T.float64)', 'T.ones(3, dtype=T.float16)', 'T.tensor([1.5, 3.3], dtype=T.float16)',
    'T.tensor([65504.], dtype=T.float16)', 'T.tensor([1, 2], dtype=T.int32)', 'T.tensor([1, 255], dtype=T.uint8)',
    'T.tensor([-7, 3], dtype=T.int8)', 'T.tensor([300, 3], dtype=T.int16)', 'T.tensor([True, False])',
    'T.tensor(True)', 'T.ones(2, requires_grad=True)', 'T.tensor(2.5, requires_grad=True)',
    'T.ones(2, 2, dtype=T.float64, requires_grad=True)', 'T.zeros(0, requires_grad=True)',
    'T.ones(2, requires_grad=True) * 2', 'T.ones(2, requires_grad=True).sum()',
    'T.zeros(3, 2).shape', 'T.Size([2, 3])', 'T.Size([])', 'T.zeros(2).size()', 'T.float32', 'T.int64', 'T.bool',
    'T.float16', 'T.uint8', "T.device('cpu')", 'T.zeros(2).device', 'T.zeros(2).dtype', 'T.zeros(1, 2, 3).stride()',
]


@pytest.mark.parametrize('expr', REPRS)
def test_repr_matches_torch(expr):
    "repr() and str() are character for character PyTorch's."
    lt, th = (eval(expr, {'T': T}) for T in LIBS)
    assert repr(lt) == repr(th)
    assert str(lt) == str(th)


def test_format_of_0d_tensor():
    for T in LIBS: T.x = T.tensor(2.0 / 3)
    for spec in ('', '.3f', '>10.2f', 'e'):
        assert format(learntorch.x, spec) == format(torch.x, spec)
    del learntorch.x, torch.x


@st.composite
def printable_arrays(draw):
    "Arrays of any dtype whose values span a random range of magnitudes (1e-12 .. 1e12), some big enough to summarise."
    dtype = draw(st.sampled_from(FLOATS + INTS + ('bool',)))
    shape = draw(st.one_of(shapes(0, 4, 0, 6), st.sampled_from([(1001,), (40, 30), (2, 600), (11, 10, 10)])))
    if dtype in FLOATS:
        k = draw(st.integers(-12, 4 if dtype == 'float16' else 12))
        a = draw(arrays(dtype, shape, -10.0 ** k, 10.0 ** k, specials=draw(st.booleans())))
        if draw(st.booleans()): a = np.asarray(np.round(a))  # whole numbers print in int mode
        return a
    return draw(arrays(dtype, shape, -10 ** draw(st.integers(0, 9)), 10 ** draw(st.integers(0, 9))))


@given(printable_arrays())
def test_repr_of_random_tensors(a):
    "Random tensors of random shapes, dtypes and magnitudes print exactly like PyTorch's."
    assert repr(learntorch.from_numpy(a.copy())) == repr(torch.from_numpy(a.copy()))

# ================================================================================================ errors

ERRORS = {  # name: (code run with T = the library, key sentence of the message or None for "exactly torch's")
    'broadcast_mismatch': ('T.zeros(2, 3) + T.zeros(4)', None),
    'broadcast_mismatch_inplace': ('T.zeros(2).add_(T.ones(2, 2))', None),
    'mm_shape_mismatch': ('T.mm(T.zeros(2, 3), T.zeros(2, 3))', None),
    'matmul_vector_mismatch': ('T.zeros(3) @ T.zeros(4)', None),
    'matmul_matrix_vector_mismatch': ('T.zeros(2, 3).matmul(T.zeros(2))', None),
    'bmm_mismatch': ('T.zeros(2, 3, 4).bmm(T.zeros(2, 3, 4))', None),
    'mm_of_vector': ('T.zeros(2, 3).mm(T.zeros(3))', None),
    'invalid_view_strides': ('T.zeros(2, 3).t().view(6)', None),
    'invalid_view_size': ('T.zeros(2, 3).view(4, -1)', None),
    'view_two_minus_ones': ('T.zeros(2, 3).reshape(-1, -1)', None),
    'reshape_wrong_size': ('T.zeros(2, 3).reshape(4)', None),
    'index_out_of_range': ('T.zeros(3)[5]', None),
    'index_out_of_range_dim1': ('T.zeros(2, 3)[:, 7]', None),
    'index_negative_out_of_range': ('T.zeros(3)[-4]', None),
    'too_many_indices': ('T.zeros(2, 3)[0, 0, 0]', None),
    'index_tensor_out_of_range': ('T.zeros(2, 2)[T.tensor([5])]', None),
    'index_list_out_of_range': ('T.ones(2, 3)[[0, 1, 2]]', None),
    'index_float_tensor': ('T.zeros(2, 2)[T.tensor([0, 1.])]', None),
    'mask_shape_mismatch': ('T.zeros(2, 2)[T.tensor([True, False, True])]', None),
    'index_0d': ('T.tensor(1.)[0]', None),
    'negative_step': ('T.zeros(3)[::-1]', None),
    'setitem_out_of_range': ('T.zeros(3).__setitem__(3, 1.)', None),
    'unknown_dtype_string': ("T.zeros(2, dtype='float')", None),
    'unknown_dtype_numpy_type': ('T.ones(2, dtype=np.float32)', None),
    'tensor_dtype_string': ("T.tensor([1], dtype='int')", None),
    'size_float': ('T.zeros(2.5)', None),
    'size_str': ("T.zeros('a')", None),
    'size_negative': ('T.zeros(-1)', None),
    'size_tuple_with_str': ("T.ones((2, 'x'))", 'must be tuple of ints'),
    'ragged_list': ('T.tensor([[1, 2], [3]])', None),
    'ragged_list_deeper': ('T.tensor([[[1, 2], [3, 4]], [[5, 6], [7]]])', None),
    'ragged_number_and_list': ('T.tensor([[1, 2], 3])', None),
    'list_of_strings': ("T.tensor([1, 'a'])", None),
    'tensor_of_none': ('T.tensor(None)', None),
    'item_many': ('T.zeros(3).item()', None),
    'item_empty': ('T.zeros(0).item()', None),
    'bool_many': ('bool(T.zeros(3))', None),
    'bool_empty': ('bool(T.zeros(0))', None),
    'float_many': ('float(T.zeros(3))', None),
    'numpy_requires_grad': ('T.zeros(3, requires_grad=True).numpy()', None),
    'requires_grad_int': ('T.zeros(2, dtype=T.int64, requires_grad=True)', None),
    'cat_size_mismatch': ('T.cat([T.zeros(2, 3), T.zeros(3, 2)])', None),
    'cat_dim_out_of_range': ('T.cat([T.zeros(2)], dim=1)', None),
    'cat_empty_list': ('T.cat([])', None),
    'cat_ndim_mismatch': ('T.cat([T.zeros(2, 3), T.zeros(3)])', None),
    'stack_size_mismatch': ('T.stack([T.zeros(2), T.zeros(3)])', None),
    'stack_empty_list': ('T.stack([])', None),
    'sum_dim_out_of_range': ('T.zeros(2, 3).sum(dim=2)', None),
    'sum_dim_repeated': ('T.zeros(2, 3).sum(dim=(0, 0))', None),
    'mean_of_ints': ('T.ones(3, dtype=T.int64).mean()', None),
    'max_dim_out_of_range': ('T.zeros(3).max(dim=1)', None),
    'max_of_empty': ('T.zeros(0).max()', None),
    'argmax_dim_out_of_range': ('T.zeros(2, 3).argmax(dim=-3)', None),
    'transpose_dim_out_of_range': ('T.zeros(2, 3).transpose(0, 3)', None),
    'unsqueeze_dim_out_of_range': ('T.zeros(2).unsqueeze(3)', None),
    'squeeze_dim_out_of_range': ('T.zeros(2, 3).squeeze(4)', None),
    'permute_wrong_length': ('T.zeros(2, 3).permute(0, 1, 2)', None),
    'permute_duplicates': ('T.zeros(2, 3).permute(0, 0)', None),
    'flatten_start_after_end': ('T.zeros(2, 3).flatten(1, 0)', None),
    'size_dim_out_of_range': ('T.zeros(2, 3).size(2)', None),
    'expand_mismatch': ('T.zeros(3).expand(2, 4)', None),
    'expand_too_few_sizes': ('T.zeros(2, 3).expand(3)', None),
    'len_0d': ('len(T.tensor(1.))', None),
    'iter_0d': ('iter(T.tensor(1.))', None),
    't_of_3d': ('T.zeros(2, 3, 4).t()', None),
    'mT_of_1d': ('T.zeros(3).mT', None),
    'arange_zero_step': ('T.arange(0, 10, 0)', None),
    'arange_wrong_sign': ('T.arange(0, 10, -1)', None),
    'linspace_negative_steps': ('T.linspace(0, 1, -1)', None),
    'inplace_int_with_float': ('T.ones(2, dtype=T.int64).add_(1.5)', None),
    'floor_divide_int_by_zero': ('T.tensor([1]) // 0', None),
    'pow_int_negative_scalar': ('T.tensor([2]) ** -1', None),
    'sub_bools': ('T.tensor([True]) - T.tensor([True])', None),
    'neg_bool': ('-T.tensor([True])', None),
    'from_numpy_list': ('T.from_numpy([1, 2])', None),
    'from_numpy_strings': ("T.from_numpy(np.array(['a']))", 'The only supported types are'),
    'gather_index_dims': ('T.zeros(2, 3).gather(1, T.zeros(2, dtype=T.int64))', None),
    'where_shape_mismatch': ('T.where(T.tensor([True, False]), T.zeros(3), T.zeros(3))', None),
    'masked_fill_non_bool_mask': ('T.zeros(2).masked_fill(T.tensor([1, 0]), 1.)', 'masked_fill_ only supports boolean masks'),
    'topk_too_big': ('T.zeros(3).topk(4)', None),
    'split_size_zero': ('T.zeros(3).split(0)', None),
    'split_sizes_wrong_sum': ('T.zeros(3).split([1, 1])', None),
    'chunk_zero': ('T.zeros(3).chunk(0)', None),
    'view_dtype_size': ('T.ones(3).view(T.float64)', None),
    'expand_then_write': ('T.zeros(1, 3).expand(2, 3).add_(1)', None),
}


@pytest.mark.parametrize('name', sorted(ERRORS))
def test_error_matches_torch(name):
    "The same exception type as PyTorch, with PyTorch's message (or, where given, its key sentence)."
    code, key = ERRORS[name]
    caught = {}
    for T in LIBS:
        with pytest.raises(Exception) as info:
            eval(code, {'T': T, 'np': np})
        caught[T] = info.value
    lt, th = caught[learntorch], caught[torch]
    th_type = next(c for c in type(th).__mro__ if c.__module__ == 'builtins')
    assert isinstance(lt, th_type) and not (isinstance(lt, (AttributeError, NameError)) and th_type is not type(lt)), \
        f'{type(lt).__name__}({lt}) where PyTorch raises {type(th).__name__}({th})'
    if key is None: assert str(lt) == str(th)
    else: assert key in str(lt) and key in str(th)


def test_error_types_are_builtin_or_torch_like():
    "Sanity check of the table: PyTorch really raises for each entry (no entry silently tests nothing)."
    for name, (code, _) in ERRORS.items():
        with pytest.raises(Exception):
            eval(code, {'T': torch, 'np': np})


LEGACY = ['FloatTensor', 'DoubleTensor', 'HalfTensor', 'ByteTensor', 'CharTensor', 'ShortTensor', 'IntTensor',
          'LongTensor', 'BoolTensor']
LEGACY_CALLS = ['C([1, 0, 2])', 'C(np.array([[1, 2], [3, 4]]))', 'C((2, 3))', 'C(T.Size([2, 3])).shape', 'C(2, 3).shape',
                'C().shape', 'C([])']


@pytest.mark.parametrize('name', LEGACY)
@pytest.mark.parametrize('call', LEGACY_CALLS)
def test_legacy_tensor_types(name, call):
    "torch.FloatTensor and its siblings: data, sizes and Size as PyTorch reads them, their dtype, isinstance."
    got = {}
    for T in LIBS:
        r = eval(call, {'T': T, 'np': np, 'C': getattr(T, name)})
        got[T] = tuple(r) if isinstance(r, tuple) else (r.tolist() if call not in ('C(2, 3).shape',) else r, )
        if not isinstance(r, tuple):
            assert str(r.dtype) == str(getattr(T, name).dtype)
            assert isinstance(r, getattr(T, name)) and not isinstance(r, getattr(T, 'FloatTensor' if name != 'FloatTensor' else 'DoubleTensor'))
    if 'shape' in call: assert tuple(got[learntorch]) == tuple(got[torch])
    else: assert got[learntorch] == got[torch]


def test_legacy_tensor_type_of_a_tensor_is_an_alias():
    for T in LIBS:
        t = T.ones(2)
        assert T.FloatTensor(t).data_ptr() == t.data_ptr()
        with pytest.raises(TypeError): T.FloatTensor(T.ones(2, dtype=T.int64))
        with pytest.raises(TypeError, match="failed to unpack the object at pos 2"): T.FloatTensor(2, 'a')


@pytest.mark.parametrize('dtype', ['float32', 'float64'])
def test_add_and_sub_with_alpha_are_pytorchs_to_the_bit(dtype):
    "`p.sub_(g, alpha=lr)` and `p.add_(g, alpha=a)`: PyTorch's values exactly (one rounding), in p's own memory, version bumped; alpha=0 still turns inf into nan."
    import torch
    rng = np.random.default_rng(0)
    p, g = rng.standard_normal((300, 70)).astype(dtype), rng.standard_normal((300, 70)).astype(dtype)
    mine, theirs = learntorch.from_numpy(p.copy()), torch.from_numpy(p.copy())
    ptr, version = mine.data_ptr(), mine._version
    for lib, t in ((learntorch, mine), (torch, theirs)):
        t.sub_(lib.from_numpy(g), alpha=1e-3)
        t.add_(lib.from_numpy(g), alpha=0.37)
    assert np.array_equal(mine.numpy(), theirs.numpy())
    assert mine.data_ptr() == ptr and mine._version == version + 2
    x = learntorch.ones(3, dtype=getattr(learntorch, dtype))
    x.add_(learntorch.tensor([float('inf'), 1., 2.], dtype=x.dtype), alpha=0)
    assert np.isnan(x[0].item()) and x[1:].tolist() == [1., 1.]
