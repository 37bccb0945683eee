"""A campaign: run many programs, shrink every difference and group them into classes (operation and symptom).

`campaign(seed, programs)` returns a `Summary`; `python -m tests.fuzz --programs 20000 --seed 7` prints one: the
difference rate, and per class its count and one minimal reproduction. Differences the table `accepted.ACCEPTED_PROGRAMS` matches
(PyTorch itself inconsistent or wrong) are counted apart, as are those put down to rounding or randomness."""
import time
from collections import Counter
from dataclasses import dataclass, field
from .generator import program_for
from .runner import differ, difference_class
from .shrinker import shrink, report
from .accepted import accepted

__all__ = ['Summary', 'campaign']


@dataclass
class Summary:
    seed: int
    programs: int = 0
    differing: int = 0                       # programs with a difference that is not accepted
    accepted: int = 0                        # programs whose difference is in the accepted table
    excused: int = 0                         # differences put down to rounding or randomness
    classes: Counter = field(default_factory=Counter)
    accepted_classes: Counter = field(default_factory=Counter)   # accepted differences by class
    examples: dict = field(default_factory=dict)      # class -> minimal reproduction (text)
    seconds: float = 0.0

    @property
    def rate(self): return self.differing / max(self.programs, 1)

    def table(self, examples=True):
        "The summary as text: the rate, then classes by count with one reproduction each."
        lines = [f'fuzz seed {self.seed}: {self.differing} of {self.programs} programs differ ({self.rate:.1%}), '
                 f'{len(self.classes)} classes; {self.accepted} accepted differences; {self.excused} programs with rounding/random '
                 f'differences excused; {self.seconds:.0f} s']
        for k, n in self.classes.most_common():
            lines.append(f'{n:6d}  {k}')
        lines += [f'{n:6d}  {k}   (accepted)' for k, n in self.accepted_classes.most_common()]
        if examples:
            for k, n in self.classes.most_common():
                lines += ['', self.examples[k]]
        return '\n'.join(lines)


def classify(program):
    "The class of `program`'s first difference after shrinking, its reproduction, and the excused count; or None."
    d, excused, _, _ = differ(program)
    if d is None: return None, None, excused
    small, sd = shrink(program, d)
    return difference_class(small, sd), report(small, sd), excused


def campaign(seed, programs, start=0, progress=None, make=program_for):
    """Run programs `start`.. of the run seeded with `seed` (drawn by `make`, by default `generator`'s); shrink and
    classify each difference."""
    s = Summary(seed)
    t0 = time.perf_counter()
    for i in range(start, start + programs):
        key, text, excused = classify(make(seed, i))
        s.programs += 1
        s.excused += bool(excused)
        if key and accepted(key):
            s.accepted += 1
            s.accepted_classes[key] += 1
        elif key:
            s.differing += 1
            s.classes[key] += 1
            s.examples.setdefault(key, text)
        if progress and (i - start + 1) % progress == 0:
            print(f'... {i - start + 1} programs, {s.differing} differ', flush=True)
    s.seconds = time.perf_counter() - t0
    return s
