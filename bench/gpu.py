"""GPU workloads: learntorch on cupy against PyTorch CUDA, and learntorch's matrix product against cupy's own `@`.

    python bench/gpu.py [--samples N] [--rounds R] [--sizes 256,1024,4096] [--reps K]

Runs only with a GPU: without cupy and an NVIDIA GPU (`learntorch.cuda.is_available()` is False) it prints one line
saying so and exits 0. With one it prints the machine line and the GPU's name, then

1. the quickstart MLP epoch (seed 001: 784-512-512-10 with ReLU, batch 64, cross-entropy, SGD lr 1e-3; batches on
   the CPU moved with `.to('cuda')` as the seed does) in learntorch on cupy and in PyTorch CUDA, alternating round by
   round, `synchronize()` before each clock read; the median ratio learntorch / PyTorch (target <= 1.5x). Skipped,
   with a line, when PyTorch here has no CUDA.
2. float32 n x n matrix products on the GPU for each size: learntorch (`a @ b` on cuda tensors) against cupy's own
   `@` on the same arrays, the floor learntorch can only approach (its overhead is the Python work per op); TFLOP/s
   and the ratio learntorch / cupy, last the median ratio over the sizes."""
import argparse, statistics, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine_line                       # noqa: E402  (also puts this checkout on sys.path)
from mlp_epoch import BATCH, LR, SIZES, data_and_weights  # noqa: E402


def gpu_missing():
    "Why this benchmark cannot run here, or None when a GPU is usable by learntorch."
    import learntorch
    if not learntorch.cuda.is_available():
        return ('bench/gpu.py: no GPU here (learntorch.cuda.is_available() is False: it needs cupy and an NVIDIA '
                'GPU); nothing measured')
    return None


def synchronizer(T, device):
    "A function that waits for library `T`'s work on `device` (nothing to wait for on the CPU)."
    return T.cuda.synchronize if str(device).startswith('cuda') else (lambda: None)


def epoch_of(T, samples, device):
    "One epoch of the seed's training loop in library `T` with model and batches on `device`; returns the loss."
    nn = T.nn
    x, y, layers = data_and_weights(samples)
    model = nn.Sequential(nn.Flatten(), nn.Linear(SIZES[0], SIZES[1]), nn.ReLU(), nn.Linear(SIZES[1], SIZES[2]),
                          nn.ReLU(), nn.Linear(SIZES[2], SIZES[3]))
    with T.no_grad():
        for lin, (W, b) in zip([m for m in model if isinstance(m, nn.Linear)], layers):
            lin.weight.copy_(T.from_numpy(W)); lin.bias.copy_(T.from_numpy(b))
    model = model.to(device)
    loader = T.utils.data.DataLoader(T.utils.data.TensorDataset(T.from_numpy(x), T.from_numpy(y)),
                                     batch_size=BATCH)
    loss_fn, optimizer = nn.CrossEntropyLoss(), T.optim.SGD(model.parameters(), lr=LR)
    sync = synchronizer(T, device)

    def epoch():
        model.train()
        for X, Y in loader:
            X, Y = X.to(device), Y.to(device)
            loss = loss_fn(model(X), Y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        sync()
        return loss.item()
    return epoch, sync


def compare_epochs(samples, rounds, lt_device='cuda', torch_device='cuda'):
    "Median epoch seconds of both libraries and the median per-round ratio learntorch / PyTorch."
    import torch, learntorch
    runs = {'learntorch': epoch_of(learntorch, samples, lt_device), 'torch': epoch_of(torch, samples, torch_device)}
    first = {k: f() for k, (f, _) in runs.items()}              # warm-up (kernels compile), and the same work
    assert abs(first['learntorch'] - first['torch']) < 1e-3 * abs(first['torch']) + 1e-4, first
    t = {k: [] for k in runs}
    for r in range(rounds):
        for k in (('learntorch', 'torch') if r % 2 == 0 else ('torch', 'learntorch')):
            epoch, sync = runs[k]
            sync(); start = time.perf_counter(); epoch(); t[k].append(time.perf_counter() - start)
    ratio = statistics.median(a / b for a, b in zip(t['learntorch'], t['torch']))
    return {k: statistics.median(v) for k, v in t.items()}, ratio


def matmul_seconds(fn, sync, reps):
    "Seconds per call of `fn`, `reps` calls between two synchronizations."
    sync(); start = time.perf_counter()
    for _ in range(reps): fn()
    sync()
    return (time.perf_counter() - start) / reps


def compare_matmul(sizes, reps, rounds, cp=None):
    "Per size: (n, learntorch s, cupy s, median ratio), learntorch's `@` against cupy's on the same arrays."
    import learntorch
    cp = cp or learntorch.tensors.cupy_module()
    sync = learntorch.cuda.synchronize
    rows = []
    for n in sizes:
        a = learntorch.rand(n, n, device='cuda'); b = learntorch.rand(n, n, device='cuda')
        fns = {'lt': lambda: a @ b, 'cp': lambda: a._array @ b._array}
        for f in fns.values(): f()                                 # warm-up
        t = {'lt': [], 'cp': []}
        for r in range(rounds):
            for k in (('lt', 'cp') if r % 2 == 0 else ('cp', 'lt')): t[k].append(matmul_seconds(fns[k], sync, reps))
        ratio = statistics.median(x / y for x, y in zip(t['lt'], t['cp']))
        rows.append((n, statistics.median(t['lt']), statistics.median(t['cp']), ratio))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--samples', type=int, default=60000, help='images per epoch (default 60000)')
    ap.add_argument('--rounds', type=int, default=5, help='timed rounds per library, alternating')
    ap.add_argument('--sizes', default='256,1024,4096', help='matrix sizes, comma-separated')
    ap.add_argument('--reps', type=int, default=20, help='products per timing')
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(',') if s]
    missing = gpu_missing()
    if missing: print(missing); return 0
    import torch, learntorch
    print(machine_line())
    print(f'GPU: {learntorch.cuda.get_device_name()} ({learntorch.cuda.device_count()} visible)')
    if torch.cuda.is_available():
        med, ratio = compare_epochs(args.samples, args.rounds)
        print(f'quickstart MLP epoch on the GPU, {args.samples} samples (batch {BATCH}), {args.rounds} rounds; '
              f'median s: learntorch {med["learntorch"]:.3f}, PyTorch {med["torch"]:.3f}')
        print(f'learntorch / PyTorch CUDA epoch time: {ratio:.2f}x (target <= 1.5x)')
    else:
        print('quickstart MLP epoch: skipped, PyTorch here is a CPU build (no CUDA to compare with)')
    rows = compare_matmul(sizes, args.reps, args.rounds)
    print(f'{"n":>6s} {"learntorch":>12s} {"cupy @":>12s} {"TFLOP/s lt":>11s} {"ratio":>7s}')
    for n, lt_s, cp_s, ratio in rows:
        print(f'{n:6d} {lt_s * 1e6:9.1f} µs {cp_s * 1e6:9.1f} µs {2 * n**3 / lt_s / 1e12:11.2f} {ratio:6.2f}x')
    print(f'median ratio learntorch / cupy matmul over {len(rows)} sizes: '
          f'{statistics.median(r[3] for r in rows):.2f}x')
    return 0


if __name__ == '__main__':
    sys.exit(main())
