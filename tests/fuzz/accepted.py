"""The one table of accepted differences: places where PyTorch itself is inconsistent or wrong (or leaves a result
unspecified), so learntorch does not copy it. Each entry names the difference class (as `runner.difference_class`
names it), the reason, and a minimal program that shows it; `tests/test_fuzz.py` pins every entry: the program must
still differ exactly that way, so an entry cannot outlive its reason unnoticed."""

ACCEPTED_PROGRAMS = [
    dict(cls='torch.arange: value',
         reason='an integer `arange` with a fractional step: PyTorch takes the length from the float step '
                '(3 elements) but truncates the step to 0 for the values, giving [1, 1, 1]; learntorch gives the '
                'float sequence 1.5, 2.0, 2.5 truncated to the dtype, [1, 2, 2], as numpy does',
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

ACCEPTED = {e['cls']: e['reason'] for e in ACCEPTED_PROGRAMS}


def accepted_program(entry):
    "The `Program` of an accepted entry."
    from .generator import Program, Statement
    return Program({}, [Statement(op, code, target) for op, code, target in entry['statements']])
