"""Devices as PyTorch has them, checked on the strict array module (device 'cuda' without a GPU, see
tests/strict_array.py) and on a real GPU when one is here: mixing devices raises PyTorch's error, creation functions
take `device=`, `.to` moves tensors (gradients flow back), modules and optimizer state follow their parameters,
checkpoints load across devices, DLPack shares memory, and the layers of notebooks 04-13 compute the same on the device
as on the CPU."""
import io, math
import numpy as np
import pytest

import learntorch as T
from learntorch import nn
import learntorch.nn.functional as F

MIXED = "Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!"
# (which device PyTorch names first depends on the order its kernel checks the arguments in)
MIXED_EITHER = r"Expected all tensors to be on the same device, but found at least two devices, " \
               r"(cuda:0 and cpu|cpu and cuda:0)!"


def host(t): return t.detach().cpu().numpy()


# ------------------------------------------------------------------------------------------- mixing devices
MIXED_CALLS = {
    'add': lambda g, c: g + c, 'mul': lambda g, c: T.mul(g, c), 'matmul': lambda g, c: g @ c,
    'cat': lambda g, c: T.cat([g, c]), 'stack': lambda g, c: T.stack([g, c]),
    'where': lambda g, c: T.where(g > 0, g, c), 'maximum': lambda g, c: T.maximum(g, c),
    'linear': lambda g, c: F.linear(g, c), 'linear_bias': lambda g, c: F.linear(g, g, c[0]),
    'mse_loss': lambda g, c: F.mse_loss(g, c), 'layer_norm': lambda g, c: F.layer_norm(g, (2,), c[0]),
    'index_select': lambda g, c: T.index_select(g, 0, c.long()[0].clamp(0, 1)),
    'gather': lambda g, c: T.gather(g, 1, c.long().clamp(0, 1)),
    'masked_fill': lambda g, c: g.masked_fill(c > 0, 1.0),
    'embedding': lambda g, c: F.embedding(g.long().clamp(0, 1), c),
    'cross_entropy': lambda g, c: F.cross_entropy(g, c.long()[0].clamp(0, 1)),
    'nll_loss_weight': lambda g, c: F.nll_loss(g, g.long()[0].clamp(0, 1), weight=c[0]),
    'conv1d': lambda g, c: F.conv1d(g.unsqueeze(0), c.unsqueeze(0)),
    'batch_norm': lambda g, c: F.batch_norm(g, c[0], c[1], training=False),
    'scaled_dot_product_attention': lambda g, c: F.scaled_dot_product_attention(g, c, c),
    'copy_into_index': lambda g, c: g.index_add(0, T.tensor([0, 1], device=g.device), c),
}


@pytest.mark.parametrize('name', list(MIXED_CALLS))
def test_mixing_devices_raises_pytorchs_error(name, accel_device):
    "A GPU tensor meeting a CPU tensor (not a 0-d one) raises PyTorch's RuntimeError, naming both devices."
    if name == 'copy_into_index' and not hasattr(T.Tensor, 'index_add'): pytest.skip('no index_add')
    g = T.tensor([[1.0, -2.0], [0.5, 3.0]], device=accel_device)
    c = T.tensor([[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(RuntimeError, match=MIXED_EITHER):
        MIXED_CALLS[name](g, c)


def test_mixing_devices_names_them_in_order(accel_device):
    "The first operand's device comes first in the message, as in PyTorch; a GPU model fed CPU data says cuda:0 first."
    with pytest.raises(RuntimeError, match='found at least two devices, cpu and cuda:0!'):
        T.ones(2) + T.ones(2, device=accel_device)
    with pytest.raises(RuntimeError) as e: nn.Linear(3, 2).to(accel_device)(T.ones(1, 3))
    assert str(e.value) == MIXED


def test_cpu_scalar_tensors_mix_with_gpu_tensors(accel_device):
    "0-d CPU tensors count as numbers: PyTorch lets them meet GPU tensors (the result stays on the GPU)."
    g = T.tensor([1.0, 2.0], device=accel_device)
    for r in (g * T.tensor(2.0), T.tensor(2.0) * g, g + T.tensor(1), T.maximum(g, T.tensor(1.5))):
        assert r.device == T.device('cuda', 0)
    assert host(g * T.tensor(2.0)).tolist() == [2.0, 4.0]
    g[0] = T.tensor(7.0)
    assert host(g).tolist() == [7.0, 2.0]


def test_two_gpus_do_not_mix(strict_cuda):
    "Tensors on cuda:0 and cuda:1 do not meet either."
    a, b = T.ones(2, device='cuda:0'), T.ones(2, device='cuda:1')
    assert b.device == T.device('cuda', 1) and (b + 1).device == T.device('cuda', 1)
    with pytest.raises(RuntimeError, match='found at least two devices, cuda:0 and cuda:1!'):
        T.cat([a, b])
    assert (a + b.to('cuda:0')).device == T.device('cuda', 0)


def test_index_tensors_on_the_gpu_for_a_cpu_tensor(accel_device):
    "PyTorch's error for GPU indices into a CPU tensor; CPU indices into a GPU tensor are fine."
    with pytest.raises(RuntimeError, match='indices should be either on cpu or on the same device'):
        T.arange(4.)[T.tensor([1, 2], device=accel_device)]
    assert host(T.arange(4., device=accel_device)[T.tensor([1, 2])]).tolist() == [1.0, 2.0]


# ------------------------------------------------------------------------------------------- creation and moves
CREATION = {
    'tensor': lambda d: T.tensor([1, 2], device=d), 'as_tensor': lambda d: T.as_tensor(np.ones(2), device=d),
    'zeros': lambda d: T.zeros(2, 3, device=d), 'ones': lambda d: T.ones(2, device=d),
    'empty': lambda d: T.empty(2, device=d), 'full': lambda d: T.full((2,), 7, device=d),
    'arange': lambda d: T.arange(5, device=d), 'linspace': lambda d: T.linspace(0, 1, 5, device=d),
    'eye': lambda d: T.eye(3, device=d), 'rand': lambda d: T.rand(2, device=d), 'randn': lambda d: T.randn(2, device=d),
    'randint': lambda d: T.randint(0, 5, (3,), device=d), 'randperm': lambda d: T.randperm(4, device=d),
    'normal': lambda d: T.normal(0.0, 1.0, (3,), device=d), 'Tensor': lambda d: T.Tensor([1.0, 2.0], device=d),
}


@pytest.mark.parametrize('name', list(CREATION))
def test_creation_functions_take_device(name, device):
    "Every creation function puts its tensor on `device=`."
    t = CREATION[name](device)
    assert t.device.type == device and t.is_cuda == (device == 'cuda')


def test_like_and_new_follow_their_tensor(device):
    "`*_like` and `new_*` make tensors on their input's device unless told otherwise."
    x = T.ones(2, 3, device=device)
    for t in (T.zeros_like(x), T.ones_like(x), T.empty_like(x), T.full_like(x, 2), T.rand_like(x), T.randn_like(x),
              T.randint_like(x, 3), x.new_zeros(2), x.new_ones(2), x.new_empty(2), x.new_full((2,), 1),
              x.new_tensor([1, 2])):
        assert t.device == x.device, t
    assert T.zeros_like(x, device='cpu').device == T.device('cpu')


def test_to_moves_and_gradients_come_back(accel_device):
    "`.to(device)`, `.cuda()`, `.cpu()`, `.to(other)`; the backward of a move brings the gradient to the leaf's device."
    x = T.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.to(accel_device)
    assert y.device == T.device('cuda', 0) and y.grad_fn is not None and x.cuda().is_cuda and not y.cpu().is_cuda
    assert x.to(T.ones(1, device=accel_device, dtype=T.float64)).dtype is T.float64
    (y * y).sum().backward()
    assert x.grad.device == T.device('cpu') and x.grad.tolist() == [2.0, 4.0, 6.0]
    z = T.ones(2, device=accel_device)
    assert z.to(accel_device) is z and z.to('cpu').to(accel_device) is not z


def test_numpy_bridge_refuses_gpu_tensors(accel_device):
    "Like PyTorch, `.numpy()` refuses a GPU tensor; `.cpu().numpy()`, `.tolist()`, `.item()` and repr work."
    g = T.tensor([1.5, 2.0], device=accel_device)
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy"): g.numpy()
    with pytest.raises(TypeError): np.asarray(g)
    assert g.cpu().numpy().tolist() == [1.5, 2.0] and g.tolist() == [1.5, 2.0] and g[0].item() == 1.5
    assert repr(g) == "tensor([1.5000, 2.0000], device='cuda:0')"


# ------------------------------------------------------------------------------------------- modules and optimizers
def _mlp(): T.manual_seed(0); return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def test_module_to_cuda_cpu(accel_device):
    "`Module.to/cuda/cpu` move parameters and buffers, in place, keeping them Parameters (and their gradients)."
    m = _mlp()
    m(T.randn(5, 3)).sum().backward()
    w = m[0].weight
    assert m.to(accel_device) is m and m[0].weight is w and isinstance(w, nn.Parameter)
    assert all(p.is_cuda for p in m.parameters()) and all(b.is_cuda for b in m.buffers())
    assert all(p.grad.is_cuda for p in m.parameters())
    assert m.cpu() is m and not any(p.is_cuda for p in m.parameters())
    assert m.cuda() is m and m[1].running_mean.is_cuda


@pytest.mark.parametrize('opt', ['SGD', 'Adam', 'AdamW', 'RMSprop', 'Adagrad', 'Adadelta'])
def test_training_on_the_device_matches_the_cpu(opt, accel_device):
    "A few optimizer steps on the device give the CPU's parameters; the optimizer's state lives with its parameters."
    kw = {'SGD': dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)}.get(opt, dict(lr=0.01))
    results = {}
    for dev in ('cpu', accel_device):
        m = _mlp().to(dev)
        o = getattr(T.optim, opt)(m.parameters(), **kw)
        T.manual_seed(1)
        for _ in range(3):
            x, y = T.randn(6, 3).to(dev), T.randint(0, 2, (6,)).to(dev)
            o.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            T.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            o.step()
        for st in o.state.values():
            for v in st.values():
                if isinstance(v, T.Tensor) and v.ndim: assert v.device.type == dev
        results[dev] = [host(p) for p in m.parameters()]
    for a, b in zip(results['cpu'], results[accel_device]): np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_optimizer_state_follows_its_parameters_on_load(accel_device):
    "Loading a CPU optimizer state into an optimizer of GPU parameters moves the state to the GPU (as PyTorch)."
    m = _mlp()
    o = T.optim.Adam(m.parameters(), lr=0.01)
    m(T.randn(4, 3)).sum().backward()
    o.step()
    sd = o.state_dict()
    m.to(accel_device)
    o2 = T.optim.Adam(m.parameters(), lr=0.01)
    o2.load_state_dict(sd)
    for st in o2.state.values():
        assert st['exp_avg'].is_cuda and st['exp_avg_sq'].is_cuda
    m(T.randn(4, 3).to(accel_device)).sum().backward()
    o2.step()


def test_data_loader_pin_memory_and_moves(accel_device):
    "`DataLoader(pin_memory=True)` is accepted; its batches move to the device with `.to`."
    ds = T.utils.data.TensorDataset(T.arange(10.).reshape(5, 2), T.arange(5))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        dl = T.utils.data.DataLoader(ds, batch_size=2, pin_memory=True)
    xs = [x.to(accel_device, non_blocking=True) for x, _ in dl]
    assert all(x.is_cuda for x in xs) and host(T.cat(xs)).tolist() == np.arange(10.).reshape(5, 2).tolist()


# ------------------------------------------------------------------------------------------- checkpoints
def test_load_map_location_between_devices(accel_device):
    "A GPU checkpoint loads onto the GPU, or onto the CPU with `map_location`; a CPU one loads onto the GPU."
    m = _mlp().to(accel_device)
    buf = io.BytesIO()
    T.save(m.state_dict(), buf)
    for where, want in ((None, 'cuda'), ('cpu', 'cpu'), (T.device('cpu'), 'cpu'), ({'cuda:0': 'cpu'}, 'cpu'),
                        (lambda storage, loc: storage, 'cpu'), (lambda storage, loc: storage.cuda(), 'cuda')):
        buf.seek(0)
        sd = T.load(buf, map_location=where)
        assert all(v.device.type == want for v in sd.values()), where
    m2 = _mlp()
    m2.load_state_dict(sd)
    assert not m2[0].weight.is_cuda
    buf = io.BytesIO()
    T.save(_mlp().state_dict(), buf)
    buf.seek(0)
    sd = T.load(buf, map_location=accel_device)
    assert all(v.is_cuda for v in sd.values())
    np.testing.assert_array_equal(host(sd['0.weight']), host(_mlp()[0].weight))


# ------------------------------------------------------------------------------------------- DLPack
def test_dlpack_with_numpy_shares_memory():
    "`Tensor.__dlpack__`/`__dlpack_device__` and `from_dlpack`: a CPU tensor and numpy share memory both ways."
    a = np.arange(4.0)
    t = T.from_dlpack(a)
    t[0] = 7
    assert a[0] == 7 and t.device.type == 'cpu'
    u = T.ones(3)
    assert u.__dlpack_device__() == (1, 0)
    b = np.from_dlpack(u)
    b[1] = 5
    assert u.tolist() == [1.0, 5.0, 1.0]


def test_dlpack_on_the_gpu(accel_device):
    "A GPU tensor exports a CUDA capsule (device type 2); `from_dlpack` of it shares memory on the GPU."
    g = T.arange(4.0, device=accel_device)
    assert g.__dlpack_device__() == (2, 0)
    h = T.from_dlpack(g)
    h[1] = 9
    assert h.is_cuda and host(g).tolist() == [0.0, 9.0, 2.0, 3.0]
    with pytest.raises(Exception): np.from_dlpack(g)       # numpy cannot read GPU memory
    with pytest.raises(BufferError, match="Can't export tensors that require gradient"):
        g.requires_grad_().__dlpack__()


def test_dlpack_with_pytorch():
    "PyTorch's CPU tensors and learntorch's share memory through DLPack both ways."
    torch = pytest.importorskip('torch')
    p = torch.arange(3.0)
    t = T.from_dlpack(p)
    t[0] = 5
    assert p.tolist() == [5.0, 1.0, 2.0]
    q = torch.from_dlpack(T.zeros(2))
    assert q.tolist() == [0.0, 0.0]


# ------------------------------------------------------------------------------------------- layers on the device
def _same_on_device(make, inputs, device, tol=1e-5):
    "Module `make()` (seeded) gives the same outputs and gradients on `device` as on the CPU."
    out = {}
    for dev in ('cpu', device):
        T.manual_seed(0)
        m = make().to(dev)
        xs = [x.detach().clone().to(dev).requires_grad_(x.dtype.is_floating_point) for x in inputs]
        y = m(*xs)
        y = y[0] if isinstance(y, tuple) else y
        y.float().sum().backward()
        assert y.device.type == dev
        out[dev] = [host(y)] + [host(x.grad) for x in xs if x.grad is not None] + \
                   [host(p.grad) for p in m.parameters() if p.grad is not None]
    for a, b in zip(out['cpu'], out[device]): np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


T.manual_seed(2)
LAYERS = {
    'Conv2d': (lambda: nn.Conv2d(2, 3, 3, padding=1, stride=2, dilation=1, groups=1), [T.randn(2, 2, 6, 5)]),
    'Conv2d_groups': (lambda: nn.Conv2d(4, 4, 2, groups=2, padding='same'),
                      [T.randn(1, 4, 5, 5)]),
    'Conv1d': (lambda: nn.Conv1d(2, 3, 3, padding=2, dilation=2), [T.randn(2, 2, 7)]),
    'ConvTranspose2d': (lambda: nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1),
                        [T.randn(1, 2, 4, 4)]),
    'LeNet': (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2),
                                    nn.AvgPool2d(1), nn.AdaptiveAvgPool2d((2, 2)), nn.Flatten(), nn.Linear(8, 3)),
              [T.randn(3, 1, 9, 9)]),
    'pools': (lambda: nn.Sequential(nn.MaxPool1d(2, ceil_mode=True), nn.AvgPool1d(2, count_include_pad=False)),
              [T.randn(2, 3, 9)]),
    'AdaptiveMaxPool2d': (lambda: nn.AdaptiveMaxPool2d(3), [T.randn(1, 2, 7, 5)]),
    'unfold': (lambda: _Unfold(), [T.randn(1, 2, 3, 3)]),
    'BatchNorm1d': (lambda: nn.BatchNorm1d(3), [T.randn(4, 3, 2)]),
    'LayerNorm_GELU_Dropout0': (lambda: nn.Sequential(nn.LayerNorm(4), nn.GELU(), nn.Dropout(0.0), nn.Softmax(-1)),
                                [T.randn(2, 3, 4)]),
    'Embedding': (lambda: nn.Embedding(5, 3, padding_idx=0), [T.tensor([[0, 1, 4], [4, 4, 2]])]),
    'RNN': (lambda: nn.RNN(3, 4, num_layers=2, nonlinearity='relu'), [T.randn(5, 2, 3)]),
    'LSTM_bidirectional': (lambda: nn.LSTM(3, 4, batch_first=True, bidirectional=True), [T.randn(2, 5, 3)]),
    'GRU': (lambda: nn.GRU(3, 2, num_layers=2, bidirectional=True), [T.randn(4, 1, 3)]),
    'MultiheadAttention': (lambda: _SelfAttention(), [T.randn(2, 5, 4)]),
    'TransformerEncoder': (lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0,
                                                                                   batch_first=True), 2),
                           [T.randn(2, 3, 4)]),
    'TransformerDecoderLayer': (lambda: _Decoder(), [T.randn(2, 3, 4), T.randn(2, 4, 4)]),
}


class _Unfold(nn.Module):
    def forward(self, x): return F.fold(F.unfold(x, 2, padding=1), (3, 3), 2, padding=1)


class _SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.att = nn.MultiheadAttention(4, 2, batch_first=True)
    def forward(self, x):
        mask = T.triu(T.ones(x.shape[1], x.shape[1], dtype=T.bool, device=x.device), 1)
        return self.att(x, x, x, attn_mask=mask)[0]


class _Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerDecoderLayer(4, 2, 8, dropout=0.0, batch_first=True)
    def forward(self, tgt, memory):
        return self.layer(tgt, memory, tgt_mask=nn.Transformer.generate_square_subsequent_mask(tgt.shape[1],
                                                                                            device=tgt.device))


@pytest.mark.parametrize('name', list(LAYERS))
def test_layers_compute_the_same_on_the_device(name, accel_device):
    "Convolutions, pools, norms, recurrent layers and attention: the same outputs and gradients on the device."
    make, inputs = LAYERS[name]
    _same_on_device(make, inputs, accel_device)


def test_vision_transforms_on_the_device(accel_device):
    "Tensor transforms (notebook 08) keep a GPU image on the GPU and compute what they compute on the CPU."
    from learntorch.vision import transforms as tr
    T.manual_seed(3)
    x = T.rand(3, 8, 6)
    for t in (tr.Normalize((0.5, 0.4, 0.3), (0.2, 0.3, 0.4)), tr.Resize(4), tr.CenterCrop(4), tr.Grayscale(),
              tr.ConvertImageDtype(T.float64), tr.Compose([tr.RandomHorizontalFlip(1.0), tr.Lambda(lambda v: v * 2)])):
        on_gpu = t(x.to(accel_device))
        assert on_gpu.is_cuda, t
        np.testing.assert_allclose(host(on_gpu), host(t(x)), rtol=1e-6, atol=1e-6)


def test_training_loop_of_the_course_on_the_device(accel_device):
    "Notebook 10's train_one_epoch/evaluate move each batch to the model's device."
    from learntorch.train import train_one_epoch, evaluate
    T.manual_seed(0)
    ds = T.utils.data.TensorDataset(T.randn(32, 4), T.randint(0, 3, (32,)))
    dl = T.utils.data.DataLoader(ds, batch_size=8)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).to(accel_device)
    opt = T.optim.SGD(model.parameters(), lr=0.1)
    first = evaluate(dl, model, nn.CrossEntropyLoss())
    for _ in range(5): train_one_epoch(dl, model, nn.CrossEntropyLoss(), opt)
    last = evaluate(dl, model, nn.CrossEntropyLoss())
    assert all(p.is_cuda for p in model.parameters())
    loss = lambda r: r[0] if isinstance(r, tuple) else r['loss'] if isinstance(r, dict) else r
    assert loss(last) < loss(first), (first, last)


def test_gpu_tensors_as_data_and_random_parameters(accel_device):
    "`tensor([gpu scalars])` reads them on the host (a CPU tensor, as PyTorch); `normal(gpu mean)` draws there."
    g = T.tensor([1.5, -2.0], device=accel_device)
    t = T.tensor([g[0], g[1]])
    assert t.device.type == 'cpu' and t.tolist() == [1.5, -2.0]
    T.manual_seed(0)
    n = T.normal(g, 1.0)
    T.manual_seed(0)
    assert n.is_cuda and np.allclose(host(n), host(T.normal(g.cpu(), 1.0)))
    with pytest.raises(RuntimeError, match=MIXED_EITHER): T.normal(g, T.ones(2))
