"""The program generator: random statement programs over the public tensor and `nn.functional` surface.

A `Program` is a few numpy input arrays (`x0`, `x1`, ...) and 1-6 one-line `Statement`s over variables `v0`, `v1`, ...
that `torch` (PyTorch or learntorch), `F` (its `nn.functional`), `np`, `inf` and `nan` are in scope for. The
generator draws one statement at a time and runs it in PyTorch at once, so that the next statement is drawn from
what the variables really are (a tensor's shape, dtype, `requires_grad`), which keeps most programs meaningful. A
statement PyTorch rejects is kept now and then (the error itself is compared), otherwise drawn again.

Everything comes from one seeded `numpy.random.Generator`: the same seed gives the same program."""
import math, re, warnings
from dataclasses import dataclass, field
import numpy as np
import torch

__all__ = ['Statement', 'Program', 'generate', 'program_for']

VAR = re.compile(r'\bv\d+\b')
CREATION = re.compile(r'torch\.(tensor|from_numpy|as_tensor|zeros|ones|full|empty|arange|linspace|eye|rand)|'
                      r'Tensor\.(new_|requires_grad_)')


@dataclass
class Statement:
    "One line of a program and what the comparator needs to know about it."
    op: str                 # the operation's name (`Tensor.add_`, `setitem:mask`, `F.nll_loss`): names difference classes
    code: str               # one line of Python
    target: str = None      # the variable it assigns, or writes in place
    random: bool = False    # its values come from a random generator: values are never compared
    discrete: bool = False  # its value or derivative jumps (floor, comparisons, argmax, relu): rounding-sensitive

    @property
    def creation(self):
        "Whether it only makes a tensor (or switches on `requires_grad`): left out of difference-class names."
        return bool(CREATION.match(self.op))

    @property
    def reads(self):
        "The variables the statement reads (an assigned variable is not read)."
        names = VAR.findall(self.code)
        if self.code.startswith(f'{self.target} = ') or f'): {self.target} = ' in self.code:
            names = VAR.findall(self.code.split(' = ', 1)[1])
        return tuple(dict.fromkeys(names))


@dataclass
class Program:
    "Numpy inputs and the statements that use them."
    inputs: dict
    statements: list = field(default_factory=list)

    def source(self, library='torch'):
        "The program as runnable Python, importing PyTorch (`library='torch'`) or learntorch."
        head = ['import numpy as np', 'from math import inf, nan',
                'import torch' if library == 'torch' else 'import learntorch as torch',
                'F = torch.nn.functional']
        ins = [f'{k} = {array_literal(a)}' for k, a in self.inputs.items()]
        return '\n'.join(head + ins + [s.code for s in self.statements])

    def used_inputs(self):
        "A copy of the program without the inputs no statement mentions."
        code = ' '.join(s.code for s in self.statements)
        return Program({k: a for k, a in self.inputs.items() if re.search(rf'\b{k}\b', code)}, list(self.statements))


def array_literal(a):
    "Python source that rebuilds the numpy array `a` exactly."
    body = repr(a.tolist())                          # nan and inf print as names the source imports
    lit = f'np.array({body}, dtype={a.dtype.name!r})'
    return lit + f'.reshape{tuple(a.shape)}' if a.size == 0 else lit

# ------------------------------------------------------------------------------------------------ random pieces
FLOAT_DTYPES = ['float32', 'float64', 'float16']
INT_DTYPES = ['int64', 'int32', 'int16', 'int8', 'uint8']
INPUT_DTYPES = (['float32'] * 10 + ['float64'] * 2 + ['float16'] * 2 + ['int64'] * 3 + ['int32', 'uint8', 'int8']
                + ['bool'] * 2)
GRID = [-3., -2., -1.5, -1., -0.5, 0., 0.5, 1., 2., 3.]
SPECIALS = [math.nan, math.inf, -math.inf, -0.0]
SCALARS = ['0', '1', '2', '-1', '3', '0.5', '-1.5', '2.25', 'True', 'False', '1e-3', '-0.0']
RARE_SCALARS = ['inf', '-inf', 'nan', '2**40', '1e30', '-7']


def _choice(rng, xs):
    return xs[int(rng.integers(len(xs)))]


class _Draw:
    "The random decisions, all from one numpy Generator."
    def __init__(self, rng): self.rng = rng
    def p(self, prob): return self.rng.random() < prob
    def choice(self, xs): return _choice(self.rng, list(xs))
    def int(self, lo, hi): return int(self.rng.integers(lo, hi + 1))   # inclusive
    def scalar(self): return self.choice(RARE_SCALARS) if self.p(0.1) else self.choice(SCALARS)
    def int_scalar(self): return self.choice(['0', '1', '2', '3', '-1', '-2', '5'])

    def shape(self, ndim=None):
        ndim = self.choice([0, 1, 1, 2, 2, 2, 3, 3]) if ndim is None else ndim
        return tuple(0 if self.p(0.04) else self.int(1, 4) for _ in range(ndim))

    def array(self, shape, dtype):
        n = int(np.prod(shape))
        if dtype == 'bool': return self.rng.random(n).reshape(shape) < 0.5
        if dtype in INT_DTYPES:
            lo = 0 if dtype == 'uint8' else -4
            return self.rng.integers(lo, 7, n).astype(dtype).reshape(shape)
        if self.p(0.5): vals = np.array([self.choice(GRID) for _ in range(n)])
        else: vals = np.round(self.rng.standard_normal(n) * 2, 3)
        if self.p(0.2):
            for i in range(n):
                if self.p(0.15): vals[i] = self.choice(SPECIALS)
        with np.errstate(all='ignore'): return vals.astype(dtype).reshape(shape)

    def dim(self, t, allow_bad=True):
        "A dimension of `t`, negative sometimes, out of range now and then."
        nd = max(t.dim(), 1)
        if allow_bad and self.p(0.04): return nd
        return self.int(-nd, nd - 1)

    def shape_code(self, shape):
        return '(' + ', '.join(map(str, shape)) + (',)' if len(shape) == 1 else ')')

    def dtype_code(self, kinds=('float', 'int', 'bool')):
        names = (['float32', 'float64', 'float16'] if 'float' in kinds else []) + \
                (['int64', 'int32', 'uint8'] if 'int' in kinds else []) + (['bool'] if 'bool' in kinds else [])
        return 'torch.' + self.choice(names)

# ------------------------------------------------------------------------------------------------ the generator
def _is_float(t): return t.is_floating_point()
def _is_int(t): return not t.is_floating_point() and t.dtype != torch.bool
def _broadcastable(a, b):
    try: torch.broadcast_shapes(a.shape, b.shape); return True
    except RuntimeError: return False


UNARY = ['abs', 'neg', 'exp', 'exp2', 'expm1', 'log', 'log2', 'log10', 'log1p', 'sqrt', 'rsqrt', 'sin', 'cos',
         'tan', 'asin', 'acos', 'atan', 'sinh', 'cosh', 'tanh', 'sigmoid', 'relu', 'reciprocal', 'square',
         'clone', 'detach', 'contiguous', 'float', 'double', 'half', 'long', 'int', 'bool', 'nan_to_num',
         'isnan', 'isinf', 'isfinite', 'logical_not', 'bitwise_not', 'floor', 'ceil', 'round', 'trunc', 'frac',
         'sign', 'fix']
DISCRETE_UNARY = {'relu', 'long', 'int', 'bool', 'isnan', 'isinf', 'isfinite', 'logical_not', 'floor', 'ceil',
                  'round', 'trunc', 'frac', 'sign', 'fix', 'abs', 'nan_to_num'}
TORCH_UNARY = ['abs', 'neg', 'exp', 'log', 'sqrt', 'sin', 'tanh', 'sigmoid', 'relu', 'floor', 'round', 'sign',
               'square', 'isnan', 'logical_not', 'clone', 'detach', 'exp2', 'rsqrt', 'frac', 'trunc']
UNARY_INPLACE = ['abs_', 'neg_', 'exp_', 'log_', 'sqrt_', 'rsqrt_', 'sin_', 'cos_', 'tanh_', 'sigmoid_', 'relu_',
                 'floor_', 'ceil_', 'round_', 'trunc_', 'frac_', 'sign_', 'reciprocal_', 'square_', 'zero_',
                 'expm1_', 'log1p_', 'nan_to_num_', 'detach_', 'requires_grad_']
BINARY_OPERATORS = ['+', '-', '*', '/', '//', '%', '**', '&', '|', '^', '==', '!=', '<', '<=', '>', '>=']
DISCRETE_BINARY = {'//', '%', '==', '!=', '<', '<=', '>', '>=', 'floor_divide', 'remainder', 'fmod', 'eq', 'ne',
                   'lt', 'le', 'gt', 'ge', 'maximum', 'minimum', 'isclose', 'equal', 'allclose', 'atan2', 'where'}
BINARY_FUNCS = ['add', 'sub', 'mul', 'div', 'true_divide', 'floor_divide', 'remainder', 'fmod', 'pow', 'maximum',
                'minimum', 'atan2', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logical_and', 'logical_or',
                'logical_xor', 'bitwise_and', 'bitwise_or', 'bitwise_xor', 'isclose', 'equal', 'allclose']
INPLACE_OPERATORS = ['+=', '-=', '*=', '/=', '//=', '%=', '**=', '&=', '|=', '^=']
BINARY_INPLACE = ['add_', 'sub_', 'mul_', 'div_', 'pow_', 'copy_']
REDUCTIONS = ['sum', 'mean', 'prod', 'amax', 'amin', 'max', 'min', 'std', 'var', 'norm', 'logsumexp', 'argmax',
              'argmin', 'all', 'any', 'cumsum', 'cumprod', 'softmax', 'log_softmax', 'sort', 'argsort', 'topk',
              'nonzero']
DISCRETE_REDUCTIONS = {'amax', 'amin', 'max', 'min', 'argmax', 'argmin', 'all', 'any', 'sort', 'argsort', 'topk',
                       'nonzero', 'count_nonzero', 'norm'}
ACTIVATIONS = ['relu', 'relu6', 'leaky_relu', 'elu', 'gelu', 'silu', 'softplus', 'hardtanh', 'sigmoid', 'tanh']
LOSSES = ['mse_loss', 'l1_loss', 'smooth_l1_loss', 'huber_loss', 'binary_cross_entropy',
          'binary_cross_entropy_with_logits', 'cross_entropy', 'nll_loss', 'kl_div']


class ProgramGenerator:
    "Draws one program: `ProgramGenerator(rng).program()`."

    def __init__(self, rng):
        self.d = _Draw(rng)
        self.n_vars = 0

    # ---- bookkeeping
    def program(self, n_statements=None):
        d = self.d
        n = n_statements or d.int(1, 6)
        base = d.shape()
        inputs = {}
        for i in range(d.int(1, 3)):
            shape = base if d.p(0.5) else base[d.int(0, len(base)):] if d.p(0.4) else \
                tuple(1 if d.p(0.5) else s for s in base) if d.p(0.5) else d.shape()
            inputs[f'x{i}'] = d.array(shape, d.choice(INPUT_DTYPES))
        self.prog = Program(inputs)
        self.ns = namespace(torch, inputs)
        torch.manual_seed(0)
        while len(self.prog.statements) < n:
            if len(self.prog.statements) == n - 1 and n > 1 and self.d.p(0.5) and self._backward(): break
            self._add_statement()
        return self.prog

    def _backward(self):
        "End with gradients (`backward` or `autograd.grad`) of the newest tensor that requires grad, if any."
        names = self.tensors(lambda t: t.requires_grad)
        if not names: return False
        a = max(names, key=lambda k: int(k[1:]))
        leaves = self.tensors(lambda t: t.requires_grad and t.is_leaf)
        if leaves and self.d.p(0.3):
            v = self.new()
            st = Statement('torch.autograd.grad', f'{v} = torch.autograd.grad({a}.sum(), [{self.d.choice(leaves)}], '
                                                  f'allow_unused=True)', v)
        else:
            st = Statement('Tensor.backward', f'{a}.sum().backward()', None) if self.d.p(0.7) else \
                Statement('Tensor.backward(gradient)', f'{a}.backward(torch.ones_like({a}))', None)
        execute(self.ns, st.code)
        self.prog.statements.append(st)
        return True

    def _add_statement(self):
        for attempt in range(20):
            try: st = self._draw_statement()
            except (IndexError, ValueError, KeyError, StopIteration): st = None   # a draw that found no operands
            if st is None: continue
            ok = execute(self.ns, st.code) is None
            if ok or self.d.p(0.25) or attempt == 19:
                self.prog.statements.append(st)
                return
            self.ns.pop(st.target, None) if st.code.startswith(f'{st.target} =') else None

    def new(self):
        self.n_vars += 1
        return f'v{self.n_vars - 1}'

    def tensors(self, pred=lambda t: True):
        return [k for k, v in self.ns.items() if re.fullmatch(r'v\d+', k) and isinstance(v, torch.Tensor) and pred(v)]

    def pick(self, pred=lambda t: True):
        names = self.tensors(pred)
        return self.d.choice(names) if names else None

    def pick_other(self, a, pred=lambda t: True):
        "A second operand for `a`: usually one that broadcasts with it."
        t = self.ns[a]
        names = self.tensors(lambda u: pred(u) and _broadcastable(t, u)) if self.d.p(0.85) else self.tensors(pred)
        return self.d.choice(names) if names else None

    def _draw_statement(self):
        d = self.d
        if not self.tensors() or d.p(0.12): return self.creation()
        kind = d.choice(['unary'] * 3 + ['binary'] * 4 + ['inplace'] * 4 + ['view'] * 3 + ['index'] * 3 +
                        ['setitem'] * 3 + ['reduce'] * 3 + ['join'] * 2 + ['matmul'] + ['autograd'] * 4 +
                        ['nn'] * 3 + ['no_grad'] + ['misc'] * 2 + ['numpy_bridge'] + ['out'])
        return getattr(self, kind)()

    # ---- creation
    def creation(self):
        d, v = self.d, self.new()
        x = d.choice(list(self.prog.inputs))
        a = self.prog.inputs[x]
        float_input = a.dtype.kind == 'f'
        r = d.int(0, 19)
        if r <= 5:
            rg = ', requires_grad=True' if float_input and d.p(0.6) else ''
            return Statement('torch.tensor', f'{v} = torch.tensor({x}{rg})', v)
        if r == 6:
            return Statement('torch.tensor(dtype)', f'{v} = torch.tensor({x}, dtype={d.dtype_code()})', v)
        if r == 7: return Statement('torch.from_numpy', f'{v} = torch.from_numpy({x})', v)
        if r == 8: return Statement('torch.as_tensor', f'{v} = torch.as_tensor({x})', v)
        if r == 9:
            lit = d.choice(['2.5', '3', 'True', '[1, 2, 3]', '[[1.5, -2.0]]', '[]', '[True, False]', '-0.0',
                            '[[1, 2], [3, 4]]', 'inf'])
            rg = ', requires_grad=True' if '.' in lit and d.p(0.5) else ''
            return Statement('torch.tensor(literal)', f'{v} = torch.tensor({lit}{rg})', v)
        if r in (10, 11):
            f = d.choice(['zeros', 'ones', 'full', 'zeros', 'ones', 'full', 'empty'])
            shape = d.shape_code(d.shape())
            args = shape + (', ' + d.scalar() if f == 'full' else '')
            if d.p(0.4): args += ', dtype=' + d.dtype_code()
            if d.p(0.3): args += ', requires_grad=True'
            return Statement(f'torch.{f}', f'{v} = torch.{f}({args})', v, random=f == 'empty')
        if r == 12:
            kind = d.int(0, 3)
            args = (str(d.int(0, 5)) if kind == 0 else f'{d.int(-3, 2)}, {d.choice(["4", "3.3", "2.5", "5"])}'
                    if kind == 1 else f'{d.choice(["0", "1.5", "-2"])}, {d.choice(["3", "2", "-1"])}, '
                    f'{d.choice(["0.5", "1", "-0.5", "-1", "0.25", "0"])}' if kind == 2 else '10')
            if d.p(0.4): args += ', dtype=' + d.dtype_code(('float', 'int'))
            return Statement('torch.arange', f'{v} = torch.arange({args})', v)
        if r == 13:
            args = f'{d.choice(["0", "-1", "1.5"])}, {d.choice(["1", "2", "3.5"])}, {d.int(0, 5)}'
            return Statement('torch.linspace', f'{v} = torch.linspace({args})', v)
        if r == 14:
            args = str(d.int(0, 4)) + (f', {d.int(0, 4)}' if d.p(0.5) else '')
            return Statement('torch.eye', f'{v} = torch.eye({args})', v)
        a_t = self.pick()
        if r in (15, 16) and a_t:
            f = d.choice(['zeros_like', 'ones_like', 'full_like'] * 3 + ['empty_like', 'rand_like', 'randn_like'])
            extra = ', ' + d.scalar() if f == 'full_like' else ''
            if d.p(0.3): extra += ', dtype=' + d.dtype_code()
            return Statement(f'torch.{f}', f'{v} = torch.{f}({a_t}{extra})', v,
                             random=f in ('empty_like', 'rand_like', 'randn_like'))
        if r == 17 and a_t:
            f = d.choice(['new_zeros', 'new_ones', 'new_full', 'new_tensor', 'new_empty'])
            arg = (d.choice(['[1, 2]', '2.5', '[[True]]', '[]']) if f == 'new_tensor' else
                   d.shape_code(d.shape()) + (', ' + d.scalar() if f == 'new_full' else ''))
            return Statement(f'Tensor.{f}', f'{v} = {a_t}.{f}({arg})', v, random=f == 'new_empty')
        if r == 18 or not d.p(0.3): return Statement('torch.tensor', f'{v} = torch.tensor({x})', v)
        f = d.choice(['rand', 'randn', 'randint', 'randperm'])
        args = (str(d.int(0, 5)) if f == 'randperm' else f'{d.int(-2, 1)}, {d.int(2, 5)}, '
                f'{d.shape_code(d.shape())}' if f == 'randint' else d.shape_code(d.shape()))
        return Statement(f'torch.{f}', f'{v} = torch.{f}({args})', v, random=True)

    # ---- elementwise
    def unary(self):
        d, a = self.d, self.pick()
        if d.p(0.25):
            f = d.choice(TORCH_UNARY)
            v = self.new()
            return Statement(f'torch.{f}', f'{v} = torch.{f}({a})', v, discrete=f in DISCRETE_UNARY)
        f = d.choice(UNARY + ['clamp', 'clip', 'pow', 'masked_fill', 'type', 'to', 'flip', 'roll', 'tril',
                              'triu', 'repeat', 'index_select', 'gather'])
        t, v = self.ns[a], self.new()
        args = ''
        if f in ('clamp', 'clip'):
            lo, hi = d.choice(['-1', '0', '-0.5', 'None']), d.choice(['1', '2', '0.5', 'None'])
            args = f'{lo}, {hi}' if d.p(0.6) else f'min={lo}' if d.p(0.5) else f'max={hi}'
            if d.p(0.2): args = f'min={self.pick_other(a) or a}'
        elif f == 'pow': args = d.choice(['2', '0.5', '3', '-1', '0', '1.5'])
        elif f == 'masked_fill':
            args = f'{a} > 0, {d.scalar()}'
        elif f in ('type', 'to'): args = d.dtype_code()
        elif f == 'flip': args = f'({d.dim(t)},)' if t.dim() else '(0,)'
        elif f == 'roll': args = f'{d.int(-2, 3)}' + (f', {d.dim(t)}' if d.p(0.6) else '')
        elif f in ('tril', 'triu'): args = str(d.int(-1, 1)) if d.p(0.4) else ''
        elif f == 'repeat': args = ', '.join(str(d.int(1, 2)) for _ in range(max(t.dim(), d.int(0, 2))))
        elif f in ('index_select', 'gather'):
            dim = d.dim(t)
            size = t.shape[dim] if t.dim() and -t.dim() <= dim < t.dim() else 1
            idx = f'torch.tensor([{", ".join(str(d.int(-1, max(size - 1, 0))) for _ in range(d.int(1, 3)))}])'
            if f == 'gather': idx = f'torch.zeros_like({a}, dtype=torch.int64)' if d.p(0.5) else idx
            args = f'{dim}, {idx}'
        return Statement(f'Tensor.{f}', f'{v} = {a}.{f}({args})', v, discrete=f in DISCRETE_UNARY | {'clamp', 'clip', 'masked_fill'})

    def _operand(self, a, pred=lambda t: True):
        "A second operand for `a`: another tensor (mostly) or a Python number."
        d = self.d
        if d.p(0.35): return d.scalar()
        b = self.pick_other(a, pred)
        return b if b else d.scalar()

    def binary(self):
        d, a = self.d, self.pick()
        b = self._operand(a)
        v = self.new()
        if d.p(0.5):
            op = d.choice(BINARY_OPERATORS)
            expr = f'{b} {op} {a}' if not VAR.fullmatch(b) and d.p(0.3) else f'{a} {op} {b}'  # reflected ops
            return Statement(f'operator {op}', f'{v} = {expr}', v, discrete=op in DISCRETE_BINARY)
        f = d.choice(BINARY_FUNCS + ['where'])
        if f == 'where':
            c = self.pick(lambda t: t.dtype == torch.bool)
            cond = c if c and d.p(0.5) else f'{a} > 0'
            if d.p(0.15): return Statement('torch.where(cond)', f'{v} = torch.where({cond})', v, discrete=True)
            return Statement('torch.where', f'{v} = torch.where({cond}, {a}, {b})', v, discrete=True)
        extra = ''
        if f in ('add', 'sub') and d.p(0.3): extra = f', alpha={d.choice(["2", "0.5", "-1"])}'
        if f == 'div' and d.p(0.4): extra = f", rounding_mode={d.choice(['floor', 'trunc'])!r}"
        form = f'torch.{f}({a}, {b}{extra})' if d.p(0.5) else f'{a}.{f}({b}{extra})'
        if not VAR.fullmatch(b) and d.p(0.15): form = f'torch.{f}({b}, {a}{extra})'     # a number first
        return Statement(f'{"torch" if form.startswith("torch") else "Tensor"}.{f}', f'{v} = {form}', v,
                         discrete=f in DISCRETE_BINARY or 'rounding_mode' in extra)

    def inplace(self):
        d, a = self.d, self.pick()
        r = d.int(0, 9)
        if r <= 3:
            op = d.choice(INPLACE_OPERATORS)
            b = self._operand(a)
            return Statement(f'operator {op}', f'{a} {op} {b}', a, discrete=op in ('//=', '%='))
        if r <= 6:
            f = d.choice(UNARY_INPLACE + ['fill_', 'clamp_', 'masked_fill_'])
            args = d.scalar() if f == 'fill_' else f'{d.choice(["-1", "0"])}, {d.choice(["1", "2"])}' \
                if f == 'clamp_' else f'{a} < 0, {d.scalar()}' if f == 'masked_fill_' else ''
            return Statement(f'Tensor.{f}', f'{a}.{f}({args})', a,
                             discrete=f[:-1] in DISCRETE_UNARY or f in ('clamp_', 'masked_fill_'))
        f = d.choice(BINARY_INPLACE)
        b = self._operand(a) if f != 'copy_' else (self.pick_other(a) or a)
        extra = f', alpha={d.choice(["2", "-1"])}' if f in ('add_', 'sub_') and d.p(0.3) else ''
        return Statement(f'Tensor.{f}', f'{a}.{f}({b}{extra})', a)

    # ---- views and indexing
    def view(self):
        d, a = self.d, self.pick()
        t, v = self.ns[a], self.new()
        nd, shape = t.dim(), list(t.shape)
        f = d.choice(['view', 'reshape', 'transpose', 'permute', 'squeeze', 'unsqueeze', 'expand', 'T', 'mT',
                      'flatten', 'unflatten', 'narrow', 'swapaxes', 't', 'unbind', 'split', 'chunk', 'view_as',
                      'expand_as', 'reshape_as', 'getitem'])
        if f in ('view', 'reshape'):
            n = t.numel()
            opts = [(n,), (-1,), (1, -1), (-1, 1), tuple(reversed(shape)), (n, 1, 1), (2, -1), ()]
            args = ', '.join(map(str, d.choice(opts))) or '()'
        elif f in ('transpose', 'swapaxes'): args = f'{d.dim(t)}, {d.dim(t)}'
        elif f == 'permute': args = ', '.join(map(str, d.rng.permutation(nd).tolist() if d.p(0.9) else [0] * nd))
        elif f == 'squeeze': args = '' if d.p(0.4) else str(d.dim(t)) if d.p(0.6) else f'({d.dim(t)}, {d.dim(t)})'
        elif f == 'unsqueeze': args = str(d.int(-nd - 1, nd))
        elif f == 'expand':
            args = ', '.join([str(d.int(1, 3))] * d.int(0, 1) + [str(s if s != 1 or d.p(0.5) else 3) if d.p(0.8)
                                                                else '-1' for s in shape])
        elif f == 'flatten': args = '' if d.p(0.5) else f'{d.dim(t)}'
        elif f == 'unflatten':
            dim = d.dim(t)
            args = f'{dim}, (1, -1)' if d.p(0.6) else f'{dim}, (2, -1)'
        elif f == 'narrow':
            dim = d.dim(t)
            size = shape[dim] if nd and -nd <= dim < nd else 1
            args = f'{dim}, {d.int(-size, size)}, {d.int(0, size)}'
        elif f in ('split', 'chunk'): args = f'{d.int(1, 3)}' + (f', {d.dim(t)}' if d.p(0.6) else '')
        elif f == 'unbind': args = str(d.dim(t)) if d.p(0.5) else ''
        elif f in ('view_as', 'expand_as', 'reshape_as'): args = self.pick_other(a) or a
        else: return self.index(kind='basic')
        code = f'{v} = {a}.{f}' + ('' if f in ('T', 'mT') else f'({args})')
        return Statement(f'Tensor.{f}', code, v)

    def index_key(self, t, kind=None):
        "An index for `t`: basic (ints, slices, None, ...), advanced (lists, index tensors), mixed or a mask."
        d = self.d
        kind = kind or d.choice(['basic', 'basic', 'advanced', 'mixed', 'mask'])
        shape = list(t.shape)

        def integer(s): return str(d.int(-s, s - 1)) if s and not d.p(0.04) else str(s)
        def slc(s):
            lo = d.choice(['', '', '1', '-1', '-2', '0'])
            hi = d.choice(['', '', '2', '-1', '3', '0'])
            step = d.choice(['', '', '', '2', '3'])
            return f'{lo}:{hi}' + (f':{step}' if step else '')
        def lst(s):
            k = d.int(1, 3)
            items = [str(d.int(-s, s - 1)) if s else '0' for _ in range(k)]
            return f'[{", ".join(items)}]' if d.p(0.6) else f'torch.tensor([{", ".join(items)}])'
        if kind == 'mask':
            m = self.pick(lambda u: u.dtype == torch.bool)
            return m if m and d.p(0.3) else f'{self._name_of(t)} > 0' if d.p(0.7) else \
                f'torch.tensor({[bool(d.p(0.5)) for _ in range(shape[0])]})' if shape else 'True'
        parts, k = [], d.int(1, max(len(shape), 1))
        for i, s in enumerate(shape[:k]):
            if kind == 'basic':
                parts.append(d.choice([integer(s), slc(s), slc(s), ':']))
                if d.p(0.1): parts.append('None')
            elif kind == 'advanced': parts.append(lst(s) if d.p(0.7) else ':')
            else: parts.append(d.choice([integer(s), slc(s), lst(s), lst(s), ':']))
        if kind == 'basic' and d.p(0.15): parts.insert(d.int(0, len(parts)), '...')
        if not parts: parts = [d.choice(['...', 'None', '()'])] if kind == 'basic' else ['[0]']
        return ', '.join(parts)

    def _name_of(self, t):
        return next(k for k, u in self.ns.items() if u is t)

    def index(self, kind=None):
        a = self.pick()
        t, v = self.ns[a], self.new()
        kind = kind or self.d.choice(['basic', 'basic', 'advanced', 'mixed', 'mask'])
        key = self.index_key(t, kind)
        return Statement(f'getitem:{kind}', f'{v} = {a}[{key}]', v, discrete=kind == 'mask')

    def setitem(self):
        d, a = self.d, self.pick()
        t = self.ns[a]
        kind = d.choice(['basic', 'basic', 'advanced', 'mixed', 'mask'])
        key = self.index_key(t, kind)
        val = d.scalar() if d.p(0.5) else (self.pick() or d.scalar()) if d.p(0.8) else \
            f'torch.tensor({d.scalar()})'
        if d.p(0.15):                                     # x[i] += y: getitem, an in-place op, setitem
            op = d.choice(['+=', '*=', '-='])
            return Statement(f'setitem:{kind} {op}', f'{a}[{key}] {op} {val}', a, discrete=kind == 'mask')
        return Statement(f'setitem:{kind}', f'{a}[{key}] = {val}', a, discrete=kind == 'mask')

    # ---- reductions, joins, matmul
    def reduce(self):
        d, a = self.d, self.pick()
        t, v = self.ns[a], self.new()
        f = d.choice(REDUCTIONS + ['torch.softmax', 'torch.log_softmax', 'Tensor.scatter'])
        if f == 'Tensor.scatter':
            src = d.choice([d.scalar(), a])
            return Statement('Tensor.scatter', f'{v} = {a}.scatter(0, torch.zeros_like({a}, dtype=torch.int64), '
                             f'{src})', v)
        if f.startswith('torch.'):
            return Statement(f, f'{v} = {f}({a}, {d.dim(t)})', v)
        args = []
        needs_dim = f in ('cumsum', 'cumprod', 'softmax', 'log_softmax', 'logsumexp')
        if needs_dim or d.p(0.5) and f not in ('nonzero',):
            dim = d.dim(t)
            if f in ('sum', 'mean', 'amax', 'amin', 'std', 'var', 'logsumexp', 'norm') and d.p(0.2) and t.dim() > 1:
                dim = (0, -1)
            args.append(str(dim) if f != 'norm' else f'dim={dim}')
            if f not in ('cumsum', 'cumprod', 'softmax', 'log_softmax', 'sort', 'argsort', 'topk') and d.p(0.4):
                args.append('keepdim=True')
        if f == 'norm': args.insert(0, f'p={d.choice(["2", "1", "0", "inf", "3"])}') if d.p(0.5) else None
        if f in ('std', 'var') and d.p(0.3): args.append(f'correction={d.int(0, 2)}')
        if f == 'topk': args.insert(0, str(d.int(0, 3)))
        if f in ('sort', 'argsort') and d.p(0.4): args.append('descending=True')
        if f in ('sum', 'mean', 'prod', 'cumsum') and d.p(0.15): args.append(f'dtype={d.dtype_code(("float", "int"))}')
        if f == 'nonzero' and d.p(0.3): args.append('as_tuple=True')
        form = f'{a}.{f}({", ".join(args)})' if d.p(0.7) else f'torch.{f}({", ".join([a] + args)})'
        return Statement(f'Tensor.{f}', f'{v} = {form}', v, discrete=f in DISCRETE_REDUCTIONS)

    def join(self):
        d, a = self.d, self.pick()
        b = self.pick_other(a) or a
        t, v = self.ns[a], self.new()
        f = d.choice(['cat', 'stack', 'hstack', 'vstack', 'scatter_add', 'masked_select', 'outer', 'dot'])
        if f in ('cat', 'stack'):
            dim = f', {d.dim(t)}' if d.p(0.6) else ''
            return Statement(f'torch.{f}', f'{v} = torch.{f}([{a}, {b}]{dim})', v)
        if f in ('hstack', 'vstack'): return Statement(f'torch.{f}', f'{v} = torch.{f}([{a}, {b}])', v)
        if f == 'scatter_add':
            return Statement('Tensor.scatter_add', f'{v} = {a}.scatter_add(0, torch.zeros_like({b}, '
                             f'dtype=torch.int64), {b})', v)
        if f == 'masked_select': return Statement('torch.masked_select', f'{v} = torch.masked_select({a}, {b} > 0)',
                                                  v, discrete=True)
        return Statement(f'torch.{f}', f'{v} = torch.{f}({a}, {b})', v)

    def matmul(self):
        d, a = self.d, self.pick(lambda t: t.dim() >= 1)
        if a is None: return None
        t, v = self.ns[a], self.new()
        b = self.pick(lambda u: u.dim() >= 1 and u.shape[0] == t.shape[-1]) if d.p(0.7) else self.pick()
        if b is None: b = f'torch.ones({t.shape[-1]}, 2, dtype={a}.dtype)' if d.p(0.5) else f'{a}.mT'
        f = d.choice(['@', 'matmul', 'mm', 'bmm', 'mv', 'linear'])
        if f == '@': return Statement('operator @', f'{v} = {a} @ {b}', v)
        if f == 'linear':
            w = f'{b}.mT' if not b.endswith('.mT') else a
            return Statement('F.linear', f'{v} = F.linear({a}, {w})', v)
        return Statement(f'torch.{f}', f'{v} = torch.{f}({a}, {b})', v)

    # ---- autograd
    def autograd(self):
        d = self.d
        r = d.int(0, 11)
        a = self.pick(lambda t: t.requires_grad) if d.p(0.85) else self.pick()
        if a is None:
            a = self.pick(lambda t: t.is_floating_point() and t.is_leaf)
            if a is None: return self.creation()
            return Statement('Tensor.requires_grad_', f'{a}.requires_grad_()', a)
        t = self.ns[a]
        if r <= 2:
            loss = f'{a}.sum()' if d.p(0.7) or t.dim() == 0 else f'({a} * {a}).mean()'
            rg = ', retain_graph=True' if d.p(0.4) else ''
            if d.p(0.25): return Statement('Tensor.backward(gradient)', f'{a}.backward(torch.ones_like({a}){rg})',
                                           None)
            return Statement('Tensor.backward', f'{loss}.backward({rg.lstrip(", ")})', None)
        if r <= 4:
            leaves = self.tensors(lambda u: u.requires_grad)
            wrt = d.choice(leaves) if leaves else a
            v = self.new()
            opts = d.choice(['', ', retain_graph=True', ', create_graph=True', ', allow_unused=True'])
            return Statement('torch.autograd.grad', f'{v} = torch.autograd.grad({a}.sum(), [{wrt}]{opts})', v)
        if r == 5: return Statement('Tensor.retain_grad', f'{a}.retain_grad()', a)
        if r == 6:
            v = self.new()
            hook = d.choice(['lambda g: g * 2', 'lambda g: None', 'lambda g: g + 1'])
            return Statement('Tensor.register_hook', f'{v} = {a}.register_hook({hook})', v)
        if r == 7: v = self.new(); return Statement('Tensor.grad', f'{v} = {a}.grad', v)
        if r == 8: return Statement('Tensor.grad = None', f'{a}.grad = None', a)
        if r == 9: v = self.new(); return Statement('Tensor.detach', f'{v} = {a}.detach()', v)
        if r == 10:
            if d.p(0.5): v = self.new(); return Statement('Tensor.data', f'{v} = {a}.data', v)
            return Statement('Tensor.detach_', f'{a}.detach_()', a)
        return Statement('Tensor.requires_grad_', f'{a}.requires_grad_({d.choice(["", "False"])})', a)

    def no_grad(self):
        inner = self.d.choice([self.unary, self.binary, self.inplace, self.setitem, self.view])()
        ctx = self.d.choice(['torch.no_grad()', 'torch.no_grad()', 'torch.enable_grad()', 'torch.inference_mode()',
                             'torch.set_grad_enabled(False)'])
        return Statement(f'with {ctx.split("(")[0]}: {inner.op}', f'with {ctx}: {inner.code}', inner.target,
                         inner.random, inner.discrete)

    # ---- reading a tensor back, the numpy bridge, out=
    def misc(self):
        "Python values read from a tensor: item, tolist, repr, sizes, dtype rules."
        d, a = self.d, self.pick()
        t, v = self.ns[a], self.new()
        f = d.choice(['item', 'tolist', 'repr', 'repr', 'str', 'shape', 'size', 'dim', 'numel', 'stride',
                      'is_contiguous', 'dtype', 'len', 'bool', 'float', 'int', 'result_type', 'promote_types',
                      'can_cast', 'is_floating_point', 'equal', 'type', 'is_leaf'])
        if f in ('repr', 'str', 'len', 'bool', 'float', 'int'): code = f'{v} = {f}({a})'
        elif f == 'dtype': code = f'{v} = str({a}.dtype)'
        elif f == 'shape': code = f'{v} = {a}.shape'
        elif f == 'size': code = f'{v} = {a}.size({d.dim(t)})' if d.p(0.5) else f'{v} = {a}.size()'
        elif f == 'result_type': code = f'{v} = str(torch.result_type({a}, {self._operand(a)}))'
        elif f == 'promote_types':
            code = f'{v} = str(torch.promote_types({a}.dtype, {d.dtype_code()}))'
        elif f == 'can_cast': code = f'{v} = torch.can_cast({a}.dtype, {d.dtype_code()})'
        elif f == 'equal': code = f'{v} = torch.equal({a}, {self.pick_other(a) or a})'
        elif f == 'is_leaf': code = f'{v} = {a}.is_leaf'
        elif f in ('stride', 'is_contiguous') and not (t._is_view() or t.is_contiguous()):
            return None                              # PyTorch's layout of other results is its own choice
        else: code = f'{v} = {a}.{f}()'
        return Statement(f'read:{f}', code, v, discrete=f in ('bool', 'int', 'repr', 'str', 'equal'))

    def numpy_bridge(self):
        "Writes through the numpy bridge: into an input that `from_numpy` shares, or into `Tensor.numpy()`."
        d = self.d
        shared = [k for k, v in self.ns.items() if k[0] == 'v' and isinstance(v, torch.Tensor)
                  and any(f'{k} = torch.from_numpy(' in s.code for s in self.prog.statements)]
        if shared and d.p(0.5):
            k = d.choice(shared)
            x = re.search(r'from_numpy\((x\d+)\)', next(s.code for s in self.prog.statements
                                                        if s.code.startswith(f'{k} = torch.from_numpy('))).group(1)
            return Statement('numpy write', f'{x}[...] = {d.choice(["7", "0", "1"])}', None)
        a = self.pick()
        key = self.index_key(self.ns[a], 'basic')
        return Statement('Tensor.numpy write', f'{a}.numpy()[{key}] = {d.choice(["7", "0", "-1"])}', a)

    def out(self):
        "An op writing into an existing tensor through `out=`."
        d, a = self.d, self.pick()
        b = self.pick_other(a) or a
        memory = {self.ns[a].untyped_storage().data_ptr(), self.ns[b].untyped_storage().data_ptr()}
        o = self.pick(lambda t: t.untyped_storage().data_ptr() not in memory)  # an output sharing memory with an
        if o is None: return None                                             # input is undefined in PyTorch
        f = d.choice(['add', 'mul', 'matmul', 'zeros', 'ones', 'arange', 'cat', 'sum', 'exp', 'clamp'])
        if f in ('add', 'mul', 'matmul'): args = f'{a}, {b}'
        elif f in ('zeros', 'ones'): args = d.shape_code(self.ns[o].shape)
        elif f == 'arange': args = str(self.ns[o].numel())
        elif f == 'cat': args = f'[{a}, {b}]'
        elif f == 'sum': args = f'{a}, 0' if self.ns[a].dim() else a
        elif f == 'clamp': args = f'{a}, 0, 1'
        else: args = a
        # only an `out` of the result's shape: resizing `out` is deprecated, and PyTorch 2.13 can crash (segfault)
        # after resizing a size-0 `out` to 0-d (torch.add(e, e, out=empty) then a reduction of it)
        try: same = tuple(eval(f'torch.{f}({args})', self.ns).shape) == tuple(self.ns[o].shape)
        except Exception: same = True                   # an error is compared as it is
        if not same: return None
        return Statement(f'torch.{f}(out=)', f'torch.{f}({args}, out={o})', o)

    # ---- nn.functional
    def nn(self):
        d = self.d
        a = self.pick(_is_float) or self.pick()
        t, v = self.ns[a], self.new()
        r = d.int(0, 9)
        if r <= 2:
            f = d.choice(ACTIVATIONS)
            args = {'leaky_relu': ', 0.2', 'elu': ', alpha=0.5', 'gelu': d.choice(['', ", approximate='tanh'"]),
                    'softplus': d.choice(['', ', beta=2', ', beta=1, threshold=1']),
                    'hardtanh': ', -0.5, 0.5'}.get(f, '')
            return Statement(f'F.{f}', f'{v} = F.{f}({a}{args})', v, discrete=f in ('relu', 'relu6', 'hardtanh'))
        if r == 3:
            f = d.choice(['softmax', 'log_softmax'])
            return Statement(f'F.{f}', f'{v} = F.{f}({a}, dim={d.dim(t)})', v)
        if r == 4:
            k = d.int(0, min(t.dim(), 2))
            norm_shape = tuple(t.shape[t.dim() - k:])
            wb = d.choice(['', f', torch.ones({d.shape_code(norm_shape)}), torch.zeros({d.shape_code(norm_shape)})'])
            return Statement('F.layer_norm', f'{v} = F.layer_norm({a}, {d.shape_code(norm_shape)}{wb})', v)
        if r == 5:
            p, training = d.choice(["0.0", "0.5"]), d.choice(["False", "False", "True"])
            return Statement('F.dropout', f'{v} = F.dropout({a}, {p}, training={training})', v,
                             random=p != '0.0' and training == 'True')
        if r == 6:
            idx = self.pick(_is_int)
            if idx is None: idx = f'torch.tensor([0, 2, 1])'
            if d.p(0.5): return Statement('F.one_hot', f'{v} = F.one_hot({idx}, {d.int(-1, 4)})', v)
            return Statement('F.embedding', f'{v} = F.embedding({idx}, {a})', v)
        f = d.choice(LOSSES)
        b = self.pick_other(a) or a
        red = d.choice(['', '', ", reduction='sum'", ", reduction='none'"])
        if f in ('cross_entropy', 'nll_loss'):
            n, c = (t.shape[0] if t.dim() else 0), (t.shape[1] if t.dim() > 1 else t.shape[0] if t.dim() else 1)
            if d.p(0.6) and t.dim() >= 1:
                tgt = f'torch.tensor({[d.int(0, max(c - 1, 0)) for _ in range(n if t.dim() > 1 else 1)]})'
                if t.dim() == 1: tgt = f'torch.tensor({d.int(0, max(c - 1, 0))})'
            else: tgt = b
            extra = d.choice(['', '', ', ignore_index=0', f', weight=torch.ones({c})'] +
                             ([', label_smoothing=0.1'] if f == 'cross_entropy' else []))
            return Statement(f'F.{f}', f'{v} = F.{f}({a}, {tgt}{extra}{red})', v, discrete=True)
        if f == 'binary_cross_entropy':
            return Statement(f'F.{f}', f'{v} = F.{f}(torch.sigmoid({a}), {d.choice([f"torch.sigmoid({b})", b])}'
                                       f'{red})', v)
        if f == 'binary_cross_entropy_with_logits':
            extra = d.choice(['', f', pos_weight=torch.ones_like({a}) * 2'])
            return Statement(f'F.{f}', f'{v} = F.{f}({a}, {b}{extra}{red})', v)
        if f == 'kl_div':
            return Statement('F.kl_div', f'{v} = F.kl_div(F.log_softmax({a}, -1), {b}{red}'
                                         f'{d.choice(["", ", log_target=True"])})', v)
        extra = {'smooth_l1_loss': d.choice(['', ', beta=0.5']), 'huber_loss': d.choice(['', ', delta=0.5'])}.get(f, '')
        return Statement(f'F.{f}', f'{v} = F.{f}({a}, {b}{red}{extra})', v,
                         discrete=f in ('l1_loss', 'smooth_l1_loss', 'huber_loss'))

# ------------------------------------------------------------------------------------------------ running a line
_CODE = {}


def namespace(lib, inputs):
    "A fresh namespace for a program: the library as `torch`, its `nn.functional` as `F`, copies of the inputs."
    ns = {'torch': lib, 'F': lib.nn.functional, 'np': np, 'inf': math.inf, 'nan': math.nan}
    ns.update({k: a.copy() for k, a in inputs.items()})
    return ns


def execute(ns, code):
    "Run one line in `ns`; return the exception it raised, or None."
    c = _CODE.get(code)
    if c is None: c = _CODE[code] = compile(code, '<program>', 'exec')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            with np.errstate(all='ignore'): exec(c, ns)
    except Exception as e:
        return e
    return None


def program_for(seed, index=0, n_statements=None):
    "The program number `index` of the run seeded with `seed` (each program has its own stream)."
    rng = np.random.default_rng([seed, index])
    return ProgramGenerator(rng).program(n_statements)


def generate(seed, count, start=0):
    "Programs `start`..`start+count-1` of the run seeded with `seed`."
    for i in range(start, start + count): yield program_for(seed, i)
