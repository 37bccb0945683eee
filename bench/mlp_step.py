"""One training step of seed 001's MLP (784-512-512-10, ReLU, batch 64, cross-entropy, `p.sub_(p.grad, alpha=lr)`
under no_grad) in learntorch, in PyTorch, hand-written in numpy (the floor that the arithmetic itself sets), and on
the smallest numpy autograd that runs it (`tiny_autograd.py`: what recording and walking a graph costs at least).

    python bench/mlp_step.py [--rounds N]     # times; last line: learntorch / PyTorch
    python bench/mlp_step.py --rss            # peak RSS of 200 steps, each library in a fresh process

All four start from the same float32 weights and data and run interleaved, round by round, one thread each.
Prints each one / PyTorch, then learntorch / numpy floor, and learntorch / PyTorch last (medians of the per-round
ratios)."""
import argparse, statistics, subprocess, sys
import numpy as np
from _harness import calibrate, machine_line, per_call, pin_threads
import tiny_autograd

SIZES, BATCH, LR = (784, 512, 512, 10), 64, 1e-3


def weights_and_data():
    "The same starting point for every implementation: (W, b) per layer as PyTorch lays them out, x, y."
    rng = np.random.default_rng(0)
    layers = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        bound = fan_in ** -0.5
        layers.append((rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32),
                       rng.uniform(-bound, bound, fan_out).astype(np.float32)))
    x = rng.standard_normal((BATCH, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH)
    return layers, x, y


def library_step(T):
    "The step as the seed writes it, in library `T` (learntorch or torch)."
    nn = T.nn
    layers, x, y = weights_and_data()
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    with T.no_grad():
        for lin, (W, b) in zip([m for m in model if isinstance(m, nn.Linear)], layers):
            lin.weight.copy_(T.from_numpy(W.copy())); lin.bias.copy_(T.from_numpy(b.copy()))
    X, Y, loss_fn, params = T.from_numpy(x), T.from_numpy(y), nn.CrossEntropyLoss(), list(model.parameters())
    def step():
        loss = loss_fn(model(X), Y)
        for p in params: p.grad = None
        loss.backward()
        with T.no_grad():
            for p in params: p.sub_(p.grad, alpha=LR)
        return loss
    return step


def numpy_step():
    "The same step by hand: forward, the backward derived on paper, in-place update; float32 throughout."
    layers, x, y = weights_and_data()
    (W1, b1), (W2, b2), (W3, b3) = [(W.copy(), b.copy()) for W, b in layers]
    X, rows = x.reshape(BATCH, -1), np.arange(BATCH)
    def step():
        h1 = X @ W1.T; h1 += b1; a1 = np.maximum(h1, 0)
        h2 = a1 @ W2.T; h2 += b2; a2 = np.maximum(h2, 0)
        z = a2 @ W3.T; z += b3
        z -= z.max(1, keepdims=True)
        e = np.exp(z); s = e.sum(1, keepdims=True)
        loss = (np.log(s[:, 0]) - z[rows, y]).mean()
        g = e / s; g[rows, y] -= 1; g /= BATCH                 # d loss / d logits = softmax - one-hot
        gW3, gb3 = g.T @ a2, g.sum(0)
        g2 = g @ W3; g2 *= h2 > 0
        gW2, gb2 = g2.T @ a1, g2.sum(0)
        g1 = g2 @ W2; g1 *= h1 > 0
        gW1, gb1 = g1.T @ X, g1.sum(0)
        for p, gp in ((W1, gW1), (b1, gb1), (W2, gW2), (b2, gb2), (W3, gW3), (b3, gb3)): p -= LR * gp
        return loss
    return step


def check_same_loss(steps):
    "All three compute the same loss on the first step (to float32 rounding): they time the same work."
    losses = [getattr(loss, 'detach', lambda: loss)() for loss in (s() for s in steps.values())]
    losses = [float(loss) for loss in losses]
    assert max(losses) - min(losses) < 1e-4 * abs(losses[0]), f'implementations disagree: {dict(zip(steps, losses))}'


def times(rounds, target_s):
    import torch, learntorch
    def tiny_step(): return tiny_autograd.training_step(*weights_and_data(), LR)
    steps = {'learntorch': library_step(learntorch), 'torch': library_step(torch), 'numpy': numpy_step(),
             'tiny autograd': tiny_step()}
    check_same_loss({'learntorch': library_step(learntorch), 'torch': library_step(torch), 'numpy': numpy_step(),
                     'tiny autograd': tiny_step()})
    counts = {k: calibrate(f, target_s) for k, f in steps.items()}
    t = {k: [] for k in steps}
    order = list(steps)
    for r in range(rounds):
        for k in order[r % len(order):] + order[:r % len(order)]: t[k].append(per_call(steps[k], counts[k]))
    med = {k: statistics.median(v) for k, v in t.items()}
    ratio = lambda x, y: statistics.median(a / b for a, b in zip(t[x], t[y]))
    print(f'seed 001 MLP step, {rounds} rounds, 1 thread each; ms per step: '
          + ', '.join(f'{k} {v * 1e3:.2f}' for k, v in med.items()))
    print(f'numpy floor / PyTorch: {ratio("numpy", "torch"):.2f}x')
    print(f'tiny numpy autograd / PyTorch: {ratio("tiny autograd", "torch"):.2f}x')
    print(f'PyTorch / numpy floor: {ratio("torch", "numpy"):.2f}x')
    print(f'learntorch / numpy floor: {ratio("learntorch", "numpy"):.2f}x')
    print(f'learntorch / PyTorch: {ratio("learntorch", "torch"):.2f}x')


def peak_rss(lib, steps=200):
    "Run `steps` steps of library `lib` in this (fresh) process and print its peak RSS in MiB."
    if lib == 'numpy': step = numpy_step()
    else:
        T = __import__(lib)
        if lib == 'torch': T.set_num_threads(1)
        step = library_step(T)
    for _ in range(steps): step()
    # VmHWM is this process image's own peak (ru_maxrss would include the parent's pages from before exec)
    hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM:'))
    print(int(hwm.split()[1]) / 1024)


def rss():
    mib = {}
    for lib in ('learntorch', 'torch', 'numpy'):
        out = subprocess.run([sys.executable, __file__, '--rss-of', lib], capture_output=True, text=True, check=True)
        mib[lib] = float(out.stdout.split()[-1])
    print('peak RSS of 200 steps, fresh process each: ' + ', '.join(f'{k} {v:.0f} MiB' for k, v in mib.items()))
    print(f'learntorch / PyTorch peak RSS: {mib["learntorch"] / mib["torch"]:.2f}x')


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--rounds', type=int, default=15)
    ap.add_argument('--target-ms', type=float, default=200)
    ap.add_argument('--rss', action='store_true', help='measure peak RSS instead of time')
    ap.add_argument('--rss-of', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.rss_of: peak_rss(a.rss_of); sys.exit()
    limiter = pin_threads()
    print(machine_line())
    rss() if a.rss else times(a.rounds, a.target_ms / 1000)
