"""Known failures of the fuzz test's CI run: difference classes the fixed seed set still finds because their cause is
not fixed yet, each naming its owner and cause. `tests/test_fuzz.py` fails on any class *not* listed here (a new
difference) and on a difference rate above `MAX_RATE`. Fixes make entries stale: delete them (the test prints the
stale ones; `LEARNTORCH_FUZZ_STRICT=1` makes them fail) and lower `MAX_RATE`, so the list only shrinks.

Print candidates with `python -m tests.fuzz --seed 0 --programs 4000 --no-examples --known`; tighten the file to the
code as it is with `python -m tests.fuzz --seed 0 --programs 4000 --no-examples --write-known` (the CI seed set)."""

# programs differing / programs run on the CI seed set may not exceed this (measured: 0 of 4000 programs on seed 0)
MAX_RATE = 0.0

KNOWN_FAILURES = {
}
