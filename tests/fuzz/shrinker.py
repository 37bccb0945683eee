"""The shrinker: cut a program that differs down to a minimal one that still differs the same way, and print it as
runnable code with both libraries' results.

"The same way" means the first difference has the same symptom at a statement with the same operation (for alias
and gradient differences, the same symptom anywhere). Shrinking removes statements one at a time until none can go,
then halves the inputs along each axis; a candidate in which PyTorch hits a `NameError` (a statement that needed a
removed one) is rejected."""
from .generator import Program
from .runner import differ, difference_class

__all__ = ['shrink', 'report']


def _same(d, target):
    if d is None or d.symptom != target.symptom: return False
    return d.op == target.op or target.symptom.startswith(('alias', 'grad '))


def _still_differs(program, target):
    d, _, tt, _ = differ(program)
    if any(s.message.startswith('NameError') for s in tt.steps): return None
    return d if _same(d, target) else None


def shrink(program, diff, max_tries=200):
    "A minimal program that differs like `program` does with `diff`: (program, its difference)."
    tries = 0
    changed = True
    while changed and tries < max_tries:
        changed = False
        for i in reversed(range(len(program.statements))):
            if len(program.statements) == 1: break
            cand = Program(program.inputs, program.statements[:i] + program.statements[i + 1:])
            tries += 1
            d = _still_differs(cand.used_inputs(), diff)
            if d: program, diff, changed = cand.used_inputs(), d, True
    program = program.used_inputs()
    for name, a in list(program.inputs.items()):          # smaller inputs: the first half along each axis
        for axis in range(a.ndim):
            while program.inputs[name].shape[axis] > 1 and tries < max_tries:
                cur = program.inputs[name]
                smaller = cur.take(range(max(1, cur.shape[axis] // 2)), axis=axis)
                cand = Program({**program.inputs, name: smaller}, program.statements)
                tries += 1
                d = _still_differs(cand, diff)
                if not d: break
                program, diff = cand, d
    return program, diff


def report(program, diff):
    "A minimal reproduction as text: the class, the runnable program, and what each library gave."
    return '\n'.join([f'# {difference_class(program, diff)}', program.source(),
                      f'# at statement {diff.index + 1}: {program.statements[diff.index].code}'
                      + (f'   (variable {diff.var})' if diff.var else ''),
                      f'# PyTorch:    {diff.torch_side}', f'# learntorch: {diff.learntorch_side}'])
