"""pytest setup: import learntorch from this checkout and the shared helpers; hypothesis profiles.

Profiles (choose with `HYPOTHESIS_PROFILE=name`): `default` (25 examples per test, about a minute for the op table on
2 cores), `ci` (the same but derandomized, so a run is reproducible), `thorough` (200 examples, for hunting bugs)."""
import os, sys
from pathlib import Path
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
for p in (str(ROOT), str(ROOT / 'tests')):
    if p not in sys.path: sys.path.insert(0, p)

_common = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
settings.register_profile('default', max_examples=25, **_common)
settings.register_profile('ci', max_examples=25, derandomize=True, **_common)
settings.register_profile('thorough', max_examples=200, **_common)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'default'))
