"""Small-op overhead: `a + b`, `a * b`, `a @ b` on tiny float32 tensors, where per-call Python work dominates.

    python bench/op_overhead.py [--rounds N]

Add a case by appending to CASES: `Case(name, setup)` where `setup(T)` builds inputs with library `T` and returns
the function to time (e.g. a forward+backward step once autograd exists)."""
import numpy as np
from _harness import Case, run

SHAPES = {'10': (10,), '10x10': (10, 10)}


def inputs(T, shape):
    "The same float32 values for both libraries, contiguous."
    rng = np.random.default_rng(0)
    return (T.from_numpy(rng.standard_normal(shape).astype(np.float32)) for _ in range(2))


def binary(shape, op):
    def setup(T):
        a, b = inputs(T, shape)
        return lambda: op(a, b)
    return setup


OPS = {'a + b': lambda a, b: a + b, 'a * b': lambda a, b: a * b, 'a @ b': lambda a, b: a @ b}
CASES = [Case(f'{name} ({label})', binary(shape, op)) for label, shape in SHAPES.items() for name, op in OPS.items()]


def forward_backward(shape, op):
    "Record `op` on inputs that require grad, reduce to a scalar, run backward (gradients reset each step)."
    def setup(T):
        a, b = (x.requires_grad_() for x in inputs(T, shape))
        def step():
            a.grad = b.grad = None
            op(a, b).sum().backward()
        return step
    return setup


GRAD_OPS = {'(a + b).sum()': lambda a, b: a + b, '(a * b).sum()': lambda a, b: a * b,
            '(a @ b).sum()': lambda a, b: a @ b, '(a * b + a).tanh().sum()': lambda a, b: (a * b + a).tanh()}
CASES += [Case(f'fwd+bwd {name} ({label})', forward_backward(shape, op))
          for label, shape in SHAPES.items() for name, op in GRAD_OPS.items()]

if __name__ == '__main__':
    run(CASES, 'op overhead')
