"""The autograd engine against PyTorch: errors (type and message), graph structure (`next_functions`), grad modes,
leaf/non-leaf bookkeeping, hooks, accumulation, `retain_graph`, higher-order gradients, `autograd.grad`,
`backward(inputs=...)`, custom Functions, version counters, very deep graphs, freeing saved tensors and memory growth
in a training loop, and gradient dtypes under mixed precision.

Most tests run one scenario `fn(T)` in both libraries (`T` is `learntorch` or `torch`) and compare what it records."""
import gc, math, os, subprocess, sys, textwrap, tracemalloc, weakref

import numpy as np
import pytest

import learntorch


pytestmark = pytest.mark.filterwarnings(      # PyTorch's advice about patterns these tests use on purpose
    'ignore:The .grad attribute of a Tensor that is not a leaf:UserWarning',
    'ignore:Using backward.. with create_graph=True:UserWarning')

TOLERANCES = {'float64': (1e-9, 1e-12), 'float32': (1e-5, 1e-6), 'float16': (1e-3, 1e-3)}   # (rtol, atol), times `tol`


def assert_match(lt, th, where='result', tol=1):
    "learntorch's record `lt` equals PyTorch's `th`: tensors (shape, dtype, values), dtypes, sequences, plain values."
    import torch
    if isinstance(th, torch.Tensor):
        assert isinstance(lt, learntorch.Tensor), f'{where}: expected a Tensor, got {type(lt).__name__}: {lt!r}'
        assert tuple(lt.shape) == tuple(th.shape), f'{where}: shape {tuple(lt.shape)} != PyTorch {tuple(th.shape)}'
        assert str(lt.dtype) == str(th.dtype), f'{where}: dtype {lt.dtype} != PyTorch {th.dtype}'
        a, b = lt.detach().numpy(), th.detach().numpy()
        if b.dtype.kind == 'f':
            rtol, atol = TOLERANCES[b.dtype.name]
            np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=rtol * tol, atol=atol * tol,
                                       equal_nan=True, err_msg=f'{where}: values differ (learntorch first, PyTorch second)')
        else: assert np.array_equal(a, b), f'{where}: {a.tolist()} != PyTorch {b.tolist()}'
    elif isinstance(th, torch.dtype): assert str(lt) == str(th), f'{where}: {lt} != PyTorch {th}'
    elif isinstance(th, (tuple, list)):
        assert isinstance(lt, (tuple, list)) and len(lt) == len(th), f'{where}: {lt!r} != PyTorch {th!r}'
        for i, (a, b) in enumerate(zip(lt, th)): assert_match(a, b, f'{where}[{i}]', tol)
    elif isinstance(th, float) and not isinstance(th, bool):
        assert isinstance(lt, float) and (math.isclose(lt, th, rel_tol=1e-6 * tol, abs_tol=1e-9 * tol) or
                                          (math.isnan(lt) and math.isnan(th))), f'{where}: {lt!r} != PyTorch {th!r}'
    else: assert type(lt) is type(th) and lt == th, f'{where}: {lt!r} != PyTorch {th!r}'


@pytest.fixture(scope='module')
def torch():
    return pytest.importorskip('torch')


@pytest.fixture(autouse=True)
def grad_mode_restored():
    "Each test must leave grad mode on; if one does not, it fails (as an error) and the mode is reset for the next."
    yield
    if not learntorch.is_grad_enabled():
        learntorch.set_grad_enabled(True)
        pytest.fail('the test left learntorch grad mode disabled')


def both(torch, fn):
    "Run scenario `fn(T)` in both libraries; return (learntorch's result, PyTorch's)."
    return fn(learntorch), fn(torch)


def same(torch, fn, tol=1):
    "Run scenario `fn(T)` in both libraries and check the records agree (tensors, numbers, strings, nesting)."
    lt, th = both(torch, fn)
    assert_match(lt, th, fn.__name__, tol)
    return lt


def error_of(fn):
    "The exception `fn()` raises (failing the test if it raises none)."
    try: fn()
    except Exception as e: return e
    raise AssertionError(f'{fn} raised nothing')


def same_error(torch, fn, upto=None):
    """Run scenario `fn(T)` (which must raise) in both libraries: same exception type and the same message (up to and
    including the first occurrence of `upto` in PyTorch's message, when given)."""
    lt, th = error_of(lambda: fn(learntorch)), error_of(lambda: fn(torch))
    assert type(lt).__name__ == type(th).__name__ or isinstance(lt, type(th)), \
        f'learntorch raised {type(lt).__name__}({lt}), PyTorch {type(th).__name__}({th})'
    want = str(th)
    if upto is not None:
        assert upto in want, f'test bug: {upto!r} not in PyTorch message {want!r}'
        want = want[:want.index(upto) + len(upto)]
        got = str(lt)[:len(want)]
    else: got = str(lt)
    assert got == want, f'message differs\nlearntorch: {str(lt)}\nPyTorch:    {str(th)}'


def t(T, values, requires_grad=False, dtype=None):
    return T.tensor(values, dtype=dtype or T.float32, requires_grad=requires_grad)


# ======================================================================================================= errors
def test_backward_twice(torch):
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        y = (x * x).sum()
        y.backward()
        y.backward()
    same_error(torch, fn)


def test_backward_twice_through_saved_output(torch):
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        y = x.exp().sum()
        y.backward()
        y.backward()
    same_error(torch, fn)


def test_grad_after_backward_frees_graph(torch):
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        y = (x * x).sum()
        T.autograd.grad(y, x)
        T.autograd.grad(y, x)
    same_error(torch, fn)


def test_non_scalar_backward(torch):
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        (x * 2).backward()
    same_error(torch, fn)


def test_backward_without_grad(torch):
    def fn(T):
        T.ones(3).sum().backward()
    same_error(torch, fn)


def test_backward_second_root_without_grad(torch):
    def fn(T):
        x = t(T, [1., 2.], True)
        T.autograd.backward([x.sum(), T.ones(2).sum()])
    same_error(torch, fn)


def test_inplace_on_leaf(torch):
    def fn(T):
        t(T, [1., 2.], True).add_(1)
    same_error(torch, fn)


def test_inplace_mul_on_leaf(torch):
    def fn(T):
        x = t(T, [1., 2.], True)
        x *= 2
    same_error(torch, fn)


def test_setitem_on_leaf(torch):
    def fn(T):
        x = t(T, [1., 2.], True)
        x[0] = 5.
    same_error(torch, fn)


def test_inplace_on_leaf_allowed_under_no_grad(torch):
    def fn(T):
        x = t(T, [1., 2.], True)
        with T.no_grad():
            x.add_(1)
            x[0] = 7.
        return x.detach(), x.requires_grad, x.is_leaf, x._version
    same(torch, fn)


def test_saved_input_modified_inplace(torch):
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        a = x * 2
        b = a * a                 # saves a
        a.add_(1)
        b.sum().backward()
    same_error(torch, fn, upto='is at version 1; expected version 0 instead.')


def test_saved_output_modified_inplace(torch):
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        y = x.exp()               # saves its result
        y.add_(1)
        y.sum().backward()
    same_error(torch, fn, upto='is at version 1; expected version 0 instead.')


def test_saved_tensor_modified_key_sentence(torch):
    "Whatever the details, the key sentence is PyTorch's."
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        a = x.sigmoid()
        b = a * x
        a.mul_(2)
        b.sum().backward()
    same_error(torch, fn, upto='one of the variables needed for gradient computation has been modified by an inplace operation')


def test_requires_grad_on_non_leaf(torch):
    def fn(T):
        y = t(T, [1., 2.], True) * 2
        y.requires_grad = False
    same_error(torch, fn)


def test_requires_grad_on_int_tensor(torch):
    def fn(T):
        T.tensor([1, 2]).requires_grad_()
    same_error(torch, fn)


def test_hook_on_tensor_without_grad(torch):
    def fn(T):
        T.ones(2).register_hook(lambda g: g)
    same_error(torch, fn)


def test_grad_of_unused_input(torch):
    def fn(T):
        x, z = t(T, [1., 2.], True), t(T, [3.], True)
        T.autograd.grad((x * 2).sum(), [x, z])
    same_error(torch, fn)


def test_grad_of_input_without_grad(torch):
    def fn(T):
        x = t(T, [1., 2.], True)
        T.autograd.grad((x * 2).sum(), [T.ones(2)])
    same_error(torch, fn)


def test_gradient_shape_mismatch(torch):
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        (x * 2).backward(T.ones(2))
    same_error(torch, fn)


def test_numpy_of_tensor_requiring_grad(torch):
    def fn(T):
        t(T, [1.], True).numpy()
    same_error(torch, fn)


def test_custom_function_wrong_number_of_gradients(torch):
    def fn(T):
        class Twice(T.autograd.Function):
            @staticmethod
            def forward(ctx, x): return x * 2
            @staticmethod
            def backward(ctx, g): return g * 2, g
        Twice.apply(t(T, [1., 2.], True)).sum().backward()
    same_error(torch, fn)


# ======================================================================================================= graph structure
def describe(node, depth=6):
    "A node as (name, ((child description, output number), ...)), to `depth` levels."
    if node is None: return None
    if depth == 0: return type(node).__name__
    return (type(node).__name__, tuple((describe(child, depth - 1), nr) for child, nr in node.next_functions))


GRAPHS = {
    'mul_add_sum': lambda T, x, y, w: (x * y + x).sum(),
    'exp_mean_of_square': lambda T, x, y, w: (x * x).exp().mean(),
    'constant_operand': lambda T, x, y, w: (x * T.ones(3) + 2).sum(),
    'matmul_relu': lambda T, x, y, w: (w @ x).relu().sum(),
    'linear_no_input_grad': lambda T, x, y, w: T.nn.functional.linear(T.ones(4, 3), w, y[:2]),
    'linear_input_grad': lambda T, x, y, w: T.nn.functional.linear(x.view(1, 3), w),
    'views': lambda T, x, y, w: w.t().reshape(-1)[1:4].unsqueeze(0),
    'split_outputs': lambda T, x, y, w: T.cat(list(reversed(x.split(1)))) * 2,
    'unbind_stack': lambda T, x, y, w: T.stack(w.unbind(1), 0),
    'softmax_ce': lambda T, x, y, w: T.nn.functional.cross_entropy(w, T.tensor([0, 2])),
    'mse': lambda T, x, y, w: T.nn.functional.mse_loss(x, y),
    'where_clamp': lambda T, x, y, w: T.where(x > 0, x.clamp(min=0.5), y.abs()),
    'getitem_setitem': lambda T, x, y, w: _setitem(x * 1, slice(0, 2), y[1:]),
    'to_double_sum': lambda T, x, y, w: x.double().sum(),
}


def _setitem(a, key, value):
    a[key] = value
    return a


def _leaves(T):
    x = T.tensor([0.5, -1., 2.], requires_grad=True)
    y = T.tensor([1.5, 0.25, -3.], requires_grad=True)
    w = T.tensor([[1., 2., 3.], [-1., 0.5, 2.]], requires_grad=True)
    return x, y, w


@pytest.mark.parametrize('name', list(GRAPHS))
def test_next_functions_structure(torch, name):
    def fn(T):
        out = GRAPHS[name](T, *_leaves(T))
        return repr(describe(out.grad_fn))
    lt, th = both(torch, fn)
    assert lt == th, f'graph of {name}\nlearntorch: {lt}\nPyTorch:    {th}'


def test_accumulate_grad_nodes(torch):
    "A leaf used twice has one AccumulateGrad node (the same object), whose `variable` is the leaf."
    def fn(T):
        x, y, w = _leaves(T)
        out = x * x + x * y
        add = out.grad_fn
        m1, m2 = add.next_functions[0][0], add.next_functions[1][0]
        acc_x1, acc_x2 = m1.next_functions[0][0], m1.next_functions[1][0]
        acc_x3, acc_y = m2.next_functions[0][0], m2.next_functions[1][0]
        return (type(acc_x1).__name__, acc_x1 is acc_x2, acc_x1 is acc_x3, acc_x1 is not acc_y,
                acc_x1.variable is x, acc_y.variable is y, acc_x1.next_functions == ())
    same(torch, fn)


def test_grad_fn_of_leaves_and_detached(torch):
    def fn(T):
        x, y, w = _leaves(T)
        z = (x * 2).detach()
        return (x.grad_fn is None, z.grad_fn is None, z.requires_grad, (x * 2).grad_fn.name(),
                (x * 2).is_leaf, z.is_leaf, T.ones(2).is_leaf)
    same(torch, fn)


def test_node_call_and_name(torch):
    "A node can be called on output gradients directly; `name()` gives its class name."
    def fn(T):
        x, y, w = _leaves(T)
        out = x * y
        gx, gy = out.grad_fn(T.ones(3))
        return out.grad_fn.name(), gx, gy
    same(torch, fn)


# ======================================================================================================= grad modes
def test_grad_mode_context_managers(torch):
    def fn(T):
        x = t(T, [1., 2.], True)
        rec = [T.is_grad_enabled()]
        with T.no_grad():
            rec += [T.is_grad_enabled(), (x * 2).requires_grad]
            with T.enable_grad():
                rec += [T.is_grad_enabled(), (x * 2).requires_grad]
            rec += [T.is_grad_enabled()]
        rec += [T.is_grad_enabled(), (x * 2).requires_grad]
        with T.set_grad_enabled(False):
            rec += [T.is_grad_enabled(), (x * 2).requires_grad]
        with T.set_grad_enabled(True):
            rec += [T.is_grad_enabled()]
        with T.inference_mode():
            rec += [T.is_grad_enabled(), (x * 2).requires_grad]
        with T.inference_mode(False):
            rec += [T.is_grad_enabled(), (x * 2).requires_grad]
        with T.autograd.no_grad():
            rec += [T.is_grad_enabled()]
        return rec + [T.is_grad_enabled()]
    same(torch, fn)


def test_grad_mode_restored_after_exception(torch):
    def fn(T):
        rec = []
        for cm in (T.no_grad(), T.set_grad_enabled(False), T.inference_mode()):
            try:
                with cm: raise KeyError('boom')
            except KeyError: pass
            rec.append(T.is_grad_enabled())
        with T.no_grad():
            try:
                with T.enable_grad(): raise KeyError('boom')
            except KeyError: pass
            rec.append(T.is_grad_enabled())
        return rec
    same(torch, fn)


def test_set_grad_enabled_as_function(torch):
    def fn(T):
        x = t(T, [1., 2.], True)
        T.set_grad_enabled(False)
        try:
            rec = [T.is_grad_enabled(), (x * 2).requires_grad]
        finally:
            T.set_grad_enabled(True)
        return rec + [T.is_grad_enabled(), (x * 2).requires_grad]
    same(torch, fn)


def test_grad_mode_decorators(torch):
    def fn(T):
        x = t(T, [1., 2.], True)

        @T.no_grad()
        def a(v): return T.is_grad_enabled(), (v * 2).requires_grad

        @T.no_grad
        def b(v):
            "docstring of b"
            return T.is_grad_enabled(), (v * 2).requires_grad

        @T.enable_grad()
        def c(v): return T.is_grad_enabled(), (v * 2).requires_grad

        @T.enable_grad
        def d(v): return T.is_grad_enabled(), (v * 2).requires_grad

        @T.set_grad_enabled(False)
        def e(v): return T.is_grad_enabled(), (v * 2).requires_grad

        @T.inference_mode()
        def f(v): return T.is_grad_enabled(), (v * 2).requires_grad

        @T.inference_mode
        def g(v): return T.is_grad_enabled(), (v * 2).requires_grad

        rec = [a(x), b(x), b.__name__, b.__doc__, T.is_grad_enabled(), e(x), T.is_grad_enabled(), f(x), g(x)]
        with T.no_grad():
            rec += [c(x), d(x), T.is_grad_enabled()]
        return rec + [T.is_grad_enabled()]
    same(torch, fn)


def test_no_grad_decorator_on_generator_like_use(torch):
    "The decorated function sees the mode on every call, and the mode is restored after each call, even on error."
    def fn(T):
        @T.no_grad()
        def boom(): raise ValueError('x')
        rec = []
        for _ in range(2):
            try: boom()
            except ValueError: rec.append(T.is_grad_enabled())
        return rec
    same(torch, fn)


# ======================================================================================================= leaves and detach
def test_detach_shares_memory(torch):
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        y = x * 2
        d = y.detach()
        d[0] = 10.
        return d, y.detach(), d.requires_grad, d.is_leaf, d.grad_fn is None, y._version, d._version
    same(torch, fn)


def test_detach_inplace(torch):
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        y = x * 2
        r = y.detach_()
        return r is y, y.requires_grad, y.is_leaf, y.grad_fn is None, y
    same(torch, fn)


def test_requires_grad_and_is_leaf(torch):
    def fn(T):
        a = T.ones(2)
        rec = [a.requires_grad, a.is_leaf]
        r = a.requires_grad_()
        rec += [r is a, a.requires_grad, a.is_leaf]
        b = a * 2
        rec += [b.requires_grad, b.is_leaf]
        a.requires_grad_(False)
        rec += [a.requires_grad, (a * 2).requires_grad]
        c = T.ones(2, requires_grad=True)
        rec += [c.requires_grad, c.is_leaf, T.zeros(2, requires_grad=True).requires_grad]
        with T.no_grad():
            d = c * 2
        rec += [d.requires_grad, d.is_leaf]
        return rec
    same(torch, fn)


def test_retain_grad(torch):
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        y = x * 2
        z = y * y
        rec = [x.retains_grad, y.retains_grad]
        y.retain_grad()
        y.retain_grad()                       # twice is the same as once
        x.retain_grad()                       # a leaf: no-op
        rec += [x.retains_grad, y.retains_grad, z.retains_grad]
        z.sum().backward(retain_graph=True)
        rec += [y.grad, x.grad, z.grad is None]
        z.sum().backward()                    # accumulates into the retained grad too
        rec += [y.grad, x.grad]
        return rec
    same(torch, fn)


def test_non_leaf_grad_is_none_without_retain_grad(torch):
    def fn(T):
        x = t(T, [1., 2.], True)
        y = x * 3
        y.sum().backward()
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            return y.grad is None, x.grad
    same(torch, fn)


# ======================================================================================================= hooks
def test_hook_on_leaf_modifies_gradient(torch):
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        seen = []
        h = x.register_hook(lambda g: (seen.append(g.clone()), g * 10)[1])
        (x * x).sum().backward()
        first = x.grad.clone()
        h.remove()
        x.grad = None
        (x * x).sum().backward()
        return first, x.grad, seen
    same(torch, fn)


def test_hook_on_non_leaf_modifies_upstream_gradient(torch):
    def fn(T):
        x = t(T, [1., -2., 3.], True)
        y = x * 2
        seen = []
        y.register_hook(lambda g: seen.append(g.clone()))         # observes only
        h = y.register_hook(lambda g: g * 0.5)                     # changes what flows on to x
        y.register_hook(lambda g: seen.append(g.clone()))          # sees the changed gradient
        (y * y).sum().backward(retain_graph=True)
        first = x.grad.clone()
        h.remove()
        x.grad = None
        (y * y).sum().backward()
        return first, x.grad, seen
    same(torch, fn)


def test_hooks_and_retain_grad_order(torch):
    def fn(T):
        x = t(T, [1., 2.], True)
        y = x * 3
        y.retain_grad()
        y.register_hook(lambda g: g + 100)
        (y * 2).sum().backward()
        return y.grad, x.grad
    same(torch, fn)


def test_hook_on_leaf_used_twice(torch):
    def fn(T):
        x = t(T, [1., 2.], True)
        calls = []
        x.register_hook(lambda g: calls.append(g.clone()))
        (x * x + x).sum().backward()
        return calls, x.grad
    same(torch, fn)


# ======================================================================================================= accumulation
def test_accumulation_and_zero(torch):
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        y = (x * x).sum()
        y.backward(retain_graph=True)
        rec = [x.grad.clone()]
        y.backward(retain_graph=True)
        rec.append(x.grad.clone())
        g = x.grad
        x.grad.zero_()
        y.backward(retain_graph=True)
        rec += [x.grad.clone(), x.grad is g]                # zero_ keeps the same tensor, backward adds into it
        x.grad = None
        (x * 5).sum().backward()
        rec += [x.grad, x.grad.requires_grad, x.grad.is_leaf]
        return rec
    same(torch, fn)


def test_retain_graph(torch):
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        y = (x.exp() * x).sum()
        y.backward(retain_graph=True)
        y.backward(retain_graph=True)
        y.backward()
        return x.grad
    same(torch, fn)


def test_backward_with_gradient_argument(torch):
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        (x * x).backward(t(T, [1., 0.5, -1.]))
        y = t(T, 2., True)
        (y * 3).backward(T.tensor(2.))
        return x.grad, y.grad
    same(torch, fn)


def test_backward_of_leaf_itself(torch):
    def fn(T):
        x = t(T, [1., 2.], True)
        x.backward(t(T, [3., 4.]))
        s = t(T, 1.5, True)
        s.backward()
        return x.grad, s.grad
    same(torch, fn)


# ======================================================================================================= create_graph
def test_higher_order_cube(torch):
    def fn(T):
        x = t(T, [0.5, -1.5, 2.], True, T.float64)
        y = (x ** 3).sum()
        (g1,) = T.autograd.grad(y, x, create_graph=True)
        (g2,) = T.autograd.grad(g1.sum(), x, create_graph=True)
        (g3,) = T.autograd.grad(g2.sum(), x, create_graph=True)
        return g1, g2, g3, g1.requires_grad, g3.requires_grad
    same(torch, fn)


def test_higher_order_tanh(torch):
    def fn(T):
        x = t(T, [0.3, -1.2, 2.], True, T.float64)
        y = x.tanh()
        grads = []
        cur = y
        for _ in range(4):
            (cur,) = T.autograd.grad(cur.sum(), x, create_graph=True)
            grads.append(cur)
        return grads
    same(torch, fn)


def test_backward_create_graph_then_backward_again(torch):
    def fn(T):
        x = t(T, [0.5, -1.0], True, T.float64)
        y = (x.sin() * x).sum()
        y.backward(create_graph=True)
        g = x.grad
        rec = [g.clone().detach(), g.requires_grad]
        x.grad = None
        g.sum().backward()
        return rec + [x.grad]
    same(torch, fn)


def _mlp(T, rng_params, x, act):
    w1, b1, w2, b2 = rng_params
    h = T.nn.functional.linear(x, w1, b1)
    h = h.tanh() if act == 'tanh' else h.relu() if act == 'relu' else T.nn.functional.gelu(h)
    return T.nn.functional.linear(h, w2, b2)


@pytest.mark.parametrize('act', ['tanh', 'relu', 'gelu'])
def test_mlp_hessian_vector_product(torch, act):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in [(5, 3), (5,), (2, 5), (2,)]]
    xs, target = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    vs = [rng.standard_normal(a.shape) for a in arrays]

    def fn(T):
        params = [T.tensor(a, requires_grad=True) for a in arrays]
        loss = T.nn.functional.mse_loss(_mlp(T, params, T.tensor(xs), act), T.tensor(target))
        grads = T.autograd.grad(loss, params, create_graph=True)
        gv = sum((g * T.tensor(v)).sum() for g, v in zip(grads, vs))
        hvp = T.autograd.grad(gv, params, allow_unused=True)
        return [g.detach() for g in grads], [h if h is not None else T.zeros(p.shape, dtype=p.dtype)
                                             for h, p in zip(hvp, params)]
    same(torch, fn, tol=10)


def test_double_backward_of_input_gradient(torch):
    "Gradient penalty: the norm of d loss / d input, differentiated with respect to the weights."
    rng = np.random.default_rng(1)
    w, x = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))

    def fn(T):
        W, X = T.tensor(w, requires_grad=True), T.tensor(x, requires_grad=True)
        out = (X @ W.t()).sigmoid().sum()
        (gx,) = T.autograd.grad(out, X, create_graph=True)
        penalty = (gx ** 2).sum()
        penalty.backward()
        return W.grad, X.grad
    same(torch, fn, tol=10)


# ======================================================================================================= autograd.grad
def test_grad_allow_unused(torch):
    def fn(T):
        x, z = t(T, [1., 2.], True), t(T, [3.], True)
        gx, gz = T.autograd.grad((x * x).sum(), [x, z], allow_unused=True)
        return gx, gz is None, x.grad is None, z.grad is None
    same(torch, fn)


def test_grad_materialize_grads(torch):
    def fn(T):
        x, z = t(T, [1., 2.], True), t(T, [3.], True)
        return T.autograd.grad((x * x).sum(), [x, z], materialize_grads=True)
    same(torch, fn)


def test_grad_grad_outputs(torch):
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        y = x * x
        z = x.exp()
        return T.autograd.grad([y, z], x, grad_outputs=[t(T, [1., -1., 0.5]), t(T, [2., 0., 1.])])
    same(torch, fn)


def test_grad_non_leaf_inputs(torch):
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        h = x * 2
        k = h.sin()
        out = (k * h).sum()
        gh, gk = T.autograd.grad(out, [h, k], retain_graph=True)
        (gx,) = T.autograd.grad(out, x)
        return gh, gk, gx, x.grad is None, h.grad is None
    same(torch, fn)


def test_grad_returns_tuple_for_single_input(torch):
    def fn(T):
        x = t(T, [1., 2.], True)
        r = T.autograd.grad((x * 3).sum(), x)
        return type(r).__name__, len(r), r[0]
    same(torch, fn)


def test_grad_of_broadcast_input(torch):
    def fn(T):
        b = t(T, [[1.], [2.]], True)
        x = t(T, [[1., 2., 3.]], True)
        return T.autograd.grad((b * x).sum(), [b, x])
    same(torch, fn)


# ======================================================================================================= backward(inputs=)
def test_backward_inputs(torch):
    def fn(T):
        x, y = t(T, [1., 2.], True), t(T, [3., 4.], True)
        out = (x * y).sum()
        out.backward(inputs=[x], retain_graph=True)
        rec = [x.grad.clone(), y.grad is None]
        out.backward(inputs=y)
        rec += [x.grad, y.grad]
        return rec
    same(torch, fn)


def test_backward_inputs_non_leaf(torch):
    def fn(T):
        x = t(T, [1., 2.], True)
        h = x * 3
        (h * h).sum().backward(inputs=[h])
        return h.grad, x.grad is None
    same(torch, fn)


def test_autograd_backward_inputs(torch):
    def fn(T):
        x, y = t(T, [1., 2.], True), t(T, [3., 4.], True)
        T.autograd.backward([(x * y).sum(), (x * x).sum()], inputs=[x])
        return x.grad, y.grad is None
    same(torch, fn)


# ======================================================================================================= custom Function
def _functions(T):
    class Exp(T.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    class MulScale(T.autograd.Function):
        @staticmethod
        def forward(ctx, a, b, k):
            ctx.k = k
            ctx.save_for_backward(a, b)
            ctx.seen_needs = tuple(ctx.needs_input_grad)
            return a * b * k

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            ga = g * b * ctx.k if ctx.needs_input_grad[0] else None
            gb = g * a * ctx.k if ctx.needs_input_grad[1] else None
            return ga, gb, None

    class TwoOutputs(T.autograd.Function):
        @staticmethod
        def forward(ctx, x): return x * 2, x * 3

        @staticmethod
        def backward(ctx, g1, g2): return g1 * 2 + g2 * 3

    class SortWithIndices(T.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            values, indices = x.sort()
            ctx.mark_non_differentiable(indices)
            ctx.save_for_backward(indices)
            ctx.n = x.shape[0]
            return values, indices

        @staticmethod
        def backward(ctx, g, g_idx):
            (indices,) = ctx.saved_tensors
            out = T.zeros(ctx.n, dtype=g.dtype)
            return out.scatter_add(0, indices, g)

    class Identity(T.autograd.Function):
        @staticmethod
        def forward(ctx, x): return x

        @staticmethod
        def backward(ctx, g): return g * 5

    return Exp, MulScale, TwoOutputs, SortWithIndices, Identity


def test_custom_function_save_for_backward(torch):
    def fn(T):
        Exp = _functions(T)[0]
        x = t(T, [0.5, -1., 2.], True)
        y = Exp.apply(x)
        name = type(y.grad_fn).__name__
        (y * y).sum().backward()
        return y, name, y.grad_fn.name(), x.grad, y.requires_grad, y.is_leaf
    same(torch, fn)


def test_custom_function_needs_input_grad(torch):
    def fn(T):
        MulScale = _functions(T)[1]
        a, b = t(T, [1., 2.], True), t(T, [3., 4.])
        out = MulScale.apply(a, b, 0.5)
        needs = out.grad_fn.seen_needs
        out.sum().backward()
        c, d = t(T, [1., 2.]), t(T, [3., 4.])
        plain = MulScale.apply(c, d, 2.0)
        return out, needs, a.grad, b.grad is None, plain.requires_grad, plain.grad_fn is None
    same(torch, fn)


def test_custom_function_multiple_outputs(torch):
    def fn(T):
        TwoOutputs = _functions(T)[2]
        x = t(T, [1., 2.], True)
        p, q = TwoOutputs.apply(x)
        names = (type(p.grad_fn).__name__, p.grad_fn is q.grad_fn)
        (p.sum() + (q * q).sum()).backward(retain_graph=True)
        g1 = x.grad.clone()
        x.grad = None
        p.sum().backward()                   # only one output used: the other gradient is materialized as zeros
        return names, g1, x.grad
    same(torch, fn)


def test_custom_function_mark_non_differentiable(torch):
    def fn(T):
        SortWithIndices = _functions(T)[3]
        x = t(T, [3., 1., 2.], True)
        v, i = SortWithIndices.apply(x)
        rec = [v, i, v.requires_grad, i.requires_grad, i.grad_fn is None]
        (v * t(T, [1., 10., 100.])).sum().backward()
        return rec + [x.grad]
    same(torch, fn)


def test_custom_function_returning_input(torch):
    def fn(T):
        Identity = _functions(T)[4]
        x = t(T, [1., 2.], True)
        y = Identity.apply(x)
        rec = [y is x, x.grad_fn is None, type(y.grad_fn).__name__, x.is_leaf]
        (y * 2).sum().backward()
        return rec + [x.grad]
    same(torch, fn)


def test_custom_function_in_higher_order(torch):
    "A custom backward written with differentiable ops supports create_graph."
    def fn(T):
        Exp = _functions(T)[0]
        x = t(T, [0.5, -1.], True, T.float64)
        (g,) = T.autograd.grad(Exp.apply(x).sum(), x, create_graph=True)
        (gg,) = T.autograd.grad(g.sum(), x)
        return g.detach(), gg
    same(torch, fn)


def test_custom_function_saved_tensor_modified(torch):
    def fn(T):
        Exp = _functions(T)[0]
        x = t(T, [0.5, -1.], True)
        y = Exp.apply(x)
        y.mul_(2)
        y.sum().backward()
    same_error(torch, fn, upto='one of the variables needed for gradient computation has been modified by an inplace operation')


# ======================================================================================================= version counter
def test_version_counter(torch):
    def fn(T):
        x = T.zeros(4)
        rec = [x._version]
        x.add_(1)
        rec.append(x._version)
        x[0] = 5.
        rec.append(x._version)
        v = x[1:]
        rec.append(v._version)
        v.mul_(2)
        rec += [x._version, v._version]
        x.zero_()
        rec += [x._version, v._version]
        y = x * 1
        rec.append(y._version)
        with T.no_grad():
            x.add_(1)
        rec.append(x._version)
        x.data.add_(1)                      # .data shares memory but not the version counter
        rec.append(x._version)
        return rec
    same(torch, fn)


def test_version_counter_detach_shares(torch):
    def fn(T):
        x = t(T, [1., 2.], True)
        y = x * 2
        d = y.detach()
        d.add_(1)
        return y._version, d._version
    same(torch, fn)


def test_version_check_allows_unrelated_inplace(torch):
    "In-place changes to tensors the backward step does not need are fine (add saves nothing)."
    def fn(T):
        x = t(T, [1., 2.], True)
        a = x * 1
        b = a + 2
        a.add_(5)
        b.sum().backward()
        return x.grad, a
    same(torch, fn)


def test_inplace_on_non_leaf_is_recorded(torch):
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        y = x * 2
        y.mul_(3)
        y.sin_()                 # saves its input, which mul_ changed before: that is fine
        rec = [type(y.grad_fn).__name__, y._version, y.is_leaf]
        y.sum().backward()
        return rec + [x.grad]
    same(torch, fn, tol=2)


def test_inplace_then_saved_output_needed(torch):
    "mul_(self) saves y, exp_ then changes it: PyTorch refuses to backward, and so must learntorch."
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        y = x * 2
        y.mul_(y)
        y.exp_()
        y.sum().backward()
    same_error(torch, fn, upto='one of the variables needed for gradient computation has been modified by an inplace operation')


def test_inplace_on_view_of_non_leaf(torch):
    "The write reaches the base (CopySlices) and the view reads it back (AsStridedBackward0)."
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        y = x * 1
        y[:2].mul_(x[1:])
        names = [type(y.grad_fn).__name__, [type(n).__name__ for n, _ in y.grad_fn.next_functions]]
        y.sum().backward()
        return x.grad, names
    same(torch, fn)


def test_inplace_add_on_slice_of_non_leaf(torch):
    def fn(T):
        x = t(T, [[1., 2.], [3., 4.]], True)
        y = x.sin()                     # (exp would save its output, which `v += 1` changes)
        v = y[:, 0]
        v += 1
        y.sum().backward()
        return x.grad, type(v.grad_fn).__name__
    same(torch, fn)


def test_other_views_follow_an_inplace_change(torch):
    "A view made before its base changed in place rebuilds its history from the base's."
    def fn(T):
        x = t(T, [[1., 2.], [3., 4.]], True)
        y = x * 2
        w, u = y.t(), y[1]              # made before the change
        y[0].exp_()
        r = [type(w.grad_fn).__name__, type(u.grad_fn).__name__, w.requires_grad]
        (w * w).sum().backward(retain_graph=True)
        g1 = x.grad.clone()
        u.sum().backward()
        return g1, x.grad, r
    same(torch, fn)


def test_view_starts_requiring_grad_after_its_base_is_written(torch):
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        a = T.zeros(3)
        v = a[1:]
        d = a.detach()[:2]              # a detached view never follows
        a.add_(x)
        r = [v.requires_grad, type(v.grad_fn).__name__, v.is_leaf, d.requires_grad]
        (v * v).sum().backward()
        return x.grad, r
    same(torch, fn)


def test_inplace_write_into_view_of_plain_tensor(torch):
    "copy_/setitem/fill_ through a view of a tensor that needs no grad make the base require grad."
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        b = T.zeros(2, 3)
        b[0].copy_(x)
        b[1, 1:] = x[:2] * 2
        b[:, 0].fill_(7.)
        r = [type(b.grad_fn).__name__, b.requires_grad]
        (b * T.arange(6.).reshape(2, 3)).sum().backward()
        return x.grad, r
    same(torch, fn)


def test_inplace_on_view_of_view_and_saved_output(torch):
    "A view of a view, an op saving its output (exp_), then a later change of that output."
    def fn(T):
        x = t(T, [1., 2., 3., 4.], True)
        y = (x * 1).reshape(2, 2)
        v = y.t()[0]
        v.exp_()
        y.sum().backward(retain_graph=True)
        g = x.grad.clone()
        y.mul_(2)                       # exp_'s saved output changes: backward must refuse now
        try: y.sum().backward()
        except RuntimeError as e: return g, 'modified by an inplace operation' in str(e)
        return g, False
    same(torch, fn)


def test_views_of_split_refuse_inplace_changes(torch):
    "split/chunk/unbind share one node: PyTorch refuses to rebuild it for one view, and says so."
    def change_view(T):
        y = t(T, [1., 2., 3., 4.], True) * 1
        a, b = y.split(2)
        a.mul_(2)
    same_error(torch, change_view)

    def change_base_then_read(T):
        y = t(T, [1., 2., 3., 4.], True) * 1
        a, b = y.chunk(2)
        w = a[1:]                       # a view of one of them inherits the rule
        y.add_(1)
        return w.grad_fn
    same_error(torch, change_base_then_read)


def test_reshape_copy_is_not_a_view(torch):
    def fn(T):
        y = (t(T, [[1., 2.], [3., 4.]], True) * 1).t()
        r = y.reshape(-1)               # not expressible over y's memory: a copy
        r.mul_(2)
        return type(r.grad_fn).__name__, type(y.grad_fn).__name__, r._base is None
    same(torch, lambda T: fn(T)[:2])
    assert fn(learntorch)[2]


def test_setitem_whole_slices_copy_or_fill(torch):
    "A slice covering its dimension is skipped by PyTorch: `y[:5] = v` of 2 rows is a copy_/fill_."
    def fn(T):
        x = t(T, [[1., 2.], [3., 4.]], True)
        y, z, u = x * 1, x * 1, x * 1
        y[:5] = t(T, [[5., 6.], [7., 8.]], True)
        z[..., ::1] = t(T, 3., True)
        u[-2:] = 0.                     # a negative start is not skipped
        return [type(v.grad_fn).__name__ for v in (y, z, u)]
    same(torch, fn)


def test_autograd_grad_runs_only_what_it_needs(torch):
    "A node with no derivative below the wanted input does not stop autograd.grad."
    def fn(T):
        x = t(T, [1.5, -2.0], True)
        y = (x // 1).floor()            # floor_divide has no derivative
        z = y * 3
        return T.autograd.grad(z.sum(), [y])
    same(torch, fn)


def test_factory_out_into_computed_tensor(torch):
    def fn(T):
        y = t(T, [1., 2.], True) * 1
        T.zeros(2, out=y)
        return type(y.grad_fn).__name__, y
    same(torch, fn)
    def backward(T):
        y = t(T, [1., 2.], True) * 1
        T.ones(2, out=y)
        y.sum().backward()
    same_error(torch, backward)


def test_inplace_on_view_of_leaf_still_refused():
    x = learntorch.tensor([1., 2., 3.], requires_grad=True)
    with pytest.raises(RuntimeError, match='a view of a leaf Variable that requires grad'):
        x[:2].mul_(2)


# ======================================================================================================= deep graphs
DEEP = textwrap.dedent('''
    import sys, gc
    sys.path.insert(0, {root!r})
    import learntorch as torch
    x = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0000001 + 0.0
    y.sum().backward()
    g = x.grad.tolist()
    y2 = x
    for _ in range(100_000):
        y2 = y2 * 1.0
    del y2                    # a 100,000-deep graph that was never used: freeing it must not recurse
    gc.collect()
    y = None
    gc.collect()
    print('OK', g)
''')


def test_deep_graph_backward_and_free():
    "backward through a 100,000-deep graph, then dropping it, in a child process (a crash would not kill pytest)."
    root = os.path.dirname(os.path.dirname(os.path.abspath(learntorch.__file__)))
    r = subprocess.run([sys.executable, '-c', DEEP.format(root=root)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f'exit code {r.returncode}\n{r.stderr[-3000:]}'
    assert r.stdout.startswith('OK')
    g = eval(r.stdout.split('OK', 1)[1])
    expected = 1.0000001 ** 100_000
    assert np.allclose(g, [expected, expected], rtol=1e-7)


# ======================================================================================================= memory
def test_saved_tensors_freed_after_backward():
    "Once only the graph holds an intermediate tensor, backward (without retain_graph) lets it go: no gc needed."
    gc.collect()
    gc.disable()
    try:
        x = learntorch.tensor([1., 2., 3.], requires_grad=True)
        h = x.exp()
        z = h * h                  # saves h
        loss = z.sum()
        ref = weakref.ref(h)
        del h
        alive_before = ref() is not None
        loss.backward()
        freed_after = ref() is None
    finally:
        gc.enable()
    assert freed_after, 'the intermediate tensor outlives backward (saved tensors not released)'
    assert np.allclose(x.grad.numpy(), 2 * np.exp(2 * np.array([1., 2., 3.])), rtol=1e-5)
    assert alive_before, 'test bug: nothing but the graph held the intermediate tensor, so it must be alive before backward'


def test_saved_tensors_kept_with_retain_graph_until_graph_dies():
    gc.collect()
    gc.disable()
    try:
        x = learntorch.tensor([1., 2., 3.], requires_grad=True)
        h = x.exp()
        loss = (h * h).sum()
        ref = weakref.ref(h)
        del h
        loss.backward(retain_graph=True)
        loss.backward(retain_graph=True)        # still usable
        del loss                                # the graph goes away: so does h
        freed = ref() is None
    finally:
        gc.enable()
    assert freed, 'the graph (and the tensors it saved) outlives its last reference (reference cycle?)'


def test_graph_freed_without_backward():
    "A graph nobody calls backward on is freed when its output goes away (no reference cycles keep it)."
    gc.collect()
    gc.disable()
    try:
        x = learntorch.tensor([1., 2., 3.], requires_grad=True)
        h = x.sigmoid()
        out = (h * x).tanh().sum()
        refs = [weakref.ref(h), weakref.ref(out.grad_fn)]
        del h, out
        freed = [r() is None for r in refs]
    finally:
        gc.enable()
    assert all(freed), f'still alive after the last reference went: {freed}'


def _train(steps, model_state, xs, ys, lr=0.05):
    w, b = model_state
    for i in range(steps):
        x, y = xs[i % len(xs)], ys[i % len(ys)]
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        with learntorch.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
            w.grad.zero_()
            b.grad = None
    return float(loss)


def test_training_loop_memory_is_flat():
    "10,000 small SGD steps: no growth in traced memory nor in the number of gc-tracked objects."
    rng = np.random.default_rng(0)
    true_w = rng.standard_normal((4, 1)).astype(np.float32)
    xs = [learntorch.tensor(rng.standard_normal((8, 4)).astype(np.float32)) for _ in range(16)]
    ys = [x @ learntorch.tensor(true_w) + 0.5 for x in xs]
    w = learntorch.zeros(4, 1, requires_grad=True)
    b = learntorch.zeros(1, requires_grad=True)
    _train(500, (w, b), xs, ys)                        # warm up caches
    gc.collect()
    objects_before = len(gc.get_objects())
    tracemalloc.start()
    try:
        _train(1000, (w, b), xs, ys)
        gc.collect()
        mem_1k = tracemalloc.get_traced_memory()[0]
        final = _train(9000, (w, b), xs, ys)
        gc.collect()
        mem_10k = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    objects_after = len(gc.get_objects())
    assert final < 1e-3, f'the model did not learn (loss {final})'
    assert mem_10k - mem_1k < 256 * 1024, f'traced memory grew by {(mem_10k - mem_1k) / 1024:.0f} KiB over 9,000 steps'
    assert objects_after - objects_before < 500, f'{objects_after - objects_before} more gc-tracked objects after 10,000 steps'


# ======================================================================================================= dtypes
def test_mixed_precision_gradient_dtypes(torch):
    def fn(T):
        a = T.tensor([1., 2.], dtype=T.float32, requires_grad=True)
        b = T.tensor([3., 4.], dtype=T.float64, requires_grad=True)
        out = a * b
        rec = [out.dtype]
        (out.sum() + (a.double() * 2).sum() + (b.float() ** 2).sum()).backward()
        rec += [a.grad, b.grad]
        c = T.tensor([1.5], dtype=T.float16, requires_grad=True)
        d = T.tensor([2.0], dtype=T.float32, requires_grad=True)
        (c * d + c * 2.5).sum().backward()
        rec += [c.grad, d.grad]
        return rec
    same(torch, fn)


def test_mixed_precision_autograd_grad_dtype(torch):
    def fn(T):
        a = T.tensor([1., 2.], dtype=T.float32, requires_grad=True)
        b = T.tensor(3., dtype=T.float64, requires_grad=True)
        return T.autograd.grad((a * b).sum(), [a, b])
    same(torch, fn)


def test_int_and_float_mixing_gradient(torch):
    def fn(T):
        a = T.tensor([1., 2.], requires_grad=True)
        out = (a * T.tensor([2, 3]) + T.tensor([True, False])).sum()
        out.backward()
        return out, a.grad
    same(torch, fn)


# ======================================================================================================= random-program parity
def test_saved_result_not_input(torch):
    "relu saves its result, not its input: changing the input in place afterwards is fine in PyTorch."
    def fn(T):
        x = t(T, [1., -2., 3.], True)
        y = x * 1
        z = T.relu(y)
        y.sin_()
        z.sum().backward()
        return x.grad
    same(torch, fn)


@pytest.mark.parametrize('op', ['prod', 'cumprod', 'exp2', 'std', 'relu_', 'sigmoid_', 'exp_', 'tanh'])
def test_saved_output_modified_in_place(torch, op):
    "Ops that save their result must notice when it is changed in place (also when the op itself was in place)."
    def fn(T):
        x = t(T, [1., 2., 3.], True)
        y = x * 1
        z = y.cumprod(0) if op == 'cumprod' else getattr(y, op)()
        z.add_(1)
        z.sum().backward()
    same_error(torch, fn, upto='modified by an inplace operation')


def test_saved_output_create_graph(torch):
    "A saved result used in double backward carries its own node as history (PyTorch's saved `result`)."
    def fn(T):
        x = t(T, [0.5, -1., 2.], True)
        y = (x.sigmoid() + x.tanh() + x.exp() + x.relu() + x.sqrt().nan_to_num()).sum()
        (g,) = T.autograd.grad(y, x, create_graph=True)
        (h,) = T.autograd.grad(g.sum(), x)
        return g, h
    same(torch, fn)


def test_norm_p0_has_no_gradient(torch):
    def fn(T):
        x = t(T, [4., 1., 0.], True)
        y = x.norm(p=0)
        y.backward()
        return x.grad, y.requires_grad, type(y.grad_fn).__name__
    same(torch, fn)


def test_remainder_gradient_uses_forward_quotient(torch):
    "At a boundary (1.0 % 0.1 in float32) the divisor's gradient uses the same quotient as the value."
    def fn(T):
        a = t(T, [1.0, -3.0, 0.3, 6.0, 7.5], True)
        b = t(T, [0.1, 1.5, 0.1, 3.0, -2.0], True)
        r = T.remainder(a, b)
        r.sum().backward()
        return r, a.grad, b.grad
    same(torch, fn)


def test_no_derivative_for_number_remainder(torch):
    "PyTorch has no derivative for `2 % y`: a `NotImplemented` node that fails in backward."
    def fn(T):
        y = t(T, [2., 3.], True)
        z = 2. % y
        assert type(z.grad_fn).__name__ == 'NotImplemented'
        z.sum().backward()
    same_error(torch, fn)


def test_atan2_at_origin(torch):
    def fn(T):
        x, y = t(T, [0., 1.], True), t(T, [0., 1.], True)
        T.atan2(x, y).sum().backward()
        return x.grad, y.grad
    same(torch, fn)


def test_min_max_gradient_exact_zeros(torch):
    "An infinite upstream gradient reaches only the chosen elements; the others get exactly 0 (no inf * 0)."
    def fn(T):
        x = t(T, [3., 1., 1., 5.], True)
        z = x.min() * float('inf')
        z.backward()
        w = t(T, [float('nan'), 1., float('nan')], True)
        w.max().backward()
        return x.grad, w.grad
    same(torch, fn)


def test_leaf_hook_applies_to_autograd_grad(torch):
    def fn(T):
        x = t(T, [1., 2.], True)
        x.register_hook(lambda g: g * 2)
        (g,) = T.autograd.grad((x * x).sum(), x)
        return g, x.grad
    same(torch, fn)


def test_retain_grad_follows_in_place_change(torch):
    "After `v[0] = 5.` the retained `.grad` is the gradient of the new version of `v`."
    def fn(T):
        x = t(T, [1., 2.], True)
        v = x * 1
        v.retain_grad()
        v[0] = 5.
        (v * 3).sum().backward()
        return v.grad, x.grad, type(v.grad_fn).__name__
    same(torch, fn)


def test_retain_grad_follows_in_place_op(torch):
    def fn(T):
        x = t(T, [1., 2.], True)
        v = x * 1
        v.retain_grad()
        v.mul_(3)
        (v * v).sum().backward()
        return v.grad, x.grad
    same(torch, fn)


def test_number_edges(torch):
    "Scalar overloads (x ** 2, 2 ** x, 1 - x, x % 2, x.fmod(2), x.square()) give the number no edge; 2 / x is reciprocal then mul."
    def graph(node):
        return [(type(n).__name__ if n is not None else None, i) for n, i in node.next_functions]
    def fn(T):
        x = t(T, [1.5, 2.], True)
        zs = [x ** 2, 2 ** x, 1 - x, x % 2, x.fmod(2), x.square(), x.round(decimals=1), T.div(x, 2, rounding_mode='trunc')]
        out = [(type(z.grad_fn).__name__, graph(z.grad_fn)) for z in zs]
        r = 2 / x
        out.append((type(r.grad_fn).__name__, graph(r.grad_fn), graph(r.grad_fn.next_functions[0][0])))
        r.sum().backward()
        return out, x.grad
    same(torch, fn)


def test_gradient_accumulates_in_place(torch):
    "A second backward adds into `.grad`'s own memory (same data pointer, same tensor), as in PyTorch."
    def fn(T):
        w = t(T, [1., 2., 3.], True)
        (w * w).sum().backward()
        g = w.grad
        ptr = g.data_ptr()
        (w * 2).sum().backward()
        return w.grad is g, w.grad.data_ptr() == ptr, g
    same(torch, fn)


def test_node_names_are_unique():
    "No two node classes share a name while differing in code: a name identifies one formula."
    seen, stack = {}, [learntorch.autograd.Node]
    while stack:
        cls = stack.pop()
        stack += cls.__subclasses__()
        if cls.__module__ != 'learntorch.autograd' or cls.__name__.startswith('_'): continue
        assert seen.setdefault(cls.__name__, cls) is cls, f'two node classes named {cls.__name__}'


def _edges(node):
    return [(type(n).__name__ if n is not None else None, i) for n, i in node.next_functions]


def test_copy_is_copy_backwards(torch):
    "copy_ records CopyBackwards: no `self * 0 + src` (inf * 0 would give nan), the old values get gradient 0."
    def fn(T):
        a = T.tensor([math.inf, 1.])
        s = t(T, [2., 3.], True)
        a.copy_(s)
        x = t(T, [1., 2.], True)
        y = x * 1
        y.copy_(t(T, [5., 6.], dtype=T.float64))      # another dtype: the gradient goes back converted
        (a.sum() + y.sum()).backward()
        return a, s.grad, x.grad, type(a.grad_fn).__name__, _edges(a.grad_fn), _edges(y.grad_fn)
    same(torch, fn)


def test_fill_and_zero_keep_history(torch):
    "zero_()/fill_() on a non-leaf keep requires_grad and record ZeroBackward0/FillBackward2/FillBackward3."
    def fn(T):
        x, v = t(T, [1., 2.], True), t(T, 3., True)
        a, b, c = x * 1, x * 2, x * 3
        a.zero_(); b.fill_(4.); c.fill_(v)
        (a + b + c).sum().backward()
        return ([(u.requires_grad, type(u.grad_fn).__name__, _edges(u.grad_fn)) for u in (a, b, c)],
                x.grad, v.grad)
    same(torch, fn)


def test_scatter_nodes(torch):
    def fn(T):
        x, src = t(T, [[0., 1., 2.], [3., 4., 5.]], True), t(T, [[5.], [7.]], True)
        idx = T.tensor([[0], [2]])
        y = x.scatter(1, idx, src)
        z = x.scatter(1, idx, 2.)
        (y.sum() + (z * z).sum()).backward()
        return x.grad, src.grad, type(y.grad_fn).__name__, type(z.grad_fn).__name__, _edges(z.grad_fn)
    same(torch, fn)


def test_draw_graph():
    "draw_graph draws one labelled box per node (leaves with their shapes) and returns a matplotlib Figure."
    matplotlib = pytest.importorskip('matplotlib')
    w = learntorch.randn(5, 3, requires_grad=True)
    b = learntorch.randn(3, requires_grad=True)
    loss = (learntorch.ones(5) @ w + b).sigmoid().sum()
    fig = learntorch.autograd.draw_graph(loss)
    assert isinstance(fig, matplotlib.figure.Figure)
    labels = sorted(t.get_text() for t in fig.axes[0].texts if t.get_text())   # arrows have no text
    assert labels == sorted(['SumBackward0', 'SigmoidBackward0', 'AddBackward0', 'SqueezeBackward4',
                             'AccumulateGrad\n(5, 3)', 'AccumulateGrad\n(3,)'])
    with pytest.raises(ValueError, match='no grad_fn'): learntorch.autograd.draw_graph(w)


def test_indexing_node_names_follow_pytorch(torch):
    "A 0-d bool index is a mask (IndexBackward0); a slice is skipped only if written as start 0, stop >= size, step 1."
    def fn(T):
        v = t(T, -1.5, True)
        w = T.ones(1, 1, 1, requires_grad=True)
        return [type(r.grad_fn).__name__ for r in (v[v > 0], w[-2:, :], w[0:, :], w[:5, :], w[:, ::1])]
    same(torch, fn)


def test_whole_assignment_copy_or_fill(torch):
    "`x[...] = v` is copy_ when the shapes match, fill_ when v is 0-d, copy_ (broadcast) otherwise."
    def fn(T):
        names = []
        for shape, value in [((), 1.), ((1,), 1.), ((2,), T.tensor(2.)), ((2, 2), T.tensor([2., 1.]))]:
            y = T.ones(shape, requires_grad=True) * 1
            y[...] = value
            names.append(type(y.grad_fn).__name__)
        return names
    same(torch, fn)


@pytest.mark.parametrize('how', ['requires_grad_', 'detach_'])
def test_leaf_that_stopped_requiring_grad_gets_none(torch, how):
    def fn(T):
        v = t(T, [1., 2.], True)
        z = v.cumprod(0) * v
        getattr(v, how)(*([False] if how == 'requires_grad_' else []))
        z.sum().backward()
        return v.grad
    same(torch, fn)


def test_retain_grad_requires_grad(torch):
    same_error(torch, lambda T: T.ones(2).retain_grad())


def test_matrix_gradient_in_the_inputs_layout(torch):
    "`x @ w.t()`: the gradient of the leaf w comes out contiguous (computed in w.t()'s layout), as in PyTorch."
    def fn(T):
        x, w = t(T, [[1., 2.], [3., 4.], [5., 6.]]), t(T, [[1., 0.], [2., 1.], [0., 3.], [1., 1.]], True)
        (x @ w.t()).sum().backward()
        return w.grad, w.grad.is_contiguous(), w.grad.stride()
    same(torch, fn)


def test_indexing_records_one_node_per_step(torch):
    "PyTorch records basic indexing one step at a time, then the index tensors: compare the chains of nodes."
    def chain(y):
        out, n = [], y.grad_fn
        while n is not None:
            out.append(type(n).__name__)
            n = n.next_functions[0][0] if n.next_functions else None
        return out
    def fn(T):
        res = []
        for key in [(0, slice(1, None)), (0, T.tensor([1, 0])), (slice(1, None), T.tensor([0, 1]), 0),
                    (None, T.tensor([0, 2]), Ellipsis, 1), (T.tensor(1), [0, 1])]:
            x = T.arange(18.).reshape(3, 3, 2).requires_grad_()
            y = x[key]
            y.backward(T.arange(float(y.numel())).reshape(y.shape))
            res.append((chain(y), x.grad))
        return res
    same(torch, fn)


def test_cumprod_gradient_like_pytorch_without_zeros(torch):
    "Without zeros cumprod's gradient is PyTorch's reverse cumsum of g*y divided by x (same rounding)."
    def fn(T):
        x = t(T, [0.5, -2., 3., 1e-3], True)
        x.cumprod(0).backward(t(T, [1., -1., 0.5, 2.]))
        return x.grad
    same(torch, fn)


def test_zero_dim_scatter_add_backward(torch):
    def fn(T):
        v = t(T, 1.5, True)
        (v * 1).scatter_add(0, T.zeros((), dtype=T.int64), v).backward()
        return v.grad
    same(torch, fn)


def test_first_gradient_is_taken_not_copied_when_unshared(torch):
    "A leaf's first gradient: a fresh array nobody else holds becomes .grad as is; anything shared is copied."
    import tracemalloc
    import learntorch as lt
    w, x = lt.randn(1000, 1000, requires_grad=True), lt.randn(1, 1000)
    y = (x @ w).sum()
    tracemalloc.start()
    y.backward()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1.5 * w.numel() * 4, f'backward peaked at {peak} bytes: the 4 MB gradient was copied'
    for T in (lt, torch):                                  # shared gradients stay apart, as in PyTorch
        w = T.ones(3, requires_grad=True); g = T.ones(3)
        w.backward(g); g.add_(5)
        v = T.ones(3, requires_grad=True); y = v + 0; h = T.ones(3)
        y.backward(h); h.add_(5)
        u = T.ones(3, requires_grad=True); u.expand(2, 3).sum().backward()
        assert (w.grad.tolist(), v.grad.tolist(), u.grad.tolist()) == ([1.] * 3, [1.] * 3, [2.] * 3), T.__name__


@pytest.mark.parametrize('layer', ['linear', 'matmul_t'])
def test_weight_gradient_through_transpose_is_taken_not_copied(torch, layer):
    "A weight used as `w.t()` (every Linear layer) gets its first gradient without a copy; shared ones stay apart."
    import learntorch as lt
    w, x = lt.randn(1000, 1000, requires_grad=True), lt.randn(2, 1000)
    y = (lt.nn.functional.linear(x, w) if layer == 'linear' else x @ w.t()).sum()
    tracemalloc.start()
    y.backward()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1.5 * w.numel() * 4, f'backward peaked at {peak} bytes: the 4 MB gradient was copied'
    for T in (lt, torch):
        w, kept = T.ones(3, 2, requires_grad=True), []
        w.register_hook(lambda g: kept.append(g))       # a hook holds the gradient: .grad is a copy
        (T.ones(4, 2) @ w.t()).sum().backward()
        kept[0].add_(5)
        v, h = T.ones(2, 3, requires_grad=True), T.ones(3, 2)
        v.t().backward(h.t().t())                          # the seed views a tensor the caller holds
        h.add_(5)
        assert (w.grad.tolist(), v.grad.tolist()) == ([[4.] * 2] * 3, [[1.] * 3] * 2), T.__name__


@pytest.mark.parametrize('create_graph', [False, True])
def test_relu_gradient_passes_at_nan_and_stops_at_zero(torch, create_graph):
    "ReLU's backward selects like PyTorch's threshold_backward: 0 where the output is <= 0, the gradient where it is nan."
    def fn(T):
        x = t(T, [[float('nan'), -1., 0., 2.], [3., float('-inf'), float('inf'), -0.]], True)
        g = t(T, [[5., float('nan'), float('inf'), 7.], [1., 2., 3., 4.]])
        (gx,) = T.autograd.grad(T.relu(x), x, g, create_graph=create_graph)
        return gx.detach()
    same(torch, fn)


def test_first_gradient_kept_by_a_hook_that_replaced_it_is_copied(torch):
    "A leaf hook that returns a new gradient and also keeps it: `.grad` is a copy, the kept tensor never changes."
    def fn(T):
        kept = []
        def hook(g):
            kept.append(g * 2)
            return kept[-1]
        w, b = T.ones(3, 4, requires_grad=True), T.ones(4, requires_grad=True)
        w.register_hook(hook); b.register_hook(hook)
        for _ in range(2): (T.ones(2, 3) @ w + b).sum().backward()   # the second adds into .grad
        return [k.tolist() for k in kept], w.grad, b.grad
    same(torch, fn)


def test_first_gradient_is_never_taken_from_a_base_of_another_dtype():
    "A gradient that views integer memory as floats gives the leaf a float gradient, never the integer base."
    import learntorch as lt

    class Bits(lt.autograd.Function):
        @staticmethod
        def forward(ctx, x): return x * 1

        @staticmethod
        def backward(ctx, g): return lt.from_numpy(np.full(3, 1065353216, np.int32).view(np.float32))  # 1.0f

    x = lt.zeros(3, requires_grad=True)
    Bits.apply(x).sum().backward()
    assert x.grad.dtype == lt.float32 and x.grad.tolist() == [1.0, 1.0, 1.0]
