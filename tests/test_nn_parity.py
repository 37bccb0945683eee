"""One table drives the layer and loss parity test: every class in `nn` and every function in `nn.functional`
(plus the top-level functions the layers notebook adds) against PyTorch.

A row builds the same computation in both libraries: a module (learntorch's parameters are copied into PyTorch's
through numpy) or a function of its inputs. Hypothesis draws batch shapes, values and options (reduction,
ignore_index, label_smoothing, weights, padding_idx, elementwise_affine, ...). The test compares the raised exception
type, the output's values, dtype, shape and `grad_fn` name, then the gradients with respect to every floating input
and every parameter, in float32 and float64. A second test runs learntorch's `gradcheck` in float64 against finite
differences. A class or function added to `nn` without a row fails `test_every_layer_and_function_has_a_row`."""
import re
from pathlib import Path
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import learntorch
from learntorch import nn as lnn
from helpers import OnDevice, assert_on_device, is_seam_leak

torch = pytest.importorskip("torch")

DTYPES = ('float32', 'float64')
TOL = {'float32': (2e-5, 2e-5), 'float64': (1e-9, 1e-10)}


@dataclass(repr=False)
class Row:
    "One row: `covers` names the nn classes / functions it checks."
    name: str
    covers: tuple
    call: Callable            # call(T, opts, *inputs): the output (a module is built by `module` instead)
    inputs: Callable          # inputs(draw, opts) -> list of numpy arrays (floats get requires_grad)
    opts: Any = st.just({})   # strategy of an options dict
    module: Callable = None   # module(T, opts) -> nn.Module; then call(T, opts, m, *inputs) runs it
    nograd: tuple = ()        # positions of floating inputs that do not require grad
    tol: float = 1
    gradcheck: Any = True     # or a predicate on the options: where the gradient is the true derivative
    examples: int = 20
    def __repr__(self): return f'Row({self.name!r})'


TABLE = []
def row(name, covers, call, inputs, **kw): TABLE.append(Row(name, tuple(covers.split()), call, inputs, **kw))

# --------------------------------------------------------------------------------------------- input strategies
def floats(draw, shape, lo=-3, hi=3):
    "A float64 array of `shape` with values in [lo, hi], away from kinks at 0 by a little."
    n = int(np.prod(shape))
    vals = draw(st.lists(st.floats(lo, hi, allow_nan=False, allow_infinity=False), min_size=n, max_size=n))
    a = np.array(vals, dtype=np.float64).reshape(shape)
    return np.where(np.abs(a) < 1e-3, 0.5, a)

def batch(draw, min_dims=0, max_dims=2, max_side=4):
    return tuple(draw(st.lists(st.integers(1, max_side), min_size=min_dims, max_size=max_dims)))

def features(draw, lo=1, hi=5): return draw(st.integers(lo, hi))

def x_with_features(n_in, min_dims=1, max_dims=2):
    "Inputs (*batch, n_in)."
    return lambda draw, o: [floats(draw, batch(draw, min_dims - 1, max_dims - 1) + (o[n_in] if isinstance(n_in, str) else n_in,))]

def any_x(min_dims=0, max_dims=3, lo=-3, hi=3):
    return lambda draw, o: [floats(draw, batch(draw, min_dims, max_dims), lo, hi)]

def probs(draw, shape): return floats(draw, shape, 0.02, 0.98)

# --------------------------------------------------------------------------------------------- rows: layers
OPT_LINEAR = st.fixed_dictionaries({'n_in': st.integers(1, 5), 'n_out': st.integers(1, 4), 'bias': st.booleans()})
row('Linear', 'Linear', lambda T, o, m, x: m(x), x_with_features('n_in', 1, 3), opts=OPT_LINEAR,
    module=lambda T, o: T.nn.Linear(o['n_in'], o['n_out'], bias=o['bias']))
row('linear', 'linear', lambda T, o, x, w, *b: T.nn.functional.linear(x, w, *b),
    lambda draw, o: [floats(draw, batch(draw, 0, 2) + (o['n_in'],)), floats(draw, (o['n_out'], o['n_in']))]
    + ([floats(draw, (o['n_out'],))] if o['bias'] else []), opts=OPT_LINEAR)
OPT_BIL = st.fixed_dictionaries({'a': st.integers(1, 4), 'b': st.integers(1, 4), 'n_out': st.integers(1, 3),
                                 'bias': st.booleans()})
def bil_inputs(draw, o):
    lead = batch(draw, 1, 2)
    return [floats(draw, lead + (o['a'],)), floats(draw, lead + (o['b'],))]
row('Bilinear', 'Bilinear', lambda T, o, m, x1, x2: m(x1, x2), bil_inputs, opts=OPT_BIL,
    module=lambda T, o: T.nn.Bilinear(o['a'], o['b'], o['n_out'], bias=o['bias']))
row('bilinear', 'bilinear', lambda T, o, x1, x2, w, *b: T.nn.functional.bilinear(x1, x2, w, *b),
    lambda draw, o: bil_inputs(draw, o) + [floats(draw, (o['n_out'], o['a'], o['b']))]
    + ([floats(draw, (o['n_out'],))] if o['bias'] else []), opts=OPT_BIL)
row('Identity', 'Identity', lambda T, o, m, x: m(x), any_x(), module=lambda T, o: T.nn.Identity(3, k=1))
row('Flatten', 'Flatten', lambda T, o, m, x: m(x), any_x(2, 4),
    opts=st.fixed_dictionaries({'s': st.integers(0, 1), 'e': st.sampled_from([-1, 1])}),
    module=lambda T, o: T.nn.Flatten(o['s'], o['e']))
row('Unflatten', 'Unflatten', lambda T, o, m, x: m(x), lambda draw, o: [floats(draw, (2, 6))],
    opts=st.sampled_from([{'size': (2, 3)}, {'size': (3, -1)}, {'size': (6, 1)}]),
    module=lambda T, o: T.nn.Unflatten(1, o['size']))

ACTS = [  # module name, functional name, options strategy, kwargs for the module from opts, for the function
    ('ReLU', 'relu', st.just({})), ('ReLU6', 'relu6', st.just({})), ('Sigmoid', 'sigmoid', st.just({})),
    ('Tanh', 'tanh', st.just({})), ('SiLU', 'silu', st.just({})), ('Mish', 'mish', st.just({})),
    ('Hardswish', 'hardswish', st.just({})),
    ('LogSigmoid', 'logsigmoid', st.just({})),
    ('LeakyReLU', 'leaky_relu', st.fixed_dictionaries({'negative_slope': st.sampled_from([0.01, 0.2, -0.5])})),
    ('ELU', 'elu', st.fixed_dictionaries({'alpha': st.sampled_from([1.0, 0.5, 2.0])})),
    ('GELU', 'gelu', st.fixed_dictionaries({'approximate': st.sampled_from(['none', 'tanh'])})),
    ('Softplus', 'softplus', st.fixed_dictionaries({'beta': st.sampled_from([1.0, 2.0]),
                                                    'threshold': st.sampled_from([20.0, 1.0])})),
    ('Hardtanh', 'hardtanh', st.fixed_dictionaries({'min_val': st.sampled_from([-1.0, -2.0]),
                                                    'max_val': st.sampled_from([1.0, 0.5])})),
]
for mod_name, fn_name, opts in ACTS:
    lo, hi = (-8, 8) if mod_name in ('ReLU6', 'Hardswish', 'Softplus') else (-3, 3)
    row(mod_name, mod_name, lambda T, o, m, x: m(x), any_x(0, 3, lo, hi), opts=opts,
        module=lambda T, o, n=mod_name: getattr(T.nn, n)(**o))
    row(fn_name, fn_name, lambda T, o, x, n=fn_name: getattr(T.nn.functional, n)(x, **o), any_x(0, 3, lo, hi), opts=opts)

OPT_PRELU = st.fixed_dictionaries({'n': st.sampled_from([1, 3]), 'init': st.sampled_from([0.25, -0.1])})
def prelu_x(draw, o): return [floats(draw, (draw(st.integers(1, 3)), o['n']) + batch(draw, 0, 2))]
row('PReLU', 'PReLU', lambda T, o, m, x: m(x), prelu_x, opts=OPT_PRELU,
    module=lambda T, o: T.nn.PReLU(o['n'], o['init']))
row('prelu', 'prelu', lambda T, o, x, w: T.nn.functional.prelu(x, w),
    lambda draw, o: prelu_x(draw, o) + [floats(draw, (o['n'],))], opts=OPT_PRELU)

OPT_DIM = st.fixed_dictionaries({'dim': st.sampled_from([0, 1, -1])})
def x_2d(draw, o): return [floats(draw, (draw(st.integers(1, 4)), draw(st.integers(1, 5))) + batch(draw, 0, 1), -5, 5)]
for mod_name, fn_name in (('Softmax', 'softmax'), ('LogSoftmax', 'log_softmax'), ('Softmin', 'softmin')):
    row(mod_name, mod_name, lambda T, o, m, x: m(x), x_2d, opts=OPT_DIM,
        module=lambda T, o, n=mod_name: getattr(T.nn, n)(dim=o['dim']))
    row(fn_name, fn_name, lambda T, o, x, n=fn_name: getattr(T.nn.functional, n)(x, o['dim']), x_2d, opts=OPT_DIM)
row('softmax(dtype=)', 'softmax', lambda T, o, x: T.nn.functional.softmax(x, 1, dtype=T.float64), x_2d)

OPT_DROP = st.sampled_from([{'p': 0.0, 'training': True}, {'p': 1.0, 'training': True}, {'p': 0.5, 'training': False}])
row('Dropout', 'Dropout', lambda T, o, m, x: m(x), any_x(1, 3), opts=OPT_DROP,
    module=lambda T, o: T.nn.Dropout(o['p']).train(o['training']))
row('dropout', 'dropout', lambda T, o, x: T.nn.functional.dropout(x, o['p'], o['training']), any_x(1, 3), opts=OPT_DROP)

OPT_EMB = st.fixed_dictionaries({'n': st.integers(1, 6), 'd': st.integers(1, 4),
                                 'padding_idx': st.sampled_from([None, 0, -1])})
def emb_idx(draw, o):
    shape = batch(draw, 1, 2)
    return [np.array(draw(st.lists(st.integers(0, o['n'] - 1), min_size=int(np.prod(shape)),
                                   max_size=int(np.prod(shape))))).reshape(shape).astype(np.int64)]
row('Embedding', 'Embedding', lambda T, o, m, i: m(i), emb_idx, opts=OPT_EMB,
    module=lambda T, o: T.nn.Embedding(o['n'], o['d'], padding_idx=o['padding_idx']))
row('embedding', 'embedding', lambda T, o, i, w: T.nn.functional.embedding(i, w),
    lambda draw, o: emb_idx(draw, o) + [floats(draw, (o['n'], o['d']))], opts=OPT_EMB)
row('Embedding(max_norm)', 'Embedding', lambda T, o, m, i: m(i), emb_idx,
    opts=st.fixed_dictionaries({'n': st.integers(1, 6), 'd': st.integers(1, 4), 'max_norm': st.sampled_from([0.5, 1.0]),
                                'norm_type': st.sampled_from([2.0, 1.0])}),
    module=lambda T, o: T.nn.Embedding(o['n'], o['d'], max_norm=o['max_norm'], norm_type=o['norm_type']), gradcheck=False)
row('one_hot', 'one_hot', lambda T, o, i: T.nn.functional.one_hot(i, o['k']),
    lambda draw, o: emb_idx(draw, {'n': 3}), opts=st.fixed_dictionaries({'k': st.sampled_from([-1, 3, 5])}))

OPT_LN = st.fixed_dictionaries({'shape': st.sampled_from([(3,), (2, 3)]), 'affine': st.booleans(),
                                'bias': st.booleans(), 'eps': st.sampled_from([1e-5, 0.1])})
def ln_x(draw, o): return [floats(draw, batch(draw, 0, 2) + o['shape'])]
row('LayerNorm', 'LayerNorm', lambda T, o, m, x: m(x), ln_x, opts=OPT_LN, tol=10,
    module=lambda T, o: T.nn.LayerNorm(o['shape'], o['eps'], elementwise_affine=o['affine'], bias=o['bias']))
row('layer_norm', 'layer_norm', lambda T, o, x, w, b: T.nn.functional.layer_norm(x, o['shape'], w, b, o['eps']),
    lambda draw, o: ln_x(draw, o) + [floats(draw, o['shape']), floats(draw, o['shape'])], opts=OPT_LN, tol=10)
OPT_RMS = st.fixed_dictionaries({'shape': st.sampled_from([(3,), (2, 3)]), 'affine': st.booleans(),
                                 'eps': st.sampled_from([None, 1e-3])})
row('RMSNorm', 'RMSNorm', lambda T, o, m, x: m(x), ln_x, opts=OPT_RMS, tol=10,
    module=lambda T, o: T.nn.RMSNorm(o['shape'], o['eps'], elementwise_affine=o['affine']))
row('rms_norm', 'rms_norm', lambda T, o, x, w: T.nn.functional.rms_norm(x, o['shape'], w, o['eps']),
    lambda draw, o: ln_x(draw, o) + [floats(draw, o['shape'])], opts=OPT_RMS, tol=10)

def pair_rows(draw, o):
    shape = batch(draw, 1, 2) + (draw(st.integers(1, 4)),)
    return [floats(draw, shape), floats(draw, shape)]
OPT_COS = st.fixed_dictionaries({'dim': st.sampled_from([-1, 0]), 'eps': st.sampled_from([1e-8, 0.5])})
COS_TRUE_GRAD = lambda o: o['eps'] < 1e-3    # PyTorch's clamp to eps is invisible to autograd by design
row('CosineSimilarity', 'CosineSimilarity', lambda T, o, m, a, b: m(a, b), pair_rows, opts=OPT_COS, gradcheck=COS_TRUE_GRAD,
    module=lambda T, o: T.nn.CosineSimilarity(o['dim'], o['eps']))
row('cosine_similarity', 'cosine_similarity', lambda T, o, a, b: T.nn.functional.cosine_similarity(a, b, o['dim'], o['eps']),
    pair_rows, opts=OPT_COS, gradcheck=COS_TRUE_GRAD)
OPT_PD = st.fixed_dictionaries({'p': st.sampled_from([2.0, 1.0, 3.0]), 'keepdim': st.booleans()})
row('PairwiseDistance', 'PairwiseDistance', lambda T, o, m, a, b: m(a, b), pair_rows, opts=OPT_PD,
    module=lambda T, o: T.nn.PairwiseDistance(o['p'], keepdim=o['keepdim']))
row('pairwise_distance', 'pairwise_distance', lambda T, o, a, b: T.nn.functional.pairwise_distance(a, b, o['p'], keepdim=o['keepdim']),
    pair_rows, opts=OPT_PD)
row('normalize', 'normalize', lambda T, o, x: T.nn.functional.normalize(x, o['p'], o['dim']), x_2d,
    opts=st.fixed_dictionaries({'p': st.sampled_from([2.0, 1.0]), 'dim': st.sampled_from([0, 1, -1])}))

@st.composite
def pad_opts(draw):
    mode = draw(st.sampled_from(['constant', 'reflect', 'replicate', 'circular']))
    k = draw(st.integers(1, 3 if mode != 'constant' else 2))
    lo = -1 if mode in ('constant', 'circular') else 0
    return {'mode': mode, 'k': k, 'pad': tuple(draw(st.integers(lo, 2)) for _ in range(2 * k)),
            'value': draw(st.sampled_from([0.0, 1.5])) if mode == 'constant' else None}
def pad_x(draw, o): return [floats(draw, (draw(st.integers(1, 2)),) * (1 if o['k'] < 3 else 0) + (2,) + tuple(draw(st.integers(3, 4)) for _ in range(o['k'])))]
row('pad', 'pad', lambda T, o, x: T.nn.functional.pad(x, o['pad'], o['mode'], o['value']), pad_x, opts=pad_opts())

# --------------------------------------------------------------------------------------------- rows: losses
RED = st.sampled_from(['mean', 'sum', 'none'])
def same_pair(draw, o, lo=-3, hi=3):
    shape = batch(draw, 0, 3)
    return [floats(draw, shape, lo, hi), floats(draw, shape, lo, hi)]
for mod_name, fn_name, extra in (('MSELoss', 'mse_loss', {}), ('L1Loss', 'l1_loss', {}),
                                 ('SmoothL1Loss', 'smooth_l1_loss', {'beta': st.sampled_from([1.0, 0.5, 0.0])}),
                                 ('HuberLoss', 'huber_loss', {'delta': st.sampled_from([1.0, 0.5, 2.0])})):
    opts = st.fixed_dictionaries({'reduction': RED, **extra})
    row(mod_name, mod_name, lambda T, o, m, a, b: m(a, b), same_pair, opts=opts, module=lambda T, o, n=mod_name: getattr(T.nn, n)(**o))
    row(fn_name, fn_name, lambda T, o, a, b, n=fn_name: getattr(T.nn.functional, n)(a, b, **o), same_pair, opts=opts)
for fn_name in ('mse_loss', 'l1_loss', 'huber_loss'):
    row(f'{fn_name}(weight=)', fn_name, lambda T, o, a, b, w, n=fn_name: getattr(T.nn.functional, n)(a, b, weight=w, **o),
        lambda draw, o: (lambda p: p + [floats(draw, p[0].shape, 0.1, 2)])(same_pair(draw, o)),
        opts=st.fixed_dictionaries({'reduction': RED}))

@st.composite
def cls_opts(draw, probabilities=False):
    o = {'reduction': draw(RED), 'C': draw(st.integers(1, 4)), 'spatial': draw(st.sampled_from([(), (2,), (2, 3)])),
         'weighted': draw(st.booleans())}
    if not probabilities: o['ignore_index'] = draw(st.sampled_from([-100, 0, 1]))
    return o
def cls_inputs(draw, o, probabilities=False, log=False):
    n = draw(st.integers(1, 4))
    x = floats(draw, (n, o['C']) + o['spatial'])
    if log: x = x - np.log(np.exp(x).sum(1, keepdims=True))
    tshape = (n,) + o['spatial']
    if probabilities:
        t = floats(draw, x.shape, 0.05, 1); t = t / t.sum(1, keepdims=True)
    else:
        t = np.array(draw(st.lists(st.integers(0, o['C'] - 1), min_size=int(np.prod(tshape)),
                                   max_size=int(np.prod(tshape))))).reshape(tshape).astype(np.int64)
    out = [x, t]
    if o['weighted']: out.append(floats(draw, (o['C'],), 0.1, 2))
    return out
def ce_call(T, o, x, t, *w):
    return T.nn.functional.cross_entropy(x, t, *w, ignore_index=o.get('ignore_index', -100), reduction=o['reduction'],
                                         label_smoothing=o.get('label_smoothing', 0.0))
def ce_opts(probabilities):
    return cls_opts(probabilities).flatmap(lambda o: st.sampled_from([0.0, 0.2]).map(lambda s: {**o, 'label_smoothing': s}))
def ce_module(T, o, w=None):
    return T.nn.CrossEntropyLoss(ignore_index=o.get('ignore_index', -100), reduction=o['reduction'],
                                 label_smoothing=o['label_smoothing'])
row('cross_entropy', 'cross_entropy', ce_call, cls_inputs, opts=ce_opts(False), nograd=(2,))
row('cross_entropy(probabilities)', 'cross_entropy', ce_call, lambda d, o: cls_inputs(d, o, True), opts=ce_opts(True),
    nograd=(2,))
row('CrossEntropyLoss', 'CrossEntropyLoss', lambda T, o, m, x, t, *w: m(x, t), cls_inputs,
    opts=ce_opts(False).map(lambda o: {**o, 'weighted': False}), module=ce_module)
row('nll_loss', 'nll_loss', lambda T, o, x, t, *w: T.nn.functional.nll_loss(x, t, *w, ignore_index=o['ignore_index'],
                                                                         reduction=o['reduction']),
    lambda d, o: cls_inputs(d, o, log=True), opts=cls_opts(), nograd=(2,))
row('NLLLoss', 'NLLLoss', lambda T, o, m, x, t: m(x, t), lambda d, o: cls_inputs(d, o, log=True),
    opts=cls_opts().map(lambda o: {**o, 'weighted': False}),
    module=lambda T, o: T.nn.NLLLoss(ignore_index=o['ignore_index'], reduction=o['reduction']))

def bce_inputs(draw, o):
    shape = batch(draw, 0, 3)
    # (targets inside [0, 1] with room: gradcheck moves them by eps, and BCE, as PyTorch, refuses targets outside)
    out = [probs(draw, shape), probs(draw, shape)]
    if o.get('weighted'): out.append(floats(draw, shape, 0.1, 2))
    return out
OPT_BCE = st.fixed_dictionaries({'reduction': RED, 'weighted': st.booleans()})
row('binary_cross_entropy', 'binary_cross_entropy',
    lambda T, o, x, t, *w: T.nn.functional.binary_cross_entropy(x, t, *w, reduction=o['reduction']), bce_inputs,
    opts=OPT_BCE, nograd=(2,))
row('BCELoss', 'BCELoss', lambda T, o, m, x, t: m(x, t), bce_inputs, opts=st.fixed_dictionaries({'reduction': RED}),
    module=lambda T, o: T.nn.BCELoss(reduction=o['reduction']))
def bcel_inputs(draw, o):
    shape = batch(draw, 0, 3)
    out = [floats(draw, shape), floats(draw, shape, 0, 1)]
    if o.get('weighted'): out.append(floats(draw, shape, 0.1, 2))
    if o.get('pos'): out.append(floats(draw, shape[-1:] if shape else (), 0.1, 3))
    return out
OPT_BCEL = st.fixed_dictionaries({'reduction': RED, 'weighted': st.booleans(), 'pos': st.booleans()})
def bcel_call(T, o, x, t, *rest):
    rest = list(rest)
    w = rest.pop(0) if o['weighted'] else None
    pw = rest.pop(0) if o['pos'] else None
    return T.nn.functional.binary_cross_entropy_with_logits(x, t, w, reduction=o['reduction'], pos_weight=pw)
row('binary_cross_entropy_with_logits', 'binary_cross_entropy_with_logits', bcel_call, bcel_inputs, opts=OPT_BCEL,
    nograd=(2, 3))
row('BCEWithLogitsLoss', 'BCEWithLogitsLoss', lambda T, o, m, x, t: m(x, t), bcel_inputs,
    opts=st.fixed_dictionaries({'reduction': RED}), module=lambda T, o: T.nn.BCEWithLogitsLoss(reduction=o['reduction']))
OPT_KL = st.fixed_dictionaries({'reduction': st.sampled_from(['mean', 'sum', 'none', 'batchmean']),
                                'log_target': st.booleans()})
def kl_inputs(draw, o):
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 4)))
    t = floats(draw, shape, 0.05, 1)
    return [floats(draw, shape, -3, 0), np.log(t) if o['log_target'] else t]
row('kl_div', 'kl_div', lambda T, o, x, t: T.nn.functional.kl_div(x, t, **o), kl_inputs, opts=OPT_KL)
row('KLDivLoss', 'KLDivLoss', lambda T, o, m, x, t: m(x, t), kl_inputs, opts=OPT_KL, module=lambda T, o: T.nn.KLDivLoss(**o))

# --------------------------------------------------------------------------------------------- rows: top level
EINSUMS = ['ij,jk->ik', 'ij->j', 'ij,ij->i', 'bij,bjk->bik', 'i,j->ij', 'ij->ji', '...j,jk->...k', 'ij,kj', 'i,i->']
def einsum_inputs(draw, o):
    sizes = {c: draw(st.integers(1, 3)) for c in 'bijk'}
    lhs = o['eq'].split('->')[0].split(',')
    return [floats(draw, tuple(sizes[c] for c in t.replace('...', 'b'))) for t in lhs]
row('einsum', 'einsum', lambda T, o, *xs: T.einsum(o['eq'], *xs), einsum_inputs,
    opts=st.fixed_dictionaries({'eq': st.sampled_from(EINSUMS)}))
row('meshgrid', 'meshgrid', lambda T, o, a, b: T.meshgrid(a, b, indexing=o['indexing'])[o['which']],
    lambda draw, o: [floats(draw, (draw(st.integers(1, 3)),)), floats(draw, (draw(st.integers(1, 3)),))],
    opts=st.fixed_dictionaries({'indexing': st.sampled_from(['ij', 'xy']), 'which': st.integers(0, 1)}))
def int_values(draw, o):
    n = draw(st.integers(0, 6))
    return [np.array(draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)), dtype=np.int64)]
row('unique', 'unique', lambda T, o, i: T.unique(i, return_inverse=True, return_counts=True)[o['which']], int_values,
    opts=st.fixed_dictionaries({'which': st.integers(0, 2)}))
row('bincount', 'bincount', lambda T, o, i: T.bincount(i, minlength=o['minlength']), int_values,
    opts=st.fixed_dictionaries({'minlength': st.integers(0, 7)}))
def cdist_inputs(draw, o):
    m = draw(st.integers(1, 3))
    lead = batch(draw, 0, 1)
    return [floats(draw, lead + (draw(st.integers(1, 4)), m)), floats(draw, lead + (draw(st.integers(1, 4)), m))]
row('cdist', 'cdist', lambda T, o, a, b: T.cdist(a, b, o['p']), cdist_inputs,
    opts=st.fixed_dictionaries({'p': st.sampled_from([2.0, 1.0, 3.0, math.inf])}))

# --------------------------------------------------------------------------------------------- the machinery
def _tensor(T, a, dtype, grad, device=None):
    if a.dtype.kind == 'f':
        t = T.tensor(a, dtype=getattr(T, dtype), device=device)
        return t.requires_grad_(grad)
    return T.tensor(a, device=device)

def _host(t): return t.detach().cpu().numpy()

def _run(T, r, o, arrays, dtype, device=None):
    """Build and run row `r` in library `T` (with a `device`: learntorch's inputs and module there, and the row's own
    new tensors too); returns (output or exception, input tensors, module)."""
    xs = [_tensor(T, a, dtype, i not in r.nograd, device) for i, a in enumerate(arrays)]
    if device is not None: T = OnDevice(device)
    m = None
    try:
        if r.module is not None:
            m = r.module(T, o).to(getattr(T, dtype))
            if device is not None: m = m.to(device)
            out = r.call(T, o, m, *xs)
        else: out = r.call(T, o, *xs)
        return out, xs, m
    except Exception as e: return e, xs, m

def _copy_params(src, dst):
    "Copy learntorch module `src`'s parameters and buffers into the PyTorch module `dst`."
    ps, pd = dict(src.named_parameters()), dict(dst.named_parameters())
    assert list(ps) == list(pd), (list(ps), list(pd))
    with torch.no_grad():
        for k in ps:
            assert tuple(ps[k].shape) == tuple(pd[k].shape), k
            pd[k].copy_(torch.from_numpy(np.array(_host(ps[k]))))

def _close(a, b, dtype, tol, what):
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64),
                               rtol=rtol * tol, atol=atol * tol, equal_nan=True, err_msg=what)

def check_row(r, dtype, data, device=None):
    o = data.draw(r.opts, label='options')
    arrays = r.inputs(data.draw, o)
    lt = _run(learntorch, r, o, arrays, dtype, device)
    if r.module is not None and lt[2] is not None:      # rebuild PyTorch's module with learntorch's parameters
        m_t = r.module(torch, o).to(getattr(torch, dtype))
        _copy_params(lt[2], m_t)
        xs = [_tensor(torch, a, dtype, i not in r.nograd) for i, a in enumerate(arrays)]
        try: out_t = r.call(torch, o, m_t, *xs)
        except Exception as e: out_t = e
        th = (out_t, xs, m_t)
    else: th = _run(torch, r, o, arrays, dtype)
    (out_l, xs_l, m_l), (out_t, xs_t, m_t) = lt, th
    if isinstance(out_l, Exception) and is_seam_leak(out_l): raise out_l
    if isinstance(out_t, Exception) or isinstance(out_l, Exception):
        assert type(out_l).__name__ == type(out_t).__name__, f'learntorch: {out_l!r}, PyTorch: {out_t!r}'
        return
    assert tuple(out_l.shape) == tuple(out_t.shape), (out_l.shape, out_t.shape)
    assert str(out_l.dtype) == str(out_t.dtype), (out_l.dtype, out_t.dtype)
    if device is not None: assert_on_device(out_l, device, 'output')
    _close(_host(out_l), out_t.detach().numpy(), dtype, r.tol, 'output')
    name = lambda t: type(t.grad_fn).__name__ if t.grad_fn is not None else None
    assert name(out_l) == name(out_t), f'grad_fn: learntorch {name(out_l)}, PyTorch {name(out_t)}'
    if out_t.grad_fn is None: return
    g = floats(data.draw, tuple(out_t.shape))
    out_l.backward(learntorch.tensor(g, dtype=out_l.dtype, device=device))
    out_t.backward(torch.tensor(g, dtype=out_t.dtype))
    for i, (a, b) in enumerate(zip(xs_l, xs_t)):
        if b.requires_grad:
            assert (a.grad is None) == (b.grad is None), f'input {i}: grad {a.grad} vs {b.grad}'
            if b.grad is not None:
                if device is not None: assert_on_device(a.grad, device, f'grad of input {i}')
                _close(_host(a.grad), b.grad.numpy(), dtype, r.tol, f'grad of input {i}')
    if m_t is not None:
        for (k, a), (_, b) in zip(m_l.named_parameters(), m_t.named_parameters()):
            assert (a.grad is None) == (b.grad is None), f'grad of {k}: {a.grad} vs {b.grad}'
            if b.grad is not None:
                if device is not None: assert_on_device(a.grad, device, f'grad of {k}')
                _close(_host(a.grad), b.grad.numpy(), dtype, r.tol, f'grad of {k}')


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('r', TABLE, ids=lambda r: r.name)
def test_layer_parity(r, dtype):
    "Values, dtype, shape, grad_fn name and gradients (inputs and parameters) agree with PyTorch."
    settings(max_examples=r.examples)(given(data=st.data())(lambda data: check_row(r, dtype, data)))()


# hypothesis examples per row and dtype on a device (the strict array module, a GPU)
DEVICE_EXAMPLES = int(__import__('os').environ.get('LT_DEVICE_EXAMPLES', 6)) // 2


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('r', TABLE, ids=lambda r: r.name)
def test_layer_parity_on_device(r, dtype, accel_device):
    """The same with learntorch's inputs and module on the device (PyTorch's on the CPU): outputs and gradients stay
    there and agree after `.cpu()`."""
    settings(max_examples=max(DEVICE_EXAMPLES, 2))(given(data=st.data())(
        lambda data: check_row(r, dtype, data, accel_device)))()


@pytest.mark.parametrize('r', [r for r in TABLE if r.gradcheck], ids=lambda r: r.name)
def test_layer_gradcheck(r):
    "learntorch's float64 gradients agree with finite differences."
    gradcheck_row(r, int(__import__('os').environ.get('GC_EXAMPLES', 5)))


@pytest.mark.parametrize('r', [r for r in TABLE if r.gradcheck], ids=lambda r: r.name)
def test_layer_gradcheck_on_device(r, accel_device):
    "learntorch's gradcheck with the inputs and module on the device."
    gradcheck_row(r, 2, accel_device)


def gradcheck_row(r, examples, device=None):
    T = learntorch if device is None else OnDevice(device)
    @settings(max_examples=examples)
    @given(data=st.data())
    def check(data):
        o = data.draw(r.opts)
        if callable(r.gradcheck) and not r.gradcheck(o): return
        arrays = r.inputs(data.draw, o)     # moved off kinks (|x| = 0, ties, thresholds) by a different odd shift each
        arrays = [a + 0.0137 * math.sqrt(2) + 1.7e-3 * math.sqrt(3) * np.arange(a.size).reshape(a.shape)
                  if a.dtype.kind == 'f' and i == 0 else a for i, a in enumerate(arrays)]
        xs = [_tensor(learntorch, a, 'float64', i not in r.nograd, device) for i, a in enumerate(arrays)]
        m = r.module(T, o).double() if r.module is not None else None
        if m is not None and device is not None: m = m.to(device)
        if m is not None and o.get('p', 0.5) not in (0.0, 1.0):
            m.eval()
        def f(*xs_): return r.call(T, o, m, *xs_) if m is not None else r.call(T, o, *xs_)
        try: out = f(*xs)
        except Exception as e:
            if is_seam_leak(e): raise
            return
        if not out.requires_grad or not np.isfinite(_host(out)).all(): return   # e.g. all ignored: 0/0
        assert learntorch.autograd.gradcheck(f, tuple(xs), eps=1e-6, atol=1e-5, rtol=1e-3)
    check()


def _public_layers():
    "Every Module subclass in learntorch.nn except the base class and the containers."
    skip = {'Module', 'Sequential', 'ModuleList', 'ModuleDict',
            'RNNBase', 'RNNCellBase'}   # base classes: their subclasses (RNN, LSTM, GRU and cells) are checked
    return sorted(n for n in dir(lnn) if not n.startswith('_') and isinstance(getattr(lnn, n), type)
                  and issubclass(getattr(lnn, n), lnn.Module) and n not in skip)


# Concept modules whose layers have a parity suite of their own (against PyTorch, with gradients and gradcheck):
# their classes and functions must be named there instead of in TABLE.
OWN_SUITES = {'learntorch.nn.conv': 'test_conv.py', 'learntorch.nn.rnn': 'test_rnn.py',
              'learntorch.nn.attention': 'test_attention.py', 'learntorch.distributed': 'test_distributed.py'}


def _checked_in_own_suite(name):
    "Whether `name` comes from a module with its own parity suite, and that suite names it."
    obj = getattr(lnn, name, None) or getattr(lnn.functional, name, None)
    suite = OWN_SUITES.get(getattr(obj, '__module__', None))
    if suite is None: return False
    text = (Path(__file__).parent/suite).read_text(encoding='utf-8')
    return re.search(rf'\b{re.escape(name)}\b', text) is not None


def test_every_layer_and_function_has_a_row():
    "A class added to nn, or a function added to nn.functional, without a parity row (or own suite) fails here."
    covered = {c for r in TABLE for c in r.covers}
    missing = [n for n in _public_layers() + list(lnn.functional.__all__)
               if n not in covered and not _checked_in_own_suite(n)]
    assert not missing, f'no parity row for: {missing}'


SPECIAL_VALUES = [float('nan'), float('-inf'), float('inf'), -0.0, 0.0, -1.0, 1.0, 6.0, -6.0, 20.0, 2.5, -2.5]
ACTIVATIONS = ['relu', 'relu6', 'leaky_relu', 'elu', 'gelu', 'silu', 'mish', 'softplus', 'hardtanh', 'hardswish',
               'sigmoid', 'tanh', 'logsigmoid']


@pytest.mark.parametrize('name', ACTIVATIONS)
def test_activation_at_special_values(name):
    "Each activation at nan, ±inf, ±0 and its kinks: PyTorch's values (the sign of a zero too) and gradients."
    # PyTorch's gelu gives nan at +inf (its vectorised erf); learntorch gives the limit, inf
    values = [v for v in SPECIAL_VALUES if not (name == 'gelu' and v == float('inf'))]
    got = []
    for T in (learntorch, torch):
        x = T.tensor(values, requires_grad=True)
        y = getattr(T.nn.functional, name)(x)
        y.backward(T.ones(len(values)))
        got.append((y.detach().numpy().astype(np.float64), x.grad.numpy().astype(np.float64)))
    (ly, lg), (ty, tg) = got
    np.testing.assert_allclose(ly, ty, rtol=1e-6, atol=1e-7, equal_nan=True, err_msg=f'{name} values')
    assert np.array_equal(np.signbit(ly[ly == 0]), np.signbit(ty[ty == 0])), f'{name}: signs of zero {ly} vs {ty}'
    np.testing.assert_allclose(lg, tg, rtol=1e-6, atol=1e-7, equal_nan=True, err_msg=f'{name} gradients')
