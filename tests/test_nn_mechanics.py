"""Module mechanics against PyTorch on the same architectures: state_dict keys and order, named_modules, hook order,
deepcopy and pickle round trips, tied weights, reprs, and PyTorch's errors for bad input."""
import copy, pickle
from collections import OrderedDict

import numpy as np
import pytest

import learntorch

torch = pytest.importorskip("torch")
LIBS = [learntorch, torch]


def build(T):
    "A model with nesting, a buffer, a non-persistent buffer, a shared module and a tied weight."
    nn = T.nn
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.norm = nn.LayerNorm(4)
            self.register_buffer('steps', T.zeros(1))
            self.register_buffer('scratch', T.ones(2), persistent=False)
        def forward(self, x): return self.norm(self.lin(x)).relu()
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            shared = Block()
            self.blocks = nn.ModuleList([shared, Block(), shared])
            self.heads = nn.ModuleDict({'a': nn.Linear(4, 10, bias=False), 'b': nn.Sequential(nn.ReLU(), nn.Linear(4, 2))})
            self.heads['a'].weight = self.emb.weight          # tied
        def forward(self, i):
            x = self.emb(i)
            for b in self.blocks: x = b(x)
            return self.heads['a'](x), self.heads['b'](x)
    return Net()


def same_weights(src, dst):
    "Copy learntorch model `src`'s state into PyTorch model `dst`."
    dst.load_state_dict({k: torch.from_numpy(np.array(v.numpy())) for k, v in src.state_dict().items()})


def test_names_and_order_match():
    a, b = build(learntorch), build(torch)
    assert list(a.state_dict()) == list(b.state_dict())
    assert list(a.state_dict(prefix='model.')) == list(b.state_dict(prefix='model.'))
    assert [n for n, _ in a.named_modules()] == [n for n, _ in b.named_modules()]
    assert [n for n, _ in a.named_modules(prefix='m')] == [n for n, _ in b.named_modules(prefix='m')]
    assert ([n for n, _ in a.named_modules(remove_duplicate=False)]
            == [n for n, _ in b.named_modules(remove_duplicate=False)])
    assert [n for n, _ in a.named_parameters()] == [n for n, _ in b.named_parameters()]
    assert [n for n, _ in a.named_parameters(remove_duplicate=False)] == [n for n, _ in b.named_parameters(remove_duplicate=False)]
    assert [n for n, _ in a.named_buffers()] == [n for n, _ in b.named_buffers()]
    assert [n for n, _ in a.named_children()] == [n for n, _ in b.named_children()]
    assert len(list(a.parameters())) == len(list(b.parameters()))          # the tied weight counted once
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters())
    assert a.state_dict()._metadata == b.state_dict()._metadata


def test_reprs_match():
    a, b = build(learntorch), build(torch)
    assert repr(a) == repr(b)
    for layer in ('Bilinear(3, 2, 4)', 'Bilinear(3, 2, 4, bias=False)', 'PReLU()', 'PReLU(3, 0.1)', 'Mish()',
                  'Mish(inplace=True)', 'Softmin(1)', 'Softmin()', 'Hardtanh()', 'Hardtanh(-2.0, 2.0, True)', 'ReLU6()',
                  'ReLU6(inplace=True)', 'Hardswish()', 'RMSNorm(3)', 'RMSNorm([2, 3], eps=1e-3, elementwise_affine=False)',
                  'CosineSimilarity()', 'CosineSimilarity(0, 1e-6)', 'PairwiseDistance()', 'PairwiseDistance(1.0, keepdim=True)',
                  'Linear(3, 1, bias=False)', 'LayerNorm(3, bias=False)', 'Embedding(5, 2, max_norm=1.0)',
                  'Embedding(5, 2, padding_idx=1, norm_type=1.0)'):
        assert repr(eval('learntorch.nn.' + layer)) == repr(eval('torch.nn.' + layer)), layer


def test_state_dict_keep_vars_and_values():
    a = build(learntorch)
    sd = a.state_dict(keep_vars=True)
    assert sd['emb.weight'] is a.emb.weight
    assert sd['heads.a.weight'] is a.emb.weight
    plain = a.state_dict()
    assert not plain['emb.weight'].requires_grad and type(plain['emb.weight']).__name__ == 'Tensor'
    assert 'blocks.0.scratch' not in plain


def test_load_state_dict_results_match():
    a, b = build(learntorch), build(torch)
    same_weights(a, b)
    for lib_model, T in ((a, learntorch), (b, torch)):
        sd = lib_model.state_dict()
        del sd['blocks.1.lin.bias']; sd['extra.weight'] = T.ones(1)
        r = lib_model.load_state_dict(sd, strict=False)
        assert r.missing_keys == ['blocks.1.lin.bias'] and r.unexpected_keys == ['extra.weight']
        assert type(r).__name__ == '_IncompatibleKeys' and r._fields == ('missing_keys', 'unexpected_keys')
    ra = a.load_state_dict(OrderedDict(a.state_dict()))
    rb = b.load_state_dict(OrderedDict(b.state_dict()))
    assert repr(ra) == repr(rb) == '<All keys matched successfully>'
    sd_a, sd_b = a.state_dict(), b.state_dict()
    del sd_a['emb.weight'], sd_b['emb.weight']
    with pytest.raises(RuntimeError) as ea: a.load_state_dict(sd_a)
    with pytest.raises(RuntimeError) as eb: b.load_state_dict(sd_b)
    assert str(ea.value) == str(eb.value)


def test_load_from_state_dict_override_renames_a_key():
    for T in LIBS:
        class Renamed(T.nn.Linear):
            def _load_from_state_dict(self, state_dict, prefix, *args):
                if prefix + 'w' in state_dict: state_dict[prefix + 'weight'] = state_dict.pop(prefix + 'w')
                super()._load_from_state_dict(state_dict, prefix, *args)
        outer = T.nn.Sequential(Renamed(2, 2))
        old = {'0.w': T.ones(2, 2), '0.bias': T.zeros(2)}
        r = outer.load_state_dict(old)
        assert repr(r) == '<All keys matched successfully>'
        assert outer[0].weight.sum().item() == 4


def test_forward_outputs_match_after_copying_weights():
    a, b = build(learntorch), build(torch)
    same_weights(a, b)
    idx = np.array([[1, 2, 3], [4, 5, 9]])
    ya, yb = a(learntorch.tensor(idx)), b(torch.tensor(idx))
    for u, v in zip(ya, yb): np.testing.assert_allclose(u.detach().numpy(), v.detach().numpy(), rtol=1e-5, atol=1e-5)


def hook_log(T):
    "The order in which hooks fire, for one forward and one backward on a two-layer model."
    log = []
    model = T.nn.Sequential(T.nn.Linear(3, 3), T.nn.Tanh())
    handles = []
    for name, m in [('seq', model), ('lin', model[0]), ('tanh', model[1])]:
        handles.append(m.register_forward_pre_hook(lambda mod, args, n=name: log.append(('pre', n, len(args)))))
        handles.append(m.register_forward_hook(lambda mod, args, out, n=name: log.append(('fwd', n, tuple(out.shape)))))
        handles.append(m.register_full_backward_pre_hook(lambda mod, go, n=name: log.append(('bpre', n, len(go)))))
        handles.append(m.register_full_backward_hook(
            lambda mod, gi, go, n=name: log.append(('bwd', n, tuple(None if g is None else tuple(g.shape) for g in gi),
                                                     tuple(tuple(g.shape) for g in go)))))
    handles.append(model[0].register_forward_hook(lambda mod, args, out: log.append(('first', 'lin')), prepend=True))
    x = T.ones(2, 3, requires_grad=True)
    y = model(x)
    log.append(('grad_fn', type(y.grad_fn).__name__))
    y.sum().backward()
    model(T.ones(2, 3)).sum().backward()                   # inputs without grad: grad_input is (None,)
    for h in handles: h.remove()
    model(x).sum().backward()                              # removed: nothing more is logged
    return log


def test_hook_order_matches():
    assert hook_log(learntorch) == hook_log(torch)


def test_hooks_that_change_values():
    for T in LIBS:
        lin = T.nn.Linear(2, 2)
        h1 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
        h2 = lin.register_forward_hook(lambda m, args, out: out + 1)
        y = lin(T.ones(1, 2))
        assert np.allclose(y.detach().numpy(), lin.bias.detach().numpy() + 1)
        h1.remove(); h2.remove()
        h3 = lin.register_full_backward_hook(lambda m, gi, go: (gi[0] * 10,))
        x = T.ones(1, 2, requires_grad=True)
        lin(x).sum().backward()
        assert np.allclose(x.grad.numpy(), 10 * lin.weight.detach().numpy().sum(0))
        h3.remove()
        doubled = lin(T.ones(1, 2) * 2).detach().numpy()
        h4 = lin.register_forward_pre_hook(lambda m, args, kwargs: ((args[0] * 2,), kwargs), with_kwargs=True)
        assert np.allclose(lin(T.ones(1, 2)).detach().numpy(), doubled)
        h4.remove()


@pytest.mark.parametrize('how', ['deepcopy', 'pickle'])
def test_copies_are_independent_and_equal(how):
    model = learntorch.nn.Sequential(learntorch.nn.Linear(3, 1), learntorch.nn.Flatten(0, 1))
    twin = copy.deepcopy(model) if how == 'deepcopy' else pickle.loads(pickle.dumps(model))
    x = learntorch.randn(5, 3)
    assert twin(x).tolist() == model(x).tolist()
    assert twin[0].weight is not model[0].weight and twin[0].weight._array is not model[0].weight._array
    assert type(twin[0].weight).__name__ == 'Parameter' and twin[0].weight.requires_grad
    with learntorch.no_grad(): twin[0].weight.add_(1)
    assert twin(x).tolist() != model(x).tolist()
    assert repr(twin) == repr(model)


def test_deepcopy_keeps_ties():
    for T in LIBS:
        m = build(T)
        twin = copy.deepcopy(m)
        assert twin.heads['a'].weight is twin.emb.weight and twin.blocks[0] is twin.blocks[2]
        assert twin.emb.weight is not m.emb.weight


def test_get_submodule_and_parameter():
    for T in LIBS:
        m = build(T)
        assert m.get_submodule('blocks.1.lin') is m.blocks[1].lin
        assert m.get_parameter('blocks.1.lin.weight') is m.blocks[1].lin.weight
        assert m.get_buffer('blocks.0.steps') is m.blocks[0].steps
    errors = []
    for T in LIBS:
        m = build(T)
        row = []
        for f in (lambda: m.get_submodule('blocks.7'), lambda: m.get_submodule('nope'),
                  lambda: m.get_parameter('blocks.0.steps'), lambda: m.get_parameter('emb.nope'),
                  lambda: m.get_submodule('emb.weight')):
            with pytest.raises(AttributeError) as e: f()
            row.append(str(e.value))
        errors.append(row)
    assert errors[0] == errors[1]


def test_to_dtype_keeps_parameter_identity_and_freezing():
    for T in LIBS:
        m = T.nn.Linear(2, 2)
        w = m.weight
        assert m.to(T.float64) is m and m.weight is w and w.dtype == T.float64
        m.requires_grad_(False)
        assert not any(p.requires_grad for p in m.parameters())
        with pytest.raises(TypeError): m.to(T.int64)


@pytest.mark.parametrize('case', ['linear', 'linear_1d', 'ce_float_target', 'ce_out_of_range', 'ce_negative',
                                  'nll_float_target', 'embedding_range', 'embedding_negative', 'softmax_dim',
                                  'layer_norm_empty_shape', 'bce_range', 'gelu_int', 'layer_norm_int'])
def test_bad_input_errors_match(case):
    def run(T):
        F = T.nn.functional
        cases = {
            'linear': lambda: T.nn.Linear(784, 512)(T.zeros(64, 783)),
            'linear_1d': lambda: F.linear(T.zeros(783), T.zeros(512, 784)),
            'ce_float_target': lambda: T.nn.CrossEntropyLoss()(T.zeros(3, 4), T.tensor([0., 1., 2.])),
            'ce_out_of_range': lambda: F.cross_entropy(T.zeros(3, 4), T.tensor([0, 1, 5])),
            'ce_negative': lambda: F.cross_entropy(T.zeros(3, 4), T.tensor([0, 1, -5])),
            'nll_float_target': lambda: F.nll_loss(T.zeros(3, 4), T.tensor([0., 1., 2.])),
            'embedding_range': lambda: T.nn.Embedding(3, 2)(T.tensor([3])),
            'embedding_negative': lambda: T.nn.Embedding(3, 2)(T.tensor([-1])),
            'softmax_dim': lambda: T.softmax(T.zeros(3), 1),
            'layer_norm_empty_shape': lambda: F.layer_norm(T.zeros(3), ()),
            'bce_range': lambda: F.binary_cross_entropy(T.tensor([1.5]), T.tensor([1.])),
            'gelu_int': lambda: F.gelu(T.tensor([1])),
            'layer_norm_int': lambda: F.layer_norm(T.tensor([1, 2]), (2,)),
        }
        with pytest.raises(Exception) as e: cases[case]()
        return type(e.value).__name__, str(e.value).split('\n')[0]
    assert run(learntorch) == run(torch)


EDGE_CASES = {   # empty class dimensions, 0-d softmax of inf/nan, dtype handling: results as PyTorch's
    'softmax_empty_classes': lambda T, F: F.softmax(T.zeros(2, 0), 1),
    'log_softmax_empty_batch': lambda T, F: F.log_softmax(T.zeros(0, 3), 1),
    'ce_empty_classes': lambda T, F: F.cross_entropy(T.zeros(2, 0), T.tensor([0, 0])),
    'ce_empty_batch_mean': lambda T, F: F.cross_entropy(T.zeros(0, 3), T.zeros(0, dtype=T.int64)),
    'ce_empty_batch_sum': lambda T, F: F.cross_entropy(T.zeros(0, 3), T.zeros(0, dtype=T.int64), reduction='sum'),
    'ce_empty_batch_none': lambda T, F: F.cross_entropy(T.zeros(0, 3), T.zeros(0, dtype=T.int64), reduction='none'),
    'ce_empty_probabilities': lambda T, F: F.cross_entropy(T.zeros(0, 3), T.zeros(0, 3)),
    'ce_empty_smoothing': lambda T, F: F.cross_entropy(T.zeros(0, 3), T.zeros(0, dtype=T.int64), label_smoothing=0.1),
    'nll_empty_batch': lambda T, F: F.nll_loss(T.zeros(0, 3), T.zeros(0, dtype=T.int64)),
    'nll_empty_classes': lambda T, F: F.nll_loss(T.zeros(2, 0), T.tensor([0, 0])),
    'linear_empty_features': lambda T, F: F.linear(T.zeros(2, 0), T.zeros(3, 0)),
    'linear_empty_features_bias': lambda T, F: F.linear(T.zeros(2, 0), T.zeros(3, 0), T.ones(3)),
    'linear_no_outputs': lambda T, F: F.linear(T.zeros(2, 3), T.zeros(0, 3), T.zeros(0)),
    'linear_empty_batch': lambda T, F: F.linear(T.zeros(0, 3), T.zeros(2, 3), T.zeros(2)),
    'linear_1d_bias': lambda T, F: F.linear(T.ones(3, requires_grad=True), T.ones(2, 3), T.ones(2)),
    'linear_1d': lambda T, F: F.linear(T.ones(3, requires_grad=True), T.ones(2, 3)),
    'linear_3d': lambda T, F: F.linear(T.ones(4, 2, 3, requires_grad=True), T.ones(2, 3)),
    'linear_3d_bias': lambda T, F: F.linear(T.ones(4, 2, 3, requires_grad=True), T.ones(2, 3), T.ones(2)),
    'softmax_0d_nan': lambda T, F: T.softmax(T.tensor(float('nan')), 0),
    'softmax_0d_inf': lambda T, F: T.softmax(T.tensor(float('inf')), 0),
    'softmax_0d': lambda T, F: T.softmax(T.tensor(2.), 0),
    'log_softmax_0d_-inf': lambda T, F: T.log_softmax(T.tensor(float('-inf')), 0),
    'log_softmax_0d': lambda T, F: T.log_softmax(T.tensor(2.), -1),
    'softmax_int_with_dtype': lambda T, F: F.softmax(T.tensor([1, 2]), 0, dtype=T.float32),
    'softmax_int': lambda T, F: F.softmax(T.tensor([[1, 2]]), 0),
    'log_softmax_bool': lambda T, F: F.log_softmax(T.tensor([True]), 0),
    'gelu_bool': lambda T, F: F.gelu(T.tensor([True])),
    'silu_int': lambda T, F: F.silu(T.tensor([1])),
    'hardtanh_bool': lambda T, F: F.hardtanh(T.tensor([True])),
    'hardtanh_int': lambda T, F: F.hardtanh(T.tensor([-3, 0, 3])),
    'prelu_int': lambda T, F: F.prelu(T.tensor([1]), T.tensor([0.25])),
    'softmax_empty_int': lambda T, F: T.softmax(T.tensor([], dtype=T.int64), 0),
    'log_softmax_empty_int32': lambda T, F: T.log_softmax(T.zeros(2, 0, dtype=T.int32), 1),
    'ce_empty_probabilities_smoothing_none': lambda T, F: F.cross_entropy(T.eye(0), T.eye(0), label_smoothing=0.1,
                                                                          reduction='none'),
    'ce_empty_probabilities_smoothing_sum': lambda T, F: F.cross_entropy(T.eye(0), T.eye(0), label_smoothing=0.1,
                                                                         reduction='sum'),
    'ce_empty_classes_smoothing': lambda T, F: F.cross_entropy(T.zeros(2, 0), T.zeros(2, 0), label_smoothing=0.1,
                                                               reduction='none'),
    'layer_norm_bool_float_weight': lambda T, F: F.layer_norm(T.tensor([True, False]), (2,), T.ones(2)),
    'layer_norm_int_float_bias': lambda T, F: F.layer_norm(T.tensor([1, 2]), (2,), T.ones(2), T.zeros(2)),
    'layer_norm_float_double_weight': lambda T, F: F.layer_norm(T.tensor([1., 2]), (2,), T.ones(2, dtype=T.float64)),
    'mse_int': lambda T, F: F.mse_loss(T.tensor([[6]]), T.tensor([[6]])),
    'mse_int_float': lambda T, F: F.mse_loss(T.tensor([[1, 2]]), T.tensor([[1., 2.]])),
    'smooth_l1_int32': lambda T, F: F.smooth_l1_loss(T.tensor([1], dtype=T.int32), T.tensor([1], dtype=T.int32)),
    'huber_int': lambda T, F: F.huber_loss(T.tensor([1]), T.tensor([2])),
    'nll_0d_input': lambda T, F: F.nll_loss(T.tensor(1.), T.tensor(0.)),
    'nll_int_input': lambda T, F: F.nll_loss(T.tensor([[1, 2]]), T.tensor([0])),
    'ce_int_input': lambda T, F: F.cross_entropy(T.tensor([[1, 2]]), T.tensor([0])),
    'bce_long_target': lambda T, F: F.binary_cross_entropy(T.tensor([[0.5]]), T.tensor([[1]])),
    'bce_double_target': lambda T, F: F.binary_cross_entropy(T.tensor([0.5]), T.tensor([1.], dtype=T.float64)),
    'bce_logits_int_input': lambda T, F: F.binary_cross_entropy_with_logits(T.tensor([1]), T.tensor([1])),
    'bce_logits_long_target': lambda T, F: F.binary_cross_entropy_with_logits(T.tensor([1.]), T.tensor([1])),
    'kl_div_int': lambda T, F: F.kl_div(T.tensor([1]), T.tensor([1]), reduction='sum'),
    'embedding_1d_weight': lambda T, F: F.embedding(T.tensor([0, 2, 1]), T.tensor([3., 3., 0.5])),
    'embedding_3d_weight': lambda T, F: F.embedding(T.tensor([0]), T.zeros(2, 2, 2)),
    'layer_norm_empty_batch': lambda T, F: F.layer_norm(T.zeros(0, 3), (3,)),
    'mse_weight_wrong_size': lambda T, F: F.mse_loss(T.zeros(3), T.zeros(3), weight=T.ones(2)),
    'nll_int32_target': lambda T, F: F.nll_loss(T.zeros(2, 3), T.tensor([0, 1], dtype=T.int32)),
    'nll_byte_target': lambda T, F: F.nll_loss(T.zeros(2, 3), T.tensor([0, 1], dtype=T.uint8)),
    'one_hot_empty': lambda T, F: F.one_hot(T.zeros(0, dtype=T.int64)),
    'one_hot_too_small': lambda T, F: F.one_hot(T.tensor([1, 2]), 2),
    'pad_too_long': lambda T, F: F.pad(T.zeros(2, 3), (1, 1, 1, 1, 1, 1)),
    'pad_odd': lambda T, F: F.pad(T.zeros(2, 3), (1,)),
    'pad_reflect_too_big': lambda T, F: F.pad(T.zeros(1, 2, 3), (3, 0), mode='reflect'),
    'pad_replicate_1d_input': lambda T, F: F.pad(T.zeros(3), (1, 1), mode='replicate'),
    'pad_negative': lambda T, F: F.pad(T.arange(6.).reshape(2, 3), (-1, 1, 0, -1)),
    'pad_circular': lambda T, F: F.pad(T.arange(6., requires_grad=True).reshape(1, 2, 3), (2, 1), mode='circular'),
    'pad_circular_negative': lambda T, F: F.pad(T.arange(6.).reshape(1, 2, 3), (-1, 1), mode='circular'),
    'pad_circular_twice': lambda T, F: F.pad(T.arange(6.).reshape(1, 2, 3), (4, 0), mode='circular'),
    'bincount_negative': lambda T, F: T.bincount(T.tensor([-1, 2])),
    'bincount_float_weights': lambda T, F: T.bincount(T.tensor([0, 2]), T.tensor([0.5, 1.5])),
    'bincount_double_weights': lambda T, F: T.bincount(T.tensor([0, 2]), T.tensor([0.5, 1.5], dtype=T.float64)),
    'unique_dim': lambda T, F: T.unique(T.tensor([[1, 2], [1, 2], [0, 1]]), dim=0),
    'cdist_columns': lambda T, F: T.cdist(T.zeros(2, 3), T.zeros(2, 4)),
    'einsum_operands': lambda T, F: T.einsum('ij,jk->ik', T.zeros(2, 3)),
    'embedding_int32_indices': lambda T, F: F.embedding(T.tensor([0], dtype=T.int32), T.zeros(2, 2)),
    'embedding_float_indices': lambda T, F: F.embedding(T.tensor([0.]), T.zeros(2, 2)),
}


def _describe(T, f):
    try: r = f(T, T.nn.functional)
    except Exception as e: return type(e).__name__, str(e).split('\n')[0]
    if isinstance(r, tuple): r = r[0]
    return (tuple(r.shape), str(r.dtype).split('.')[-1], np.round(np.nan_to_num(r.detach().numpy().astype(float), nan=7e7), 6).tolist(),
            type(r.grad_fn).__name__ if r.grad_fn is not None else None)


@pytest.mark.parametrize('case', list(EDGE_CASES))
def test_edge_cases_match(case):
    assert _describe(learntorch, EDGE_CASES[case]) == _describe(torch, EDGE_CASES[case])


@pytest.mark.parametrize('case', ['ce_weight', 'nll_target', 'embedding_indices', 'bce_weight', 'bce_logits_weight',
                                  'bce_logits_pos_weight'])
def test_saved_loss_arguments_are_version_checked(case):
    "A loss weight, target or embedding index edited in place after the forward makes backward raise, as in PyTorch."
    def run(T):
        F = T.nn.functional
        x, t, w = T.randn(3, 4, requires_grad=True), T.tensor([0, 1, 2]), T.ones(4)
        m = T.ones(3, 4)
        if case == 'ce_weight': loss = F.cross_entropy(x, t, weight=w); w.mul_(2)
        if case == 'nll_target': loss = F.nll_loss(x, t); t.add_(1)
        if case == 'embedding_indices': loss = F.embedding(t, T.randn(5, 2, requires_grad=True)).sum(); t.add_(1)
        if case == 'bce_weight': loss = F.binary_cross_entropy(x.sigmoid(), T.rand(3, 4), weight=m); m.mul_(2)
        if case == 'bce_logits_weight': loss = F.binary_cross_entropy_with_logits(x, T.rand(3, 4), weight=m); m.mul_(2)
        if case == 'bce_logits_pos_weight':
            pw = T.ones(4); loss = F.binary_cross_entropy_with_logits(x, T.rand(3, 4), pos_weight=pw); pw.mul_(2)
        with pytest.raises(RuntimeError, match='modified by an inplace operation'): loss.backward()
    run(torch); run(learntorch)


@pytest.mark.parametrize('case', ['mse_empty_mean', 'bce_logits_inf_nan', 'kl_div_log_target_inf'])
def test_no_numpy_warnings_leak(case):
    "numpy's RuntimeWarnings (0/0, inf - inf) stay inside, as PyTorch computes silently."
    import warnings
    F = learntorch.nn.functional
    T = learntorch
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        if case == 'mse_empty_mean': F.mse_loss(T.zeros(0, 1, 1), T.zeros(0, 1, 1))
        if case == 'bce_logits_inf_nan':
            x = T.tensor([0.5, float('nan'), float('inf'), -float('inf')])
            F.binary_cross_entropy_with_logits(x, x, pos_weight=T.ones(4) * 2, reduction='sum')
        if case == 'kl_div_log_target_inf':
            x = T.tensor([[float('inf'), 0.]])
            F.kl_div(x, x, log_target=True, reduction='sum')


def test_kl_div_mean_warns_like_pytorch():
    for T in LIBS:
        with pytest.warns(UserWarning, match="reduction: 'mean' divides the total loss"):
            T.nn.functional.kl_div(T.zeros(2, 2), T.ones(2, 2))


@pytest.mark.parametrize('case', ['mean', 'weight_ignore', 'none', 'sum', 'twice', 'create_graph', 'smoothing',
                                  'prehook_replaces', 'prehook_in_place'])
def test_cross_entropy_backward_steps_share_work_but_agree(case):
    "Log-softmax's node turns NLL's one-hot rows into softmax minus one-hot in place; every path agrees with PyTorch."
    rng = np.random.default_rng(3)
    x0, t0 = rng.standard_normal((5, 4)).astype(np.float32), np.array([0, 3, 1, 1, 2])
    def run(T):
        x, t = T.tensor(x0, requires_grad=True), T.tensor(t0)
        F = T.nn.functional
        kw = {'weight_ignore': dict(weight=T.tensor([1., 2., .5, 3.]), ignore_index=1),
              'none': dict(reduction='none'), 'sum': dict(reduction='sum'),
              'smoothing': dict(label_smoothing=0.2)}.get(case, {})
        loss = F.cross_entropy(x, t, **kw)
        if loss.ndim: loss = (loss * T.arange(5.)).sum()
        node = loss.grad_fn.next_functions[0][0] if case.startswith('prehook') else None
        if case == 'prehook_replaces': node.register_prehook(lambda gs: (gs[0] * 2,))
        if case == 'prehook_in_place': node.register_prehook(lambda gs: [gs[0].mul_(3)] and None)
        if case == 'create_graph':
            g, = T.autograd.grad(loss, x, create_graph=True)
            (g * g).sum().backward()
            return g.detach().numpy().copy(), x.grad.numpy().copy()
        loss.backward(retain_graph=case == 'twice')
        if case == 'twice': loss.backward()
        return (x.grad.numpy().copy(),)
    for a, b in zip(run(learntorch), run(torch)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=case)


def test_training_step_fast_paths_on_a_device_array_module(strict_cuda):
    "Seed 001's step (Linear, ReLU, cross-entropy, `p.sub_`) runs its array fast paths through the device's module."
    def step(device):
        learntorch.manual_seed(0)
        nn = learntorch.nn
        model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3)).to(device)
        x, y = learntorch.randn(5, 3, 4).to(device), learntorch.tensor([0, 2, 1, 1, 0]).to(device)
        loss = nn.CrossEntropyLoss()(model(x), y)
        loss.backward()
        grads = [p.grad.cpu().numpy().copy() for p in model.parameters()]
        with learntorch.no_grad():
            for p in model.parameters(): p.sub_(p.grad, alpha=0.1)
        return [loss.item()] + grads + [p.detach().cpu().numpy().copy() for p in model.parameters()]
    for a, b in zip(step('cpu'), step('cuda')): np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
