"""One training step of a LeNet (Conv2d(1,6,5), ReLU, MaxPool2d(2), Conv2d(6,16,5), ReLU, MaxPool2d(2), Flatten,
Linear(256,120), ReLU, Linear(120,84), ReLU, Linear(84,10)) on a batch of 64 1x28x28 images: forward, cross-entropy,
backward and a plain SGD update under no_grad, in learntorch and in PyTorch (oneDNN), one thread each.

    python bench/cnn_step.py [--rounds N]     # last line: learntorch / PyTorch for the train step

Also times the forward alone, to tell the forward and backward costs apart.

OpenBLAS is pinned to one thread through the environment, before numpy loads: limited only at run time
(threadpoolctl), its idle worker threads make single-threaded calls stall for tens of milliseconds at random
on a busy machine (seen here: the same 6x25 @ 25x36864 product took 0.3 ms or 25 ms)."""
import os
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')
import numpy as np
from _harness import Case, run

BATCH, LR = 64, 1e-2


def lenet(T):
    "The LeNet in library `T`, with weights drawn once from a fixed numpy seed (the same in both libraries)."
    nn = T.nn
    model = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84),
                          nn.ReLU(), nn.Linear(84, 10))
    rng = np.random.default_rng(0)
    with T.no_grad():
        for p in model.parameters():
            p.copy_(T.from_numpy(rng.uniform(-0.2, 0.2, tuple(p.shape)).astype(np.float32)))
    x = T.from_numpy(rng.standard_normal((BATCH, 1, 28, 28)).astype(np.float32))
    y = T.from_numpy(rng.integers(0, 10, BATCH))
    return model, x, y


def train_step(T):
    model, x, y = lenet(T)
    loss_fn, params = T.nn.CrossEntropyLoss(), list(model.parameters())
    def step():
        loss = loss_fn(model(x), y)
        for p in params: p.grad = None
        loss.backward()
        with T.no_grad():
            for p in params: p.sub_(p.grad, alpha=LR)
        return loss
    return step


def forward_only(T):
    model, x, _ = lenet(T)
    def step():
        with T.no_grad(): return model(x)
    return step


if __name__ == '__main__':
    results = run([Case('LeNet forward (no_grad), batch 64', forward_only),
                   Case('LeNet train step, batch 64', train_step)], 'LeNet step')
    print(f'learntorch / PyTorch, LeNet train step: {results[-1].ratio:.2f}x')
