"""One epoch of seed 001's quickstart training loop (784-512-512-10 MLP with ReLU, batch 64, cross-entropy, SGD lr 1e-3,
`DataLoader` over a `TensorDataset`) on 60,000 random float32 images, in learntorch and in PyTorch (CPU).

    python bench/mlp_epoch.py [--samples N] [--rounds R]

Prints, after the machine line: the peak RSS of one epoch (each library in a fresh process, VmHWM from
/proc/self/status) and its ratio, the import time of each library (fresh processes, median) and its ratio, then the
epoch times (the two libraries alternate in one process, round by round, one thread each; the first epoch of each
is a warm-up) and, last, the median of the per-round time ratios learntorch / PyTorch. Use --samples 6400 for a
quick run."""
import argparse, os, statistics, subprocess, sys, time
# one BLAS thread from the start: limiting OpenBLAS later (threadpoolctl) leaves idle workers that stall at random
for _var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'): os.environ.setdefault(_var, '1')
import numpy as np
from _harness import machine_line, pin_threads

SIZES, BATCH, LR = (784, 512, 512, 10), 64, 1e-3


def data_and_weights(samples):
    "The same images, labels and starting weights for both libraries (float32, PyTorch's layouts)."
    rng = np.random.default_rng(0)
    x = rng.random((samples, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, samples)
    layers = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        bound = fan_in ** -0.5
        layers.append((rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32),
                       rng.uniform(-bound, bound, fan_out).astype(np.float32)))
    return x, y, layers


def epoch_of(T, samples):
    "A function running one epoch of the seed's `train` loop in library `T` (learntorch or torch); returns the loss."
    nn = T.nn
    x, y, layers = data_and_weights(samples)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    with T.no_grad():
        for lin, (W, b) in zip([m for m in model if isinstance(m, nn.Linear)], layers):
            lin.weight.copy_(T.from_numpy(W)); lin.bias.copy_(T.from_numpy(b))
    loader = T.utils.data.DataLoader(T.utils.data.TensorDataset(T.from_numpy(x), T.from_numpy(y)),
                                     batch_size=BATCH)
    loss_fn, optimizer = nn.CrossEntropyLoss(), T.optim.SGD(model.parameters(), lr=LR)

    def epoch():
        model.train()
        for X, Y in loader:
            loss = loss_fn(model(X), Y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        return loss.item()
    return epoch


def times(samples, rounds):
    import torch, learntorch
    epochs = {'learntorch': epoch_of(learntorch, samples), 'torch': epoch_of(torch, samples)}
    first = {k: f() for k, f in epochs.items()}                   # warm-up, and the same work in both
    assert abs(first['learntorch'] - first['torch']) < 1e-3 * abs(first['torch']) + 1e-4, first
    t = {k: [] for k in epochs}
    for r in range(rounds):
        for k in (('learntorch', 'torch') if r % 2 == 0 else ('torch', 'learntorch')):
            start = time.perf_counter(); epochs[k](); t[k].append(time.perf_counter() - start)
    ratio = statistics.median(a / b for a, b in zip(t['learntorch'], t['torch']))
    print(f'one epoch of {samples} samples (batch {BATCH}), {rounds} rounds, 1 thread each; median s: '
          + ', '.join(f'{k} {statistics.median(v):.2f}' for k, v in t.items()))
    print(f'learntorch / PyTorch epoch time: {ratio:.2f}x')


def peak_rss(lib, samples):
    "Run one epoch of library `lib` in this (fresh) process and print the process's peak RSS in MiB."
    if lib == 'torch':
        import torch as T
        T.set_num_threads(1)
    else:
        import learntorch as T
        from threadpoolctl import threadpool_limits
        limiter = threadpool_limits(limits=1)  # noqa: F841
    epoch_of(T, samples)()
    hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM:'))
    print(int(hwm.split()[1]) / 1024)


def run_fresh(*args):
    return subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True).stdout


def rss(samples):
    mib = {lib: float(run_fresh('--rss-of', lib, '--samples', str(samples)).split()[-1])
           for lib in ('learntorch', 'torch')}
    print(f'peak RSS of one epoch ({samples} samples, {samples * 784 * 4 / 2**20:.0f} MiB of images), fresh '
          f'process each: ' + ', '.join(f'{k} {v:.0f} MiB' for k, v in mib.items()))
    print(f'learntorch / PyTorch peak RSS: {mib["learntorch"] / mib["torch"]:.2f}x')


def import_times(repeats=5):
    code = 'import time; t = time.perf_counter(); import {}; print(time.perf_counter() - t)'
    med = {lib: statistics.median(float(subprocess.run([sys.executable, '-c', code.format(lib)], capture_output=True,
                                                       text=True, check=True).stdout)
                                  for _ in range(repeats))
           for lib in ('learntorch', 'torch')}
    print(f'import time, fresh process, median of {repeats}: '
          + ', '.join(f'{k} {v * 1e3:.0f} ms' for k, v in med.items()))
    print(f'learntorch / PyTorch import time: {med["learntorch"] / med["torch"]:.2f}x')


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--samples', type=int, default=60000, help='images per epoch (default 60000)')
    ap.add_argument('--rounds', type=int, default=5, help='timed epochs per library, alternating')
    ap.add_argument('--rss-of', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.rss_of: peak_rss(a.rss_of, a.samples); sys.exit()
    limiter = pin_threads()
    print(machine_line())
    rss(a.samples)
    import_times()
    times(a.samples, a.rounds)
