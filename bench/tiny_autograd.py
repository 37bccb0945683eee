"""The smallest reverse-mode autograd that runs seed 001's training step, on numpy: a reference point for the
benchmarks (what a framework costs when it does nothing but record a graph and walk it back), not part of the
library. A `Var` holds an array, its gradient, the vars it came from and a closure that pushes its gradient to
them; `backward` walks the graph in reverse topological order."""
import numpy as np


class Var:
    "An array that remembers how it was computed."
    def __init__(self, data, parents=(), push=None, requires_grad=False):
        self.data, self.parents, self.push = data, parents, push
        self.requires_grad = requires_grad or any(p.requires_grad for p in parents)
        self.grad = None

    def add_grad(self, g):
        self.grad = g if self.grad is None else self.grad + g

    def backward(self):
        "Gradients of this scalar with respect to every var it depends on."
        order, seen, stack = [], set(), [(self, False)]
        while stack:                                  # depth-first, children before parents
            v, done = stack.pop()
            if done: order.append(v); continue
            if id(v) in seen or not v.requires_grad: continue
            seen.add(id(v))
            stack.append((v, True))
            stack += [(p, False) for p in v.parents]
        self.grad = np.ones_like(self.data)
        for v in reversed(order):
            if v.push is not None and v.grad is not None: v.push(v.grad)


def linear(x, w, b):
    "x @ w.T + b"
    out = x.data @ w.data.T
    out += b.data
    def push(g):
        if w.requires_grad: w.add_grad(g.T @ x.data)
        if b.requires_grad: b.add_grad(g.sum(0))
        if x.requires_grad: x.add_grad(g @ w.data)
    return Var(out, (x, w, b), push)


def relu(x):
    out = np.maximum(x.data, 0)
    def push(g): x.add_grad(np.where(out > 0, g, 0).astype(g.dtype))
    return Var(out, (x,), push)


def cross_entropy(z, target):
    "Mean of -log softmax(z)[target]."
    shifted = z.data - z.data.max(1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    rows = np.arange(len(target))
    loss = np.array(-logp[rows, target].mean(), dtype=z.data.dtype)
    def push(g):
        d = np.exp(logp)
        d[rows, target] -= 1
        z.add_grad(d * (g / len(target)))
    return Var(loss, (z,), push)


class MLP:
    "Linear-ReLU-Linear-ReLU-Linear with parameters as `Var`s."
    def __init__(self, layers):
        self.params = [(Var(w.copy(), requires_grad=True), Var(b.copy(), requires_grad=True)) for w, b in layers]

    def __call__(self, x):
        for i, (w, b) in enumerate(self.params):
            x = linear(x, w, b)
            if i < len(self.params) - 1: x = relu(x)
        return x

    def parameters(self): return [p for wb in self.params for p in wb]


def training_step(layers, x, y, lr):
    "Seed 001's step on this autograd: forward, zero the gradients, backward, `p -= lr * p.grad`."
    model, X = MLP(layers), Var(x.reshape(len(x), -1))
    params = model.parameters()
    def step():
        loss = cross_entropy(model(X), y)
        for p in params: p.grad = None
        loss.backward()
        for p in params: p.data -= lr * p.grad
        return loss.data
    return step
