"""Data parallelism on this machine: seed 001's quickstart MLP epoch on 1 and 2 processes with DistributedDataParallel
(scaling efficiency T1 / (2 T2), target >= 0.8), and the all-reduce of a 4 MB float32 tensor, learntorch (MPI) against
torch.distributed with gloo (throughput ratio, target >= 1.0). PyTorch's own DDP efficiency is printed
as a reference for how much the machine allows at the moment.

    python bench/ddp.py [--samples N] [--rounds R]

Every measurement is a job started with `learntorch run --nproc-per-node N` (PyTorch's gloo gets the same launcher:
it sets torchrun's variables), one BLAS/OpenMP thread per process. The 1- and 2-process jobs alternate round by round
(and so do the two libraries' all-reduce jobs); each job reports the median of its timings; the figures are the
medians over rounds. Prints the machine line first and the two ratios last. The efficiency needs two idle cores: run
it when the machine is quiet."""
import argparse, json, os, socket, statistics, subprocess, sys, time
from pathlib import Path

for _var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'): os.environ.setdefault(_var, '1')
ROOT = Path(__file__).resolve().parents[1]
SIZES, BATCH = (784, 512, 512, 10), 64


def epoch_worker(lib, samples, epochs):
    "One rank: the quickstart MLP with DDP and a DistributedSampler, batch 64 per process; seconds per epoch."
    import numpy as np
    if lib == 'torch':
        import torch
        torch.set_num_threads(1)
    else:
        import learntorch as torch
    nn = torch.nn
    from threadpoolctl import threadpool_limits
    limiter = threadpool_limits(limits=1)  # noqa: F841
    dist = torch.distributed
    dist.init_process_group('gloo')
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.random((samples, 1, 28, 28), dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, 10, samples))
    data = torch.utils.data.TensorDataset(X, y)
    sampler = torch.utils.data.distributed.DistributedSampler(data)
    loader = torch.utils.data.DataLoader(data, batch_size=BATCH, sampler=sampler)
    model = nn.parallel.DistributedDataParallel(nn.Sequential(
        nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)))
    loss_fn, optimizer = nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=1e-3)
    times = []
    for epoch in range(epochs + 1):                       # the first epoch warms up
        sampler.set_epoch(epoch)
        dist.barrier()
        start = time.perf_counter()
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        dist.barrier()
        times.append(time.perf_counter() - start)
    if dist.get_rank() == 0: print(json.dumps(statistics.median(times[1:])), flush=True)


def allreduce_worker(lib, repeats):
    "One rank: seconds per all-reduce (SUM) of 2**20 float32 (4 MB), median of `repeats` timings of 10 calls."
    if lib == 'torch':
        import torch
        torch.set_num_threads(1)
    else:
        import learntorch as torch
    dist = torch.distributed
    dist.init_process_group('gloo')
    t = torch.ones(2 ** 20)
    for _ in range(5): dist.all_reduce(t)
    times = []
    for _ in range(repeats):
        dist.barrier()
        start = time.perf_counter()
        for _ in range(10): dist.all_reduce(t)
        times.append((time.perf_counter() - start) / 10)
    if dist.get_rank() == 0: print(json.dumps(statistics.median(times)), flush=True)
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def job(n, *worker_args):
    "Run this script's worker on `n` processes through `learntorch run`; rank 0's number."
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]),
               MASTER_PORT=free_port())
    command = [sys.executable, '-c', 'import sys; from learntorch.train import main; sys.exit(main())', 'run',
               '--nproc-per-node', str(n), '--master-port', env['MASTER_PORT'], __file__, '--worker', *worker_args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200)
    if done.returncode: raise RuntimeError(done.stdout + done.stderr)
    return float(done.stdout.strip().splitlines()[-1])


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--samples', type=int, default=12800, help='images per epoch (default 12800: 200 batches)')
    ap.add_argument('--rounds', type=int, default=3, help='alternating rounds of each measurement')
    ap.add_argument('--worker', nargs='+', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        kind, *rest = a.worker
        if kind == 'epoch': epoch_worker(rest[0], int(rest[1]), int(rest[2]))
        else: allreduce_worker(rest[0], int(rest[1]))
        sys.exit()
    sys.path.insert(0, str(Path(__file__).parent))
    from _harness import machine_line, pin_threads
    limiter = pin_threads()
    print(machine_line(), flush=True)
    epoch = {(lib, n): [] for lib in ('learntorch', 'torch') for n in (1, 2)}
    for r in range(a.rounds):
        for key in (list(epoch) if r % 2 == 0 else list(epoch)[::-1]):
            epoch[key].append(job(key[1], 'epoch', key[0], str(a.samples), '2'))
    T = {key: statistics.median(v) for key, v in epoch.items()}
    for lib in ('torch', 'learntorch'):
        t1, t2 = T[lib, 1], T[lib, 2]
        print(f'{lib} quickstart MLP epoch ({a.samples} images, batch {BATCH} per process, DDP), median of '
              f'{a.rounds} rounds: 1 process {t1:.2f} s, 2 processes {t2:.2f} s, speed-up {t1 / t2:.2f}x, '
              f'efficiency {t1 / (2 * t2):.2f}')
    t1, t2 = T['learntorch', 1], T['learntorch', 2]
    reduce = {'learntorch': [], 'torch': []}
    for r in range(a.rounds):
        for lib in (('learntorch', 'torch') if r % 2 == 0 else ('torch', 'learntorch')):
            reduce[lib].append(job(2, 'allreduce', lib, '15'))
    lt, th = statistics.median(reduce['learntorch']), statistics.median(reduce['torch'])
    gbs = lambda s: 4 * 2 ** 20 / s / 1e9
    print(f'all_reduce of 4 MB float32 on 2 processes, median of {a.rounds} rounds: learntorch (MPI) {lt * 1e3:.2f} ms '
          f'({gbs(lt):.2f} GB/s), torch.distributed gloo {th * 1e3:.2f} ms ({gbs(th):.2f} GB/s)')
    print(f'scaling efficiency T1 / (2 T2): {t1 / (2 * t2):.2f} (target >= 0.8)')
    print(f'all-reduce throughput learntorch / torch gloo: {th / lt:.2f}x (target >= 1.0)')
