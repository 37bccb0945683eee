"""The seed acceptance scripts (../shared/acceptance, beside this repository), each run in its own subprocess with
`torch` aliased to `learntorch`. Grouped by the part of the course that makes them pass; every listed script must pass.
Scripts of parts not yet built join the table when their notebook lands."""
import os, subprocess, sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / 'shared'
RUNNER = SHARED / 'acceptance' / 'run.py'

BY_PART = {  # part of the course: the seed scripts it makes pass (each must pass)
    'tensors': ['seed001_tensors.py'],
    'autograd': ['seed000_tensors.py', 'seed001_autograd.py', 'seed002_tensor_ops.py', 'seed003_tensor_ops.py'],
    'modules': ['seed001_build_model.py'],
    'optimizers': ['seed003_autograd_nn.py', 'seed002_loss_optim_train.py'],
    'data': ['seed000_dataloader.py', 'seed001_datasets.py', 'seed001_custom_image_dataset.py', 'seed002_datasets.py'],
    'checkpoints': ['seed001_optimization_save_load.py'],
    'training': ['seed001_quickstart.py', 'seed000_training.py', 'seed004_basics.py'],
    'convolutions': ['seed002_custom_module.py'],
    'sequences': ['seed002_custom_dataloader.py'],
}


def _params():
    return [pytest.param(s, id=f'{part}-{s}') for part, scripts in BY_PART.items() for s in scripts]


@pytest.mark.skipif(not RUNNER.exists(), reason=f'acceptance scripts not found at {RUNNER} (shared/ beside the repo)')
@pytest.mark.parametrize('script', _params())
def test_acceptance_script(script):
    "run.py reports PASS for the script (it ran to its final `OK <name>` line)."
    p = subprocess.run([sys.executable, str(RUNNER), '--impl', 'learntorch', '--python', sys.executable, script],
                       capture_output=True, text=True, cwd=REPO, timeout=600)
    assert p.returncode == 0, f'{script} failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}'
    assert f'PASS {script}' in p.stdout


# Every Python process started with this directory on PYTHONPATH has the strict array module (tests/strict_array.py) in
# learntorch's cupy slot, as one GPU: `torch.cuda.is_available()` is True, so the seeds' device selection picks cuda.
_STRICT_SITE = """
import sys
sys.path.insert(0, {tests!r})
import strict_array
strict_array.DEVICE_COUNT = 1
import learntorch.tensors as _tensors
_tensors._cupy, _tensors._cupy_checked = strict_array, True
"""

# scripts that cannot pass on a GPU, with PyTorch either
ON_GPU_FAILS_IN_PYTORCH_TOO = {
    'seed000_training.py': 'feeds torch.randn(3, 10), a CPU tensor, to the model after moving it to the device',
}


def _strict_params():
    return [pytest.param(s, id=f'{part}-{s}', marks=[pytest.mark.xfail(strict=True, reason=ON_GPU_FAILS_IN_PYTORCH_TOO[s])]
                         if s in ON_GPU_FAILS_IN_PYTORCH_TOO else [])
            for part, scripts in BY_PART.items() for s in scripts]


@pytest.fixture(scope='module')
def strict_site(tmp_path_factory):
    site = tmp_path_factory.mktemp('strict_site')
    (site / 'sitecustomize.py').write_text(_STRICT_SITE.format(tests=str(REPO / 'tests')))
    return site


@pytest.mark.skipif(not RUNNER.exists(), reason=f'acceptance scripts not found at {RUNNER} (shared/ beside the repo)')
@pytest.mark.parametrize('script', _strict_params())
def test_acceptance_script_on_the_strict_gpu(script, strict_site):
    """The script passes with device 'cuda' chosen and backed by the strict array module: the seeds' GPU lines
    (`model.to(device)`, `X.to(device)`) run through the backend seam."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(strict_site), str(REPO)] +
                                                       [p for p in [os.environ.get('PYTHONPATH')] if p]))
    p = subprocess.run([sys.executable, str(RUNNER), '--impl', 'learntorch', '--python', sys.executable, script],
                       capture_output=True, text=True, cwd=REPO, timeout=600, env=env)
    assert p.returncode == 0, f'{script} failed on the strict GPU:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}'
    assert f'PASS {script}' in p.stdout
