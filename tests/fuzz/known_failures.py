"""Known failures of the fuzz test's CI run: difference classes the fixed seed set still finds because their cause is
not fixed yet, each naming its owner and cause. `tests/test_fuzz.py` fails on any class *not* listed here (a new
difference) and on a difference rate above `MAX_RATE`. Fixes make entries stale: delete them (the test prints the
stale ones; `LEARNTORCH_FUZZ_STRICT=1` makes them fail) and lower `MAX_RATE`, so the list only shrinks.

Print candidates with `python -m tests.fuzz --seed 0 --programs 4000 --no-examples --known`; tighten the file to the
code as it is with `python -m tests.fuzz --seed 0 --programs 4000 --no-examples --write-known` (the CI seed set)."""

# programs differing / programs run on the CI seed set may not exceed this (measured: 0.1% on seed 0, 4000 programs)
MAX_RATE = 0.0025

KNOWN_FAILURES = {
    'torch.autograd.grad: value': 'nn: kl_div of a 0-d log_softmax input: the gradient at a 0 target is nan in PyTorch (0 * log 0 differentiated), 0 here (notebook 05)',
    'read:stride: value': 'core: torch.tensor of an empty numpy array keeps numpy strides in PyTorch ((0,) for a float16 (0,) array), learntorch gives contiguous ones',
    'torch.zeros(out=): error none vs RuntimeError': 'core: a factory function writing into a non-leaf `out` that requires grad: PyTorch writes and records a NotImplemented node, learntorch refuses as for other out= functions',
    'F.binary_cross_entropy_with_logits: dtype float16 vs float32': 'nn: float32 logits with a float16 target give a float16 loss in PyTorch (the target dtype), float32 here (notebook 05)',
    'F.cross_entropy: error RuntimeError vs IndexError': 'nn: a 0-d uint8 input with label_smoothing: PyTorch first checks the target dtype (RuntimeError), learntorch the class dim (IndexError) (notebook 05)',
}
