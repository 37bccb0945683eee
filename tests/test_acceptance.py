"""The seed acceptance scripts (../shared/acceptance, beside this repository), each run in its own subprocess with
`torch` aliased to `learntorch`. Grouped by the part of the course that makes them pass; every listed script must pass.
Scripts of parts not yet built join the table when their notebook lands."""
import subprocess, sys
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
