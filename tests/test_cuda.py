"""`learntorch.cuda`: PyTorch's answers without a GPU, the API over cupy on the strict stand-in, and a real GPU.

Three groups: (1) without a GPU, every function answers as PyTorch's CPU build does (same values, same exception
types and messages), compared with the installed PyTorch; (2) with `strict_array` in cupy's slot (two fake GPUs,
arrays numpy refuses), devices, moves, the device context, synchronize, events and the memory counters work through
cupy's API; (3) with a real GPU and cupy, the same checks on the hardware (skipped otherwise)."""
import inspect
from pathlib import Path
import numpy as np
import pytest

import learntorch
import learntorch.tensors as lt_tensors
from learntorch import cuda

torch = pytest.importorskip("torch")

REAL_GPU = cuda.is_available()
no_gpu = pytest.mark.skipif(REAL_GPU, reason="checks the answers without a GPU")
needs_gpu = pytest.mark.skipif(not REAL_GPU, reason="needs cupy and an NVIDIA GPU")
NO_CUDA = "Torch not compiled with CUDA enabled"


def outcome(f):
    "('ok', value) or (exception type, message) of calling `f`."
    try: return 'ok', f()
    except Exception as e: return type(e), str(e)


def same_outcome(lt_call, th_call):
    "Both calls return the same value, or raise the same type with learntorch's message starting with PyTorch's."
    a, b = outcome(lt_call), outcome(th_call)
    assert a[0] == b[0], (a, b)
    if a[0] == 'ok': assert a[1] == b[1], (a, b)
    else: assert a[1].startswith(b[1]), (a, b)


# ------------------------------------------------------------------------------------------ (1) without a GPU
WITHOUT_GPU = ['is_available()', 'device_count()', 'current_device()', 'synchronize()', 'synchronize(0)',
               'synchronize("cpu")', 'memory_allocated()', 'memory_allocated("cpu")', 'max_memory_allocated()',
               'memory_reserved()', 'max_memory_reserved()', 'empty_cache()', 'manual_seed(0)',
               'manual_seed_all(1)', 'get_device_name()', 'get_device_name(0)', 'get_device_properties(0)',
               'get_device_capability()', 'init()', 'set_device("cpu")', 'device("cpu")',
               'Event(enable_timing=True)', 'Event()']


@no_gpu
@pytest.mark.parametrize("call", WITHOUT_GPU)
def test_answers_without_gpu_match_pytorch(call):
    same_outcome(lambda: eval('cuda.' + call, {'cuda': cuda}), lambda: eval('torch.cuda.' + call, {'torch': torch}))


@no_gpu
def test_device_context_without_gpu_matches_pytorch():
    def enter(mod, arg, t=None):
        ctx = mod.device(arg) if t is None else mod.device_of(t)
        with ctx: return 'inside'
    for arg in (-1, 0, 1, 'cuda:1'):
        same_outcome(lambda: enter(cuda, arg), lambda: enter(torch.cuda, arg))
    same_outcome(lambda: enter(cuda, None, learntorch.ones(2)), lambda: enter(torch.cuda, None, torch.ones(2)))
    with cuda.device(None): pass                       # PyTorch with CUDA: no change (its CPU build trips)


@no_gpu
def test_pytorch_internal_errors_become_the_usual_assertion():
    "Where PyTorch's CPU build leaks an AttributeError from its internals, learntorch says what is missing."
    for f in (lambda: cuda.set_device(0), cuda.reset_peak_memory_stats, cuda.reset_max_memory_allocated):
        with pytest.raises(AssertionError, match=NO_CUDA): f()


@no_gpu
@pytest.mark.parametrize("make", ["ones(2).to('cuda')", "ones(2).cuda()", "ones(2).to('cuda:1')",
                                  "zeros(2, device='cuda')", "ones(2).to('cuda', non_blocking=True)"])
def test_cuda_tensors_without_gpu_match_pytorch(make):
    same_outcome(lambda: eval('t.' + make, {'t': learntorch}), lambda: eval('t.' + make, {'t': torch}))


@no_gpu
def test_seed_device_line_picks_cpu():
    device = ("cuda" if learntorch.cuda.is_available() else "mps" if learntorch.backends.mps.is_available()
              else "cpu")
    assert device == "cpu"
    model = learntorch.nn.Linear(3, 2).to(device)
    assert model(learntorch.ones(1, 3).to(device)).device == learntorch.device('cpu')


def test_names_and_signatures_match_pytorch():
    names = ['is_available', 'device_count', 'current_device', 'set_device', 'device', 'device_of', 'synchronize',
             'memory_allocated', 'max_memory_allocated', 'reset_peak_memory_stats', 'reset_max_memory_allocated',
             'memory_reserved', 'max_memory_reserved', 'empty_cache', 'manual_seed', 'manual_seed_all',
             'get_device_name', 'get_device_properties', 'get_device_capability', 'Event', 'is_initialized', 'init']
    for name in names:
        ours, theirs = getattr(cuda, name), getattr(torch.cuda, name)
        assert list(inspect.signature(ours).parameters) == list(inspect.signature(theirs).parameters), name
    for name in ('record', 'synchronize', 'query', 'elapsed_time'):
        ours = [p for p in inspect.signature(getattr(cuda.Event, name)).parameters]
        theirs = [p for p in inspect.signature(getattr(torch.cuda.Event, name)).parameters]
        assert ours == theirs, name
    assert issubclass(cuda.device_of, cuda.device)
    assert learntorch.cuda is cuda


def test_bad_device_arguments():
    with pytest.raises(ValueError, match="Expected a cuda device, but got: cpu"): cuda.set_device('cpu')
    with pytest.raises(ValueError, match="Expected a cuda device, but got: cpu"):
        cuda.device(learntorch.device('cpu'))
    with pytest.raises(NotImplementedError, match="interprocess"): cuda.Event(interprocess=True)


def test_dlpack_exchange_with_pytorch_shares_memory():
    "learntorch and PyTorch hand CPU tensors to each other through DLPack without a copy, both ways."
    lt = learntorch.arange(4.)
    th = torch.from_dlpack(lt)
    th[0] = 7.
    back = learntorch.from_dlpack(torch.arange(3.))
    assert lt.tolist() == [7., 1., 2., 3.] and back.dtype == learntorch.float32 and back.tolist() == [0., 1., 2.]
    assert th.data_ptr() == lt.data_ptr()
    same_outcome(lambda: learntorch.ones(2, requires_grad=True).__dlpack__(),
                 lambda: torch.ones(2, requires_grad=True).__dlpack__())


# ------------------------------------------------------------------------------------------ (2) the strict stand-in
@pytest.fixture
def strict_gpu(strict_cuda, monkeypatch):
    "The stand-in in cupy's slot (conftest's `strict_cuda`, two fake GPUs); learntorch.cuda starts afresh."
    xp = strict_cuda
    monkeypatch.setattr(cuda, '_on_first_use', [cuda._count_peaks])
    monkeypatch.setattr(cuda, '_peaks', {})
    before = xp.cuda.get_allocator()
    xp.cuda.set_allocator(None)
    xp.cuda.runtime.setDevice(0)
    yield xp
    xp.cuda.set_allocator(before)
    xp.cuda.runtime.setDevice(0)


def test_stand_in_is_a_gpu(strict_gpu):
    assert cuda.is_available() and cuda.is_initialized() and cuda.device_count() == 2
    assert cuda.current_device() == 0
    assert cuda.get_device_name() == 'Strict test device (numpy in disguise)'
    assert cuda.get_device_capability(1) == (0, 0)
    p = cuda.get_device_properties('cuda:1')
    assert p.total_memory == 64 * 2**30 and p.multi_processor_count == 1
    assert repr(p).startswith("_CudaDeviceProperties(name='Strict test device")
    cuda.init()


def test_set_device_and_its_errors(strict_gpu):
    cuda.set_device(1); assert cuda.current_device() == 1
    cuda.set_device('cuda:0'); assert cuda.current_device() == 0
    cuda.set_device(learntorch.device('cuda', 1)); assert cuda.current_device() == 1
    cuda.set_device(-1); assert cuda.current_device() == 1          # PyTorch: a negative index changes nothing
    with pytest.raises(RuntimeError, match="invalid device ordinal"): cuda.set_device(2)
    with pytest.raises(ValueError, match="but got: cpu"): cuda.set_device('cpu')
    with pytest.raises(ValueError, match="specified index or an integer"): cuda.set_device(1.5)
    assert cuda.current_device() == 1


def test_device_context_restores_even_after_errors(strict_gpu):
    with cuda.device(1):
        assert cuda.current_device() == 1
        with cuda.device('cuda:0'): assert cuda.current_device() == 0
        assert cuda.current_device() == 1
    assert cuda.current_device() == 0
    with pytest.raises(KeyError):
        with cuda.device(1): raise KeyError('inside')
    assert cuda.current_device() == 0
    with cuda.device(None), cuda.device(-1), cuda.device('cuda'): assert cuda.current_device() == 0
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        with cuda.device(5): pass
    assert cuda.current_device() == 0


def test_device_of_a_tensor(strict_gpu):
    t = learntorch.ones(2).to('cuda:1')
    assert t.device == learntorch.device('cuda', 1) and t.is_cuda
    with cuda.device_of(t): assert cuda.current_device() == 1
    with cuda.device_of(learntorch.ones(2)): assert cuda.current_device() == 0


def test_moves_between_devices(strict_gpu):
    x = learntorch.arange(6.).reshape(2, 3)
    g = x.cuda()
    assert g.is_cuda and g.device == learntorch.device('cuda:0') and type(g._array) is strict_gpu.StrictArray
    g1 = g.to('cuda:1')
    assert g1.device.index == 1 and g1.to(x).device == learntorch.device('cpu')
    assert g1.cpu().tolist() == x.tolist()
    model = learntorch.nn.Linear(3, 2).to('cuda')
    assert all(p.is_cuda for p in model.parameters())
    assert model(g).device == learntorch.device('cuda:0')
    for mixed in (lambda: g + x, lambda: learntorch.nn.functional.linear(x, g)):
        with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device, but found at "
                                               "least two devices, (cuda:0 and cpu|cpu and cuda:0)!"): mixed()


def test_cuda_without_a_number_is_the_current_gpu(strict_gpu):
    with cuda.device(1):
        made = [learntorch.ones(2, device='cuda'), learntorch.ones(2).cuda(), learntorch.ones(2).to('cuda')]
        assert [t.device for t in made] == [learntorch.device('cuda', 1)] * 3
    assert learntorch.ones(2).cuda().device == learntorch.device('cuda:0')
    assert learntorch.ones(2).cuda(1).device == learntorch.device('cuda:1')


def test_synchronize(strict_gpu):
    cuda.synchronize(); cuda.synchronize(1); cuda.synchronize('cuda:1'); cuda.synchronize(learntorch.device('cuda'))
    assert cuda.current_device() == 0
    with pytest.raises(RuntimeError, match="invalid device ordinal"): cuda.synchronize(3)
    with pytest.raises(ValueError, match="but got: cpu"): cuda.synchronize('cpu')


def test_events_time_the_gpu(strict_gpu):
    start, end = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)
    start.record(); (learntorch.ones(100, 100, device='cuda') @ learntorch.ones(100, 100, device='cuda')); end.record()
    end.synchronize()
    assert start.query() and end.query() and start.elapsed_time(end) >= 0
    plain = cuda.Event()
    plain.record()
    with pytest.raises(RuntimeError, match="enable_timing=True"): start.elapsed_time(plain)
    with pytest.raises(RuntimeError, match="must be recorded"): cuda.Event(enable_timing=True).elapsed_time(end)
    with pytest.raises(NotImplementedError, match="stream"): start.record(stream=object())


def test_memory_counters_move(strict_gpu):
    cuda.empty_cache(); cuda.reset_peak_memory_stats()
    base, reserved0 = cuda.memory_allocated(), cuda.memory_reserved()
    x = learntorch.zeros(1024, device='cuda')                    # 4096 bytes: whole 512-byte blocks
    assert cuda.memory_allocated() - base == 4096
    assert cuda.memory_reserved() >= cuda.memory_allocated()
    assert cuda.max_memory_allocated() >= base + 4096
    del x
    assert cuda.memory_allocated() == base                       # the tensor is gone ...
    assert cuda.memory_reserved() == reserved0 + 4096           # ... its block is cached
    assert cuda.max_memory_allocated() >= base + 4096           # the peak remembers it
    assert cuda.max_memory_reserved() >= reserved0 + 4096
    y = learntorch.zeros(1024, device='cuda')                    # the same size again: the cached block
    assert cuda.memory_reserved() == reserved0 + 4096
    del y
    cuda.empty_cache()
    assert cuda.memory_reserved() == cuda.memory_allocated() == base
    cuda.reset_peak_memory_stats()
    assert cuda.max_memory_allocated() == base


def test_memory_counters_are_per_device(strict_gpu):
    cuda.empty_cache()
    before = [cuda.memory_allocated(i) for i in range(2)]
    x = learntorch.zeros(256, device='cuda:1')
    assert cuda.memory_allocated(1) - before[1] == 1024 and cuda.memory_allocated('cuda:0') == before[0]
    assert cuda.max_memory_allocated(learntorch.device('cuda', 1)) >= before[1] + 1024
    del x
    cuda.reset_peak_memory_stats(1)
    assert cuda.max_memory_allocated(1) == cuda.memory_allocated(1) == before[1]
    with pytest.raises(RuntimeError, match="invalid device ordinal"): cuda.memory_allocated(4)


def test_peak_counts_what_was_freed_between_reads(strict_gpu):
    "The peak is noted at each allocation, not only when a counter is read."
    cuda.is_available()                                   # first use: the peak counter goes in
    cuda.reset_peak_memory_stats()
    base = cuda.memory_allocated()
    for _ in range(3): learntorch.zeros(2048, device='cuda')   # each freed at once
    assert cuda.memory_allocated() == base and cuda.max_memory_allocated() >= base + 8192


def test_a_users_allocator_is_left_alone(strict_gpu):
    mine = strict_gpu.get_default_memory_pool().malloc
    calls = []
    def counting(n): calls.append(n); return mine(n)
    strict_gpu.cuda.set_allocator(counting)
    cuda.is_available()
    assert strict_gpu.cuda.get_allocator() is counting
    learntorch.zeros(10, device='cuda')
    assert calls == [40]


def test_random_numbers_on_gpu_follow_the_seed(strict_gpu):
    cuda.manual_seed(3); a = learntorch.rand(4, device='cuda')
    cuda.manual_seed_all(3); b = learntorch.rand(4, device='cuda')
    assert a.is_cuda and a.tolist() == b.tolist()


def test_optimizer_state_follows_its_parameters(strict_gpu):
    "Optimizer buffers live where the parameters live (Adam's `step` counter stays on the CPU, as in PyTorch)."
    model = learntorch.nn.Linear(3, 2).to('cuda')
    for make in (lambda p: learntorch.optim.SGD(p, lr=0.1, momentum=0.9), lambda p: learntorch.optim.Adam(p)):
        opt = make(model.parameters())
        model(learntorch.ones(4, 3, device='cuda')).sum().backward()
        opt.step(); opt.zero_grad()
        for state in opt.state.values():
            for name, value in state.items():
                if isinstance(value, learntorch.Tensor):
                    assert value.device == learntorch.device('cpu' if name == 'step' else 'cuda:0'), name


def test_checkpoints_move_between_devices_with_map_location(strict_gpu):
    import io
    model = learntorch.nn.Linear(3, 2).to('cuda')
    buf = io.BytesIO(); learntorch.save(model.state_dict(), buf)
    for where, expected in ((None, 'cuda:0'), ('cpu', 'cpu'), ('cuda:1', 'cuda:1'),
                            (learntorch.device('cpu'), 'cpu')):
        buf.seek(0)
        sd = learntorch.load(buf, map_location=where)
        assert {str(v.device) for v in sd.values()} == {expected}, where
    cpu_model = learntorch.nn.Linear(3, 2)
    cpu_model.load_state_dict(sd)
    assert cpu_model.weight.device == learntorch.device('cpu')
    assert cpu_model.weight.tolist() == model.weight.cpu().tolist()


def test_data_loader_accepts_pin_memory(strict_gpu):
    with pytest.warns(UserWarning, match="pin_memory"):
        loader = learntorch.utils.data.DataLoader(learntorch.utils.data.TensorDataset(learntorch.ones(4, 2)),
                                                  batch_size=2, pin_memory=True)
    batches = [b.to('cuda', non_blocking=True) for (b,) in loader]
    assert [b.device for b in batches] == [learntorch.device('cuda:0')] * 2


# ------------------------------------------------------------------------------------------ (3) a real GPU
@needs_gpu
def test_real_gpu_answers():
    import cupy
    assert cuda.device_count() == cupy.cuda.runtime.getDeviceCount() >= 1
    assert isinstance(cuda.get_device_name(), str) and cuda.get_device_capability()[0] >= 3
    cuda.synchronize()
    cuda.empty_cache(); cuda.reset_peak_memory_stats()
    base = cuda.memory_allocated()
    x = learntorch.ones(1024, 1024, device='cuda')
    assert cuda.memory_allocated() - base >= 4 * 2**20 and cuda.max_memory_allocated() >= base + 4 * 2**20
    assert cuda.memory_reserved() >= cuda.memory_allocated()
    start, end = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)
    start.record(); y = x @ x; end.record()
    assert start.elapsed_time(end) > 0 and y[0, 0].item() == 1024
    del x, y
    cuda.empty_cache()
    assert cuda.memory_reserved() == cuda.memory_allocated()


@needs_gpu
def test_real_gpu_matches_pytorch_cuda_when_present():
    if not torch.cuda.is_available(): pytest.skip("PyTorch here is a CPU build")
    assert cuda.device_count() == torch.cuda.device_count()
    assert cuda.get_device_name(0) == torch.cuda.get_device_name(0)
    assert cuda.get_device_capability(0) == torch.cuda.get_device_capability(0)


# ------------------------------------------------------------------------------------------ bench/gpu.py
def load_bench():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / 'bench' / 'gpu.py'
    spec = importlib.util.spec_from_file_location('bench_gpu', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@no_gpu
def test_bench_gpu_says_so_and_exits_0_without_gpu():
    import subprocess, sys
    from pathlib import Path
    script = Path(__file__).resolve().parents[1] / 'bench' / 'gpu.py'
    r = subprocess.run([sys.executable, str(script), '--sizes', '64'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines() == [load_bench().gpu_missing()]
    assert 'no GPU here' in r.stdout


def test_bench_gpu_code_paths_on_the_stand_in(strict_gpu, capsys):
    "The GPU code paths run on the stand-in: matmul against the 'cupy' @, and the whole report of `main`."
    bench = load_bench()
    assert bench.gpu_missing() is None
    rows = bench.compare_matmul([16, 32], reps=2, rounds=2)
    assert [r[0] for r in rows] == [16, 32] and all(r[1] > 0 and r[2] > 0 and r[3] > 0 for r in rows)
    assert bench.main(['--sizes', '16', '--reps', '1', '--rounds', '1']) == 0
    out = capsys.readouterr().out
    assert 'GPU: Strict test device' in out and 'median ratio learntorch / cupy matmul over 1 sizes' in out
    if not torch.cuda.is_available(): assert 'quickstart MLP epoch: skipped' in out


def test_bench_gpu_epoch_runs_on_the_stand_in(strict_gpu):
    "The quickstart epoch of bench/gpu.py trains on the stand-in GPU and agrees with PyTorch on the CPU."
    bench = load_bench()
    med, ratio = bench.compare_epochs(samples=256, rounds=1, lt_device='cuda', torch_device='cpu')
    assert med['learntorch'] > 0 and med['torch'] > 0 and ratio > 0


# ------------------------------------------------------------------------------------------ notebook 14 on a GPU
NB14 = Path(__file__).resolve().parents[1] / 'nbs' / '14_cuda.ipynb'
RUN_CELLS = r'''
import json, sys
from execnb.nbio import read_nb
from execnb.shell import CaptureShell
tests, nb_path = sys.argv[1], sys.argv[2]
sh = CaptureShell()
sh.run(f"import sys; sys.path.insert(0, {tests!r}); import strict_array, learntorch.tensors as T; "
       "T._cupy, T._cupy_checked = strict_array, True")
for i, c in enumerate(read_nb(nb_path).cells):
    if c.cell_type != 'code': continue
    # the stand-in computes on the CPU: small matrices only
    sh.run(c.source.replace('gpu_sizes = [int(n) for n in ns]', 'gpu_sizes = [8, 16, 32]'))
    if sh.exc: raise SystemExit(f'cell {i} failed: {sh.exc!r}\n{c.source}')
print('cells ran')
'''


@pytest.mark.skipif(not NB14.exists(), reason='notebook 14 not found')
def test_notebook_gpu_branches_run_on_the_stand_in(tmp_path):
    "Every cell of notebook 14 runs with a (stand-in) GPU present; the GPU timings file is written and read back."
    import json, subprocess, sys
    p = subprocess.run([sys.executable, '-c', RUN_CELLS, str(Path(__file__).resolve().parent), str(NB14)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert p.returncode == 0 and 'cells ran' in p.stdout, p.stdout[-2000:] + p.stderr[-3000:]
    saved = json.loads((tmp_path / 'gpu_timings.json').read_text())
    assert saved['device'] == 'Strict test device (numpy in disguise)' and saved['sizes'] == [8, 16, 32]
    assert len(saved['on_device']) == len(saved['with_copies']) == 3
