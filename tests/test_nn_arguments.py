"""Every documented argument of the public functions and layers in `nn` is honoured or rejected, never silently
ignored: each parameter is used by the code that receives it (checked on the source), and the arguments that were
once ignored (`weight=` of the regression losses, `max_norm=` of `Embedding`, `out=`, unsupported modes) are checked
in behaviour against PyTorch or for a NotImplementedError naming them."""
import ast, inspect, textwrap

import numpy as np
import pytest

import learntorch
from learntorch import nn

torch = pytest.importorskip("torch")


def _public_functions():
    names = list(nn.functional.__all__) + ['einsum', 'meshgrid', 'unique', 'bincount', 'cdist']
    return [(n, getattr(nn.functional, n, None) or getattr(learntorch, n)) for n in names]


def _public_layers():
    skip = {'Module', 'Sequential', 'ModuleList', 'ModuleDict'}
    return [(n, getattr(nn, n)) for n in dir(nn) if not n.startswith('_') and isinstance(getattr(nn, n), type)
            and issubclass(getattr(nn, n), nn.Module) and n not in skip]


def _used_names(fn):
    "Names read anywhere in `fn`'s source (its body and nested functions)."
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


@pytest.mark.parametrize('name,fn', _public_functions(), ids=lambda v: v if isinstance(v, str) else '')
def test_every_function_argument_is_used(name, fn):
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if fn.__module__ and fn.__qualname__ == name and 'fn' in _used_names(fn) and not params: return
    used = _used_names(fn)
    unused = [p.name for p in params if p.name not in used]
    assert not unused, f'{name} accepts but never reads: {unused}'


@pytest.mark.parametrize('name,cls', _public_layers(), ids=lambda v: v if isinstance(v, str) else '')
def test_every_layer_argument_is_used(name, cls):
    "Each constructor argument is read in the class (kept as a setting and used, or passed on)."
    init = cls.__init__
    params = [p for p in inspect.signature(init).parameters.values()
              if p.name != 'self' and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    used = set()
    for klass in cls.__mro__:
        if klass.__module__.startswith('learntorch') and klass is not nn.Module:
            used |= _used_names(klass)
    unused = [p.name for p in params if p.name not in used]
    assert not unused, f'{name}.__init__ accepts but never reads: {unused}'


@pytest.mark.parametrize('fn', ['mse_loss', 'l1_loss', 'huber_loss'])
@pytest.mark.parametrize('reduction', ['mean', 'sum', 'none'])
def test_regression_loss_weight_as_pytorch(fn, reduction):
    rng = np.random.default_rng(0)
    a, b, w = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.uniform(0.1, 2, size=(3, 4))
    outs = []
    for T in (learntorch, torch):
        x = T.tensor(a, requires_grad=True)
        y = getattr(T.nn.functional, fn)(x, T.tensor(b), weight=T.tensor(w), reduction=reduction)
        y.sum().backward()
        outs.append((y.detach().numpy(), x.grad.numpy()))
    for u, v in zip(*outs): np.testing.assert_allclose(u, v, rtol=1e-12)


def test_embedding_max_norm_renormalises_rows_in_place():
    w = np.random.default_rng(1).normal(size=(5, 3)) * 3
    idx = np.array([[0, 2], [2, 4]])
    results = []
    for T in (learntorch, torch):
        emb = T.nn.Embedding(5, 3, max_norm=1.5, norm_type=1.0).double()
        with T.no_grad(): emb.weight.copy_(T.tensor(w))
        out = emb(T.tensor(idx))
        results.append((out.detach().numpy(), emb.weight.detach().numpy()))
    for u, v in zip(*results): np.testing.assert_allclose(u, v, rtol=1e-6)
    np.testing.assert_allclose(results[0][1][[1, 3]], w[[1, 3]])       # rows not looked up stay as they were


@pytest.mark.parametrize('call,arg', [
    (lambda: nn.functional.normalize(learntorch.ones(2, 2), out=learntorch.ones(2, 2)), 'out'),
    (lambda: nn.functional.embedding(learntorch.tensor([0]), learntorch.ones(2, 2), sparse=True), 'sparse'),
    (lambda: nn.functional.embedding(learntorch.tensor([0]), learntorch.ones(2, 2), scale_grad_by_freq=True),
     'scale_grad_by_freq'),
    (lambda: nn.Embedding(2, 2, sparse=True)(learntorch.tensor([0])), 'sparse'),
    (lambda: nn.functional.pad(learntorch.ones(1, 2, 2), (1, 1), mode='wrap'), 'wrap'),
    (lambda: nn.Linear(2, 2).register_forward_hook(print, always_call=True), 'always_call'),
])
def test_unsupported_arguments_raise_naming_them(call, arg):
    with pytest.raises(NotImplementedError, match=arg): call()


def test_softmax_without_dim_warns_like_pytorch():
    for T in (learntorch, torch):
        with pytest.warns(UserWarning, match='Implicit dimension choice for softmax has been deprecated'):
            T.nn.functional.softmax(T.ones(2, 3))


def test_nn_node_classes_have_their_own_names():
    "No graph-node class defined in nn shares its `__name__` with a different node class."
    from collections import defaultdict
    from learntorch.autograd import Node
    by_name = defaultdict(set)
    def walk(cls):
        for sub in cls.__subclasses__(): by_name[sub.__name__].add(sub); walk(sub)
    walk(Node)
    clashes = {n: sorted(c.__module__ for c in cs) for n, cs in by_name.items()
               if len(cs) > 1 and any(c.__module__.startswith('learntorch.nn') for c in cs)}
    assert not clashes, clashes
