"""The optimizer step: one `optimizer.step()` of each optimizer over a ~1M-parameter MLP's weights (float32).

    python bench/optim_step.py [--rounds N]

The gradients are fixed random tensors set once, so only the update itself is timed (no forward/backward)."""
import numpy as np
from _harness import Case, run

SHAPES = [(1024, 512), (512,), (512, 512), (512,), (512, 256), (256,), (256, 10), (10,)]   # 918,282 parameters
OPTIMIZERS = {
    'SGD': dict(lr=0.01), 'SGD momentum+nesterov': dict(lr=0.01, momentum=0.9, nesterov=True),
    'Adam': dict(lr=1e-3), 'Adam amsgrad': dict(lr=1e-3, amsgrad=True), 'AdamW': dict(lr=1e-3),
    'RMSprop': dict(lr=1e-3), 'RMSprop centered+momentum': dict(lr=1e-3, centered=True, momentum=0.9),
    'Adagrad': dict(lr=1e-2), 'Adadelta': dict(),
}


def one_step(name, kwargs):
    def setup(T):
        rng = np.random.default_rng(0)
        params = []
        for shape in SHAPES:
            p = T.from_numpy(rng.standard_normal(shape).astype(np.float32)).requires_grad_()
            p.grad = T.from_numpy(rng.standard_normal(shape).astype(np.float32) * 1e-3)
            params.append(p)
        opt = getattr(T.optim, name.split()[0])(params, **kwargs)
        opt.step()                       # create the state outside the timing
        return opt.step
    return setup


CASES = [Case(f'{name} step (918k params)', one_step(name, kw)) for name, kw in OPTIMIZERS.items()]

if __name__ == '__main__':
    run(CASES, 'optimizer step')
