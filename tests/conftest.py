"""pytest setup: import learntorch from this checkout and the shared helpers; hypothesis profiles.

Devices: the fixture `device` runs a test on 'cpu', on 'strict' (device 'cuda' backed by the strict array module,
tests/strict_array.py: always runs, no GPU needed) and on 'cuda' (a real GPU through cupy; skipped without one); it
yields learntorch's device string ('cpu' or 'cuda'). `accel_device` is the same without 'cpu'; `strict_cuda` puts the
strict module in cupy's slot and yields the module.

Profiles (choose with `HYPOTHESIS_PROFILE=name`): `default` (25 examples per test, about a minute for the op table on
2 cores), `ci` (the same but derandomized, so a run is reproducible), `thorough` (200 examples, for hunting bugs)."""
import os, sys
from pathlib import Path
import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
for p in (str(ROOT), str(ROOT / 'tests')):
    if p not in sys.path: sys.path.insert(0, p)

_common = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                                      HealthCheck.function_scoped_fixture])   # the device fixtures hold no state per example
settings.register_profile('default', max_examples=25, **_common)
settings.register_profile('ci', max_examples=25, derandomize=True, **_common)
settings.register_profile('thorough', max_examples=200, **_common)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'default'))


@pytest.fixture(params=['cpu', 'strict', 'cuda'])
def device(request):
    "The test runs on each device: 'cpu', 'strict' (cuda backed by the strict array module), 'cuda' (a real GPU)."
    from helpers import on_device
    with on_device(request.param) as d: yield d


@pytest.fixture(params=['strict', 'cuda'])
def accel_device(request):
    "Like `device` without 'cpu': the device runs of a test whose CPU run is a separate test."
    from helpers import on_device
    with on_device(request.param) as d: yield d


@pytest.fixture
def strict_cuda():
    "The strict array module in cupy's slot (learntorch sees a GPU): yields the module."
    from helpers import on_device
    import strict_array
    with on_device('strict'): yield strict_array
