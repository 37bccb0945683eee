"""Data parallelism over MPI (`learntorch.distributed`, `learntorch run`): every collective against numpy on 2 and 4
processes, DistributedDataParallel against single-process training, DistributedSampler's contract (against PyTorch's
where it is deterministic), a dead rank ending the job within 30 s, a torchrun-style script running unchanged (and the
same script under real PyTorch as the oracle), the launcher's options and errors, and bad inputs.

Jobs are started the way a user starts them, `learntorch run --nproc-per-node N script.py`, with more processes than
cores when N = 4 (oversubscription). Each job script asserts its own results and prints one line per rank."""
import os, subprocess, sys, textwrap, time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('mpi4py')
ROOT = Path(__file__).resolve().parents[1]
MAIN = 'import sys; from learntorch.train import main; sys.exit(main())'


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]),
               OMP_NUM_THREADS='1', OPENBLAS_NUM_THREADS='1')
    env.update(extra)
    return env


def learntorch(*args, timeout=180, **env):
    "Run the `learntorch` command line in a fresh process; the CompletedProcess."
    return subprocess.run([sys.executable, '-c', MAIN, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=_env(**env), cwd=ROOT)


def job(tmp_path, code, n, *args, name='job.py', **env):
    "Write `code` into a script and run it on `n` processes with `learntorch run`."
    script = tmp_path / name
    script.write_text(textwrap.dedent(code))
    return learntorch('run', '--nproc-per-node', n, script, *args, **env)


def ok(done, n):
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count('OK') == n, done.stdout + done.stderr


COLLECTIVES = """
import numpy as np
import learntorch as torch
import learntorch.distributed as dist
dist.init_process_group('gloo')
r, w = dist.get_rank(), dist.get_world_size()
R = dist.ReduceOp

def data(k, dtype, shape=(3, 4)):
    "Rank k's array: different on every rank, the same wherever it is computed."
    rng = np.random.default_rng(100 + k)
    if dtype == np.bool_: return rng.random(shape) < 0.5
    if np.dtype(dtype).kind == 'i': return rng.integers(-4, 5, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)

reference = {R.SUM: np.sum, R.PRODUCT: np.prod, R.MIN: np.min, R.MAX: np.max}
for dtype in (np.float32, np.float64, np.int64, np.int32):
    everyone = np.stack([data(k, dtype) for k in range(w)])
    for op, f in reference.items():
        t = torch.from_numpy(data(r, dtype).copy())
        before = t._array
        dist.all_reduce(t, op=op)
        assert t._array is before                          # in place, same memory
        np.testing.assert_allclose(t.numpy(), f(everyone, axis=0).astype(dtype), rtol=1e-5)
    if np.dtype(dtype).kind == 'f':
        t = torch.from_numpy(data(r, dtype).copy())
        dist.all_reduce(t, op=R.AVG)
        np.testing.assert_allclose(t.numpy(), everyone.mean(0), rtol=1e-5, atol=1e-6)
    else:
        for op, f in ((R.BAND, np.bitwise_and), (R.BOR, np.bitwise_or), (R.BXOR, np.bitwise_xor)):
            t = torch.from_numpy(data(r, dtype).copy())
            dist.all_reduce(t, op=op)
            np.testing.assert_array_equal(t.numpy(), f.reduce(everyone, axis=0))
# bool: SUM is OR, PRODUCT is AND (as PyTorch)
b = torch.from_numpy(data(r, np.bool_).copy()); dist.all_reduce(b)
np.testing.assert_array_equal(b.numpy(), np.stack([data(k, np.bool_) for k in range(w)]).any(0))
# a non-contiguous view is reduced through a copy and written back into the view
base = torch.from_numpy(data(r, np.float64, (4, 6)).copy())
view = base[:, ::2].T
dist.all_reduce(view)
everyone = np.stack([data(k, np.float64, (4, 6)) for k in range(w)])
np.testing.assert_allclose(base.numpy()[:, ::2], everyone.sum(0)[:, ::2])
np.testing.assert_allclose(base.numpy()[:, 1::2], data(r, np.float64, (4, 6))[:, 1::2])
# broadcast from every root
for src in range(w):
    t = torch.from_numpy(data(r, np.float32).copy()); dist.broadcast(t, src=src)
    np.testing.assert_array_equal(t.numpy(), data(src, np.float32))
# all_gather, all_gather_into_tensor (concatenated and stacked)
outs = [torch.empty(3, 4) for _ in range(w)]
dist.all_gather(outs, torch.from_numpy(data(r, np.float32)))
for k in range(w): np.testing.assert_array_equal(outs[k].numpy(), data(k, np.float32))
cat = torch.empty(3 * w, 4); dist.all_gather_into_tensor(cat, torch.from_numpy(data(r, np.float32)))
np.testing.assert_array_equal(cat.numpy(), np.concatenate([data(k, np.float32) for k in range(w)]))
stacked = torch.empty(w, 3, 4); dist.all_gather_into_tensor(stacked, torch.from_numpy(data(r, np.float32)))
np.testing.assert_array_equal(stacked.numpy(), np.stack([data(k, np.float32) for k in range(w)]))
# reduce_scatter (a list) and reduce_scatter_tensor: rank r gets chunk r of the sum
chunks = [torch.from_numpy(data(10 * r + j, np.float64)) for j in range(w)]
out = torch.empty(3, 4); out = out.double(); dist.reduce_scatter(out, chunks)
np.testing.assert_allclose(out.numpy(), sum(data(10 * k + r, np.float64) for k in range(w)))
big = torch.from_numpy(np.concatenate([data(10 * r + j, np.float64) for j in range(w)]))
mine = torch.empty(3, 4, dtype=torch.float64); dist.reduce_scatter_tensor(mine, big, op=R.MAX)
np.testing.assert_allclose(mine.numpy(), np.max([data(10 * k + r, np.float64) for k in range(w)], 0))
# reduce onto the last rank
t = torch.from_numpy(data(r, np.float64).copy()); dist.reduce(t, dst=w - 1)
if r == w - 1: np.testing.assert_allclose(t.numpy(), sum(data(k, np.float64) for k in range(w)))
else: np.testing.assert_array_equal(t.numpy(), data(r, np.float64))
# send / recv around a ring, isend / irecv, recv from any source
right, left = (r + 1) % w, (r - 1) % w
got = torch.empty(3, 4)
req = dist.isend(torch.from_numpy(data(r, np.float32)), dst=right)
assert dist.recv(got, src=left) == left
req.wait()
np.testing.assert_array_equal(got.numpy(), data(left, np.float32))
if r == 0:
    senders = sorted(dist.recv(torch.empty(2), src=None) for _ in range(w - 1))
    assert senders == list(range(1, w)), senders
else: dist.send(torch.full((2,), float(r)), dst=0)
# async_op: a Work to wait on
t = torch.ones(5); work = dist.all_reduce(t, async_op=True); work.wait()
assert work.is_completed() and t.tolist() == [float(w)] * 5
# objects
objs = [None] * w; dist.all_gather_object(objs, {'rank': r})
assert objs == [{'rank': k} for k in range(w)]
lst = ['from', r]; dist.broadcast_object_list(lst, src=1); assert lst == ['from', 1]
# errors that every rank sees: shapes that differ, a message of the wrong size
try: dist.all_reduce(torch.ones(2 + r)); raise AssertionError('no error')
except RuntimeError as e: assert 'disagree' in str(e) and 'rank 1' in str(e), e
try: dist.broadcast(torch.ones(3, dtype=torch.float64 if r else torch.float32), src=0)
except RuntimeError as e: assert 'disagree' in str(e), e
else: raise AssertionError('no error')
if r == 0: dist.send(torch.ones(3), dst=1)
if r == 1:
    try: dist.recv(torch.ones(4), src=0); raise AssertionError('no error')
    except RuntimeError as e: assert 'sent 12 bytes' in str(e), e
    dist.recv(torch.ones(3), src=0)                        # the message is still there
dist.barrier()
dist.destroy_process_group()
print('OK', r, flush=True)
"""


@pytest.mark.parametrize('n', [2, 4])
def test_collectives_against_numpy(tmp_path, n):
    ok(job(tmp_path, COLLECTIVES, n), n)


DDP = """
import numpy as np
import learntorch as torch
import learntorch.distributed as dist
from learntorch import nn
dist.init_process_group('gloo')
r, w = dist.get_rank(), dist.get_world_size()

def make(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3)).double()

# ranks start from different parameters; DDP copies rank 0's; tiny buckets: several all-reduces per step
model = nn.parallel.DistributedDataParallel(make(10 + r), bucket_cap_mb=0.001)
assert len(model.reducer.buckets) > 2
alone = make(0); alone.load_state_dict(model.module.state_dict())
zero = [None] * w; dist.all_gather_object(zero, [p.tolist() for p in model.module.parameters()])
assert all(z == zero[0] for z in zero)                     # identical after construction
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
opt_alone = torch.optim.SGD(alone.parameters(), lr=0.05, momentum=0.9)
rng, B = np.random.default_rng(0), 5
for step in range(50):
    X, Y = rng.standard_normal((w * B, 6)), rng.standard_normal((w * B, 3))
    X, Y = torch.from_numpy(X), torch.from_numpy(Y)
    mine = slice(r * B, (r + 1) * B)
    opt.zero_grad(); nn.functional.mse_loss(model(X[mine]), Y[mine]).backward(); opt.step()
    opt_alone.zero_grad(); nn.functional.mse_loss(alone(X), Y).backward(); opt_alone.step()
err = max((a - b).abs().max().item() for a, b in zip(model.module.parameters(), alone.parameters()))
assert err < 1e-6, err

# no_sync: two micro-batches accumulated locally, then one synchronised backward = one big batch
model.zero_grad(); alone.zero_grad()
X, Y = torch.from_numpy(rng.standard_normal((2 * w * B, 6))), torch.from_numpy(rng.standard_normal((2 * w * B, 3)))
first, second = slice(r * B, (r + 1) * B), slice((w + r) * B, (w + r + 1) * B)
with model.no_sync():
    (nn.functional.mse_loss(model(X[first]), Y[first]) / 2).backward()
local = [p.grad.clone() for p in model.parameters()]
gathered = [None] * w; dist.all_gather_object(gathered, local[0].tolist())
assert w == 1 or gathered[0] != gathered[1]                # not averaged inside no_sync
(nn.functional.mse_loss(model(X[second]), Y[second]) / 2).backward()
nn.functional.mse_loss(alone(X), Y).backward()
for p, q in zip(model.module.parameters(), alone.parameters()):
    np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), atol=1e-12)

# find_unused_parameters: a branch that this forward skips
class Branchy(nn.Module):
    def __init__(self):
        super().__init__(); self.used, self.unused = nn.Linear(3, 2), nn.Linear(3, 2)
    def forward(self, x): return self.used(x)
torch.manual_seed(0)
branchy = nn.parallel.DistributedDataParallel(Branchy().double(), find_unused_parameters=True)
for _ in range(2):
    branchy.zero_grad()
    branchy(torch.ones(2, 3, dtype=torch.float64) * (r + 1)).sum().backward()
np.testing.assert_allclose(branchy.module.used.weight.grad.numpy(), np.full((2, 3), 2 * (w + 1) / 2))
np.testing.assert_allclose(branchy.module.unused.weight.grad.numpy(), 0)
# without it, an unused parameter is an error at the next forward (as in PyTorch)
strict = nn.parallel.DistributedDataParallel(Branchy().double())
strict(torch.ones(1, 3, dtype=torch.float64)).sum().backward()
try: strict(torch.ones(1, 3, dtype=torch.float64)); raise AssertionError('no error')
except RuntimeError as e: assert 'find_unused_parameters' in str(e)
assert list(model.state_dict())[:2] == ['module.0.weight', 'module.0.bias']
print('OK', r, flush=True)
"""


@pytest.mark.parametrize('n', [2, 4])
def test_ddp_equals_single_process_training(tmp_path, n):
    ok(job(tmp_path, DDP, n), n)


def test_ddp_model_mismatch_is_an_error(tmp_path):
    done = job(tmp_path, """
        import learntorch as torch, learntorch.distributed as dist
        dist.init_process_group('gloo')
        try: torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(3, 2 + dist.get_rank()))
        except RuntimeError as e: assert 'same model' in str(e); print('OK', flush=True)
        """, 2)
    ok(done, 2)


# ---------------------------------------------------------------- DistributedSampler (no processes needed)

def test_distributed_sampler_matches_pytorch_without_shuffle():
    torch = pytest.importorskip('torch')
    from learntorch.utils.data.distributed import DistributedSampler
    for n in range(1, 23):
        for replicas in range(1, 6):
            for drop_last in (False, True):
                if drop_last and n < replicas: continue
                for rank in range(replicas):
                    ours = DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
                    theirs = torch.utils.data.DistributedSampler(range(n), replicas, rank, shuffle=False,
                                                                 drop_last=drop_last)
                    assert list(ours) == list(theirs) and len(ours) == len(theirs), (n, replicas, rank)


@pytest.mark.parametrize('n,replicas', [(10, 3), (12, 4), (7, 2), (3, 5), (100, 4)])
def test_distributed_sampler_covers_the_dataset_each_epoch(n, replicas):
    from learntorch.utils.data import DistributedSampler
    orders = []
    for epoch in range(3):
        shards = []
        for rank in range(replicas):
            s = DistributedSampler(range(n), replicas, rank, shuffle=True, seed=7)
            s.set_epoch(epoch)
            shards.append(list(s))
        assert len({len(x) for x in shards}) == 1                     # equal shards
        every = sum(shards, [])
        assert set(every) == set(range(n))                            # every sample, each epoch
        assert len(every) - n == (-n) % replicas                      # padding only to equal shards
        orders.append(every)
    assert orders[0] != orders[1] != orders[2]                        # set_epoch reshuffles
    again = DistributedSampler(range(n), replicas, 0, seed=7)
    again.set_epoch(1)
    assert list(again) == orders[1][:len(again)]                       # the same shuffle on every rank
    trimmed = [list(DistributedSampler(range(n), replicas, r, seed=7, drop_last=True)) for r in range(replicas)]
    if n >= replicas:
        assert len(set(sum(trimmed, []))) == len(sum(trimmed, [])) == (n // replicas) * replicas  # no repeats


def test_distributed_sampler_errors():
    from learntorch.utils.data import DistributedSampler
    with pytest.raises(ValueError, match=r'Invalid rank 3, rank should be in the interval \[0, 2\]'):
        DistributedSampler(range(5), num_replicas=3, rank=3)
    code = ("from learntorch.utils.data import DistributedSampler as D\n"
            "try: D(range(5))\nexcept RuntimeError as e: print(e)")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=_env(), timeout=60)
    assert out.stdout.strip() == 'Requires distributed package to be available', out.stderr


# ---------------------------------------------------------------- faults

DIES = """
import os, signal, sys, time
import learntorch as torch
import learntorch.distributed as dist
dist.init_process_group('gloo')
r = dist.get_rank()
for step in range(10**7):
    if r == 1 and step == 30:
        how = sys.argv[1]
        if how == 'kill': os.kill(os.getpid(), signal.SIGKILL)
        if how == 'exit': os._exit(7)
        if how == 'raise': raise ValueError('this rank fails')
    dist.all_reduce(torch.ones(100))
"""


@pytest.mark.parametrize('how', ['kill', 'exit', 'raise'])
def test_a_dead_rank_ends_the_job_within_30_s_naming_it(tmp_path, how):
    start = time.monotonic()
    done = job(tmp_path, DIES, 3, how, timeout=60)
    seconds = time.monotonic() - start
    assert seconds < 30, seconds
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith('learntorch run: rank 1 ') and 'other ranks were stopped' in last, done.stderr
    assert {'kill': 'signal 9', 'exit': 'status 7', 'raise': 'ValueError'}[how] in last, last


def test_errors_in_one_process(tmp_path):
    "Bad calls give clear errors (one process, started without the launcher: a world of one)."
    script = tmp_path / 'alone.py'
    script.write_text(textwrap.dedent("""
        import datetime
        import learntorch as torch
        import learntorch.distributed as dist
        def fails(kind, text, f):
            try: f()
            except kind as e: assert text in str(e), (text, str(e)); return
            raise AssertionError(f'no {kind.__name__}: {text}')
        assert dist.is_available() and not dist.is_initialized()
        fails(ValueError, 'Default process group has not been initialized', lambda: dist.all_reduce(torch.ones(2)))
        fails(ValueError, 'Default process group has not been initialized', dist.get_rank)
        fails(ValueError, 'Invalid backend', lambda: dist.init_process_group('tcp'))
        fails(RuntimeError, 'world_size is 2 but MPI started 1', lambda: dist.init_process_group('gloo', world_size=2))
        fails(NotImplementedError, 'store', lambda: dist.init_process_group('gloo', store=object()))
        fails(TypeError, 'timeout must be a datetime.timedelta', lambda: dist.init_process_group(timeout=5))
        if not torch.cuda.is_available():
            fails(RuntimeError, "backend 'nccl' needs", lambda: dist.init_process_group('nccl'))
        dist.init_process_group('gloo', init_method='env://', timeout=datetime.timedelta(seconds=5))
        assert (dist.get_rank(), dist.get_world_size(), dist.get_backend()) == (0, 1, 'gloo')
        fails(ValueError, 'twice', lambda: dist.init_process_group('gloo'))
        fails(TypeError, 'must be a Tensor, got list', lambda: dist.all_reduce([1.0]))
        fails(ValueError, 'rank 3 is out of range', lambda: dist.broadcast(torch.ones(2), src=3))
        fails(ValueError, 'list of world_size (1) tensors', lambda: dist.all_gather([], torch.ones(2)))
        fails(ValueError, 'output_tensor must hold', lambda: dist.all_gather_into_tensor(torch.ones(3), torch.ones(2)))
        fails(RuntimeError, 'ReduceOp.BAND needs an integer', lambda: dist.all_reduce(torch.ones(2), dist.ReduceOp.BAND))
        fails(ValueError, 'device_ids and output_device', lambda: torch.nn.parallel.DistributedDataParallel(
            torch.nn.Linear(2, 2), device_ids=[0]))
        fails(NotImplementedError, 'gradient_as_bucket_view', lambda: torch.nn.parallel.DistributedDataParallel(
            torch.nn.Linear(2, 2), gradient_as_bucket_view=True))
        # a receive that no one answers times out (the group's timeout) instead of hanging
        t = torch.ones(2); work = dist.irecv(t, src=0)
        fails(RuntimeError, 'timed out after 0.5 s', lambda: work.wait(timeout=0.5))
        dist.destroy_process_group()
        assert not dist.is_initialized()
        dist.init_process_group('mpi'); assert dist.get_backend() == 'mpi'; dist.destroy_process_group()
        print('OK')
        """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=_env(), timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == 'OK', done.stdout + done.stderr


# ---------------------------------------------------------------- the launcher and the acceptance script

ENVIRONMENT = """
import os, sys
keys = ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT', 'GROUP_RANK')
line = 'ENV ' + ' '.join(f'{k}={os.environ[k]}' for k in keys) + ' ARGS ' + ' '.join(sys.argv[1:])
os.write(1, (line + '\\n').encode())   # one write: the ranks' lines cannot interleave
"""


def test_launcher_sets_torchruns_variables(tmp_path):
    done = job(tmp_path, ENVIRONMENT, 3, '--lr', '0.1', '-x')
    assert done.returncode == 0, done.stderr
    lines = sorted(l for l in done.stdout.splitlines() if l.startswith('ENV'))
    assert lines == [f'ENV RANK={r} LOCAL_RANK={r} WORLD_SIZE=3 LOCAL_WORLD_SIZE=3 MASTER_ADDR=127.0.0.1 '
                     f'MASTER_PORT=29500 GROUP_RANK=0 ARGS --lr 0.1 -x' for r in range(3)], done.stdout


def test_launcher_options(tmp_path):
    (tmp_path / 'envmod.py').write_text(ENVIRONMENT)
    done = learntorch('run', '--nproc_per_node', 2, '--master-port', 1234, '-m', 'envmod', 'a',
                      PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    assert done.returncode == 0 and done.stdout.count('MASTER_PORT=1234') == 2, done.stdout + done.stderr
    done = learntorch('run', '--nproc-per-node', 2, '--no-python', 'echo', 'hello')
    assert done.returncode == 0 and done.stdout.split().count('hello') == 2, done.stderr
    for args, message in [(['--nnodes', '2'], 'several nodes need --hostfile'),
                          (['--node-rank', '1'], '--node-rank must be 0'),
                          (['--standalone', '--nnodes', '2', '--hostfile', 'h'], '--standalone means one node')]:
        done = learntorch('run', *args, 'x.py')
        assert done.returncode == 1 and message in done.stderr, (args, done.stderr)
    for args, message in [(['--nnodes', '1:4'], 'elastic jobs'), (['--nproc-per-node', '0'], 'positive integer')]:
        done = learntorch('run', *args, 'x.py')
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
    done = learntorch('run', '--nproc-per-node', 2, tmp_path / 'missing.py')
    assert done.returncode != 0 and 'learntorch run: rank' in done.stderr, done.stderr


HEADER_AS = """
# A script written for torchrun; only the import line differs (LIB=torch runs the real PyTorch).
import os
import numpy as np
if os.environ.get('LIB') == 'torch':
    import torch
    torch.set_num_threads(1)
else:
    import learntorch as torch
dist = torch.distributed
nn = torch.nn
DDP = torch.nn.parallel.DistributedDataParallel
DataLoader, TensorDataset = torch.utils.data.DataLoader, torch.utils.data.TensorDataset
DistributedSampler = torch.utils.data.distributed.DistributedSampler
"""

HEADER_TORCHRUN = """
# A script written for torchrun, as is: run under learntorch through the acceptance runner's import alias.
import os
import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler
"""

BODY = """
def main():
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ["LOCAL_RANK"])
    assert rank == int(os.environ["RANK"]) and world == int(os.environ["WORLD_SIZE"]) == 2 and local_rank == rank
    t = torch.tensor([1.0, 2.0]) * (rank + 1)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    assert t.tolist() == [3.0, 6.0]
    b = torch.zeros(3) + rank
    dist.broadcast(b, src=1)
    parts = [torch.zeros(2) for _ in range(world)]
    dist.all_gather(parts, torch.full((2,), float(rank)))
    dist.barrier()

    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.standard_normal((96, 8)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 3, 96))
    dataset = TensorDataset(X, y)
    sampler = DistributedSampler(dataset, shuffle=False)
    loader = DataLoader(dataset, batch_size=8, sampler=sampler)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    with torch.no_grad():                        # the same start in both libraries
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.uniform(-0.3, 0.3, tuple(p.shape)).astype(np.float32)))
    ddp = DDP(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(3):
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(ddp(xb), yb)
            loss.backward()
            opt.step()
    total = torch.tensor([loss.item()])
    dist.all_reduce(total)
    checksum = sum(float(p.double().sum()) for p in ddp.module.parameters())
    line = (f"OK rank {rank} broadcast {b.tolist()} gathered {[p.tolist() for p in parts]} "
            f"loss {total.item() / world:.5f} params {checksum:.5f}")
    os.write(1, (line + "\\n").encode())      # one write, so that the ranks' lines stay whole
    dist.destroy_process_group()

if __name__ == "__main__":
    main()
"""


def _free_port():
    "A TCP port nobody listens on now, for PyTorch's gloo rendezvous (MASTER_PORT)."
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def _lines(done):
    ok(done, 2)
    return sorted(l for l in done.stdout.splitlines() if l.startswith('OK'))


def _same_results(ours, theirs):
    def numbers(line):
        return [float(line.split(k)[1].split()[0]) for k in ('loss ', 'params ')]
    for a, b in zip(ours, theirs):
        assert a.split(' loss')[0] == b.split(' loss')[0], (a, b)
        np.testing.assert_allclose(numbers(a), numbers(b), rtol=1e-4)


def test_torchrun_style_script_runs_unchanged(tmp_path):
    "`import learntorch as torch`: the rest of the script as written for torchrun; PyTorch as the oracle."
    ours = _lines(job(tmp_path, HEADER_AS + BODY, 2))
    assert 'broadcast [1.0, 1.0, 1.0] gathered [[0.0, 0.0], [1.0, 1.0]]' in ours[0]
    pytest.importorskip('torch')
    _same_results(ours, _lines(job(tmp_path, HEADER_AS + BODY, 2, LIB='torch', MASTER_PORT=_free_port())))


def test_torchrun_script_with_torch_imports_under_the_alias(tmp_path):
    "`import torch.distributed as dist` etc., unchanged, with the seeds' runner mapping torch to learntorch."
    runner = ROOT.parent / 'shared' / 'acceptance' / 'run.py'
    if not runner.exists(): runner = Path('/work/shared/acceptance/run.py')
    if not runner.exists(): pytest.skip('the acceptance runner (shared/acceptance/run.py) is not here')
    sys.path.insert(0, str(runner.parent))
    try: import run as acceptance
    finally: sys.path.remove(str(runner.parent))
    script = tmp_path / 'train_ddp.py'
    script.write_text(HEADER_TORCHRUN + BODY)
    ours = _lines(learntorch('run', '--nproc-per-node', 2, '--no-python', sys.executable, '-c', acceptance.BOOT,
                             'learntorch', script))
    pytest.importorskip('torch')
    _same_results(ours, _lines(job(tmp_path, HEADER_TORCHRUN + BODY, 2, name='plain.py', MASTER_PORT=_free_port())))


def test_learntorch_train_data_parallel(tmp_path):
    done = learntorch('train', '--nproc-per-node', 2, '--epochs', 1, '--out', tmp_path, '--no-progress',
                      timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(os.listdir(tmp_path)) == ['curves.png', 'history.json', 'model.pth', 'predictions.png']
    assert done.stdout.count('test accuracy') == 1                  # rank 0 alone reports
    checked = learntorch('evaluate', '--checkpoint', tmp_path / 'model.pth', '--no-progress')
    assert checked.returncode == 0 and 'accuracy' in checked.stdout, checked.stderr
    done = learntorch('train', '--nproc-per-node', 2, '--batch-size', 5, '--epochs', 1, '--out', tmp_path)
    assert done.returncode != 0 and 'does not split evenly over 2 processes' in done.stderr, done.stderr


def test_namespaces():
    import learntorch as lt
    import learntorch.distributed as dist
    from learntorch.nn.parallel import DistributedDataParallel, DataParallel
    from learntorch.utils.data.distributed import DistributedSampler
    assert lt.distributed is dist and lt.nn.DataParallel is DataParallel is lt.nn.parallel.DataParallel
    assert lt.utils.data.DistributedSampler is DistributedSampler
    assert DistributedDataParallel is dist.DistributedDataParallel
    assert repr(dist.ReduceOp.SUM) == '<RedOpType.SUM: 0>' and dist.Backend.GLOO == 'gloo'


def test_data_parallel_is_the_module_on_one_device():
    import learntorch as lt
    model = lt.nn.Linear(4, 2)
    wrapped = lt.nn.DataParallel(model)
    x = lt.randn(3, 4)
    assert wrapped.module is model and lt.equal(wrapped(x), model(x))
    assert list(wrapped.state_dict()) == ['module.weight', 'module.bias']


def test_data_parallel_matches_pytorch_on_the_cpu():
    torch = pytest.importorskip('torch')
    import learntorch as lt
    ours, theirs = lt.nn.DataParallel(lt.nn.Linear(4, 2)), torch.nn.DataParallel(torch.nn.Linear(4, 2))
    assert repr(ours) == repr(theirs) and list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(ours(lt.from_numpy(x)).detach().numpy(),
                               theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-6)


def _gpu():
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


@pytest.mark.skipif(not _gpu(), reason='needs an NVIDIA GPU with cupy')
def test_nccl_all_reduce_on_gpu(tmp_path):
    done = job(tmp_path, """
        import learntorch as torch, learntorch.distributed as dist
        dist.init_process_group('nccl')
        t = torch.ones(4, device='cuda') * (dist.get_rank() + 1)
        dist.all_reduce(t); dist.broadcast(t, src=0)
        assert t.cpu().tolist() == [1.0 * sum(range(1, dist.get_world_size() + 1))] * 4
        print('OK', flush=True)
        """, 1)
    ok(done, 1)
