"""Triage: which helper owns a difference class (tensors/ops -> core, autograd/grad_fn/hooks -> autograd,
nn.functional/losses -> nn) and which cause it most likely has, by rules on the class name. Used to write the
findings file and to name the cause of each known failure."""
import re

__all__ = ['owner', 'cause', 'findings_markdown']

CAUSES = [  # (pattern on the class name, cause); first match wins
    (r'^(with torch\.\w+: )?operator (%=|//=|&=|\|=|\^=).*(alias|strides|requires_grad|error RuntimeError vs none)',
     'in-place operators %=, //=, &=, |=, ^= are not in place'),
    (r'copy_', 'copy_ is computed as arithmetic (CopyBackwards, inf*0)'),
    (r'AsStridedBackward0', "a view's grad_fn after an in-place write to its base is AsStridedBackward0 in PyTorch"),
    (r'(getitem|setitem):mixed.*(shape|strides|value)', 'mixed advanced indexing follows numpy axis order'),
    (r'numpy RuntimeWarning', "numpy's RuntimeWarnings leak to the user"),
    (r'NotImplemented vs', 'ops without a derivative (floor_divide, remainder by a tensor) get one'),
    (r'requires_grad', 'requires_grad bookkeeping (casts, views, fill_/zero_, no_grad views, setitem)'),
    (r'grad_fn', 'grad_fn node names'),
    (r': (alias )?grad ', 'gradient values or presence'),
    (r'error none vs AttributeError|vs AttributeError', 'missing API (scatter, top-level softmax/log_softmax, ...)'),
    (r'error NotImplementedError vs', "unsupported dtypes: PyTorch raises NotImplementedError"),
    (r'error \w+ vs none', 'validation PyTorch does and learntorch skips'),
    (r'error none vs', 'learntorch rejects what PyTorch accepts (0-d, size-0, overflow, ...)'),
    (r'error \w+ vs \w+', 'exception type differs'),
    (r'strides', 'layout: results keep numpy memory order'),
    (r'alias value', 'a view misses a write'),
    (r'(value|shape|dtype|kind)', 'values, shapes or dtypes'),
]


def cause(key):
    "The most likely cause of a difference class, in words."
    return next((c for p, c in CAUSES if re.search(p, key)), 'other')


def owner(key):
    "The helper who owns the code a difference class points at: core, autograd or nn."
    op, symptom = key.split(': ', 1) if ': ' in key else (key, '')
    op = re.sub(r'^with torch\.\w+: ', '', op)
    if op.startswith('F.') or 'F.' in op.split(' after ')[0]: return 'nn'
    if re.search(r'grad_fn|requires_grad|(^|alias )grad |NotImplemented vs', symptom) or \
            re.match(r'(Tensor\.(backward|retain_grad|register_hook|grad|detach)|torch\.autograd)', op): return 'autograd'
    return 'core'


def findings_markdown(summaries, title):
    "Markdown tables of difference classes grouped by owner (count, cause, class) with a reproduction each."
    from collections import Counter
    counts, examples = Counter(), {}
    for s in summaries:
        counts.update(s.classes)
        for k, v in s.examples.items(): examples.setdefault(k, v)
    runs = ', '.join(f'seed {s.seed}: {s.differing}/{s.programs} ({s.rate:.1%})' for s in summaries)
    out = [f'## {title}', '', f'Difference rate: {runs}.', '']
    for who in ('core', 'autograd', 'nn'):
        keys = [k for k, _ in counts.most_common() if owner(k) == who]
        out += [f'### {who} ({len(keys)} classes, {sum(counts[k] for k in keys)} programs)', '',
                '| count | class (op: symptom, PyTorch vs learntorch) | likely cause |', '|---:|---|---|']
        out += [f'| {counts[k]} | `{k}` | {cause(k)} |' for k in keys]
        out += ['', '<details><summary>minimal reproductions</summary>', '']
        for k in keys: out += ['```python', examples[k], '```']
        out += ['</details>', '']
    return '\n'.join(out)
