"""The one table of accepted differences: places where PyTorch itself is inconsistent or wrong (or leaves a result
unspecified), so learntorch does not copy it. Each entry: `match`, a regular expression for the difference classes
it covers (as `runner.difference_class` names them), the reason, and a minimal program that shows it.
`tests/test_fuzz.py` pins every entry: its program must still differ in a class the entry matches, so an entry
cannot outlive its reason unnoticed. A campaign counts programs whose difference an entry matches apart."""
import re

ACCEPTED_PROGRAMS = [
    dict(match=r'Tensor\.(argsort|sort|topk): order of equal elements',
         reason="the order of equal elements is unspecified without stable=True; PyTorch's CPU kernel returns ties in "
                'an order that depends on the size (zeros(20).argsort() starts 10, 19, 18, ...; zeros(4).topk(3) '
                'gives indices [2, 3, 0]); learntorch sorts stably',
         statements=[('torch.zeros', 'v0 = torch.zeros(20)', 'v0'), ('Tensor.argsort', 'v1 = v0.argsort()', 'v1')]),
    dict(match=r'F\.huber_loss: dtype float32 vs float64',
         reason='PyTorch is inconsistent: huber_loss of a float32 input and a float64 target returns float32, while '
                'mse_loss, l1_loss and smooth_l1_loss (the same kind of loss) promote to float64; learntorch '
                'promotes all of them',
         statements=[('torch.zeros', 'v0 = torch.zeros(2)', 'v0'),
                     ('torch.zeros', 'v1 = torch.zeros(2, dtype=torch.float64)', 'v1'),
                     ('F.huber_loss', 'v2 = F.huber_loss(v0, v1)', 'v2')]),
    dict(match=r'Tensor\.requires_grad_: alias requires_grad True vs False \(of [^)]*\)|'
               r'with torch\.(no_grad|inference_mode|set_grad_enabled): .*: requires_grad True vs False',
         reason='a view made before its base.requires_grad_(), or under no_grad (inference_mode, '
                'set_grad_enabled(False)), reports requires_grad=True and '
                'is_leaf=True in PyTorch, yet no gradient ever reaches it or its base (backward through it runs and '
                'leaves every .grad None); learntorch reports requires_grad=False, which is what happens',
         statements=[('torch.tensor', 'v0 = torch.tensor([1.0, 2.0])', 'v0'), ('getitem:basic', 'v1 = v0[:]', 'v1'),
                     ('Tensor.requires_grad_', 'v0.requires_grad_()', 'v0')]),
    dict(match=r'torch\.autograd\.grad: grad_fn \w+ vs \w+',
         reason="the nodes of a gradient computed with create_graph=True: PyTorch names its hand-written "
                "double-backward kernels (EluBackwardBackward0); learntorch's backward formulas are ordinary tensor "
                "operations (DESIGN.md), so the gradient's node is that operation's node (MulBackward0)",
         statements=[('torch.tensor', 'v0 = torch.tensor([1.0, -1.0], requires_grad=True)', 'v0'),
                     ('F.elu', 'v1 = F.elu(v0)', 'v1'),
                     ('torch.autograd.grad', 'v2 = torch.autograd.grad(v1.sum(), [v0], create_graph=True)', 'v2')]),
    dict(match=r'F\.gelu: value',
         reason="PyTorch's CPU kernel gives gelu(inf) = nan and gelu(-inf) = nan (the limits are inf and 0); learntorch "
                'gives the limits. (The values of gelu at finite inputs are checked against PyTorch in '
                'tests/test_nn_parity.py.)',
         statements=[('torch.tensor', 'v0 = torch.tensor([inf, -inf, 1.0])', 'v0'), ('F.gelu', 'v1 = F.gelu(v0)', 'v1')]),
    dict(match=r'torch\.tensor\(dtype\): error TypeError vs none',
         reason="PyTorch is inconsistent: torch.tensor(np.bool_(False), dtype=torch.int32) (a numpy bool scalar) "
                "raises TypeError ('numpy.bool' object cannot be interpreted as an integer), while "
                "torch.tensor(np.array(False), dtype=torch.int32) and torch.tensor(False, dtype=torch.int32) work; "
                'learntorch converts all three',
         statements=[('torch.tensor(dtype)', 'v0 = torch.tensor(np.bool_(False), dtype=torch.int32)', 'v0')]),
]


def accepted(cls):
    "The reason an accepted difference class is accepted, or None."
    return next((e['reason'] for e in ACCEPTED_PROGRAMS if re.fullmatch(e['match'], cls or '')), None)


def accepted_program(entry):
    "The `Program` of an accepted entry."
    from .generator import Program, Statement
    return Program({}, [Statement(op, code, target) for op, code, target in entry['statements']])
