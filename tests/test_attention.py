"""Attention and the Transformer against PyTorch: scaled_dot_product_attention with every mask combination,
MultiheadAttention and the Transformer layers with PyTorch's state_dict loaded through numpy (outputs, attention
weights and the gradients of inputs and every parameter), float64; the causal mask leaks no future position;
float64 gradchecks; errors."""
import itertools, math
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import learntorch
from learntorch import nn
import learntorch.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def to_l(t, requires_grad=False):
    "A PyTorch tensor as a learntorch tensor (through numpy), optionally requiring grad."
    x = learntorch.tensor(t.detach().numpy().copy())
    return x.requires_grad_() if requires_grad else x


def close(a, b, what, tol=1e-9):
    assert (a is None) == (b is None), f'{what}: one side is None ({a is None}, {b is None})'
    if a is None: return
    a, b = a.detach().numpy(), b.detach().numpy()
    assert a.shape == b.shape, f'{what}: shape {a.shape} != {b.shape}'
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=what)


def twins(kind, *args, **kwargs):
    "The same module in PyTorch (float64) and learntorch, PyTorch's state_dict loaded into learntorch's."
    t = getattr(torch.nn, kind)(*args, **kwargs).double()
    l = getattr(nn, kind)(*args, **kwargs, dtype=learntorch.float64)
    assert list(l.state_dict()) == list(t.state_dict())
    l.load_state_dict({k: to_l(v) for k, v in t.state_dict().items()})
    return t, l


def randn(*shape, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape))


def grads_equal(t_mod, l_mod, pairs, what):
    "Compare the gradients of the module's parameters and of the given (torch, learntorch) input pairs."
    for (n, tp), (m, lp) in zip(t_mod.named_parameters(), l_mod.named_parameters()):
        assert n == m
        close(lp.grad, tp.grad, f'{what}: grad of {n}')
    for i, (ti, li) in enumerate(pairs):
        close(li.grad, ti.grad, f'{what}: grad of input {i}')

# ------------------------------------------------------------------------------ scaled_dot_product_attention

def _mask(kind, L, S, seed=1):
    rng = np.random.default_rng(seed)
    if kind == 'bool':
        m = rng.random((L, S)) < 0.7
        m[:, 0] = True                       # every row keeps a key (fully masked rows are tested apart)
        return torch.from_numpy(m)
    if kind == 'float':
        return torch.from_numpy(rng.standard_normal((L, S)))
    if kind == 'float-inf':
        m = rng.standard_normal((L, S)); m[rng.random((L, S)) < 0.3] = -np.inf; m[:, 0] = 0
        return torch.from_numpy(m)
    if kind == 'batched-bool':
        m = rng.random((2, 1, L, S)) < 0.6; m[..., 0] = True
        return torch.from_numpy(m)
    return None


@pytest.mark.parametrize('mask,causal,scale', list(itertools.product(
    [None, 'bool', 'float', 'float-inf', 'batched-bool'], [False, True], [None, 0.3])))
def test_sdpa_matches_pytorch(mask, causal, scale):
    L, S, E, Ev = 5, 5, 4, 3
    q, k, v = randn(2, 3, L, E, seed=1), randn(2, 3, S, E, seed=2), randn(2, 3, S, Ev, seed=3)
    tq, tk, tv = (x.clone().requires_grad_() for x in (q, k, v))
    lq, lk, lv = (to_l(x, True) for x in (q, k, v))
    m = _mask(mask, L, S)
    if causal and m is not None:
        with pytest.raises(RuntimeError, match='Explicit attn_mask should not be set when is_causal'):
            TF.scaled_dot_product_attention(tq, tk, tv, attn_mask=m, is_causal=True)
        with pytest.raises(RuntimeError, match='Explicit attn_mask should not be set when is_causal'):
            F.scaled_dot_product_attention(lq, lk, lv, attn_mask=to_l(m), is_causal=True)
        return
    tout = TF.scaled_dot_product_attention(tq, tk, tv, attn_mask=m, is_causal=causal, scale=scale)
    lout = F.scaled_dot_product_attention(lq, lk, lv, attn_mask=None if m is None else to_l(m),
                                          is_causal=causal, scale=scale)
    close(lout, tout, 'output')
    g = randn(*tout.shape, seed=4)
    tout.backward(g); lout.backward(to_l(g))
    for a, b, n in ((lq, tq, 'q'), (lk, tk, 'k'), (lv, tv, 'v')): close(a.grad, b.grad, f'grad {n}')


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(st.integers(1, 3), max_size=2), L=st.integers(1, 5), S=st.integers(1, 5),
       E=st.integers(1, 4), Ev=st.integers(1, 4), kind=st.sampled_from([None, 'bool', 'float', 'causal']),
       seed=st.integers(0, 99))
def test_sdpa_drawn_shapes_match_pytorch(batch, L, S, E, Ev, kind, seed):
    rng = np.random.default_rng(seed)
    q, k, v = (torch.from_numpy(rng.standard_normal((*batch, n, e)))
               for n, e in ((L, E), (S, E), (S, Ev)))
    tq, tk, tv = (x.clone().requires_grad_() for x in (q, k, v))
    lq, lk, lv = (to_l(x, True) for x in (q, k, v))
    m = None
    if kind == 'bool':
        m = torch.from_numpy(rng.random((L, S)) < 0.6)
    elif kind == 'float': m = torch.from_numpy(rng.standard_normal((L, S)))
    causal = kind == 'causal'
    tout = TF.scaled_dot_product_attention(tq, tk, tv, attn_mask=m, is_causal=causal)
    lout = F.scaled_dot_product_attention(lq, lk, lv, attn_mask=None if m is None else to_l(m),
                                          is_causal=causal)
    close(lout, tout, 'output')
    g = torch.from_numpy(rng.standard_normal(tuple(tout.shape)))
    tout.backward(g); lout.backward(to_l(g))
    for a, b, n in ((lq, tq, 'q'), (lk, tk, 'k'), (lv, tv, 'v')): close(a.grad, b.grad, f'grad {n}')


def test_sdpa_rectangular_causal_and_unbatched():
    q, k, v = randn(3, 4, seed=1), randn(6, 4, seed=2), randn(6, 2, seed=3)
    for causal in (False, True):
        t = TF.scaled_dot_product_attention(q, k, v, is_causal=causal)
        l = F.scaled_dot_product_attention(to_l(q), to_l(k), to_l(v), is_causal=causal)
        close(l, t, f'causal={causal}')


def test_sdpa_float_mask_gradient():
    q, k, v, m = randn(1, 4, 3, seed=1), randn(1, 4, 3, seed=2), randn(1, 4, 3, seed=3), randn(4, 4)
    tm, lm = m.clone().requires_grad_(), to_l(m, True)
    TF.scaled_dot_product_attention(q, k, v, attn_mask=tm).sum().backward()
    F.scaled_dot_product_attention(to_l(q), to_l(k), to_l(v), attn_mask=lm).sum().backward()
    close(lm.grad, tm.grad, 'grad of the float mask')


def test_sdpa_fully_masked_row_is_zero_with_zero_grad():
    q = randn(1, 3, 4)
    m = torch.ones(3, 3, dtype=torch.bool); m[1] = False
    tq, lq = q.clone().requires_grad_(), to_l(q, True)
    t = TF.scaled_dot_product_attention(tq, tq, tq, attn_mask=m)
    l = F.scaled_dot_product_attention(lq, lq, lq, attn_mask=to_l(m))
    close(l, t, 'output')
    t.sum().backward(); l.sum().backward()
    assert not np.isnan(lq.grad.numpy()).any()
    close(lq.grad, tq.grad, 'grad')


def test_sdpa_gqa():
    q, k, v = randn(2, 4, 3, 5, seed=1), randn(2, 2, 3, 5, seed=2), randn(2, 2, 3, 5, seed=3)
    t = TF.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    l = F.scaled_dot_product_attention(to_l(q), to_l(k), to_l(v), enable_gqa=True)
    close(l, t, 'gqa')


def test_sdpa_dropout_statistics():
    learntorch.manual_seed(0)
    q = learntorch.zeros(1, 1, 200, 4)
    v = learntorch.ones(1, 1, 200, 1)
    out = F.scaled_dot_product_attention(q, q, v, dropout_p=0.5)
    # uniform weights 1/200, half dropped, the rest doubled: the mean stays near 1
    assert abs(out.mean().item() - 1) < 0.1 and out.std().item() > 0.01


def test_causal_mask_leaks_no_future():
    x = randn(2, 7, 8)
    for t in range(7):
        lx = to_l(x, True)
        y = F.scaled_dot_product_attention(lx, lx, lx, is_causal=True)
        y[:, t].sum().backward()
        assert (lx.grad.numpy()[:, t + 1:] == 0).all(), f'position {t} sees the future'
        assert (lx.grad.numpy()[:, :t + 1] != 0).any()
    # the same through a causal TransformerEncoder
    learntorch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    enc = nn.TransformerEncoder(layer, 2).double()
    mask = nn.Transformer.generate_square_subsequent_mask(7, dtype=learntorch.float64)
    for t in (0, 3, 6):
        lx = to_l(x, True)
        enc(lx, mask=mask, is_causal=True)[:, t].sum().backward()
        assert (lx.grad.numpy()[:, t + 1:] == 0).all(), f'encoder position {t} sees the future'


def test_sdpa_gradcheck():
    learntorch.manual_seed(0)
    q, k, v = (learntorch.randn(1, 2, 3, 2, dtype=learntorch.float64, requires_grad=True)
               for _ in range(3))
    m = learntorch.tensor([[True, False, True], [True, True, False], [True, True, True]])
    fn = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=m)
    assert learntorch.autograd.gradcheck(fn, (q, k, v))
    fn = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.7)
    assert learntorch.autograd.gradcheck(fn, (q, k, v))

# ------------------------------------------------------------------------------ MultiheadAttention

def _mha_case(batch_first, kdim=None, vdim=None, self_attn=True, N=3, L=4, S=5, E=6, seed=0):
    shape = (lambda n, l, e: (n, l, e)) if batch_first else (lambda n, l, e: (l, n, e))
    q = randn(*shape(N, L, E), seed=seed)
    if self_attn: return q, q, q
    return q, randn(*shape(N, S, kdim or E), seed=seed + 1), randn(*shape(N, S, vdim or E), seed=seed + 2)


def _run_mha(t_mod, l_mod, inputs, what, **kw):
    uniq = {}
    tin, lin = [], []
    for x in inputs:                                   # shared tensors stay shared (self-attention)
        if id(x) not in uniq: uniq[id(x)] = (x.clone().requires_grad_(), to_l(x, True))
        tin.append(uniq[id(x)][0]); lin.append(uniq[id(x)][1])
    lkw = {k: (to_l(v) if isinstance(v, torch.Tensor) else v) for k, v in kw.items()}
    tout, tw = t_mod(*tin, **kw)
    lout, lw = l_mod(*lin, **lkw)
    close(lout, tout, f'{what}: output')
    close(lw, tw, f'{what}: weights')
    g = randn(*tout.shape, seed=9)
    loss_t = (tout * g).sum() + (tw.sum() * 0.5 if tw is not None else 0)
    loss_l = (lout * to_l(g)).sum() + (lw.sum() * 0.5 if lw is not None else 0)
    loss_t.backward(); loss_l.backward()
    grads_equal(t_mod, l_mod, [(a, b) for a, b in zip(tin, lin)], what)


@pytest.mark.parametrize('batch_first', [False, True])
@pytest.mark.parametrize('self_attn', [True, False])
@pytest.mark.parametrize('need_weights,average', [(True, True), (True, False), (False, True)])
def test_mha_matches_pytorch(batch_first, self_attn, need_weights, average):
    t, l = twins('MultiheadAttention', 6, 2, batch_first=batch_first)
    _run_mha(t, l, _mha_case(batch_first, self_attn=self_attn, S=4 if self_attn else 5), 'plain',
             need_weights=need_weights, average_attn_weights=average)


@pytest.mark.parametrize('batch_first', [False, True])
@pytest.mark.parametrize('mask_kind', ['bool', 'float', 'bool3d', 'float3d', None])
@pytest.mark.parametrize('kpm_kind', ['bool', 'float', None])
@pytest.mark.parametrize('need_weights', [True, False])
@pytest.mark.filterwarnings('ignore:Support for mismatched')   # PyTorch deprecates mixed mask types
def test_mha_masks_match_pytorch(batch_first, mask_kind, kpm_kind, need_weights):
    N, L, S, H = 3, 4, 5, 2
    t, l = twins('MultiheadAttention', 6, H, batch_first=batch_first)
    rng = np.random.default_rng(5)
    kw = dict(need_weights=need_weights)
    if mask_kind is not None:
        shape = (L, S) if '3d' not in mask_kind else (N * H, L, S)
        if 'bool' in mask_kind:
            m = rng.random(shape) < 0.3; m[..., 0] = False
        else: m = rng.standard_normal(shape)
        kw['attn_mask'] = torch.from_numpy(m)
    if kpm_kind is not None:
        m = rng.random((N, S)) < 0.4; m[:, 0] = False
        kw['key_padding_mask'] = torch.from_numpy(m if kpm_kind == 'bool' else
                                                  np.where(m, -np.inf, 0.))
    _run_mha(t, l, _mha_case(batch_first, self_attn=False, N=N, L=L, S=S), 'masks', **kw)


@pytest.mark.parametrize('opts', [dict(kdim=3, vdim=5), dict(kdim=3), dict(bias=False),
                                  dict(add_bias_kv=True), dict(add_zero_attn=True),
                                  dict(add_bias_kv=True, add_zero_attn=True, kdim=4)])
def test_mha_options_match_pytorch(opts):
    t, l = twins('MultiheadAttention', 6, 3, **opts)
    N, L, S = 2, 3, 4
    m = torch.from_numpy(np.random.default_rng(2).random((L, S)) < 0.3)
    kpm = torch.zeros(N, S, dtype=torch.bool); kpm[0, -1] = True
    _run_mha(t, l, _mha_case(False, opts.get('kdim'), opts.get('vdim'), self_attn=False,
                             N=N, L=L, S=S), str(opts), attn_mask=m, key_padding_mask=kpm)


def test_mha_unbatched_and_causal_hint():
    t, l = twins('MultiheadAttention', 4, 2)
    x = randn(5, 4)
    _run_mha(t, l, (x, x, x), 'unbatched')
    mask = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    _run_mha(t, l, (x, x, x), 'causal hint', attn_mask=mask, is_causal=True, need_weights=False)
    with pytest.raises(RuntimeError, match='Need attn_mask if specifying the is_causal hint'):
        l(to_l(x), to_l(x), to_l(x), is_causal=True)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(N=st.integers(1, 3), L=st.integers(1, 5), S=st.integers(1, 5), H=st.integers(1, 3),
       hd=st.integers(1, 3), batch_first=st.booleans(), self_attn=st.booleans(),
       mask=st.sampled_from([None, 'bool', 'float']), kpm=st.booleans(),
       need_weights=st.booleans(), average=st.booleans(), seed=st.integers(0, 99))
def test_mha_drawn_sizes_match_pytorch(N, L, S, H, hd, batch_first, self_attn, mask, kpm,
                                       need_weights, average, seed):
    if self_attn: S = L
    t, l = twins('MultiheadAttention', H * hd, H, batch_first=batch_first)
    rng = np.random.default_rng(seed)
    kw = dict(need_weights=need_weights, average_attn_weights=average)
    if mask == 'bool':
        m = rng.random((L, S)) < 0.3; m[:, 0] = False
        kw['attn_mask'] = torch.from_numpy(m)
    elif mask == 'float': kw['attn_mask'] = torch.from_numpy(rng.standard_normal((L, S)))
    if kpm:
        m = rng.random((N, S)) < 0.3; m[:, 0] = False
        kw['key_padding_mask'] = torch.from_numpy(m if mask != 'float' else np.where(m, -np.inf, 0.))
    _run_mha(t, l, _mha_case(batch_first, self_attn=self_attn, N=N, L=L, S=S, E=H * hd,
                             seed=seed), 'drawn', **kw)


def test_mha_init_names_errors_repr():
    m = nn.MultiheadAttention(8, 2)
    tm = torch.nn.MultiheadAttention(8, 2)
    assert repr(m) == repr(tm)
    assert list(m.state_dict()) == list(tm.state_dict())
    assert (m.in_proj_bias.detach().numpy() == 0).all()
    assert (m.out_proj.bias.detach().numpy() == 0).all()
    bound = math.sqrt(6 / (8 + 24))                        # xavier_uniform on (24, 8)
    w = m.in_proj_weight.detach().numpy()
    assert abs(w).max() <= bound and abs(w).max() > 0.8 * bound
    with pytest.raises(AssertionError, match='embed_dim must be divisible by num_heads'):
        nn.MultiheadAttention(10, 3)
    assert list(nn.MultiheadAttention(6, 2, kdim=3, add_bias_kv=True).state_dict()) == \
        list(torch.nn.MultiheadAttention(6, 2, kdim=3, add_bias_kv=True).state_dict())


def test_mha_dropout_only_in_training():
    learntorch.manual_seed(0)
    m = nn.MultiheadAttention(8, 2, dropout=0.5)
    x = learntorch.randn(4, 2, 8)
    a, b = m(x, x, x)[0], m(x, x, x)[0]
    assert not np.allclose(a.detach().numpy(), b.detach().numpy())
    m.eval()
    a, b = m(x, x, x)[0], m(x, x, x)[0]
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_mha_gradcheck():
    learntorch.manual_seed(0)
    m = nn.MultiheadAttention(4, 2, dtype=learntorch.float64)
    q, k = (learntorch.randn(3, 2, 4, dtype=learntorch.float64, requires_grad=True) for _ in range(2))
    kpm = learntorch.tensor([[False, False, True], [False, False, False]])
    fn = lambda q, k: m(q, k, k, key_padding_mask=kpm)[0]
    assert learntorch.autograd.gradcheck(fn, (q, k))

# ------------------------------------------------------------------------------ Transformer layers

@pytest.mark.parametrize('norm_first', [False, True])
@pytest.mark.parametrize('batch_first', [False, True])
@pytest.mark.parametrize('activation', ['relu', 'gelu'])
def test_encoder_layer_matches_pytorch(norm_first, batch_first, activation):
    t, l = twins('TransformerEncoderLayer', 6, 2, 12, dropout=0.1, activation=activation,
                 batch_first=batch_first, norm_first=norm_first)
    t.eval(); l.eval()
    N, L = 3, 5
    x = randn(*((N, L, 6) if batch_first else (L, N, 6)))
    kpm = torch.zeros(N, L, dtype=torch.bool); kpm[0, -2:] = True
    mask = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64)
    for kw in ({}, dict(src_key_padding_mask=kpm), dict(src_mask=mask, is_causal=True),
               dict(src_mask=mask, src_key_padding_mask=kpm)):
        t.zero_grad(); l.zero_grad()
        tx, lx = x.clone().requires_grad_(), to_l(x, True)
        tout = t(tx, **kw)
        lout = l(lx, **{k: (to_l(v) if isinstance(v, torch.Tensor) else v) for k, v in kw.items()})
        close(lout, tout, f'{kw.keys()}: output')
        g = randn(*tout.shape, seed=3)
        tout.backward(g); lout.backward(to_l(g))
        grads_equal(t, l, [(tx, lx)], str(list(kw)))


@pytest.mark.parametrize('norm_first', [False, True])
def test_encoder_stack_matches_pytorch(norm_first):
    tl, ll = twins('TransformerEncoderLayer', 8, 4, 16, batch_first=True, norm_first=norm_first)
    t = torch.nn.TransformerEncoder(tl, 2, norm=torch.nn.LayerNorm(8).double(),
                                    enable_nested_tensor=False).eval()
    l = nn.TransformerEncoder(ll, 2, norm=nn.LayerNorm(8, dtype=learntorch.float64)).eval()
    assert list(l.state_dict()) == list(t.state_dict())
    t.load_state_dict({k: v + 0.01 * randn(*v.shape, seed=i) for i, (k, v)
                       in enumerate(t.state_dict().items())})   # the copies differ
    l.load_state_dict({k: to_l(v) for k, v in t.state_dict().items()})
    x = randn(2, 6, 8)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(6, dtype=torch.float64)
    tx, lx = x.clone().requires_grad_(), to_l(x, True)
    tout, lout = t(tx, mask=mask), l(lx, mask=to_l(mask))
    close(lout, tout, 'output')
    tout.sum().backward(); lout.sum().backward()
    grads_equal(t, l, [(tx, lx)], 'encoder stack')


@pytest.mark.parametrize('norm_first', [False, True])
def test_transformer_matches_pytorch(norm_first):
    torch.manual_seed(0)
    t = torch.nn.Transformer(8, 2, 2, 2, 16, batch_first=True, norm_first=norm_first).double().eval()
    l = nn.Transformer(8, 2, 2, 2, 16, batch_first=True, norm_first=norm_first,
                       dtype=learntorch.float64).eval()
    assert list(l.state_dict()) == list(t.state_dict())
    l.load_state_dict({k: to_l(v) for k, v in t.state_dict().items()})
    src, tgt = randn(2, 5, 8, seed=1), randn(2, 4, 8, seed=2)
    tm = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    lm = nn.Transformer.generate_square_subsequent_mask(4, dtype=learntorch.float64)
    close(lm, tm, 'mask', tol=0)
    kpm = torch.zeros(2, 5, dtype=torch.bool); kpm[1, -1] = True
    ts, tt, ls, lt = src.clone().requires_grad_(), tgt.clone().requires_grad_(), to_l(src, True), \
        to_l(tgt, True)
    tout = t(ts, tt, tgt_mask=tm, src_key_padding_mask=kpm, memory_key_padding_mask=kpm)
    lout = l(ls, lt, tgt_mask=lm, src_key_padding_mask=to_l(kpm), memory_key_padding_mask=to_l(kpm))
    close(lout, tout, 'output')
    tout.sum().backward(); lout.sum().backward()
    grads_equal(t, l, [(ts, ls), (tt, lt)], 'transformer')


def test_layer_errors_and_repr():
    assert repr(nn.TransformerEncoderLayer(4, 2, 8)) == repr(torch.nn.TransformerEncoderLayer(4, 2, 8))
    with pytest.raises(RuntimeError, match='activation should be relu/gelu, not tanh'):
        nn.TransformerEncoderLayer(4, 2, activation='tanh')
    layer = nn.TransformerEncoderLayer(4, 2, 8, activation=lambda x: x * 2, dropout=0.)
    assert layer(learntorch.randn(3, 1, 4)).shape == (3, 1, 4)
    with pytest.raises(RuntimeError, match='the batch number of src and tgt must be equal'):
        nn.Transformer(4, 2, 1, 1, 8)(learntorch.randn(3, 2, 4), learntorch.randn(3, 1, 4))


BAD_MHA_CALLS = {
    'key 2-D for 3-D query': lambda T, m, x: m(x, x[0], x[0]),
    'key/value shapes': lambda T, m, x: m(x, x, x[:2]),
    'int key_padding_mask': lambda T, m, x: m(x, x, x, key_padding_mask=T.zeros(2, 3, dtype=T.int64)),
    'attn_mask 2D shape': lambda T, m, x: m(x, x, x, attn_mask=T.zeros(3, 4)),
    'attn_mask 3D shape': lambda T, m, x: m(x, x, x, attn_mask=T.zeros(5, 3, 3)),
    'attn_mask 4-D': lambda T, m, x: m(x, x, x, attn_mask=T.zeros(1, 1, 3, 3)),
    'key_padding_mask length': lambda T, m, x: m(x, x, x, key_padding_mask=T.zeros(2, 4, dtype=T.bool)),
    'key_padding_mask batch': lambda T, m, x: m(x, x, x, key_padding_mask=T.zeros(1, 3, dtype=T.bool)),
    'embedding size': lambda T, m, x: m(x[..., :3], x[..., :3], x[..., :3]),
    '4-D query': lambda T, m, x: m(x[None], x[None], x[None]),
    'is_causal without mask': lambda T, m, x: m(x, x, x, is_causal=True),
}


@pytest.mark.parametrize('name', list(BAD_MHA_CALLS))
@pytest.mark.parametrize('bias_kv', [False, True])
def test_mha_bad_input_as_pytorch(name, bias_kv):
    got = []
    for T in (torch, learntorch):
        T.manual_seed(0)
        m, x = T.nn.MultiheadAttention(4, 2, add_bias_kv=bias_kv), T.randn(3, 2, 4)
        with pytest.raises(Exception) as e:
            BAD_MHA_CALLS[name](T, m, x)
        got.append((type(e.value).__name__, str(e.value)))
    assert got[1] == got[0]


def test_mha_warns_on_mismatched_mask_types():
    m, x = nn.MultiheadAttention(4, 2), learntorch.randn(3, 2, 4)
    with pytest.warns(UserWarning, match='Support for mismatched key_padding_mask and attn_mask'):
        m(x, x, x, attn_mask=learntorch.zeros(3, 3), key_padding_mask=learntorch.zeros(2, 3) > 0)


def test_mha_causal_hint_is_trusted_as_pytorch():
    "With is_causal=True, need_weights=False and no padding mask PyTorch applies plain causal attention."
    t, l = twins('MultiheadAttention', 4, 2)
    x = randn(5, 2, 4)
    odd = torch.from_numpy(np.random.default_rng(0).random((5, 5)) < 0.3)   # not a causal mask
    tout = t(x, x, x, attn_mask=odd, is_causal=True, need_weights=False)[0]
    lout = l(to_l(x), to_l(x), to_l(x), attn_mask=to_l(odd), is_causal=True, need_weights=False)[0]
    close(lout, tout, 'output')


def test_mha_returns_dropped_weights():
    learntorch.manual_seed(0)
    m = nn.MultiheadAttention(4, 1, dropout=0.5)
    x = learntorch.randn(6, 1, 4)
    w = m(x, x, x)[1].detach().numpy()
    assert (w == 0).any() and w.max() > 1 / 6          # some dropped, the rest scaled by 2


def test_pytorch_checkpoint_file_loads(tmp_path):
    "A state_dict saved by torch.save loads with learntorch.load; PyTorch's no-grad fast path agrees."
    torch.manual_seed(0)
    t = torch.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True).eval()
    torch.save(t.state_dict(), tmp_path / 'layer.pt')
    l = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True).eval()
    l.load_state_dict(learntorch.load(tmp_path / 'layer.pt'))
    x = np.random.default_rng(0).standard_normal((2, 5, 8)).astype(np.float32)
    with torch.no_grad(): expected = t(torch.from_numpy(x))
    np.testing.assert_allclose(l(learntorch.from_numpy(x)).detach().numpy(), expected.numpy(),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('norm_first', [False, True])
def test_encoder_and_decoder_layer_gradcheck(norm_first):
    learntorch.manual_seed(0)
    f64 = dict(dtype=learntorch.float64)
    enc = nn.TransformerEncoderLayer(4, 2, 6, dropout=0., norm_first=norm_first, **f64)
    dec = nn.TransformerDecoderLayer(4, 2, 6, dropout=0., norm_first=norm_first, **f64)
    src, tgt = (learntorch.randn(n, 2, 4, requires_grad=True, **f64) for n in (3, 2))
    mask = nn.Transformer.generate_square_subsequent_mask(2, **f64)
    assert learntorch.autograd.gradcheck(lambda s: enc(s), (src,))
    assert learntorch.autograd.gradcheck(lambda s, t: dec(t, enc(s), tgt_mask=mask), (src, tgt))


@pytest.mark.parametrize('norm_first', [False, True])
@pytest.mark.parametrize('batch_first', [False, True])
def test_decoder_layer_matches_pytorch(norm_first, batch_first):
    t, l = twins('TransformerDecoderLayer', 6, 3, 10, activation='gelu', batch_first=batch_first,
                 norm_first=norm_first)
    t.eval(); l.eval()
    N, T, S = 2, 4, 5
    shape = (lambda n, s: (n, s, 6)) if batch_first else (lambda n, s: (s, n, 6))
    tgt, mem = randn(*shape(N, T), seed=1), randn(*shape(N, S), seed=2)
    mm = torch.from_numpy(np.random.default_rng(3).random((T, S)) < 0.3); mm[:, 0] = False
    tkpm = torch.zeros(N, T, dtype=torch.bool); tkpm[1, -1] = True
    mkpm = torch.zeros(N, S, dtype=torch.bool); mkpm[0, -2:] = True
    tm = torch.ones(T, T, dtype=torch.bool).triu(1)
    kw = dict(tgt_mask=tm, memory_mask=mm, tgt_key_padding_mask=tkpm, memory_key_padding_mask=mkpm)
    ttgt, tmem, ltgt, lmem = tgt.clone().requires_grad_(), mem.clone().requires_grad_(), \
        to_l(tgt, True), to_l(mem, True)
    tout = t(ttgt, tmem, **kw)
    lout = l(ltgt, lmem, **{k: to_l(v) for k, v in kw.items()})
    close(lout, tout, 'output')
    g = randn(*tout.shape, seed=4)
    tout.backward(g); lout.backward(to_l(g))
    grads_equal(t, l, [(ttgt, ltgt), (tmem, lmem)], 'decoder layer')


@pytest.mark.parametrize('norm_first', [False, True])
def test_decoder_stack_matches_pytorch(norm_first):
    "TransformerDecoder: deep copies of the layer, every mask, a final norm; outputs and gradients as PyTorch."
    tl, ll = twins('TransformerDecoderLayer', 8, 2, 16, batch_first=True, norm_first=norm_first)
    t = torch.nn.TransformerDecoder(tl, 2, norm=torch.nn.LayerNorm(8).double()).eval()
    l = nn.TransformerDecoder(ll, 2, norm=nn.LayerNorm(8, dtype=learntorch.float64)).eval()
    assert list(l.state_dict()) == list(t.state_dict())
    t.load_state_dict({k: v + 0.01 * randn(*v.shape, seed=i) for i, (k, v)
                       in enumerate(t.state_dict().items())})   # the copies differ
    l.load_state_dict({k: to_l(v) for k, v in t.state_dict().items()})
    tgt, memory = randn(2, 4, 8, seed=3), randn(2, 5, 8, seed=4)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    kpm = torch.zeros(2, 5, dtype=torch.bool); kpm[0, -2:] = True
    tt, tm, lt, lm = tgt.clone().requires_grad_(), memory.clone().requires_grad_(), to_l(tgt, True), \
        to_l(memory, True)
    tout = t(tt, tm, tgt_mask=mask, memory_key_padding_mask=kpm)
    lout = l(lt, lm, tgt_mask=to_l(mask), memory_key_padding_mask=to_l(kpm))
    close(lout, tout, 'output')
    tout.sum().backward(); lout.sum().backward()
    grads_equal(t, l, [(tt, lt), (tm, lm)], 'decoder stack')


def test_out_projection_class_as_pytorch():
    "MultiheadAttention's out_proj is a NonDynamicallyQuantizableLinear: a Linear with PyTorch's repr and names."
    t, l = twins('MultiheadAttention', 6, 2)
    assert type(l.out_proj).__name__ == type(t.out_proj).__name__ == 'NonDynamicallyQuantizableLinear'
    assert isinstance(l.out_proj, nn.NonDynamicallyQuantizableLinear) and isinstance(l.out_proj, nn.Linear)
    assert repr(l.out_proj) == repr(t.out_proj)
    x = randn(3, 6)
    close(l.out_proj(to_l(x)), t.out_proj(x), 'out_proj output')
