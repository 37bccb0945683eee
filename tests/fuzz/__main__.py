"""`python -m tests.fuzz --programs 20000 --seed 7`: a long fuzz run; prints the difference classes, their counts and
one minimal reproduction each. `--findings FILE` also writes them as markdown tables by owner; `--known` prints the
classes as entries for `known_failures.KNOWN_FAILURES` (each with its likely cause)."""
import argparse, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # `tests/`, for `import fuzz`
if not any(Path(p, 'learntorch').is_dir() for p in sys.path if p):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # this checkout's learntorch, unless PYTHONPATH has one
from fuzz.campaign import campaign
from fuzz.triage import findings_markdown, cause, owner

p = argparse.ArgumentParser(description=__doc__)
p.add_argument('--programs', type=int, default=2000)
p.add_argument('--seed', type=int, default=7)
p.add_argument('--start', type=int, default=0, help='first program number (to split a run)')
p.add_argument('--no-examples', action='store_true', help='only the table of classes')
p.add_argument('--findings', help='write markdown tables of the classes by owner to this file')
p.add_argument('--title', default='fuzz findings')
p.add_argument('--known', action='store_true', help='print the classes as KNOWN_FAILURES entries')
p.add_argument('--write-known', action='store_true',
               help='tighten fuzz/known_failures.py to this run: its classes only, MAX_RATE its rate rounded up to 0.5%%')
p.add_argument('--generator', type=int, default=1, choices=(1, 2),
               help='1: generator.py (the CI run), 2: generator2.py (scenarios the first one does not draw)')
p.add_argument('--verbose', action='store_true', help='print each program number first (to find one that crashes)')
a = p.parse_args()
import learntorch
print(f'learntorch from {learntorch.__file__}', flush=True)
from fuzz.generator import program_for
from fuzz.generator2 import program2_for
s = campaign(a.seed, a.programs, a.start, progress=1 if a.verbose else 1000,
             make=program_for if a.generator == 1 else program2_for)
assert not (a.write_known and a.generator != 1), 'known_failures.py is about the CI run (generator 1)'
print(s.table(examples=not a.no_examples))
if a.findings: Path(a.findings).write_text(findings_markdown([s], a.title))
if a.known:
    for k in sorted(s.classes, key=lambda k: (owner(k), k)):
        print(f'    {k!r}: {owner(k) + ": " + cause(k)!r},')
if a.write_known:
    import math, re
    path = Path(__file__).with_name('known_failures.py')
    head = path.read_text().split('KNOWN_FAILURES = {')[0]
    rate = math.ceil(s.rate * 200) / 200
    head = re.sub(r'MAX_RATE = [0-9.]+', f'MAX_RATE = {rate}', head)
    head = re.sub(r'\(measured: [^)]*\)', f'(measured: {s.rate:.1%} on seed {a.seed}, {a.programs} programs)', head)
    entries = [f'    {k!r}: {owner(k) + ": " + cause(k)!r},' for k in sorted(s.classes, key=lambda k: (owner(k), k))]
    path.write_text(head + 'KNOWN_FAILURES = {\n' + '\n'.join(entries) + '\n}\n')
    print(f'wrote {path}: {len(entries)} known failures, MAX_RATE = {rate}')
