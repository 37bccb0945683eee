"""Recurrent layers, cells and sequence packing against PyTorch: PyTorch's parameters are copied in (its state_dict,
through numpy), then outputs, final states and the gradients of inputs, states and every parameter must agree, in
float64, over hypothesis-drawn sizes, layers, directions, layouts and packed inputs. Plus float64 gradchecks, a
1,000-step sequence, errors and reprs."""
import math, warnings
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import learntorch
from learntorch import nn
from learntorch.nn.utils import rnn as lrnn

torch = pytest.importorskip("torch")
trnn = torch.nn.utils.rnn

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
CLASSES = {'RNN': ('RNN', 'RNN'), 'LSTM': ('LSTM', 'LSTM'), 'GRU': ('GRU', 'GRU')}


def to_l(t, requires_grad=False):
    "A PyTorch tensor as a learntorch tensor (through numpy), optionally requiring grad."
    x = learntorch.tensor(t.detach().numpy().copy())
    return x.requires_grad_() if requires_grad else x


def close(a, b, what, tol=1e-9):
    assert a is not None and b is not None, f'{what}: one side is None ({a is None}, {b is None})'
    a, b = np.asarray(a.detach().numpy() if hasattr(a, 'detach') else a), b.detach().numpy()
    assert a.shape == b.shape, f'{what}: shape {a.shape} != {b.shape}'
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=what)


def twins(kind, *args, **kwargs):
    "The same layer in PyTorch (float64) and in learntorch, with PyTorch's parameters loaded into learntorch's."
    t = getattr(torch.nn, kind)(*args, **kwargs).double()
    l = getattr(nn, kind)(*args, **kwargs, dtype=learntorch.float64)
    l.load_state_dict({k: to_l(v) for k, v in t.state_dict().items()})
    assert list(l.state_dict()) == list(t.state_dict())
    if kwargs.get('dropout'): t.eval(), l.eval()
    return t, l


def check_grads(t, l, pairs):
    "Gradients of every parameter and of each (learntorch, torch) input pair agree."
    for name, p in t.named_parameters():
        close(dict(l.named_parameters())[name].grad, p.grad, f'grad of {name}')
    for k, (a, b) in enumerate(pairs): close(a.grad, b.grad, f'grad of input {k}')


@st.composite
def configs(draw):
    kind = draw(st.sampled_from(['RNN', 'LSTM', 'GRU']))
    hidden = draw(st.integers(1, 5))
    kw = dict(input_size=draw(st.integers(1, 4)), hidden_size=hidden, num_layers=draw(st.integers(1, 3)),
              bias=draw(st.booleans()), batch_first=draw(st.booleans()), bidirectional=draw(st.booleans()))
    if kind == 'RNN': kw['nonlinearity'] = draw(st.sampled_from(['tanh', 'relu']))
    if kind == 'LSTM' and hidden > 1 and draw(st.booleans()): kw['proj_size'] = draw(st.integers(1, hidden - 1))
    if kw['num_layers'] > 1 and draw(st.booleans()): kw['dropout'] = 0.5   # compared in eval mode
    return kind, kw


def state_shapes(kind, kw, batch):
    d = 2 if kw['bidirectional'] else 1
    h = (kw['num_layers'] * d,) + ((batch,) if batch else ()) + (kw.get('proj_size') or kw['hidden_size'],)
    return [h] + ([h[:-1] + (kw['hidden_size'],)] if kind == 'LSTM' else [])


@SETTINGS
@given(configs(), st.integers(1, 4), st.integers(1, 6), st.booleans(), st.booleans(), st.integers(0, 2**31 - 1))
def test_layers_padded_vs_torch(config, batch, steps, unbatched, with_states, seed):
    "Plain (batched or unbatched) input: output, final states and all gradients equal PyTorch's."
    kind, kw = config
    torch.manual_seed(seed)
    t, l = twins(kind, **kw)
    shape = (steps, kw['input_size']) if unbatched else \
        ((batch, steps) if kw['batch_first'] else (steps, batch)) + (kw['input_size'],)
    tx = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    lx = to_l(tx, True)
    pairs = [(lx, tx)]
    targs, largs = (tx,), (lx,)
    if with_states:
        ts = [torch.randn(*s, dtype=torch.float64, requires_grad=True)
              for s in state_shapes(kind, kw, None if unbatched else batch)]
        ls = [to_l(s, True) for s in ts]
        pairs += list(zip(ls, ts))
        targs += (tuple(ts) if kind == 'LSTM' else ts[0],)
        largs += (tuple(ls) if kind == 'LSTM' else ls[0],)
    tout, tst = t(*targs)
    lout, lst = l(*largs)
    tst, lst = (tst, lst) if kind == 'LSTM' else ((tst,), (lst,))
    close(lout, tout, 'output')
    for k, (a, b) in enumerate(zip(lst, tst)): close(a, b, f'final state {k}')
    weights = [torch.randn(*o.shape, dtype=torch.float64) for o in (tout,) + tuple(tst)]
    sum(((o * w).sum() for o, w in zip((tout,) + tuple(tst), weights))).backward()
    sum(((o * to_l(w)).sum() for o, w in zip((lout,) + tuple(lst), weights))).backward()
    check_grads(t, l, pairs)


@SETTINGS
@given(configs(), st.lists(st.integers(1, 6), min_size=1, max_size=4), st.booleans(), st.booleans(),
       st.integers(0, 2**31 - 1))
def test_layers_packed_vs_torch(config, lengths, sort, with_states, seed):
    "A PackedSequence (sorted or not): padded output, lengths, final states and all gradients equal PyTorch's."
    kind, kw = config
    torch.manual_seed(seed)
    t, l = twins(kind, **kw)
    if sort: lengths = sorted(lengths, reverse=True)
    bf = kw['batch_first']
    tx = torch.randn(*((len(lengths), max(lengths)) if bf else (max(lengths), len(lengths))), kw['input_size'],
                     dtype=torch.float64, requires_grad=True)
    lx = to_l(tx, True)
    tp = trnn.pack_padded_sequence(tx, lengths, batch_first=bf, enforce_sorted=sort)
    lp = lrnn.pack_padded_sequence(lx, lengths, batch_first=bf, enforce_sorted=sort)
    assert isinstance(lp, lrnn.PackedSequence)
    assert lp.batch_sizes.tolist() == tp.batch_sizes.tolist()
    pairs = [(lx, tx)]
    targs, largs = (tp,), (lp,)
    if with_states:
        ts = [torch.randn(*s, dtype=torch.float64, requires_grad=True) for s in state_shapes(kind, kw, len(lengths))]
        ls = [to_l(s, True) for s in ts]
        pairs += list(zip(ls, ts))
        targs += (tuple(ts) if kind == 'LSTM' else ts[0],)
        largs += (tuple(ls) if kind == 'LSTM' else ls[0],)
    tout, tst = t(*targs)
    lout, lst = l(*largs)
    assert isinstance(lout, lrnn.PackedSequence) and lout.batch_sizes.tolist() == tout.batch_sizes.tolist()
    tpad, tlen = trnn.pad_packed_sequence(tout, batch_first=bf, padding_value=0.5)
    lpad, llen = lrnn.pad_packed_sequence(lout, batch_first=bf, padding_value=0.5)
    close(lpad, tpad, 'padded output'); assert llen.tolist() == tlen.tolist()
    tst, lst = (tst, lst) if kind == 'LSTM' else ((tst,), (lst,))
    for k, (a, b) in enumerate(zip(lst, tst)): close(a, b, f'final state {k}')
    weights = [torch.randn(*o.shape, dtype=torch.float64) for o in (tpad,) + tuple(tst)]
    sum(((o * w).sum() for o, w in zip((tpad,) + tuple(tst), weights))).backward()
    sum(((o * to_l(w)).sum() for o, w in zip((lpad,) + tuple(lst), weights))).backward()
    check_grads(t, l, pairs)


@pytest.mark.parametrize('kind', ['RNNCell', 'LSTMCell', 'GRUCell'])
@pytest.mark.parametrize('bias', [True, False])
@pytest.mark.parametrize('batch', [None, 3])
def test_cells_vs_torch(kind, bias, batch):
    torch.manual_seed(0)
    t, l = twins(kind, 4, 5, bias=bias)
    tx = torch.randn(*((batch,) if batch else ()), 4, dtype=torch.float64, requires_grad=True)
    ts = [torch.randn(*((batch,) if batch else ()), 5, dtype=torch.float64, requires_grad=True)
          for _ in range(2 if kind == 'LSTMCell' else 1)]
    lx, ls = to_l(tx, True), [to_l(s, True) for s in ts]
    tout = t(tx, tuple(ts) if kind == 'LSTMCell' else ts[0])
    lout = l(lx, tuple(ls) if kind == 'LSTMCell' else ls[0])
    tout, lout = (tout, lout) if kind == 'LSTMCell' else ((tout,), (lout,))
    for a, b in zip(lout, tout): close(a, b, 'cell output')
    w = [torch.randn(*o.shape, dtype=torch.float64) for o in tout]
    sum((o * v).sum() for o, v in zip(tout, w)).backward()
    sum((o * to_l(v)).sum() for o, v in zip(lout, w)).backward()
    check_grads(t, l, [(lx, tx)] + list(zip(ls, ts)))
    assert repr(l) == repr(t)
    lz = l(lx.detach())                  # default zero states
    tz = t(tx.detach())
    for a, b in zip(lz if kind == 'LSTMCell' else (lz,), tz if kind == 'LSTMCell' else (tz,)): close(a, b, 'zero')


def test_relu_cell_and_float32_state_dict_roundtrip():
    torch.manual_seed(0)
    t = torch.nn.LSTM(6, 8, num_layers=2, bidirectional=True, batch_first=True)
    l = nn.LSTM(6, 8, num_layers=2, bidirectional=True, batch_first=True)
    l.load_state_dict({k: to_l(v) for k, v in t.state_dict().items()})
    x = torch.randn(3, 7, 6)
    out, (h, c) = l(to_l(x))
    tout, (th, tc) = t(x)
    close(out, tout, 'float32 output', 1e-5); close(h, th, 'h', 1e-5); close(c, tc, 'c', 1e-5)
    assert out.dtype == learntorch.float32
    t2, l2 = twins('RNNCell', 3, 4, nonlinearity='relu')
    x = torch.randn(2, 3, dtype=torch.float64)
    close(l2(to_l(x)), t2(x), 'relu cell')


@pytest.mark.parametrize('args,kwargs', [
    ((10, 20), {}), ((10, 20, 2), dict(bias=False, batch_first=True, dropout=0.5, bidirectional=True)),
    ((3, 4), dict(proj_size=2, num_layers=3))])
@pytest.mark.parametrize('kind', ['RNN', 'LSTM', 'GRU'])
def test_reprs_names_shapes_and_init(kind, args, kwargs):
    if kind != 'LSTM' and 'proj_size' in kwargs: kwargs = {k: v for k, v in kwargs.items() if k != 'proj_size'}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        t, l = getattr(torch.nn, kind)(*args, **kwargs), getattr(nn, kind)(*args, **kwargs)
    assert repr(l) == repr(t)
    assert [(n, tuple(p.shape)) for n, p in l.named_parameters()] == \
           [(n, tuple(p.shape)) for n, p in t.named_parameters()]
    bound = 1 / math.sqrt(args[1])
    for p in l.parameters():
        a = p.detach().numpy()
        assert a.min() >= -bound and a.max() <= bound and (p.numel() < 8 or a.std() > bound / 4)
    assert repr(nn.RNN(3, 4, nonlinearity='relu')) == repr(torch.nn.RNN(3, 4, nonlinearity='relu'))
    assert repr(nn.RNNCell(3, 4, nonlinearity='relu')) == repr(torch.nn.RNNCell(3, 4, nonlinearity='relu'))


def test_dropout_between_layers():
    learntorch.manual_seed(0)
    m = nn.GRU(4, 6, num_layers=2, dropout=0.5)
    x = learntorch.randn(5, 2, 4)
    a, b = m(x)[0], m(x)[0]
    assert not np.allclose(a.detach().numpy(), b.detach().numpy())   # training: fresh masks each call
    m.eval()
    np.testing.assert_array_equal(m(x)[0].detach().numpy(), m(x)[0].detach().numpy())
    with pytest.warns(UserWarning, match='non-zero dropout expects num_layers greater than 1'):
        nn.LSTM(3, 4, dropout=0.2)


def test_gradcheck_small():
    learntorch.manual_seed(0)
    for kind, kw in [('LSTM', dict(num_layers=2, bidirectional=True, proj_size=2)), ('GRU', {}),
                     ('RNN', dict(bidirectional=True))]:
        m = getattr(nn, kind)(2, 3, dtype=learntorch.float64, **kw)
        x = learntorch.randn(4, 2, 2, dtype=learntorch.float64, requires_grad=True)
        assert learntorch.autograd.gradcheck(lambda x: m(x)[0], (x,))
        packed = lrnn.pack_padded_sequence(x, [4, 2], enforce_sorted=True)
        assert learntorch.autograd.gradcheck(
            lambda d: lrnn.pad_packed_sequence(m(lrnn.PackedSequence(d, packed.batch_sizes))[0])[0],
            (packed.data.detach().requires_grad_(),))
    for cell in (nn.LSTMCell(2, 3, dtype=learntorch.float64), nn.GRUCell(2, 3, dtype=learntorch.float64)):
        x = learntorch.randn(2, 2, dtype=learntorch.float64, requires_grad=True)
        assert learntorch.autograd.gradcheck(lambda x: cell(x)[0], (x,))


def test_thousand_steps_backward():
    m = nn.LSTM(3, 4)
    x = learntorch.randn(1000, 2, 3, requires_grad=True)
    out, (h, c) = m(x)
    (out.sum() + c.sum()).backward()
    assert x.grad.shape == (1000, 2, 3) and np.isfinite(x.grad.numpy()).all()
    assert m.weight_hh_l0.grad is not None


@pytest.mark.parametrize('batch_first', [False, True])
@pytest.mark.parametrize('side', ['right', 'left'])
def test_pad_sequence_vs_torch(batch_first, side):
    seqs = [torch.randn(n, 2, dtype=torch.float64, requires_grad=True) for n in (3, 1, 4)]
    ls = [to_l(s, True) for s in seqs]
    t = trnn.pad_sequence(seqs, batch_first=batch_first, padding_value=-1.5, padding_side=side)
    l = lrnn.pad_sequence(ls, batch_first=batch_first, padding_value=-1.5, padding_side=side)
    close(l, t, 'padded')
    w = torch.randn(*t.shape, dtype=torch.float64)
    (t * w).sum().backward(); (l * to_l(w)).sum().backward()
    for a, b in zip(ls, seqs): close(a.grad, b.grad, 'grad')
    p = lrnn.pack_sequence(ls, enforce_sorted=False)
    tp = trnn.pack_sequence(seqs, enforce_sorted=False)
    assert p.batch_sizes.tolist() == tp.batch_sizes.tolist()
    assert p.sorted_indices.tolist() == tp.sorted_indices.tolist()
    assert p.unsorted_indices.tolist() == tp.unsorted_indices.tolist()
    close(p.data, tp.data, 'packed data')
    for a, b in zip(lrnn.unpack_sequence(p), trnn.unpack_sequence(tp)): close(a, b, 'unpacked')
    padded, lengths = lrnn.pad_packed_sequence(p, total_length=6)
    tpadded, tlengths = trnn.pad_packed_sequence(tp, total_length=6)
    close(padded, tpadded, 'total_length'); assert lengths.tolist() == tlengths.tolist()
    assert lengths.dtype == learntorch.int64 and p.batch_sizes.dtype == learntorch.int64


def errors_of(fn_t, fn_l):
    with pytest.raises(Exception) as et: fn_t()
    with pytest.raises(Exception) as el: fn_l()
    assert type(el.value).__name__ == type(et.value).__name__, (el.value, et.value)
    assert str(el.value) == str(et.value)


@pytest.mark.parametrize('case', [
    lambda M, R, T: M.LSTM(10, 20)(T.randn(5, 3, 7)),
    lambda M, R, T: M.GRU(10, 20)(T.randn(5, 3, 10, 1)),
    lambda M, R, T: M.LSTM(10, 20)(T.randn(5, 3, 10), (T.randn(1, 2, 20), T.randn(1, 3, 20))),
    lambda M, R, T: M.LSTM(10, 20)(T.randn(5, 3, 10), (T.randn(1, 3, 20), T.randn(1, 2, 20))),
    lambda M, R, T: M.RNN(10, 20)(T.randn(5, 3, 10), T.randn(1, 2, 20)),
    lambda M, R, T: M.GRU(10, 20)(T.randn(5, 10), T.randn(1, 3, 20)),
    lambda M, R, T: M.GRU(10, 20)(T.randn(5, 3, 10), T.randn(1, 20)),
    lambda M, R, T: M.LSTM(10, 20)(T.randn(5, 3, 10), (T.randn(1, 20), T.randn(1, 20))),
    lambda M, R, T: R.pack_padded_sequence(T.randn(5, 3, 2), [3, 5, 2]),
    lambda M, R, T: R.pack_padded_sequence(T.randn(5, 3, 2), [3, 0, 2], enforce_sorted=False),
    lambda M, R, T: R.pack_padded_sequence(T.randn(5, 3, 2), [3, 2]),
    lambda M, R, T: R.pack_padded_sequence(T.randn(3, 2, 1), T.tensor([[3, 2]])),
    lambda M, R, T: R.pad_sequence([]),
    lambda M, R, T: R.pad_sequence([T.ones(2)], padding_side='top'),
    lambda M, R, T: R.pad_packed_sequence(R.pack_sequence([T.ones(3)]), total_length=2),
    lambda M, R, T: M.RNNCell(10, 20)(T.randn(3, 7)),
    lambda M, R, T: M.RNNCell(10, 20)(T.randn(3, 10), T.randn(2, 20)),
    lambda M, R, T: M.GRUCell(10, 20)(T.randn(3, 10), T.randn(3, 5)),
    lambda M, R, T: M.LSTMCell(10, 20)(T.randn(3, 10, 2)),
    lambda M, R, T: M.RNNCell(3, 4)(T.randn(3), T.randn(1, 4)),
    lambda M, R, T: M.RNNCell(3, 4)(T.randn(2, 3), T.randn(4)),
    lambda M, R, T: M.LSTM(3, 4)(T.randn(5, 3), (T.randn(1, 2, 4), T.randn(1, 2, 4))),
    lambda M, R, T: M.LSTMCell(10, 20)(T.randn(3, 10), (T.randn(3, 20), T.randn(2, 20))),
    lambda M, R, T: M.RNN(10, 20, nonlinearity='foo'),
    lambda M, R, T: M.LSTM(10, 20, proj_size=20),
    lambda M, R, T: M.LSTM(10, 20, dropout=1.5),
    lambda M, R, T: M.LSTM(10, 0),
    lambda M, R, T: M.LSTM(10, 20, num_layers=0),
])
def test_errors_as_pytorch(case):
    errors_of(lambda: case(torch.nn, trnn, torch), lambda: case(nn, lrnn, learntorch))


def test_packed_sequence_repr_and_flatten_parameters():
    for sort in (True, False):
        t = trnn.pack_sequence([torch.tensor([1., 2.]), torch.tensor([3.])], enforce_sorted=sort)
        l = lrnn.pack_sequence([learntorch.tensor([1., 2.]), learntorch.tensor([3.])], enforce_sorted=sort)
        assert repr(l) == repr(t)
    p = lrnn.pack_sequence([learntorch.tensor([1., 2.]), learntorch.tensor([3.])])
    for name in ('double', 'float', 'half', 'long', 'int'):
        q = getattr(p, name)()
        assert isinstance(q, lrnn.PackedSequence) and q.batch_sizes is p.batch_sizes
        assert q.data.dtype == getattr(p.data, name)().dtype
    m = nn.LSTM(2, 3)
    before = [p.detach().numpy().copy() for p in m.parameters()]
    assert m.flatten_parameters() is None
    assert all((a == p.detach().numpy()).all() for a, p in zip(before, m.parameters()))


def test_namespace_after_import_torch():
    import importlib
    m = importlib.import_module('learntorch.nn.utils.rnn')
    assert m.pad_sequence is lrnn.pad_sequence and learntorch.nn.LSTM is nn.LSTM
    assert {'pad_sequence', 'pack_padded_sequence', 'pad_packed_sequence', 'pack_sequence',
            'PackedSequence'} <= set(m.__all__)


def test_import_torch_nn_utils_rnn_under_the_torch_alias(tmp_path):
    "`import torch.nn.utils.rnn` works when torch is aliased to learntorch (nn.utils must be a package)."
    import subprocess, sys
    from pathlib import Path
    runner = Path(__file__).resolve().parents[1].parent / 'shared' / 'acceptance' / 'run.py'
    if not runner.exists(): pytest.skip('acceptance runner not found')
    script = tmp_path / 'uses_rnn_utils.py'
    script.write_text("import torch\nimport torch.nn.utils.rnn as rnn_utils\n"
                      "from torch.nn.utils.rnn import pad_sequence\n"
                      "assert rnn_utils.pad_sequence is pad_sequence\nprint('OK uses_rnn_utils.py')\n")
    code = ("import sys; sys.path.insert(0, %r); import run as R; "
            "sys.argv = ['-c', 'learntorch', %r]; exec(R.BOOT)" % (str(runner.parent), str(script)))
    p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120,
                       cwd=Path(__file__).resolve().parents[1])
    assert 'OK uses_rnn_utils.py' in p.stdout, p.stderr[-2000:]
