"""One table of ops, each checked against PyTorch over hypothesis-generated inputs.

Each entry is written once as `fn(T, *args)` where `T` is the library module (`learntorch` or `torch`); `args` is a
hypothesis strategy drawing the arguments (numpy arrays become tensors, `D('int32')` a dtype). `compare` (helpers.py)
checks values, dtypes, shapes, raised exceptions, aliasing (views stay views, in-place ops return `self`) and in-place
effects. Inputs cover 0-d and zero-size shapes, broadcasting, all nine dtypes (type promotion) and non-contiguous
layouts. Ops learntorch does not have yet are reported as xfail; everything it has must pass.

`grad=True` marks differentiable entries (tests/test_autograd_ops.py compares their gradients)."""
import builtins, math, os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import event, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import learntorch
from helpers import (ALL, FLOATS, INTS, NUMERIC, D, OnDevice, _Built, advanced_indices, arrays, basic_indices,
                     broadcast_shapes, compare_op, dim_tuples, dims, dtype_names, elements, layouts, reduce_kw, scalars,
                     shape_broadcasting_to, shapes, tensors)

pytest.importorskip("torch")


@dataclass(repr=False)
class Op:
    "One row of the table."
    name: str                 # the test id
    fn: Callable              # fn(T, *args), the same code for both libraries
    args: Any                 # strategy drawing the argument tuple
    needs: tuple              # learntorch attributes the row uses ('add', 'Tensor.add_'); missing ones -> xfail
    tol: float = 1            # multiplies the dtype tolerance (reductions and matmuls accumulate rounding)
    inplace: bool = False     # modifies its first argument: also checked on a view into a bigger tensor
    grad: bool = False        # differentiable: the autograd tests will compare gradients too
    host: bool = False        # bridges to numpy (`.numpy()`): on a GPU it must raise PyTorch's TypeError instead

    def __repr__(self): return f'Op({self.name!r})'


TABLE = []


def op(name, fn, args, needs=None, **kw):
    "Add a row; `needs` is a space-separated list of attribute paths (default: `name`)."
    TABLE.append(Op(name, fn, args, tuple((needs or name).split()), **kw))


def then(base, make):
    "Draw the arrays of `base`, then the extra arguments from the strategy `make(*arrays)` (a tuple strategy)."
    @st.composite
    def strategy(draw):
        arrs = draw(base)
        return tuple(arrs) + tuple(draw(make(*arrs)))
    return strategy()


def one(dtypes=ALL, **kw): return tensors(1, dtypes, **kw)
def two(dtypes=ALL, **kw): return tensors(2, dtypes, **kw)
def three(dtypes=ALL, **kw): return tensors(3, dtypes, **kw)
def with_scalar(dtypes=ALL, kinds=('int', 'float', 'bool'), snonzero=False, slo=-5, shi=5, **kw):
    "(tensor, Python scalar); `slo`, `shi`, `snonzero` restrict the scalar, `kw` the tensor."
    return then(one(dtypes, **kw), lambda a: st.tuples(scalars(kinds, slo, shi, snonzero)))
def kw_of(**strategies):
    "A dict strategy whose keys are each present or absent: `kw_of(dtype=dtype_names())`."
    return st.fixed_dictionaries({}, optional=strategies)
def opt_dtype(names=ALL): return kw_of(dtype=dtype_names(names))


def setitem(a, key, value):
    "`a[key] = value`, returning `a` (lambdas cannot assign)."
    a[key] = value
    return a

# ================================================================================================ creation

@st.composite
def nested_lists(draw, kinds=('int', 'float', 'bool', 'int_float', 'bool_int', 'bool_float'), lim=1000):
    "Rectangular nested lists (or a bare number) of Python ints/floats/bools in [-lim, lim], some mixing types."
    shape = draw(shapes(0, 3, 0, 3))
    kind = draw(st.sampled_from(kinds))
    leaf = {'int': st.integers(-lim, lim), 'float': st.floats(-lim, lim, allow_nan=False), 'bool': st.booleans()}
    leaves = st.one_of(*[leaf[k] for k in kind.split('_')])
    def build(s): return draw(leaves) if not s else [build(s[1:]) for _ in range(s[0])]
    return (build(shape),)

op('tensor_infer', lambda T, data: T.tensor(data), nested_lists(), needs='tensor')
op('tensor_dtype', lambda T, data, d: T.tensor(data, dtype=d),
   then(nested_lists(('int', 'bool', 'int_float'), lim=100).map(lambda t: (_nonneg(t[0]),)),
        lambda _: st.tuples(dtype_names())), needs='tensor')
op('tensor_dtype_overflow', lambda T, data, d: T.tensor(data, dtype=d),
   st.tuples(st.sampled_from([128, [1, 300], [1.5, 300.0], -129, [70000], [3e38, 1e39]]),
             dtype_names(('int8', 'int16', 'uint8', 'float16', 'float32'))), needs='tensor')
op('tensor_from_numpy_array', lambda T, a: T.tensor(a.numpy()), one(), needs='tensor', host=True)
op('tensor_from_tolist', lambda T, a: T.tensor(a.tolist()), one(), needs='tensor Tensor.tolist')
op('as_tensor_shares', lambda T, a: T.as_tensor(a.numpy()), one(), needs='as_tensor', host=True)
op('as_tensor_dtype', lambda T, a, d: T.as_tensor(a, dtype=d), then(one(lo=0), lambda a: st.tuples(dtype_names())),
   needs='as_tensor')
op('from_numpy_roundtrip', lambda T, a: T.from_numpy(a.numpy()), one(), needs='from_numpy', host=True)

def _nonneg(data):
    "Make all numbers in nested `data` non-negative (casting negative floats to uint8 is undefined in C++)."
    return [_nonneg(x) for x in data] if isinstance(data, list) else type(data)(abs(data))

sizes = shapes(0, 4, 0, 4)
for _name in ('zeros', 'ones'):
    op(_name, lambda T, s, star, kw, f=_name: getattr(T, f)(*s, **kw) if star and s else getattr(T, f)(s, **kw),
       st.tuples(sizes, st.booleans(), opt_dtype()))
    op(f'{_name}_like', lambda T, a, kw, f=_name: getattr(T, f + '_like')(a, **kw), then(one(), lambda a: st.tuples(opt_dtype())))
op('empty', lambda T, s, kw: (T.empty(s, **kw).shape, T.empty(s, **kw).dtype), st.tuples(sizes, opt_dtype()))
op('empty_like', lambda T, a, kw: (T.empty_like(a, **kw).shape, T.empty_like(a, **kw).dtype),
   then(one(), lambda a: st.tuples(opt_dtype())))
op('full', lambda T, s, v, kw: T.full(s, v, **kw), st.tuples(sizes, scalars(), opt_dtype()))
op('full_like', lambda T, a, v, kw: T.full_like(a, v, **kw), then(one(), lambda a: st.tuples(scalars(), opt_dtype(FLOATS))))
op('new_zeros_ones_full', lambda T, a, s: (a.new_zeros(s), a.new_ones(s), a.new_full(s, 3)),
   then(one(), lambda a: st.tuples(sizes)), needs='Tensor.new_zeros Tensor.new_ones Tensor.new_full')
op('new_tensor', lambda T, a, data: a.new_tensor(data), then(one(), lambda a: nested_lists(('int', 'float'))),
   needs='Tensor.new_tensor')
op('arange_int', lambda T, args, kw: T.arange(*args, **kw),
   st.tuples(st.one_of(st.tuples(st.integers(0, 20)), st.tuples(st.integers(-10, 10), st.integers(-10, 10)),
                       st.tuples(st.integers(-10, 10), st.integers(-10, 10), st.integers(-3, 3).filter(bool))),
             opt_dtype(NUMERIC)), needs='arange')
op('arange_float', lambda T, args, kw: T.arange(*args, **kw),
   st.tuples(st.tuples(st.floats(-5, 5), st.floats(-5, 5), st.sampled_from([0.1, 0.25, 0.3, 0.5, 1.5, -0.1, -0.7])),
             opt_dtype(FLOATS)), needs='arange')
op('linspace', lambda T, a, b, n, kw: T.linspace(a, b, n, **kw),
   st.tuples(st.integers(-10, 10), st.floats(-10, 10), st.integers(0, 12), opt_dtype(FLOATS + ('int64', 'int32'))))
op('eye', lambda T, n, m, kw: T.eye(n, **kw) if m is None else T.eye(n, m, **kw),
   st.tuples(st.integers(0, 5), st.one_of(st.none(), st.integers(0, 5)), opt_dtype()))
op('rand_randn_shape_dtype', lambda T, s, kw: [(x.shape, x.dtype) for x in (T.rand(s, **kw), T.randn(*s, **kw) if s else T.randn(s, **kw))],
   st.tuples(sizes, opt_dtype(FLOATS)), needs='rand randn')
op('randint_range', lambda T, lo, n, s: (lambda x: (x.shape, x.dtype, bool(((x >= lo) & (x < lo + n)).all())))(
   T.randint(lo, lo + n, s)), st.tuples(st.integers(-5, 5), st.integers(1, 5), sizes), needs='randint')
op('randperm_sorted', lambda T, n: T.sort(T.randperm(n)).values, st.tuples(st.integers(0, 20)), needs='randperm sort')
op('size_arguments_missing', lambda T, a, name: getattr(T, name)() if name in ('zeros', 'ones', 'rand', 'randn', 'empty')
   else getattr(a, name)(), then(one(), lambda a: st.tuples(st.sampled_from(
       ['zeros', 'ones', 'rand', 'randn', 'empty', 'view', 'reshape', 'permute', 'expand', 'repeat']))), needs='zeros')
op('scalar_tensor_python_types', lambda T, v: T.tensor(v), st.tuples(st.one_of(st.integers(-9, 9), st.floats(-1e3, 1e3),
                                                                               st.booleans())), needs='tensor')

# ================================================================================================ views

def reshape_targets(shape):
    "Shapes with the same number of elements as `shape` (some with a -1), for view/reshape."
    n = math.prod(shape)
    out = [(-1,), (n,), tuple(reversed(shape)), shape + (1,), (1,) + shape, ()] if n == 1 else \
          [(-1,), (n,), tuple(reversed(shape)), shape + (1,), (1,) + shape]
    if len(shape) >= 2: out += [(shape[0] * shape[1],) + shape[2:], (-1,) + shape[2:], shape[:1] + (-1,)]
    for i, s in enumerate(shape):
        if s and s % 2 == 0: out.append(shape[:i] + (2, s // 2) + shape[i + 1:])
    return st.sampled_from(out)

op('view', lambda T, a, s, star: a.view(*s) if star and s else a.view(s),
   then(one(), lambda a: st.tuples(reshape_targets(a.shape), st.booleans())), needs='Tensor.view', grad=True)
op('reshape', lambda T, a, s: T.reshape(a, s), then(one(), lambda a: st.tuples(reshape_targets(a.shape))), grad=True)
op('reshape_method', lambda T, a, s: a.reshape(*s) if s else a.reshape(s), then(one(), lambda a: st.tuples(reshape_targets(a.shape))),
   needs='Tensor.reshape', grad=True)
op('transpose', lambda T, a, d0, d1: T.transpose(a, d0, d1), then(one(), lambda a: st.tuples(dims(a.ndim), dims(a.ndim))),
   grad=True)
op('t', lambda T, a: a.t(), one(max_dims=3), needs='Tensor.t', grad=True)
op('T_property', lambda T, a: a.T, one(max_dims=2), needs='Tensor.T', grad=True)
op('mT', lambda T, a: a.mT, one(), needs='Tensor.mT', grad=True)
op('permute', lambda T, a, p, star: a.permute(*p) if star and p else T.permute(a, p),
   then(one(), lambda a: st.tuples(st.permutations(range(a.ndim)).map(tuple), st.booleans())), grad=True)
op('squeeze', lambda T, a, kw: T.squeeze(a, **kw),
   then(one(), lambda a: st.tuples(kw_of(dim=st.one_of(dims(a.ndim), dim_tuples(a.ndim))))), grad=True)
op('unsqueeze', lambda T, a, d: a.unsqueeze(d), then(one(), lambda a: st.tuples(dims(a.ndim + 1))),
   needs='Tensor.unsqueeze', grad=True)

@st.composite
def expand_targets(draw, shape):
    "A size for `expand`: new leading dims, size-1 dims grown, -1 keeping a size."
    lead = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
    rest = tuple(draw(st.sampled_from([s, -1] + ([0, 2, 3] if s == 1 else []))) for s in shape)
    return lead + rest

op('expand', lambda T, a, s, star: a.expand(*s) if star and s else a.expand(s),
   then(one(), lambda a: st.tuples(expand_targets(a.shape), st.booleans())), needs='Tensor.expand', grad=True)
op('expand_as', lambda T, a, b: a.expand_as(b), tensors(2, shapes_=shapes(0, 3).flatmap(
    lambda s: st.tuples(shape_broadcasting_to(s), st.just(s)))), needs='Tensor.expand_as', grad=True)
op('flatten', lambda T, a, kw: T.flatten(a, **kw),
   then(one(), lambda a: st.tuples(kw_of(start_dim=dims(a.ndim), end_dim=dims(a.ndim)))), grad=True)
op('unflatten', lambda T, a, d, sizes: a.unflatten(d, sizes),
   then(one(min_dims=1), lambda a: dims(a.ndim).flatmap(lambda d: st.tuples(st.just(d), _split_sizes(a.shape[d])))),
   needs='Tensor.unflatten', grad=True)

def _split_sizes(n):
    "Ways to write `n` as a product (for unflatten), with an optional -1."
    options = [(n,), (1, n), (n, 1), (-1,)] + [(k, n // k) for k in range(2, n) if n % k == 0] + \
              [(k, -1) for k in range(2, n) if n % k == 0]
    return st.sampled_from(options)

op('contiguous', lambda T, a: a.contiguous(), one(), needs='Tensor.contiguous', grad=True)
op('clone', lambda T, a: a.clone(), one(), needs='Tensor.clone', grad=True)
op('detach', lambda T, a: a.detach(), one(), needs='Tensor.detach')
op('to_dtype', lambda T, a, d: a.to(d), then(one(lo=0), lambda a: st.tuples(dtype_names())), needs='Tensor.to')
op('dtype_casts', lambda T, a: (a.float(), a.double(), a.half(), a.long(), a.int(), a.short(), a.char(), a.byte(), a.bool()),
   one(lo=0), needs='Tensor.float Tensor.double Tensor.half Tensor.long Tensor.byte Tensor.bool')
op('type_as', lambda T, a, b: a.type_as(b), two(), needs='Tensor.type_as')
op('shape_queries', lambda T, a: (a.shape, a.size(), a.dim(), a.ndim, a.numel(), a.is_contiguous(), a.is_floating_point()),
   one(), needs='Tensor.size Tensor.dim Tensor.numel Tensor.is_contiguous')
op('strides_of_views', lambda T, a: [(v.stride(), v.is_contiguous()) for v in (a, a.transpose(0, -1), a.unsqueeze(0))],
   one(min_dims=1, min_side=1), needs='Tensor.stride')
op('size_dim', lambda T, a, d: a.size(d), then(one(min_dims=1), lambda a: st.tuples(dims(a.ndim))), needs='Tensor.size')
op('len', lambda T, a: len(a), one(), needs='Tensor.__len__')
op('item', lambda T, a: a.item(), one(max_side=1), needs='Tensor.item')
op('tolist', lambda T, a: a.tolist(), one(), needs='Tensor.tolist')
op('float_int_bool_of_one_element', lambda T, a: (float(a), int(a), bool(a)), one(max_side=1, lo=-1e6, hi=1e6),
   needs='Tensor.__float__ Tensor.__int__ Tensor.__bool__')
op('getitem_basic', lambda T, a, k: a[k], then(one(), lambda a: st.tuples(basic_indices(a.shape))),
   needs='Tensor.__getitem__', grad=True)
op('getitem_advanced', lambda T, a, k: a[k], then(one(min_dims=1), lambda a: st.tuples(advanced_indices(a.shape))),
   needs='Tensor.__getitem__', grad=True)

@st.composite
def setitem_args(draw, advanced):
    "(tensor, key, value) where value is a Python number or an array broadcasting to the selection."
    (a,) = draw(one(min_dims=1 if advanced else 0))
    key = draw(advanced_indices(a.shape) if advanced else basic_indices(a.shape))
    if advanced and not (isinstance(key, np.ndarray) and key.dtype == np.bool_):
        key = _unique_positions(key, a.shape)
    selected = np.empty(a.shape)[key].shape
    if draw(st.booleans()): value = draw(scalars())
    else: value = draw(arrays(draw(st.sampled_from(ALL)), shape_broadcasting_to(selected), 0, 5))
    return a, key, value

def _unique_positions(key, shape):
    "An advanced key that selects no element twice (with repeats, which written value wins is unspecified)."
    if isinstance(key, list): return list(dict.fromkeys(k % shape[0] for k in key))
    parts, seen_array = list(key) if isinstance(key, tuple) else [key], False
    for i, k in enumerate(parts):
        if isinstance(k, np.ndarray) and k.size:
            parts[i] = np.zeros((), np.int64) if seen_array else np.unique(k % shape[i])
            seen_array = True
    return tuple(parts) if isinstance(key, tuple) else parts[0]

op('setitem_basic', lambda T, a, k, v: setitem(a, k, v), setitem_args(False), needs='Tensor.__setitem__', inplace=True)
op('setitem_advanced', lambda T, a, k, v: setitem(a, k, v), setitem_args(True), needs='Tensor.__setitem__', inplace=True)

# ================================================================================================ elementwise binary

nonzero_b = dict(nonzero=(1,))
binary_ops = [  # name, fn, strategy kwargs
    ('add', lambda T, a, b: T.add(a, b), {}),
    ('add_alpha', lambda T, a, b: T.add(a, b, alpha=2), {}),
    ('add_alpha_float', lambda T, a, b: T.add(a, b, alpha=0.5), dict(dtypes=FLOATS)),
    ('sub', lambda T, a, b: T.sub(a, b), dict(dtypes=NUMERIC)),
    ('sub_alpha', lambda T, a, b: T.sub(a, b, alpha=3), dict(dtypes=NUMERIC)),
    ('subtract', lambda T, a, b: T.subtract(a, b), dict(dtypes=NUMERIC)),
    ('mul', lambda T, a, b: T.mul(a, b), {}),
    ('multiply', lambda T, a, b: T.multiply(a, b), {}),
    ('div', lambda T, a, b: T.div(a, b), nonzero_b),
    ('divide', lambda T, a, b: T.divide(a, b), nonzero_b),
    ('true_divide', lambda T, a, b: T.true_divide(a, b), nonzero_b),
    ('div_trunc', lambda T, a, b: T.div(a, b, rounding_mode='trunc'), nonzero_b),
    ('div_floor', lambda T, a, b: T.div(a, b, rounding_mode='floor'), nonzero_b),
    ('floor_divide', lambda T, a, b: T.floor_divide(a, b), nonzero_b),
    ('remainder', lambda T, a, b: T.remainder(a, b), nonzero_b),
    # fmod's divisors stay above 1e-30: for quotients beyond float32's range PyTorch's own CPU kernels disagree with
    # each other (the scalar loop gives fmod(5, 1.18e-38) = 0, the vectorised loop for longer tensors gives NaN).
    ('fmod', lambda T, a, b: T.fmod(a, b), dict(nonzero=(1,), min_abs=1e-30)),
    ('pow', lambda T, a, b: T.pow(a, b), dict(lo=0, hi=3)),
    ('maximum', lambda T, a, b: T.maximum(a, b), dict(specials=True)),
    ('minimum', lambda T, a, b: T.minimum(a, b), dict(specials=True)),
    ('max_binary', lambda T, a, b: T.max(a, b), {}),
    ('min_binary', lambda T, a, b: T.min(a, b), {}),
    ('eq', lambda T, a, b: T.eq(a, b), dict(lo=-2, hi=2)),
    ('ne', lambda T, a, b: T.ne(a, b), dict(lo=-2, hi=2)),
    ('lt', lambda T, a, b: T.lt(a, b), dict(lo=-2, hi=2, specials=True)),
    ('le', lambda T, a, b: T.le(a, b), dict(lo=-2, hi=2)),
    ('gt', lambda T, a, b: T.gt(a, b), dict(lo=-2, hi=2)),
    ('ge', lambda T, a, b: T.ge(a, b), dict(lo=-2, hi=2, specials=True)),
    ('logical_and', lambda T, a, b: T.logical_and(a, b), dict(lo=-1, hi=1)),
    ('logical_or', lambda T, a, b: T.logical_or(a, b), dict(lo=-1, hi=1)),
    ('logical_xor', lambda T, a, b: T.logical_xor(a, b), dict(lo=-1, hi=1)),
    ('bitwise_and', lambda T, a, b: T.bitwise_and(a, b), dict(dtypes=INTS + ('bool',))),
    ('bitwise_or', lambda T, a, b: T.bitwise_or(a, b), dict(dtypes=INTS + ('bool',))),
    ('bitwise_xor', lambda T, a, b: T.bitwise_xor(a, b), dict(dtypes=INTS + ('bool',))),
]
_no_grad = {'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logical_and', 'logical_or', 'logical_xor', 'bitwise_and', 'bitwise_or',
            'bitwise_xor', 'floor_divide', 'div_trunc', 'div_floor'}
for _name, _fn, _kw in binary_ops:
    op(_name, _fn, two(**_kw), needs=_name.replace('_alpha_float', '').replace('_alpha', '').replace('_trunc', '')
       .replace('_floor', '').replace('_binary', ''), grad=_name not in _no_grad)

op('pow_float', lambda T, a, b: T.pow(a, b), two(FLOATS, lo=0.1, hi=4), needs='pow', grad=True)
op('floor_divide_int_by_zero', lambda T, a, b: a // b, two(INTS, hi=0, lo=0), needs='Tensor.__floordiv__')
op('remainder_int_by_zero', lambda T, a, b: a % b, two(INTS, hi=0, lo=0), needs='Tensor.__mod__')
op('div_int_by_zero', lambda T, a, b: a / b, two(INTS, hi=0, lo=-1), needs='Tensor.__truediv__')

# Python operators, tensor with tensor and tensor with Python scalar on either side (scalars are weak in promotion).
operators = [  # name, fn, needs, strategy
    ('op_add', lambda T, a, b: a + b, 'Tensor.__add__', two()),
    ('op_sub', lambda T, a, b: a - b, 'Tensor.__sub__', two(NUMERIC)),
    ('op_mul', lambda T, a, b: a * b, 'Tensor.__mul__', two()),
    ('op_truediv', lambda T, a, b: a / b, 'Tensor.__truediv__', two(**nonzero_b)),
    ('op_floordiv', lambda T, a, b: a // b, 'Tensor.__floordiv__', two(**nonzero_b)),
    ('op_mod', lambda T, a, b: a % b, 'Tensor.__mod__', two(**nonzero_b)),
    ('op_pow', lambda T, a, b: a ** b, 'Tensor.__pow__', two(lo=0, hi=3)),
    ('op_and', lambda T, a, b: a & b, 'Tensor.__and__', two(INTS + ('bool',))),
    ('op_or', lambda T, a, b: a | b, 'Tensor.__or__', two(INTS + ('bool',))),
    ('op_xor', lambda T, a, b: a ^ b, 'Tensor.__xor__', two(INTS + ('bool',))),
    ('op_invert', lambda T, a: ~a, 'Tensor.__invert__', one(INTS + ('bool',))),
    ('op_neg', lambda T, a: -a, 'Tensor.__neg__', one(NUMERIC)),
    ('op_pos', lambda T, a: +a, 'Tensor.__pos__', one(NUMERIC)),
    ('op_abs', lambda T, a: abs(a), 'Tensor.__abs__', one()),
    ('op_comparisons', lambda T, a, b: (a == b, a != b, a < b, a <= b, a > b, a >= b),
     'Tensor.__eq__ Tensor.__lt__ Tensor.__ge__', two(lo=-2, hi=2)),
    ('scalar_add', lambda T, a, s: (a + s, s + a), 'Tensor.__add__ Tensor.__radd__', with_scalar()),
    ('scalar_sub', lambda T, a, s: (a - s, s - a), 'Tensor.__sub__ Tensor.__rsub__', with_scalar(NUMERIC, ('int', 'float'))),
    ('scalar_mul', lambda T, a, s: (a * s, s * a), 'Tensor.__mul__ Tensor.__rmul__', with_scalar()),
    ('scalar_truediv', lambda T, a, s: (a / s, s / a), 'Tensor.__truediv__ Tensor.__rtruediv__',
     with_scalar(snonzero=True, nonzero=(0,))),
    ('scalar_floordiv', lambda T, a, s: (a // s, s // a), 'Tensor.__floordiv__ Tensor.__rfloordiv__',
     with_scalar(snonzero=True, nonzero=(0,))),
    ('scalar_mod', lambda T, a, s: (a % s, s % a), 'Tensor.__mod__ Tensor.__rmod__',
     with_scalar(snonzero=True, nonzero=(0,))),
    ('scalar_pow', lambda T, a, s: a ** s, 'Tensor.__pow__', with_scalar(lo=0, hi=4, slo=0, shi=3)),
    ('scalar_pow_negative_exponent', lambda T, a, s: a ** s, 'Tensor.__pow__', with_scalar(lo=1, hi=4, slo=-2, shi=-1)),
    ('scalar_rpow', lambda T, a, s: s ** a, 'Tensor.__rpow__', with_scalar(lo=-2, hi=3, slo=1, shi=3)),
    ('scalar_bitwise', lambda T, a, s: (a & s, s | a, a ^ s), 'Tensor.__and__ Tensor.__ror__ Tensor.__xor__',
     with_scalar(INTS + ('bool',), kinds=('int', 'bool'))),
    ('scalar_comparisons', lambda T, a, s: (a == s, a != s, a < s, s < a, a >= s, s >= a), 'Tensor.__eq__ Tensor.__lt__',
     with_scalar(lo=-3, hi=3)),
    ('scalar_functions', lambda T, a, s: (T.add(a, s), T.mul(a, s), T.sub(a, s), T.maximum(a, T.tensor(s))),
     'add mul sub maximum', with_scalar(NUMERIC, ('int', 'float'))),
    ('zero_dim_promotion', lambda T, a, b: (a + b[()], b[()] * a, T.where(a > 0, a, b[()])), 'Tensor.__add__ where',
     two(shapes_=st.tuples(shapes(1, 3), shapes(0, 0)))),
]
for _name, _fn, _needs, _args in operators:
    op(_name, _fn, _args, needs=_needs, grad=_name in {'op_add', 'op_sub', 'op_mul', 'op_truediv', 'op_pow', 'op_neg',
                                                      'scalar_add', 'scalar_sub', 'scalar_mul', 'scalar_truediv',
                                                      'scalar_pow', 'scalar_rpow'})

# ================================================================================================ elementwise unary

unary_ops = [  # name, fn, strategy kwargs, differentiable
    ('neg', lambda T, a: T.neg(a), dict(dtypes=NUMERIC), True),
    ('negative', lambda T, a: T.negative(a), dict(dtypes=NUMERIC), True),
    ('abs', lambda T, a: T.abs(a), {}, True),
    ('exp', lambda T, a: T.exp(a), {}, True),
    ('exp2', lambda T, a: T.exp2(a), {}, True),
    ('log', lambda T, a: T.log(a), dict(lo=0.01), True),
    ('log2', lambda T, a: T.log2(a), dict(lo=0.01), True),
    ('log10', lambda T, a: T.log10(a), dict(lo=0.01), True),
    ('log1p', lambda T, a: T.log1p(a), dict(lo=-0.99), True),
    ('expm1', lambda T, a: T.expm1(a), {}, True),
    ('sqrt', lambda T, a: T.sqrt(a), dict(lo=0), True),
    ('rsqrt', lambda T, a: T.rsqrt(a), dict(lo=0.01), True),
    ('square', lambda T, a: T.square(a), {}, True),
    ('sin', lambda T, a: T.sin(a), {}, True),
    ('cos', lambda T, a: T.cos(a), {}, True),
    ('tan', lambda T, a: T.tan(a), dict(lo=-1.4, hi=1.4), True),
    ('tanh', lambda T, a: T.tanh(a), {}, True),
    ('sigmoid', lambda T, a: T.sigmoid(a), {}, True),
    ('relu', lambda T, a: T.relu(a), dict(dtypes=NUMERIC), True),
    ('floor', lambda T, a: T.floor(a), {}, True),
    ('ceil', lambda T, a: T.ceil(a), {}, True),
    ('round', lambda T, a: T.round(a), {}, True),
    ('round_half_even', lambda T, a: T.round(a), dict(dtypes=FLOATS, lo=-3, hi=3, specials=False), False),
    ('round_decimals', lambda T, a: T.round(a, decimals=2), dict(dtypes=FLOATS), True),
    ('trunc', lambda T, a: T.trunc(a), {}, True),
    ('frac', lambda T, a: T.frac(a), dict(dtypes=FLOATS), True),
    ('sign', lambda T, a: T.sign(a), {}, True),
    ('reciprocal', lambda T, a: T.reciprocal(a), dict(nonzero=(0,)), True),
    ('isnan', lambda T, a: T.isnan(a), {}, False),
    ('isinf', lambda T, a: T.isinf(a), {}, False),
    ('isfinite', lambda T, a: T.isfinite(a), {}, False),
    ('logical_not', lambda T, a: T.logical_not(a), dict(lo=-1, hi=1), False),
    ('bitwise_not', lambda T, a: T.bitwise_not(a), dict(dtypes=INTS + ('bool',)), False),
]
for _name, _fn, _kw, _grad in unary_ops:
    _kw = {'specials': True, **_kw}
    op(_name, _fn, one(**_kw), needs=_name.replace('_decimals', '').replace('_half_even', ''), grad=_grad)
op('round_half_even_exact_halves', lambda T, a: (T.round(a), T.round(a * 10, decimals=-1)),
   one(FLOATS, shapes_=st.just(((7,),)), lo=0, hi=0).map(lambda t: (t[0] + np.arange(-3.5, 3.5).astype(t[0].dtype),)),
   needs='round')
op('unary_methods', lambda T, a: (a.exp(), a.abs(), a.sqrt(), a.sigmoid(), a.tanh(), a.relu(), a.floor(), a.sign()),
   one(FLOATS, lo=0), needs='Tensor.exp Tensor.abs Tensor.sqrt Tensor.sigmoid Tensor.tanh Tensor.relu', grad=True)

op('clamp_min', lambda T, a, s: T.clamp(a, min=s), with_scalar(kinds=('int', 'float'), specials=True), needs='clamp', grad=True)
op('clamp_max', lambda T, a, s: T.clamp(a, max=s), with_scalar(kinds=('int', 'float'), specials=True), needs='clamp', grad=True)
op('clamp_min_max', lambda T, a, lo, hi: T.clamp(a, lo, hi),
   then(one(specials=True), lambda a: st.tuples(st.integers(-5, 0), st.integers(0, 5))), needs='clamp', grad=True)
op('clamp_float_bounds', lambda T, a, lo, hi: a.clamp(min=lo, max=hi),
   then(one(), lambda a: st.tuples(st.floats(-5, 0), st.floats(0, 5))), needs='Tensor.clamp', grad=True)
op('clamp_tensor_bounds', lambda T, a, lo, hi: T.clamp(a, lo, hi), three(FLOATS), needs='clamp', grad=True)
op('clip', lambda T, a, lo, hi: T.clip(a, lo, hi), then(one(), lambda a: st.tuples(st.floats(-5, 0), st.floats(0, 5))),
   grad=True)

# ================================================================================================ reductions

def reduction(dtypes=ALL, dim='opt', tuples=True, keepdim=True, extra=None, **kw):
    "(tensor, kwargs) for a reduction; `extra` adds more optional keyword strategies."
    def make(a):
        base = reduce_kw(a.ndim, dim, tuples, keepdim)
        return st.tuples(base if extra is None else st.tuples(base, kw_of(**extra)).map(lambda t: {**t[0], **t[1]}))
    return then(one(dtypes, **kw), make)

op('sum', lambda T, a, kw: T.sum(a, **kw), reduction(), tol=30, grad=True)
op('sum_dtype', lambda T, a, kw: a.sum(**kw), reduction(extra=dict(dtype=dtype_names(('float64', 'int64', 'float32')))),
   needs='Tensor.sum', tol=30, grad=True)
op('mean', lambda T, a, kw: T.mean(a, **kw), reduction(FLOATS + ('int64',)), tol=30, grad=True)
op('prod', lambda T, a, kw: T.prod(a, **kw), reduction(tuples=False, lo=-2, hi=2), tol=30, grad=True)
op('max_all', lambda T, a: T.max(a), one(specials=True, min_side=1), needs='max', grad=True)
op('min_all', lambda T, a: a.min(), one(specials=True, min_side=1), needs='Tensor.min', grad=True)
op('max_dim', lambda T, a, kw: T.max(a, **kw), reduction(dim='int', lo=-3, hi=3, min_side=1), needs='max', grad=True)
op('min_dim', lambda T, a, kw: a.min(**kw), reduction(dim='int', lo=-3, hi=3, min_side=1), needs='Tensor.min', grad=True)
op('max_dim_positional', lambda T, a, d: a.max(d)[1], then(one(lo=-3, hi=3, min_side=1), lambda a: st.tuples(dims(a.ndim))),
   needs='Tensor.max')
op('amax', lambda T, a, kw: T.amax(a, **kw), reduction(lo=-3, hi=3, min_side=1), grad=True)
op('amin', lambda T, a, kw: T.amin(a, **kw), reduction(lo=-3, hi=3, min_side=1), grad=True)
op('argmax', lambda T, a, kw: T.argmax(a, **kw), reduction(tuples=False, lo=-3, hi=3, specials=True, min_side=1))
op('argmin', lambda T, a, kw: a.argmin(**kw), reduction(tuples=False, lo=-3, hi=3, min_side=1), needs='Tensor.argmin')
op('reductions_of_empty', lambda T, a, name, kw: getattr(T, name)(a, **kw), then(one(shapes_=st.tuples(shapes(1, 3).filter(
   lambda s: 0 in s))), lambda a: st.tuples(st.sampled_from(['max', 'min', 'amax', 'amin', 'argmax', 'argmin']),
                                              reduce_kw(a.ndim, tuples=False))), needs='max min amax amin argmax argmin')
op('std', lambda T, a, kw: T.std(a, **kw), reduction(FLOATS, extra=dict(unbiased=st.booleans())), tol=30, grad=True)
op('var', lambda T, a, kw: T.var(a, **kw), reduction(FLOATS, extra=dict(correction=st.integers(0, 2))), tol=30,
   grad=True)
op('std_var_default_unbiased', lambda T, a: (a.std(), a.var()), one(FLOATS), needs='Tensor.std Tensor.var', tol=30)
op('all', lambda T, a, kw: T.all(a, **kw), reduction(lo=-1, hi=1))
op('any', lambda T, a, kw: a.any(**kw), reduction(lo=-1, hi=1), needs='Tensor.any')
op('norm', lambda T, a, kw: T.norm(a, **kw),
   reduction(FLOATS, tuples=False, extra=dict(p=st.sampled_from([1, 2, 3, math.inf]))), tol=30, grad=True)
op('logsumexp', lambda T, a, kw: T.logsumexp(a, **kw), reduction(dim='int', specials=True), tol=30, grad=True)
op('cumsum', lambda T, a, kw: T.cumsum(a, **kw), reduction(dim='int', keepdim=False, extra=dict(dtype=dtype_names(
   ('float64', 'int64')))), tol=30, grad=True)
op('cumprod', lambda T, a, kw: a.cumprod(**kw), reduction(dim='int', keepdim=False, lo=-2, hi=2), needs='Tensor.cumprod',
   tol=30, grad=True)

# ================================================================================================ matmul family

@st.composite
def matmul_args(draw, ranks=(1, 2, 3, 4), dtypes=('float32', 'float64', 'float16', 'int64', 'int32')):
    "Two same-dtype arrays for matmul: any ranks, batch dims that broadcast, sizes including 0."
    ra, rb = draw(st.sampled_from(ranks)), draw(st.sampled_from(ranks))
    n, k, m = (draw(st.integers(0, 4)) for _ in range(3))
    batch = draw(shapes(max(ra, rb) - 2, max(ra, rb) - 2, 0, 3)) if max(ra, rb) > 2 else ()
    def batch_of(r):
        return tuple(1 if draw(st.booleans()) else s for s in batch[len(batch) - (r - 2):]) if r > 2 else ()
    a_shape = (k,) if ra == 1 else batch_of(ra) + (n, k)
    b_shape = (k,) if rb == 1 else batch_of(rb) + (k, m)
    d = draw(st.sampled_from(dtypes))
    return tuple(draw(layouts(draw(arrays(d, s, -5, 5)))) for s in (a_shape, b_shape))

mm_tol = dict(tol=10)
op('matmul', lambda T, a, b: T.matmul(a, b), matmul_args(), grad=True, **mm_tol)
op('op_matmul', lambda T, a, b: a @ b, matmul_args(), needs='Tensor.__matmul__', grad=True, **mm_tol)
op('matmul_method', lambda T, a, b: a.matmul(b), matmul_args(ranks=(2, 3)), needs='Tensor.matmul', grad=True, **mm_tol)
op('mm', lambda T, a, b: T.mm(a, b), matmul_args(ranks=(2,)), grad=True, **mm_tol)
op('bmm', lambda T, a, b: T.bmm(a, b), matmul_args(ranks=(3,)).filter(lambda t: t[0].shape[0] == t[1].shape[0]),
   grad=True, **mm_tol)
op('mv', lambda T, a, b: T.mv(a, b), matmul_args().filter(lambda t: t[0].ndim == 2 and t[1].ndim == 1), grad=True, **mm_tol)
op('dot', lambda T, a, b: T.dot(a, b), matmul_args(ranks=(1,)), grad=True, **mm_tol)
op('outer', lambda T, a, b: T.outer(a, b), two(NUMERIC, same_dtype=True, shapes_=st.tuples(shapes(1, 1), shapes(1, 1))),
   grad=True)
op('matmul_out', lambda T, a, b: (lambda o: (T.matmul(a, b, out=o), o))(T.empty(0, dtype=a.dtype)),
   matmul_args(ranks=(1, 2)), needs='matmul', **mm_tol)
op('add_out', lambda T, a, b: (lambda o: (T.add(a, b, out=o), o))(T.zeros((a + b).shape, dtype=(a + b).dtype)),
   two(FLOATS), needs='add')
op('matmul_dtype_mismatch', lambda T, a, b: a @ b, tensors(2, ('float32', 'float64', 'int64'),
                                                         shapes_=st.just(((2, 3), (3, 2)))), needs='Tensor.__matmul__')
op('matmul_shape_mismatch', lambda T, a, b: T.matmul(a, b), two(FLOATS, same_dtype=True, shapes_=st.sampled_from(
   [((2, 3), (2, 3)), ((3,), (4,)), ((2, 3), (2,)), ((4,), (3, 4)), ((2, 2, 3), (3, 2, 1))])), needs='matmul')

# ================================================================================================ joining and splitting

@st.composite
def cat_args(draw, stack=False):
    "(list of arrays, dim): shapes equal except along dim (all equal for stack); dtypes may differ (promotion)."
    shape = list(draw(shapes(0 if stack else 1, 3)))
    nd = len(shape)
    d = draw(dims(nd + 1)) if stack else draw(dims(nd))
    arrs = []
    for _ in range(draw(st.integers(1, 3))):
        s = list(shape)
        if not stack: s[d] = draw(st.integers(0, 3))
        arrs.append(draw(layouts(draw(arrays(draw(st.sampled_from(ALL)), tuple(s), -5, 5)))))
    return arrs, d

op('cat', lambda T, arrs, d: T.cat(arrs, dim=d), cat_args(), grad=True)
op('cat_tuple_default_dim', lambda T, arrs, d: T.cat(tuple(arrs)), cat_args().filter(lambda t: t[1] in (0, -len(t[0][0].shape))),
   needs='cat')
op('stack', lambda T, arrs, d: T.stack(arrs, d), cat_args(stack=True), grad=True)

@st.composite
def split_sizes_for(draw, n):
    "A list of non-negative sizes summing to `n`."
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
    edges = [0] + cuts + [n]
    return [b - a for a, b in zip(edges, edges[1:])]

op('split_int', lambda T, a, size, d: T.split(a, size, dim=d),
   then(one(min_dims=1), lambda a: st.tuples(st.integers(1, 4), dims(a.ndim))), needs='split', grad=True)
op('split_sizes', lambda T, a, d, sizes: a.split(sizes, d),
   then(one(min_dims=1), lambda a: dims(a.ndim).flatmap(lambda d: st.tuples(st.just(d), split_sizes_for(a.shape[d])))),
   needs='Tensor.split', grad=True)
op('chunk', lambda T, a, n, d: T.chunk(a, n, d), then(one(min_dims=1), lambda a: st.tuples(st.integers(1, 5), dims(a.ndim))),
   grad=True)
op('unbind', lambda T, a, d: T.unbind(a, d), then(one(min_dims=1), lambda a: st.tuples(dims(a.ndim))), grad=True)
op('unbind_method_and_iter', lambda T, a: (a.unbind(), tuple(a)), one(min_dims=1), needs='Tensor.unbind Tensor.__iter__')

# ================================================================================================ others

op('where', lambda T, c, a, b: T.where(c > 0, a, b), three(), grad=True)
op('where_scalars', lambda T, c, a, s: (T.where(c > 0, a, s), T.where(c > 0, s, a)), then(two(), lambda c, a: st.tuples(scalars())),
   needs='where', grad=True)
op('where_condition_only', lambda T, c: T.where(c), one(('bool',)), needs='where')
op('nonzero', lambda T, a: (T.nonzero(a), a.nonzero(as_tuple=True)), one(lo=-1, hi=1), needs='nonzero Tensor.nonzero')

@st.composite
def nearly_equal_pair(draw, dtypes=ALL, eps=0.0):
    "(a, b) with b equal to a, a with one element changed, a slightly perturbed or a different shape."
    (a,) = draw(one(dtypes))
    kind = draw(st.sampled_from(['same', 'changed', 'perturbed', 'other_shape']))
    b = a.copy()
    if kind == 'changed' and a.size: b.reshape(-1)[draw(st.integers(0, a.size - 1))] = 1 if a.dtype == np.bool_ else 3
    if kind == 'perturbed' and a.dtype.kind == 'f': b = np.asarray(a + draw(st.sampled_from([1e-9, 1e-6, 1e-4, 1e-2])), a.dtype)
    if kind == 'other_shape': b = np.zeros(a.shape + (1,), a.dtype)
    return a, b

op('equal', lambda T, a, b: T.equal(a, b), nearly_equal_pair())
op('allclose', lambda T, a, b: (T.allclose(a, b), T.allclose(a, b, rtol=0, atol=1e-3)),
   nearly_equal_pair(FLOATS).filter(lambda t: t[0].shape == t[1].shape))
op('isclose', lambda T, a, b: T.isclose(a, b), nearly_equal_pair(FLOATS).filter(lambda t: t[0].shape == t[1].shape))
op('masked_fill', lambda T, a, m, v: T.masked_fill(a, m, v),
   tensors(2, shapes_=shapes().flatmap(lambda s: st.tuples(st.just(s), shape_broadcasting_to(s))))
   .map(lambda t: (t[0], t[1].astype(bool))).flatmap(lambda t: st.tuples(st.just(t[0]), st.just(t[1]), scalars(('int', 'float')))),
   grad=True)

@st.composite
def gather_args(draw):
    "(a, dim, index) for gather: index has a's ndim, sizes <= a's (except along dim), values in range."
    (a,) = draw(one(min_dims=1))
    d = draw(dims(a.ndim))
    ishape = tuple(draw(st.integers(0, 3)) if i == d % a.ndim else draw(st.integers(0, s)) for i, s in enumerate(a.shape))
    hi = a.shape[d] - 1
    index = draw(arrays('int64', ishape if hi >= 0 else tuple(0 for _ in ishape), 0, max(hi, 0)))
    return a, d, index

op('gather', lambda T, a, d, i: T.gather(a, d, i), gather_args(), grad=True)
op('scatter_value', lambda T, a, d, i: (T.scatter(a, d, i, 2.5), a.scatter(d, i, 1.5, reduce='add')),
   gather_args().filter(lambda t: t[0].dtype.kind == 'f'), needs='scatter Tensor.scatter')
op('scatter_add', lambda T, a, d, i: T.scatter_add(a, d, i, T.ones(tuple(i.shape), dtype=a.dtype)),
   gather_args(), needs='scatter_add')
op('scatter_inplace', lambda T, a, d, i: a.scatter_(d, i, T.full(tuple(i.shape), 7, dtype=a.dtype), reduce='add'),
   gather_args().filter(lambda t: t[0].dtype.kind in 'fi' and t[0].dtype.itemsize >= 4), needs='Tensor.scatter_',
   inplace=True)
op('index_select', lambda T, a, d, i: T.index_select(a, d, i),
   then(one(min_dims=1), lambda a: dims(a.ndim).flatmap(lambda d: st.tuples(st.just(d), _index_vector(a.shape[d])))),
   grad=True)

def _index_vector(n):
    "1-d int64 arrays of valid indices into a dimension of length `n` (repeats allowed)."
    return arrays('int64', st.integers(0, 4).map(lambda k: (k,)) if n else st.just((0,)), 0, max(n - 1, 0))

op('flip', lambda T, a, ds: T.flip(a, ds), then(one(), lambda a: st.tuples(dim_tuples(a.ndim, min_size=0))), grad=True)
op('tril', lambda T, a, k: T.tril(a, k), then(one(min_dims=2), lambda a: st.tuples(st.integers(-3, 3))), grad=True)
op('triu', lambda T, a, k: a.triu(diagonal=k), then(one(min_dims=2), lambda a: st.tuples(st.integers(-3, 3))),
   needs='Tensor.triu', grad=True)
op('repeat', lambda T, a, r: a.repeat(*r) if r else a.repeat(r), then(one(max_dims=3), lambda a: st.lists(st.integers(0, 3), min_size=max(a.ndim, 1),
   max_size=a.ndim + 2).map(lambda r: (tuple(r),))), needs='Tensor.repeat', grad=True)
op('sort_values', lambda T, a, kw: T.sort(a, **kw).values,
   then(one(specials=True), lambda a: st.tuples(kw_of(dim=dims(a.ndim), descending=st.booleans()))), needs='sort', grad=True)
op('sort_stable', lambda T, a, kw: T.sort(a, stable=True, **kw),
   then(one(lo=-3, hi=3), lambda a: st.tuples(kw_of(dim=dims(a.ndim), descending=st.booleans()))), needs='sort')
op('argsort_stable', lambda T, a, kw: T.argsort(a, stable=True, **kw),
   then(one(lo=-3, hi=3), lambda a: st.tuples(kw_of(dim=dims(a.ndim), descending=st.booleans()))), needs='argsort')

@st.composite
def topk_args(draw):
    "(a, k, kwargs) for topk, with distinct values so the order of ties does not matter."
    (a,) = draw(one(NUMERIC, lo=-100, hi=100, unique=True, max_dims=3, max_side=4))
    d = draw(dims(a.ndim))
    n = a.shape[d] if a.ndim else 1
    return a, draw(st.integers(0, n)), dict(dim=d, largest=draw(st.booleans()))

op('topk', lambda T, a, k, kw: T.topk(a, k, **kw), topk_args(), grad=True)

# ================================================================================================ in-place

@st.composite
def inplace_pair(draw, dtypes=ALL, second=ALL, lo=-10, hi=10, nonzero=False):
    "(a, b): b broadcasts to a's shape (and now and then does not, which must raise); dtypes drawn independently."
    s = draw(shapes())
    t = draw(st.one_of(shape_broadcasting_to(s), shape_broadcasting_to(s), shape_broadcasting_to(s), shapes(0, 2, 1, 3)))
    a = draw(layouts(draw(arrays(draw(st.sampled_from(dtypes)), s, lo, hi))))
    b = draw(layouts(draw(arrays(draw(st.sampled_from(second)), t, lo, hi, nonzero=nonzero))))
    return a, b

op('add_', lambda T, a, b: a.add_(b), inplace_pair(), needs='Tensor.add_', inplace=True)
op('add_scalar_alpha_', lambda T, a, b: a.add_(b, alpha=2), inplace_pair(NUMERIC, NUMERIC), needs='Tensor.add_', inplace=True)
op('sub_', lambda T, a, b: a.sub_(b), inplace_pair(NUMERIC, NUMERIC), needs='Tensor.sub_', inplace=True)

BOOL_ERRORS = {  # PyTorch refuses these on bool tensors (a is bool, b numeric)
    'sub': lambda T, a, b: a - b, 'rsub': lambda T, a, b: b - a, 'sub_fn': lambda T, a, b: T.sub(b, a),
    'sub_scalar': lambda T, a, b: a - 1, 'rsub_scalar': lambda T, a, b: 1.5 - a, 'sub_false': lambda T, a, b: b - False,
    'neg': lambda T, a, b: -a, 'neg_fn': lambda T, a, b: T.neg(a), 'pos': lambda T, a, b: +a,
    'relu': lambda T, a, b: T.relu(a), 'sub_inplace': lambda T, a, b: b.sub_(a)}
op('bool_arithmetic_errors', lambda T, a, b, name: BOOL_ERRORS[name](T, a, b),
   then(tensors(2, shapes_=st.just(((2,), (2,))), dtypes=('bool',)), lambda a, b: st.tuples(st.sampled_from(sorted(BOOL_ERRORS))))
   .map(lambda t: (t[0], t[1].astype(np.float32), t[2])), needs='sub neg relu')
op('mul_', lambda T, a, b: a.mul_(b), inplace_pair(), needs='Tensor.mul_', inplace=True)
op('div_', lambda T, a, b: a.div_(b), inplace_pair(FLOATS + ('int64',), nonzero=True), needs='Tensor.div_', inplace=True)
op('pow_', lambda T, a, b: a.pow_(b), inplace_pair(lo=0, hi=3), needs='Tensor.pow_', inplace=True)
op('scalar_inplace', lambda T, a, s: (a.add_(s), a.mul_(s), a.sub_(s)), with_scalar(NUMERIC, ('int', 'float')), needs='Tensor.add_ Tensor.mul_ Tensor.sub_',
   inplace=True)
op('iadd_operators', lambda T, a, b: _iops(a, b), inplace_pair(FLOATS, FLOATS), needs='Tensor.__iadd__ Tensor.__imul__',
   inplace=True)
op('clamp_', lambda T, a, lo, hi: a.clamp_(lo, hi), then(one(specials=True), lambda a: st.tuples(st.integers(-5, 0),
                                                                                              st.integers(0, 5))),
   needs='Tensor.clamp_', inplace=True)
op('zero_', lambda T, a: a.zero_(), one(), needs='Tensor.zero_', inplace=True)
op('fill_', lambda T, a, v: a.fill_(v), then(one(), lambda a: st.tuples(scalars())), needs='Tensor.fill_', inplace=True)
op('copy_', lambda T, a, b: a.copy_(b), inplace_pair(), needs='Tensor.copy_', inplace=True)
op('shifts', lambda T, a, b: (a << b, a >> b, T.bitwise_left_shift(a, b)), two(INTS, lo=0, hi=7),
   needs='Tensor.__lshift__ Tensor.__rshift__ bitwise_left_shift')
op('augmented_int_operators', lambda T, a, b: _int_iops(a, b),
   inplace_pair(('int64', 'int32', 'int16'), ('int64', 'int32', 'int16', 'int8'), lo=1, hi=9, nonzero=True),
   needs='Tensor.__imod__ Tensor.__ifloordiv__ Tensor.__iand__ Tensor.__ior__ Tensor.__ixor__', inplace=True)
op('masked_fill_', lambda T, a, m, v: a.masked_fill_(m > 0, v),
   then(inplace_pair(second=('int8',), lo=-1, hi=1), lambda a, m: st.tuples(scalars(('int', 'float')))),
   needs='Tensor.masked_fill_', inplace=True)
op('neg_exp_inplace', lambda T, a: (a.neg_(), a.exp_()), one(FLOATS), needs='Tensor.neg_ Tensor.exp_', inplace=True)


def _int_iops(a, b):
    "Augmented assignments on integers write in place: %=, //=, &=, |=, ^=, <<=, >>=."
    x = a
    x %= b
    x += 5
    x //= b
    x &= b
    x |= b
    x ^= b
    x <<= 1
    x >>= 1
    return x


def _iops(a, b):
    "Augmented assignment keeps the same tensor object: a += b; a *= b."
    x = a
    x += b
    x *= b
    return x


_names = [o.name for o in TABLE]
assert len(_names) == len(set(_names)), 'duplicate names in the op table'


def _has(obj, path):
    "Whether attribute path 'a.b.c' exists on `obj`."
    for part in path.split('.'):
        if not hasattr(obj, part): return False
        obj = getattr(obj, part)
    return True


def _params(ops):
    "pytest params for `ops`: rows using something learntorch lacks are expected to fail (until it is written)."
    out = []
    for o in ops:
        missing = [n for n in o.needs if not _has(learntorch, n)]
        marks = [pytest.mark.xfail(strict=False, raises=(AttributeError, TypeError),
                                   reason=f'not implemented in learntorch yet: {", ".join(missing)}')] if missing else []
        out.append(pytest.param(o.name, id=o.name, marks=marks))
    return out


ROWS = {o.name: o for o in TABLE}


@pytest.mark.parametrize('name', _params(TABLE))
@given(data=st.data())
def test_op(name, data):
    "learntorch agrees with PyTorch on this op for every generated input."
    op = ROWS[name]
    args = data.draw(op.args, label='args')
    if not compare_op(op.fn, *args, tol=op.tol): event('PyTorch has no kernel for this dtype: not compared')


@pytest.mark.parametrize('name', _params([o for o in TABLE if o.inplace]))
@settings(max_examples=10)
@given(data=st.data())
def test_inplace_through_view(name, data):
    "An in-place op on a view (`base[1]`) writes into the base tensor's memory and bumps the shared version counter."
    op = ROWS[name]
    args = data.draw(op.args, label='args')
    compare_op(op.fn, *args, tol=op.tol, as_view=True)


# hypothesis examples per row on a device (the strict module, a GPU); the CPU runs above use the profile's number
N_DEVICE = int(os.environ.get('LT_DEVICE_EXAMPLES', '6'))


@pytest.mark.parametrize('name', _params(TABLE))
@settings(max_examples=N_DEVICE)
@given(data=st.data())
def test_op_on_device(name, data, accel_device):
    """The same comparison with learntorch's tensors on the device (PyTorch's stay on the CPU): every op runs through
    the backend seam, results stay on the device and match after `.cpu()`. Rows that bridge to numpy must raise
    PyTorch's TypeError there."""
    op = ROWS[name]
    args = data.draw(op.args, label='args')
    if op.host:
        lt_args = _Built(args, learntorch, False, accel_device).args
        with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy"):
            op.fn(OnDevice(accel_device), *lt_args)
        return
    if not compare_op(op.fn, *args, tol=op.tol, device=accel_device):
        event('PyTorch has no kernel for this dtype: not compared')


@pytest.mark.parametrize('name', _params([o for o in TABLE if o.inplace]))
@settings(max_examples=builtins.max(N_DEVICE // 2, 2))
@given(data=st.data())
def test_inplace_through_view_on_device(name, data, accel_device):
    "In-place ops on a view of a device tensor write into the base's device memory."
    op = ROWS[name]
    args = data.draw(op.args, label='args')
    compare_op(op.fn, *args, tol=op.tol, as_view=True, device=accel_device)


def test_table_size():
    "The table covers the ops the course teaches (guards against rows silently disappearing)."
    assert len(TABLE) >= 150
