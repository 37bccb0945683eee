"""A second, independent program generator, to estimate how often programs *not* drawn by `generator` differ.

`generator` spreads its statements evenly over the surface. This one follows four other habits of real code, each
a short scenario rather than single random statements:

- **view chains, then writes**: a non-leaf (or a plain tensor), a chain of views of it (transpose, slicing with
  steps, select, narrow, unbind, split, diagonal, reshape, expand, `mT`), in-place writes through one of the views
  (operators, methods, `copy_`, `fill_`, setitem), then reads of every view and a backward pass;
- **mixed dtypes with Python numbers**: int, bool, uint8 and half tensors against ints, floats, bools, big and
  negative numbers, through operators, functions with `alpha=`, comparisons and casts;
- **reductions with dim tuples**: `sum`/`mean`/`amax`/`amin`/`std`/`var`/`logsumexp`/`norm`/`count_nonzero` over
  tuples of (negative) dims, with `keepdim`, `dtype=` and `correction=`;
- **nn.functional on odd shapes**: size-0 batches, 0-d and 1-d inputs, size-1 feature dims, half inputs, extra
  keyword arguments.

Programs are built from the same `Program`/`Statement` records, so the runner, the shrinker and the campaign use them
unchanged: `python -m tests.fuzz --generator 2 --seed 101 --programs 5000`."""
import numpy as np
import torch
from .generator import Program, Statement, namespace, execute, _Draw

__all__ = ['program2_for']

SCALARS = ['0', '1', '-1', '2', '3', '-3', '7', '0.5', '-2.5', '1e-4', '3.75', 'True', 'False', '100', '-128', '255',
           '256', '2**31', '1e10', '65504.0', '70000.0']
INT_DTYPES = ['int64', 'int32', 'int16', 'int8', 'uint8', 'bool']
FLOAT_DTYPES = ['float32', 'float32', 'float64', 'float16']


class ScenarioGenerator:
    "Draws one program as one scenario: `ScenarioGenerator(rng).program()`."

    def __init__(self, rng):
        self.d = _Draw(rng)
        self.n = 0

    def new(self):
        self.n += 1
        return f'v{self.n - 1}'

    def add(self, op, code, target=None, discrete=False, keep_errors=0.3):
        "Run a statement in PyTorch; keep it if it works (or, now and then, if it fails)."
        st = Statement(op, code, target, discrete=discrete)
        err = execute(self.ns, code)
        if err is None or self.d.p(keep_errors):
            self.prog.statements.append(st)
            return err is None
        if target and code.startswith(f'{target} ='): self.ns.pop(target, None)
        return False

    def program(self):
        d = self.d
        shape = tuple(d.choice([0, 1, 2, 3, 3, 4]) if d.p(0.9) else 0 for _ in range(d.choice([1, 2, 2, 3, 3])))
        if d.p(0.05): shape = ()
        self.inputs = {'x0': d.array(shape, d.choice(FLOAT_DTYPES)),
                       'x1': d.array(shape[d.int(0, len(shape)):], d.choice(FLOAT_DTYPES + INT_DTYPES))}
        self.prog = Program(self.inputs)
        self.ns = namespace(torch, self.inputs)
        torch.manual_seed(0)
        getattr(self, d.choice(['views'] * 4 + ['scalars'] * 3 + ['reductions'] * 2 + ['functional'] * 3))()
        return self.prog

    def t(self, name): return self.ns.get(name)

    # ------------------------------------------------------------------ view chains, then in-place writes
    def _view(self, a):
        d, t = self.d, self.t(a)
        nd = t.dim()
        dim = d.int(-nd, nd - 1) if nd else 0
        opts = ['[...]', '.view(-1)', '.reshape(-1)', '.unsqueeze(0)', '.squeeze()', '.flatten()', '.detach()']
        if nd >= 1:
            n = t.shape[dim]
            opts += [f'[{d.int(0, max(n - 1, 0))}]', f'[{d.int(0, 1)}:]', '[::2]', f'.narrow({dim}, 0, {min(n, 1)})',
                     f'.select({dim}, {d.int(-1, 0) if n else 0})', f'.unbind({dim})[0]', f'.split(1, {dim})[-1]',
                     f'.chunk(2, {dim})[0]', f'[..., {d.int(0, max(t.shape[-1] - 1, 0))}]', '[None]',
                     f'.movedim({dim}, 0)', f'.expand(2, *{a}.shape)']
        if nd >= 2:
            opts += ['.t()' if nd == 2 else '.mT', '.T' if nd == 2 else '.transpose(0, -1)', '.diagonal()',
                     '[:, 1:]', '[1:, ::2]', f'.permute({", ".join(map(str, reversed(range(nd))))})', '.mT',
                     '.unflatten(0, (1, -1))']
        return d.choice(opts)

    def views(self):
        d = self.d
        v = self.new()
        start = d.choice(['torch.tensor(x0, requires_grad=True)', 'torch.tensor(x0)', 'torch.tensor(x1)'])
        self.add('torch.tensor', f'{v} = {start}', v)
        leaf = v
        if self.t(v).requires_grad or d.p(0.3):
            w = self.new()
            mk = d.choice(['* 1', '.exp()', '.clone()', '* 2 + 1', '.sin()', '.double()', '.float()'])
            self.add('operator *' if mk.startswith('*') else f'Tensor.{mk[1:].split("(")[0]}',
                     f'{w} = {v}{mk}' if mk.startswith('.') else f'{w} = {v} {mk}', w)
            v = w
        base = v
        views = []
        for _ in range(d.int(1, 3)):
            src = d.choice([base] + views)
            if src not in self.ns: continue
            w = self.new()
            code = f'{w} = {src}{self._view(src)}'
            if self.add(f'view {code.split(src, 1)[1].split("(")[0][:12]}', code, w, keep_errors=0.1):
                views.append(w)
        other = self.new()
        self.add('torch.tensor', f'{other} = torch.tensor(x0, requires_grad={d.choice(["True", "False"])})', other)
        for _ in range(d.int(1, 3)):
            target = d.choice(views + [base]) if views else base
            if target not in self.ns: continue
            self._write(target, other)
            if d.p(0.4):
                r = self.new()
                self.add('read', f'{r} = {d.choice(views + [base])} * 1', r)
        tensors = [k for k in [base] + views if isinstance(self.t(k), torch.Tensor) and self.t(k).requires_grad]
        if tensors and d.p(0.7):
            k = d.choice(tensors)
            if d.p(0.3):
                g = self.new()
                self.add('torch.autograd.grad', f'{g} = torch.autograd.grad(({k} * {k}).sum(), [{leaf}], '
                                                f'allow_unused=True)', g)
            else:
                self.add('Tensor.backward', f'({k} * {k}).sum().backward()')

    def _write(self, a, other):
        d, t = self.d, self.t(a)
        val = d.choice(SCALARS[:12])
        o = other if self.t(other) is not None and self.t(other).shape == t.shape else f'({a}.detach() * 0 + 1)'
        w = d.choice(['+=', '-=', '*=', '/=', 'add_', 'mul_', 'sub_', 'div_', 'clamp_', 'exp_', 'neg_', 'zero_',
                      'fill_', 'copy_', 'setitem', 'setitem_t', 'masked_fill_', 'sigmoid_', 'pow_', 'addcmul_'])
        if w in ('+=', '-=', '*=', '/='):
            rhs = o if d.p(0.5) else val
            return self.add(f'operator {w}', f'{a} {w} {rhs}', a)
        if w in ('add_', 'sub_', 'mul_', 'div_'):
            rhs = o if d.p(0.5) else val
            alpha = ', alpha=2' if w in ('add_', 'sub_') and d.p(0.3) else ''
            return self.add(f'Tensor.{w}', f'{a}.{w}({rhs}{alpha})', a)
        if w == 'clamp_': return self.add('Tensor.clamp_', f'{a}.clamp_(-1, 1)', a, discrete=True)
        if w in ('exp_', 'neg_', 'zero_', 'sigmoid_'): return self.add(f'Tensor.{w}', f'{a}.{w}()', a)
        if w == 'fill_': return self.add('Tensor.fill_', f'{a}.fill_({val})', a)
        if w == 'copy_': return self.add('Tensor.copy_', f'{a}.copy_({o})', a)
        if w == 'pow_': return self.add('Tensor.pow_', f'{a}.pow_(2)', a)
        if w == 'addcmul_': return self.add('Tensor.addcmul_', f'{a}.addcmul_({o}, {o}, value=0.5)', a)
        if w == 'masked_fill_':
            return self.add('Tensor.masked_fill_', f'{a}.masked_fill_({a} > 0, {val})', a, discrete=True)
        key = d.choice(['...', '0', ':1', '-1', '::2', 'None', '[0]']) if t.dim() else d.choice(['...', 'None', '()'])
        rhs = val if w == 'setitem' else f'{o}[{key}]' if d.p(0.5) else o
        return self.add(f'setitem {w}', f'{a}[{key}] = {rhs}', a)

    # ------------------------------------------------------------------ mixed dtypes with Python numbers
    def scalars(self):
        d = self.d
        names = []
        for _ in range(d.int(1, 2)):
            v = self.new()
            dt = d.choice(INT_DTYPES + ['float16', 'float32', 'float64'])
            src = d.choice(['x0', 'x1'])
            self.add('torch.tensor(dtype)', f'{v} = torch.tensor({src}).to(torch.{dt})', v)
            names.append(v)
        for _ in range(d.int(2, 5)):
            a = d.choice(names)
            if a not in self.ns: continue
            s = d.choice(SCALARS)
            r = self.new()
            kind = d.int(0, 7)
            if kind <= 2:
                op = d.choice(['+', '-', '*', '/', '//', '%', '**', '&', '|', '^', '<', '==', '>=', '<<', '>>'])
                code = f'{r} = {a} {op} {s}' if d.p(0.6) else f'{r} = {s} {op} {a}'
                self.add(f'operator {op}', code, r, discrete=op in ('//', '%', '<', '==', '>='))
            elif kind == 3:
                f = d.choice(['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'pow', 'remainder', 'fmod',
                              'true_divide', 'floor_divide', 'bitwise_and', 'logical_and', 'eq', 'gt'])
                b = d.choice(names)
                extra = ', alpha=2' if f in ('add', 'sub') and d.p(0.4) else ''
                self.add(f'torch.{f}', f'{r} = torch.{f}({a}, {b if d.p(0.5) else s}{extra})', r,
                         discrete=f in ('remainder', 'fmod', 'floor_divide', 'eq', 'gt', 'maximum', 'minimum'))
            elif kind == 4:
                op = d.choice(['+=', '-=', '*=', '/=', '//=', '%=', '&=', '|=', '<<='])
                self.add(f'operator {op}', f'{a} {op} {s}', a, discrete=op in ('//=', '%='))
                self.ns.pop(r, None)
            elif kind == 5:
                dt = d.choice(INT_DTYPES + FLOAT_DTYPES)
                self.add('Tensor.to', f'{r} = ({a} * {s}).to(torch.{dt})', r, discrete=True)
            elif kind == 6:
                self.add('torch.result_type', f'{r} = str(torch.result_type({a}, {s}))', r)
            else:
                f = d.choice(['torch.full_like', 'torch.clamp', 'torch.where'])
                code = {'torch.full_like': f'{r} = torch.full_like({a}, {s})',
                        'torch.clamp': f'{r} = torch.clamp({a}, min={s})',
                        'torch.where': f'{r} = torch.where({a} > 0, {a}, {s})'}[f]
                self.add(f, code, r, discrete=True)
            names.append(r)

    # ------------------------------------------------------------------ reductions with dim tuples
    def reductions(self):
        d = self.d
        a = self.new()
        rg = ', requires_grad=True' if self.inputs['x0'].dtype.kind == 'f' and d.p(0.5) else ''
        self.add('torch.tensor', f'{a} = torch.tensor({d.choice(["x0", "x0", "x1"])}{rg})', a)
        t = self.t(a)
        if t is None: return
        nd = t.dim()
        for _ in range(d.int(1, 4)):
            dims = sorted({d.int(-max(nd, 1), max(nd, 1) - 1) for _ in range(d.int(1, max(nd, 1)))})
            dim = '(' + ', '.join(map(str, dims)) + (',)' if len(dims) == 1 else ')')
            if d.p(0.1): dim = '()'
            f = d.choice(['sum', 'mean', 'amax', 'amin', 'std', 'var', 'logsumexp', 'norm', 'count_nonzero',
                          'nansum', 'sum', 'mean', 'var_mean', 'std_mean', 'aminmax'])
            keep = ', keepdim=True' if d.p(0.4) and f not in ('count_nonzero',) else ''
            extra = ''
            if f in ('sum', 'mean', 'nansum') and d.p(0.3): extra = f', dtype=torch.{d.choice(FLOAT_DTYPES)}'
            if f in ('std', 'var', 'var_mean', 'std_mean') and d.p(0.5): extra = f', correction={d.int(0, 2)}'
            r = self.new()
            if f == 'norm': code = f'{r} = torch.norm({a}, dim={dim}{keep})'
            elif f == 'aminmax': code = f'{r} = torch.aminmax({a}, dim={dims[0]}{keep})'
            elif f in ('var_mean', 'std_mean'): code = f'{r} = torch.{f}({a}, {dim}{extra}{keep})'
            else: code = f'{r} = {a}.{f}({dim}{extra}{keep})' if d.p(0.6) else f'{r} = torch.{f}({a}, dim={dim}{extra}{keep})'
            self.add(f'Tensor.{f}(dims)', code, r, discrete=f in ('amax', 'amin', 'count_nonzero', 'aminmax'))
        if t.requires_grad and d.p(0.6):
            outs = [k for k, v in self.ns.items() if k[0] == 'v' and isinstance(v, torch.Tensor) and v.requires_grad
                    and k != a]
            if outs: self.add('Tensor.backward', f'{d.choice(outs)}.sum().backward()')

    # ------------------------------------------------------------------ nn.functional on odd shapes
    def functional(self):
        d = self.d
        a = self.new()
        shape = d.choice([(0, 3), (2, 0), (1,), (), (3,), (2, 1), (1, 1, 1), (0,), (2, 3, 1), (4, 2)])
        dt = d.choice(['float32', 'float32', 'float64', 'float16'])
        self.inputs['x2'] = d.array(shape, dt)
        self.ns['x2'] = self.inputs['x2'].copy()
        rg = 'True' if d.p(0.6) else 'False'
        self.add('torch.tensor', f'{a} = torch.tensor(x2, requires_grad={rg})', a)
        for _ in range(d.int(1, 3)):
            t = self.t(a)
            if t is None: return
            nd, last = t.dim(), (t.shape[-1] if t.dim() else 1)
            r = self.new()
            f = d.choice(['linear', 'softmax', 'log_softmax', 'layer_norm', 'normalize', 'pad', 'relu', 'gelu',
                          'silu', 'elu', 'leaky_relu', 'hardtanh', 'softplus', 'mse_loss', 'l1_loss',
                          'cross_entropy', 'nll_loss', 'binary_cross_entropy_with_logits', 'dropout', 'embedding',
                          'one_hot', 'cosine_similarity', 'smooth_l1_loss', 'logsigmoid', 'tanh', 'sigmoid'])
            if f == 'linear':
                b = d.choice(['', f', torch.zeros(2, dtype={a}.dtype)'])
                code = f'{r} = F.linear({a}, torch.ones(2, {last}, dtype={a}.dtype){b})'
            elif f in ('softmax', 'log_softmax'):
                extra = f', dtype=torch.float64' if d.p(0.2) else ''
                code = f'{r} = F.{f}({a}, dim={d.int(-max(nd, 1), max(nd, 1) - 1)}{extra})'
            elif f == 'layer_norm':
                code = f'{r} = F.layer_norm({a}, {a}.shape[{d.choice(["-1:", "1:", "0:"])}], eps={d.choice(["1e-5", "0.1"])})'
            elif f == 'normalize': code = f'{r} = F.normalize({a}, dim={d.choice(["-1", "0"])}, p={d.choice(["2", "1"])})'
            elif f == 'pad': code = f'{r} = F.pad({a}, ({d.int(0, 2)}, {d.int(0, 1)}), value={d.choice(["0.0", "1.5"])})'
            elif f in ('mse_loss', 'l1_loss', 'smooth_l1_loss'):
                code = f"{r} = F.{f}({a}, torch.zeros_like({a}) + 0.5, reduction={d.choice(['mean', 'sum', 'none'])!r})"
            elif f in ('cross_entropy', 'nll_loss'):
                n = t.shape[0] if nd >= 2 else None
                tgt = f'torch.zeros({n}, dtype=torch.int64)' if n is not None else 'torch.tensor(0)'
                extra = d.choice(['', ', ignore_index=0', f", reduction='sum'", ", reduction='none'"] +
                                 ([', label_smoothing=0.2'] if f == 'cross_entropy' else []))
                code = f'{r} = F.{f}({a}, {tgt}{extra})'
            elif f == 'binary_cross_entropy_with_logits':
                code = f'{r} = F.{f}({a}, torch.ones_like({a}) * 0.5)'
            elif f == 'dropout': code = f'{r} = F.dropout({a}, p=0.0, training={d.choice(["True", "False"])})'
            elif f == 'embedding': code = f'{r} = F.embedding(torch.tensor([[0, 0]]), {a})'
            elif f == 'one_hot': code = f'{r} = F.one_hot(torch.tensor([0, {d.int(0, 2)}]), {d.int(-1, 3)})'
            elif f == 'cosine_similarity': code = f'{r} = F.cosine_similarity({a}, {a} + 1, dim={d.choice(["-1", "0"])})'
            elif f in ('elu', 'leaky_relu', 'hardtanh', 'softplus'):
                extra = {'elu': ', alpha=2.0', 'leaky_relu': ', negative_slope=0.3', 'hardtanh': ', -2.0, 0.5',
                         'softplus': ', beta=0.5, threshold=2.0'}[f] if d.p(0.5) else ''
                code = f'{r} = F.{f}({a}{extra})'
            else: code = f'{r} = F.{f}({a})'
            if self.add(f'F.{f}', code, r, discrete=f in ('relu', 'hardtanh', 'l1_loss', 'smooth_l1_loss',
                                                          'cross_entropy', 'nll_loss', 'one_hot')):
                if d.p(0.5) and isinstance(self.t(r), torch.Tensor) and self.t(r).requires_grad:
                    self.add('Tensor.backward', f'{r}.sum().backward()')
                    return
                if isinstance(self.t(r), torch.Tensor) and self.t(r).is_floating_point() and d.p(0.5): a = r


def program2_for(seed, index=0):
    "The program number `index` of the second generator's run seeded with `seed`."
    return ScenarioGenerator(np.random.default_rng([seed, index, 2])).program()
