"""The one table of accepted differences: places where PyTorch itself is inconsistent or wrong (or leaves a result
unspecified), so learntorch does not copy it. Each entry names the difference class (as `runner.difference_class`
names it; a tuple while a fix is landing: the lead keeps the landed one), the reason, and a minimal program that shows it; `tests/test_fuzz.py` pins every entry: the program must
still differ exactly that way, so an entry cannot outlive its reason unnoticed."""

ACCEPTED_PROGRAMS = [
    dict(cls=('torch.arange: error none vs ValueError', 'torch.arange: value'),
         reason='an integer `arange` whose step truncates to 0: PyTorch is inconsistent, raising ValueError("step must '
                'be nonzero") for arange(0, 1, 0.5, dtype=int64) but returning [1, 1, 1] for arange(1.5, 3, 0.5, '
                'dtype=int32) (length from the float step, values from the truncated one); learntorch raises in '
                'both cases (on main before the core fixes land it gives [1, 2, 2], the second class)',
         statements=[('torch.arange', 'v0 = torch.arange(1.5, 3, 0.5, dtype=torch.int32)', 'v0')]),
    dict(cls='Tensor.argsort: order of equal elements',
         reason='the order of equal elements is unspecified without stable=True; PyTorch\'s CPU kernel returns '
                'ties in an order that depends on the size (zeros(20).argsort() starts 10, 19, 18, ...); '
                'learntorch sorts stably',
         statements=[('torch.zeros', 'v0 = torch.zeros(20)', 'v0'),
                      ('Tensor.argsort', 'v1 = v0.argsort()', 'v1')]),
    dict(cls='Tensor.sort: order of equal elements',
         reason='as for argsort: which of equal elements comes first is unspecified without stable=True',
         statements=[('torch.zeros', 'v0 = torch.zeros(20)', 'v0'), ('Tensor.sort', 'v1 = v0.sort()', 'v1')]),
    dict(cls='Tensor.topk: order of equal elements',
         reason='which of equal elements topk returns is unspecified (torch.zeros(4).topk(3) gives indices '
                '[2, 3, 0]); learntorch returns the first ones',
         statements=[('torch.zeros', 'v0 = torch.zeros(4)', 'v0'), ('Tensor.topk', 'v1 = v0.topk(3)', 'v1')]),
]

def _classes(entry):
    "The classes an entry accepts (one, or a tuple while a fix is landing)."
    return entry['cls'] if isinstance(entry['cls'], tuple) else (entry['cls'],)


ACCEPTED = {c: e['reason'] for e in ACCEPTED_PROGRAMS for c in _classes(e)}


def accepted_program(entry):
    "The `Program` of an accepted entry."
    from .generator import Program, Statement
    return Program({}, [Statement(op, code, target) for op, code, target in entry['statements']])
