"""Differential fuzz test: random statement programs run in PyTorch and learntorch, compared statement by statement.

- `generator`: draws programs (`program_for(seed, i)`),
- `runner`: runs one in both libraries and finds the first difference (`differ`),
- `shrinker`: cuts a differing program down to a minimal reproduction (`shrink`, `report`),
- `accepted`: the one table of differences where PyTorch itself is inconsistent or wrong,
- `campaign`: runs many programs and groups their differences into classes (`python -m tests.fuzz`)."""
from .generator import Program, Statement, program_for, generate
from .runner import differ, difference_class
from .shrinker import shrink, report
