"""Convolutions, pooling, batch normalisation, unfold/fold (notebook 11) against PyTorch: values, gradients of every
input, grad_fn names, errors, reprs and BatchNorm's running statistics; float64 gradchecks."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import learntorch
from learntorch.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")
SETTINGS = settings(max_examples=25, deadline=None)


def run_both(fn_lt, fn_th, arrays, grad=True, tol=1e-7):
    "Run `fn(T, *tensors)` in both libraries on float64 copies of `arrays`; compare outputs and all input gradients."
    lt_in = [learntorch.tensor(a, requires_grad=grad) if a is not None else None for a in arrays]
    th_in = [torch.tensor(a, requires_grad=grad) if a is not None else None for a in arrays]
    lt_out, th_out = fn_lt(learntorch, *lt_in), fn_th(torch, *th_in)
    lt_y, th_y = (lt_out[0], th_out[0]) if isinstance(th_out, tuple) else (lt_out, th_out)
    assert tuple(lt_y.shape) == tuple(th_y.shape)
    np.testing.assert_allclose(lt_y.detach().numpy(), th_y.detach().numpy(), rtol=tol, atol=tol)
    if isinstance(th_out, tuple):  # (values, indices)
        np.testing.assert_array_equal(lt_out[1].numpy(), th_out[1].numpy())
    if not grad: return lt_y
    assert lt_y.grad_fn.name() == th_y.grad_fn.name()
    g = np.random.default_rng(0).standard_normal(tuple(th_y.shape))
    lt_y.backward(learntorch.tensor(g)); th_y.backward(torch.tensor(g))
    for i, (a, b) in enumerate(zip(lt_in, th_in)):
        if a is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=tol, atol=tol, err_msg=f'grad of input {i}')
    return lt_y


def rand(rng, *shape): return rng.standard_normal(shape)


@st.composite
def conv_cases(draw, n=2):
    "Geometry of a valid convolution: groups, channels, kernel, stride, padding (ints or strings), dilation, sizes."
    groups = draw(st.integers(1, 3))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))
    k = tuple(draw(st.integers(1, 3)) for _ in range(n))
    d = tuple(draw(st.integers(1, 2)) for _ in range(n))
    padding = draw(st.one_of(st.integers(0, 2), st.tuples(*[st.integers(0, 2)] * n), st.sampled_from(['same', 'valid'])))
    stride = 1 if padding == 'same' else draw(st.one_of(st.integers(1, 3), st.tuples(*[st.integers(1, 3)] * n)))
    pads = (0,) * n if isinstance(padding, str) else ((padding,) * n if isinstance(padding, int) else padding)
    size = tuple(max(1, dd * (kk - 1) + 1 - 2 * p + draw(st.integers(0, 4))) for kk, dd, p in zip(k, d, pads))
    if padding == 'valid': size = tuple(max(s, dd * (kk - 1) + 1) for s, kk, dd in zip(size, k, d))
    batch, bias = draw(st.integers(1, 3)), draw(st.booleans())
    return dict(groups=groups, cin=cin, cout=cout, k=k, d=d, padding=padding, stride=stride, size=size,
                batch=batch, bias=bias, seed=draw(st.integers(0, 1000)))


@SETTINGS
@given(conv_cases(2))
def test_conv2d_vs_torch(c):
    rng = np.random.default_rng(c['seed'])
    x, w = rand(rng, c['batch'], c['cin'], *c['size']), rand(rng, c['cout'], c['cin'] // c['groups'], *c['k'])
    b = rand(rng, c['cout']) if c['bias'] else None
    f = lambda T, x, w, b: T.nn.functional.conv2d(x, w, b, c['stride'], c['padding'], c['d'], c['groups'])
    run_both(f, f, [x, w, b])


@SETTINGS
@given(conv_cases(1))
def test_conv1d_vs_torch(c):
    rng = np.random.default_rng(c['seed'])
    x, w = rand(rng, c['batch'], c['cin'], *c['size']), rand(rng, c['cout'], c['cin'] // c['groups'], *c['k'])
    b = rand(rng, c['cout']) if c['bias'] else None
    f = lambda T, x, w, b: T.nn.functional.conv1d(x, w, b, c['stride'], c['padding'], c['d'], c['groups'])
    run_both(f, f, [x, w, b])


@SETTINGS
@given(conv_cases(2), st.data())
def test_conv_transpose2d_vs_torch(c, data):
    if isinstance(c['padding'], str): c['padding'] = 0
    stride = (c['stride'],) * 2 if isinstance(c['stride'], int) else c['stride']
    op = tuple(data.draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, c['d']))
    rng = np.random.default_rng(c['seed'])
    x = rand(rng, c['batch'], c['cin'], *[s + 2 for s in c['size']])
    w, b = rand(rng, c['cin'], c['cout'] // c['groups'], *c['k']), rand(rng, c['cout']) if c['bias'] else None
    pads = (c['padding'],) * 2 if isinstance(c['padding'], int) else c['padding']
    out = [(i - 1) * s - 2 * p + d * (k - 1) + o + 1 for i, s, p, d, k, o in zip(x.shape[2:], stride, pads, c['d'], c['k'], op)]
    if min(out) <= 0: return
    f = lambda T, x, w, b: T.nn.functional.conv_transpose2d(x, w, b, stride, pads, op, c['groups'], c['d'])
    run_both(f, f, [x, w, b])


@SETTINGS
@given(conv_cases(1), st.data())
def test_conv_transpose1d_vs_torch(c, data):
    if isinstance(c['padding'], str): c['padding'] = 0
    stride = c['stride'] if isinstance(c['stride'], int) else c['stride'][0]
    pad = c['padding'] if isinstance(c['padding'], int) else c['padding'][0]
    op = data.draw(st.integers(0, max(stride, c['d'][0]) - 1))
    rng = np.random.default_rng(c['seed'])
    x = rand(rng, c['batch'], c['cin'], c['size'][0] + 2)
    w, b = rand(rng, c['cin'], c['cout'] // c['groups'], *c['k']), rand(rng, c['cout']) if c['bias'] else None
    if (x.shape[2] - 1) * stride - 2 * pad + c['d'][0] * (c['k'][0] - 1) + op + 1 <= 0: return
    f = lambda T, x, w, b: T.nn.functional.conv_transpose1d(x, w, b, stride, pad, op, c['groups'], c['d'][0])
    run_both(f, f, [x, w, b])


def test_conv_unbatched_and_seed_example():
    x = np.random.default_rng(1).standard_normal((3, 9, 7))
    w = np.random.default_rng(2).standard_normal((5, 3, 3, 3))
    f = lambda T, x, w: T.nn.functional.conv2d(x, w, padding=1)
    run_both(f, f, [x, w])
    layer = learntorch.nn.Conv2d(in_channels=3, out_channels=64, kernel_size=(3, 3), stride=1, padding=1)
    assert layer(learntorch.randn(100, 3, 24, 24)).shape == (100, 64, 24, 24)
    assert repr(layer) == repr(torch.nn.Conv2d(3, 64, (3, 3), 1, 1))


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 1), st.integers(1, 2), st.booleans(), st.booleans(),
       st.integers(0, 5), st.integers(0, 5), st.integers(0, 1000))
def test_max_pool2d_vs_torch(k, s, p, d, ceil, ties, eh, ew, seed):
    if 2 * p > d * (k - 1) + 1: p = 0
    rng = np.random.default_rng(seed)
    shape = (2, 3, d * (k - 1) + 1 + eh, d * (k - 1) + 1 + ew)
    x = rng.integers(0, 3, shape).astype(np.float64) if ties else rng.standard_normal(shape)
    f = lambda T, x: T.nn.functional.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
    run_both(f, f, [x])


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 1), st.booleans(), st.booleans(), st.sampled_from([None, 2]),
       st.integers(0, 5), st.integers(0, 1000))
def test_avg_pool2d_vs_torch(k, s, p, ceil, include, divisor, extra, seed):
    if 2 * p > k: p = 0
    x = np.random.default_rng(seed).standard_normal((2, 3, k + extra, k + 1 + extra))
    f = lambda T, x: T.nn.functional.avg_pool2d(x, k, s, p, ceil, include, divisor)
    run_both(f, f, [x])


@SETTINGS
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 5), st.integers(1, 5), st.integers(0, 1000))
def test_adaptive_pools_vs_torch(h, w, oh, ow, seed):
    x = np.random.default_rng(seed).standard_normal((2, 3, h, w))
    f = lambda T, x: T.nn.functional.adaptive_avg_pool2d(x, (oh, ow))
    run_both(f, f, [x])
    f = lambda T, x: T.nn.functional.adaptive_max_pool2d(x, (oh, ow), return_indices=True)
    run_both(f, f, [x])


def test_pool_1d_forms():
    x = np.random.default_rng(3).standard_normal((2, 3, 11))
    for f in (lambda T, x: T.nn.functional.max_pool1d(x, 3, 2, 1), lambda T, x: T.nn.functional.avg_pool1d(x, 3, 2, 1),
              lambda T, x: T.nn.MaxPool1d(2)(x), lambda T, x: T.nn.AvgPool1d(3, 2, 1)(x)):
        run_both(f, f, [x])


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 2), st.integers(0, 1), st.integers(1, 2), st.integers(0, 1000))
def test_unfold_fold_vs_torch(k, d, p, s, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, d * (k - 1) + 2, d * (k - 1) + 3))
    f = lambda T, x: T.nn.functional.unfold(x, k, d, p, s)
    cols = run_both(f, f, [x])
    size = tuple(x.shape[2:])
    g = lambda T, c: T.nn.functional.fold(c, size, k, d, p, s)
    run_both(g, g, [rng.standard_normal(tuple(cols.shape))])


@pytest.mark.parametrize('training', [True, False])
@pytest.mark.parametrize('shape', [(6, 3), (4, 3, 5), (3, 3, 4, 2)])
def test_batch_norm_function_vs_torch(training, shape):
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal(shape) * 2 + 1, rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    def f(T, x, w, b):
        return T.nn.functional.batch_norm(x, T.tensor(rm.copy()), T.tensor(rv.copy()), w, b, training, 0.1, 1e-5)
    run_both(f, f, [x, w, b])


@pytest.mark.parametrize('cls,shape', [('BatchNorm1d', (8, 4)), ('BatchNorm1d', (8, 4, 3)), ('BatchNorm2d', (5, 4, 3, 2))])
@pytest.mark.parametrize('kw', [{}, {'momentum': None}, {'momentum': 0.3, 'affine': False}, {'track_running_stats': False}])
def test_batchnorm_running_stats_vs_torch(cls, shape, kw):
    rng = np.random.default_rng(5)
    mods = {T: getattr(T.nn, cls)(4, dtype=T.float64, **kw) for T in (learntorch, torch)}
    assert repr(mods[learntorch]) == repr(mods[torch])
    assert list(mods[learntorch].state_dict()) == list(mods[torch].state_dict())
    for step in range(6):
        if step == 4:
            for m in mods.values(): m.eval()
        x = rng.standard_normal(shape) * 3 + step
        outs = {T: m(T.tensor(x)) for T, m in mods.items()}
        np.testing.assert_allclose(outs[learntorch].detach().numpy(), outs[torch].detach().numpy(), rtol=1e-9, atol=1e-9)
        for name, buf in mods[torch].named_buffers():
            np.testing.assert_allclose(getattr(mods[learntorch], name).numpy(), buf.numpy(), rtol=1e-12, atol=1e-12)


def _t(rng, *shape): return learntorch.tensor(rng.standard_normal(shape), requires_grad=True)


def test_gradchecks_float64():
    F, rng = learntorch.nn.functional, np.random.default_rng(6)
    cases = [
        (lambda x, w, b: F.conv2d(x, w, b, 2, 1, (1, 2), 2), [_t(rng, 2, 4, 5, 6), _t(rng, 4, 2, 3, 2), _t(rng, 4)]),
        (lambda x, w, b: F.conv1d(x, w, b, 1, 'same', 2), [_t(rng, 2, 3, 7), _t(rng, 2, 3, 2), _t(rng, 2)]),
        (lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1, 1, 1, 1), [_t(rng, 1, 3, 4, 3), _t(rng, 3, 2, 3, 3), _t(rng, 2)]),
        (lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), [_t(rng, 2, 2, 6, 7)]),
        (lambda x: F.avg_pool2d(x, 3, 2, 1, True, False), [_t(rng, 2, 2, 6, 7)]),
        (lambda x: F.adaptive_avg_pool2d(x, (3, 2)), [_t(rng, 2, 2, 7, 5)]),
        (lambda x: F.adaptive_max_pool2d(x, (3, 2)), [_t(rng, 2, 2, 7, 5)]),
        (lambda x, w, b: F.batch_norm(x, None, None, w, b, True), [_t(rng, 4, 3, 2, 2), _t(rng, 3), _t(rng, 3)]),
        (lambda x: F.unfold(x, 2, 1, 1, 2), [_t(rng, 1, 2, 5, 4)]),
        (lambda x: F.fold(x, (4, 5), 2, 1, 0, 1), [_t(rng, 1, 8, 12)]),
    ]
    for f, xs in cases:
        assert gradcheck(f, xs)
        assert gradgradcheck(f, xs)


@pytest.mark.parametrize('call', [
    lambda T: T.nn.Conv2d(3, 64, 3)(T.randn(1, 4, 5, 5)),
    lambda T: T.nn.Conv2d(3, 64, 3)(T.randn(1, 3, 2, 2)),
    lambda T: T.nn.Conv2d(3, 64, 3, padding=1, dilation=3)(T.randn(1, 3, 3, 3)),
    lambda T: T.nn.Conv1d(3, 4, 7)(T.randn(1, 3, 5)),
    lambda T: T.nn.Conv2d(3, 64, 3)(T.randn(3, 5, 5, 5, 5)),
    lambda T: T.nn.functional.conv2d(T.randn(1, 3, 5, 5), T.randn(6, 3, 3, 3), T.randn(5)),
    lambda T: T.nn.functional.conv2d(T.randn(1, 3, 5, 5), T.randn(6, 3, 3, 3), stride=2, padding='same'),
    lambda T: T.nn.functional.conv_transpose2d(T.randn(1, 3, 5, 5), T.randn(4, 3, 3, 3)),
    lambda T: T.nn.functional.conv_transpose2d(T.randn(1, 3, 5, 5), T.randn(3, 3, 3, 3), stride=2, output_padding=2),
    lambda T: T.nn.Conv2d(3, 64, 3, groups=2),
    lambda T: T.nn.Conv2d(4, 6, 3, groups=4),
    lambda T: T.nn.Conv2d(3, 6, 3, padding='foo'),
    lambda T: T.nn.Conv2d(3, 6, 3, stride=2, padding='same'),
    lambda T: T.nn.functional.max_pool2d(T.randn(1, 3, 5, 5), 2, padding=2),
    lambda T: T.nn.functional.max_pool2d(T.randn(1, 3, 1, 1), 2),
    lambda T: T.nn.BatchNorm2d(3)(T.randn(2, 3, 4)),
    lambda T: T.nn.BatchNorm1d(3)(T.randn(2, 4)),
    lambda T: T.nn.BatchNorm2d(3)(T.randn(1, 3, 1, 1)),
    lambda T: T.nn.functional.fold(T.randn(1, 12, 15), (5, 5), 2),
    lambda T: T.nn.functional.conv2d(T.randn(1, 3, 5, 5), T.randn(4, 3, 3, 3), stride=0),
    lambda T: T.nn.functional.conv2d(T.randn(1, 3, 5, 5), T.randn(4, 3, 3, 3), dilation=0),
    lambda T: T.nn.functional.max_pool2d(T.randn(1, 0, 4, 4), 2),
])
def test_errors_match_torch(call):
    with pytest.raises(Exception) as th: call(torch)
    with pytest.raises(Exception) as lt: call(learntorch)
    assert type(lt.value).__name__ == type(th.value).__name__
    assert str(lt.value) == str(th.value)


def test_padding_modes_name_themselves():
    with pytest.raises(NotImplementedError, match='reflect'):
        learntorch.nn.Conv2d(3, 4, 3, padding_mode='reflect')(learntorch.randn(1, 3, 5, 5))


@pytest.mark.parametrize('make', [
    lambda T: T.nn.Conv2d(3, 6, (3, 5), stride=2, padding='valid', dilation=2, groups=3, bias=False),
    lambda T: T.nn.Conv1d(3, 6, 3, padding='same'), lambda T: T.nn.ConvTranspose2d(3, 6, 3, stride=2, output_padding=1),
    lambda T: T.nn.MaxPool2d(2), lambda T: T.nn.MaxPool1d(3, 2), lambda T: T.nn.AvgPool2d(3, 1, 1),
    lambda T: T.nn.AvgPool1d(3, 2, 1), lambda T: T.nn.AvgPool1d(2),
    lambda T: T.nn.AdaptiveAvgPool2d((5, None)), lambda T: T.nn.AdaptiveMaxPool2d(3),
    lambda T: T.nn.BatchNorm1d(4, affine=False, track_running_stats=False, momentum=None),
])
def test_reprs_and_parameters(make):
    a, b = make(learntorch), make(torch)
    assert repr(a) == repr(b)
    assert [(n, tuple(p.shape)) for n, p in a.named_parameters()] == [(n, tuple(p.shape)) for n, p in b.named_parameters()]


def test_default_init_bounds():
    conv = learntorch.nn.Conv2d(6, 16, 5)
    bound = 1 / np.sqrt(6 * 25)
    assert np.abs(conv.weight.detach().numpy()).max() <= bound and np.abs(conv.bias.detach().numpy()).max() <= bound
    assert conv.weight.detach().numpy().std() > bound / 3


@pytest.mark.parametrize('call', [
    lambda T: T.nn.functional.conv2d(T.randn(0, 3, 5, 5), T.randn(4, 3, 3, 3)),
    lambda T: T.nn.functional.conv_transpose2d(T.randn(0, 3, 5, 5), T.randn(3, 4, 3, 3), stride=2),
    lambda T: T.nn.functional.max_pool2d(T.randn(0, 3, 4, 4), 2),
    lambda T: T.nn.functional.avg_pool2d(T.randn(0, 3, 4, 4), 2),
    lambda T: T.nn.BatchNorm2d(3)(T.randn(0, 3, 2, 2)),
])
def test_empty_batch(call):
    "A batch of zero samples goes through with the right output shape, as in PyTorch."
    assert tuple(call(learntorch).shape) == tuple(call(torch).shape)


def test_conv_weight_grad_with_infinite_input():
    "The stride-1 fast path pads rows with junk times zero: an inf in the input must not turn that into nan."
    x = np.random.default_rng(7).standard_normal((2, 2, 6, 6))
    x[0, 1, 2, 5] = np.inf
    w = np.random.default_rng(8).standard_normal((3, 2, 3, 3))
    grads = []
    for T in (learntorch, torch):
        xt, wt = T.tensor(x), T.tensor(w, requires_grad=True)
        T.nn.functional.conv2d(xt, wt).sum().backward()
        grads.append(wt.grad.numpy())
    np.testing.assert_array_equal(np.isnan(grads[0]), np.isnan(grads[1]))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-9, equal_nan=True)


@SETTINGS
@given(conv_cases(2))
def test_conv2d_float32_noncontiguous_vs_torch(c):
    "float32 (the default dtype) on an input that is a transposed view: same values and gradients, same dtype."
    rng = np.random.default_rng(c['seed'])
    h, w_ = c['size']
    x = rand(rng, c['batch'], c['cin'], w_, h).astype(np.float32)
    w = rand(rng, c['cout'], c['cin'] // c['groups'], *c['k']).astype(np.float32)
    outs = []
    for T in (learntorch, torch):
        xt = T.tensor(x).transpose(2, 3).requires_grad_()
        wt = T.tensor(w, requires_grad=True)
        y = T.nn.functional.conv2d(xt, wt, None, c['stride'], c['padding'], c['d'], c['groups'])
        (y * y).sum().backward()
        outs.append((y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), str(y.dtype), y.is_contiguous()))
    for a, b in zip(outs[0][:3], outs[1][:3]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    assert outs[0][3:] == outs[1][3:]


def test_scratch_buffers_are_never_shared():
    "Reused temporaries must not change what a pending backward or an earlier result holds."
    F, rng = learntorch.nn.functional, np.random.default_rng(9)
    x1, x2 = (learntorch.tensor(rng.standard_normal((4, 3, 9, 9)).astype(np.float32)) for _ in range(2))
    w = learntorch.tensor(rng.standard_normal((5, 3, 3, 3)).astype(np.float32), requires_grad=True)
    F.conv2d(x1, w).sum().backward()
    alone = w.grad.numpy().copy()
    w.grad = None
    y1 = F.conv2d(x1, w)
    y2 = F.conv2d(x2, w)          # same shapes: would reuse y1's saved im2col matrix if it were free
    y1.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), alone, rtol=1e-5, atol=1e-5)
    cols = rng.standard_normal((1, 12, 16)).astype(np.float32)
    a = F.fold(learntorch.tensor(cols), (5, 5), 2)
    kept = a.numpy().copy()
    F.fold(learntorch.tensor(cols * 2), (5, 5), 2)
    np.testing.assert_array_equal(a.numpy(), kept)
    del y2
