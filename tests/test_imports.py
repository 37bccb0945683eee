"""Every module of the package imports, and `import learntorch as torch` offers PyTorch's top-level names."""
import importlib, pkgutil

import pytest

import learntorch


def _modules():
    "All modules under learntorch/, found by walking the package (no hand-kept list to drift)."
    return sorted(m.name for m in pkgutil.walk_packages(learntorch.__path__, 'learntorch.'))


@pytest.mark.parametrize('name', _modules())
def test_module_imports(name):
    mod = importlib.import_module(name)
    for attr in getattr(mod, '__all__', ()):  # every exported name really exists
        assert hasattr(mod, attr), f'{name}.__all__ lists {attr!r}, which the module does not define'


TOP_LEVEL = ['Tensor', 'tensor', 'from_numpy', 'as_tensor', 'zeros', 'ones', 'empty', 'full', 'arange', 'linspace',
             'eye', 'zeros_like', 'ones_like', 'full_like', 'rand', 'randn', 'randint', 'randperm', 'manual_seed',
             'Generator', 'Size', 'dtype', 'device', 'float32', 'float64', 'float16', 'int64', 'int32', 'int16', 'int8',
             'uint8', 'bool', 'float', 'double', 'half', 'long', 'int', 'short', 'get_default_dtype',
             'set_default_dtype', 'set_printoptions', 'reshape', 'transpose', 'permute', 'squeeze', 'unsqueeze',
             'flatten', 'cat', 'stack', 'split', 'chunk', 'where', 'matmul', 'mm', 'bmm', 'sum', 'mean', 'max', 'min',
             'argmax', 'exp', 'log', 'sqrt', 'abs', 'clamp', 'equal', 'allclose', 'no_grad', 'cuda']


@pytest.mark.parametrize('name', TOP_LEVEL)
def test_top_level_name(name):
    "`import learntorch as torch` exposes `torch.<name>`."
    assert hasattr(learntorch, name), f'learntorch.{name} is missing'


def test_dtypes_are_learntorch_dtypes():
    for name in ('float32', 'float64', 'float16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'):
        d = getattr(learntorch, name)
        assert isinstance(d, learntorch.dtype) and repr(d) == f'torch.{name}'
    assert learntorch.float is learntorch.float32 and learntorch.long is learntorch.int64


def test_thread_count_at_the_top_level_without_importing_training_early():
    "`torch.set_num_threads(1)` works; `import learntorch` alone does not load the training module (and Pillow)."
    import subprocess, sys
    code = ("import sys, learntorch as torch; early = 'learntorch.train' in sys.modules; torch.set_num_threads(1); "
            "print(early, torch.get_num_threads())")
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=learntorch.__path__[0] + '/..')
    assert done.stdout.split() == ['False', '1'], done.stderr
    with pytest.raises(AttributeError, match="module 'learntorch' has no attribute 'no_such_name'"):
        learntorch.no_such_name
