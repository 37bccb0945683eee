"""Known failures of the fuzz test's CI run: difference classes the fixed seed set still finds because their cause is
not fixed yet, each naming its owner and cause. `tests/test_fuzz.py` fails on any class *not* listed here (a new
difference) and on a difference rate above `MAX_RATE`. Fixes make entries stale: delete them (the test prints the
stale ones; `LEARNTORCH_FUZZ_STRICT=1` makes them fail) and lower `MAX_RATE`, so the list only shrinks.

Print candidates with `python -m tests.fuzz --seed 0 --programs 4000 --no-examples --known`; tighten the file to the
code as it is with `python -m tests.fuzz --seed 0 --programs 4000 --no-examples --write-known` (the CI seed set)."""

# programs differing / programs run on the CI seed set may not exceed this (measured: 0.8% on seed 0, 4000 programs)
MAX_RATE = 0.01

KNOWN_FAILURES = {
    'Tensor.backward: error RuntimeError vs IndexError': 'autograd: exception type differs',
    'Tensor.copy_: requires_grad False vs True': 'autograd: copy_ is computed as arithmetic (CopyBackwards, inf*0)',
    'setitem:basic: grad_fn CopyBackwards vs CopySlices': 'autograd: grad_fn node names',
    'torch.autograd.grad: value': 'autograd: values, shapes or dtypes',
    'Tensor.gather: error none vs IndexError': 'core: learntorch rejects what PyTorch accepts (0-d, size-0, overflow, ...)',
    'Tensor.gather: error none vs RuntimeError': 'core: learntorch rejects what PyTorch accepts (0-d, size-0, overflow, ...)',
    'Tensor.masked_fill_: error none vs RuntimeError': 'core: learntorch rejects what PyTorch accepts (0-d, size-0, overflow, ...)',
    'getitem:basic: strides': 'core: layout: results keep numpy memory order',
    'read:stride: value': 'core: values, shapes or dtypes',
    'setitem:advanced: error RuntimeError vs IndexError': 'core: exception type differs',
    'setitem:basic: error IndexError vs RuntimeError': 'core: exception type differs',
    'setitem:mask: error RuntimeError vs IndexError': 'core: exception type differs',
    'setitem:mask: error RuntimeError vs none': 'core: validation PyTorch does and learntorch skips',
    'setitem:mixed: error none vs RuntimeError': 'core: learntorch rejects what PyTorch accepts (0-d, size-0, overflow, ...)',
    'torch.cat: error none vs IndexError': 'core: learntorch rejects what PyTorch accepts (0-d, size-0, overflow, ...)',
    'torch.full: error none vs RuntimeError': 'core: learntorch rejects what PyTorch accepts (0-d, size-0, overflow, ...)',
    'torch.tensor(dtype): error TypeError vs none': 'core: validation PyTorch does and learntorch skips',
    'torch.zeros(out=): error none vs RuntimeError': 'core: learntorch rejects what PyTorch accepts (0-d, size-0, overflow, ...)',
    'with torch.set_grad_enabled: setitem:mixed: error RuntimeError vs IndexError': 'core: exception type differs',
    'F.binary_cross_entropy: error RuntimeError vs none': 'nn: validation PyTorch does and learntorch skips',
    'F.binary_cross_entropy_with_logits: dtype float16 vs float32': 'nn: values, shapes or dtypes',
    'F.cross_entropy: error RuntimeError vs IndexError': 'nn: exception type differs',
    'F.gelu: value': 'nn: values, shapes or dtypes',
}
