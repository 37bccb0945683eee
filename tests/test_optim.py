"""Optimizers, learning-rate schedules and gradient clipping against PyTorch.

Trajectories: the same float64 start, data and loss in both libraries (a Rosenbrock function and a small MLP),
200 steps, every optimizer with every option; the parameters must agree within 1e-5 relative at every step.
Schedules: every scheduler's learning rates for 100 steps. State dicts: a round trip mid-training continues
identically, and an optimizer's state moves between learntorch and PyTorch (through numpy) in both directions."""
import copy, math, warnings
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import learntorch
import learntorch.nn as lnn
from learntorch import optim
from learntorch.optim import lr_scheduler

STEPS = 200
RTOL, ATOL = 1e-5, 1e-9

# --------------------------------------------------------------------------------------------- problems
def rosenbrock(T, sign=1.0):
    "Parameters (x, y) of the Rosenbrock function and a closure computing `sign * f(x, y)`."
    x = T.tensor([-1.5], dtype=T.float64, requires_grad=True)
    y = T.tensor([2.0], dtype=T.float64, requires_grad=True)
    def loss(): return sign * ((1 - x) ** 2 + 100 * (y - x ** 2) ** 2).sum()
    return [x, y], loss


def mlp(T, sign=1.0):
    "A 3-8-1 tanh MLP with fixed float64 weights and data; MSE loss (times `sign`)."
    rng = np.random.default_rng(0)
    shapes = [(3, 8), (8,), (8, 1), (1,)]
    params = [T.tensor(rng.standard_normal(s) * 0.5, dtype=T.float64, requires_grad=True) for s in shapes]
    xb, yb = (T.tensor(rng.standard_normal(s), dtype=T.float64) for s in [(16, 3), (16, 1)])
    def loss():
        w1, b1, w2, b2 = params
        return sign * (((xb @ w1 + b1).tanh() @ w2 + b2 - yb) ** 2).mean()
    return params, loss


PROBLEMS = {'rosenbrock': rosenbrock, 'mlp': mlp}

# optimizer name -> list of (options id, kwargs). lr chosen so every run stays finite on both problems.
CONFIGS = {
    'SGD': [('plain', dict(lr=1e-4)), ('momentum', dict(lr=1e-4, momentum=0.9)),
            ('dampening', dict(lr=1e-4, momentum=0.9, dampening=0.5)),
            ('nesterov', dict(lr=1e-4, momentum=0.9, nesterov=True)),
            ('weight_decay', dict(lr=1e-4, weight_decay=0.1)),
            ('momentum+weight_decay', dict(lr=1e-4, momentum=0.5, weight_decay=0.1)),
            ('maximize', dict(lr=1e-4, momentum=0.9, maximize=True))],
    'Adam': [('default', dict(lr=1e-2)), ('betas', dict(lr=1e-2, betas=(0.8, 0.99))),
             ('amsgrad', dict(lr=1e-2, amsgrad=True)), ('weight_decay', dict(lr=1e-2, weight_decay=0.1)),
             ('maximize', dict(lr=1e-2, maximize=True)),
             ('decoupled_weight_decay', dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)),
             ('eps', dict(lr=1e-2, eps=1e-3))],
    'AdamW': [('default', dict(lr=1e-2)), ('amsgrad', dict(lr=1e-2, amsgrad=True)),
              ('weight_decay', dict(lr=1e-2, weight_decay=0.5)), ('maximize', dict(lr=1e-2, maximize=True))],
    'RMSprop': [('default', dict(lr=1e-3)), ('alpha', dict(lr=1e-3, alpha=0.9)),
                ('momentum', dict(lr=1e-3, momentum=0.9)), ('centered', dict(lr=1e-3, centered=True)),
                ('centered+momentum', dict(lr=1e-3, centered=True, momentum=0.5)),
                ('weight_decay', dict(lr=1e-3, weight_decay=0.1)), ('maximize', dict(lr=1e-3, maximize=True)),
                ('eps', dict(lr=1e-3, eps=1e-2))],
    'Adagrad': [('default', dict(lr=1e-1)), ('lr_decay', dict(lr=1e-1, lr_decay=0.01)),
                ('initial_accumulator_value', dict(lr=1e-1, initial_accumulator_value=0.5)),
                ('weight_decay', dict(lr=1e-1, weight_decay=0.1)), ('maximize', dict(lr=1e-1, maximize=True)),
                ('eps', dict(lr=1e-1, eps=1e-3))],
    'Adadelta': [('default', dict()), ('lr', dict(lr=0.5)), ('rho', dict(rho=0.5)),
                 ('weight_decay', dict(weight_decay=0.1)), ('maximize', dict(maximize=True)),
                 ('eps', dict(eps=1e-3))],
}
CASES = [pytest.param(name, kw, prob, id=f'{name}-{opt_id}-{prob}')
         for name, configs in CONFIGS.items() for opt_id, kw in configs for prob in PROBLEMS]


def run_both(name, kwargs, problem, steps=STEPS, groups=None):
    "Yield (step, learntorch params, torch params) as numpy arrays after every step."
    sign = -1.0 if kwargs.get('maximize') else 1.0
    runs = []
    for T, O in ((learntorch, optim), (torch, torch.optim)):
        params, loss = PROBLEMS[problem](T, sign)
        arg = params if groups is None else groups(params)
        runs.append((params, loss, getattr(O, name)(arg, **kwargs)))
    for step in range(steps):
        for params, loss, opt in runs:
            opt.zero_grad()
            loss().backward()
            opt.step()
        yield step, [p.detach().numpy().copy() for p in runs[0][0]], [p.detach().numpy().copy() for p in runs[1][0]]


def assert_same(step, ours, theirs):
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert np.isfinite(b).all(), f'PyTorch diverged at step {step}: choose a smaller lr for this case'
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=f'parameter {i} at step {step}')


@pytest.mark.parametrize('name,kwargs,problem', CASES)
def test_trajectory_parity(name, kwargs, problem):
    "200 steps: the parameters agree with PyTorch's after every step."
    for step, ours, theirs in run_both(name, kwargs, problem): assert_same(step, ours, theirs)


GROUP_OPTIONS = {'SGD': dict(momentum=0.5, nesterov=True), 'Adam': dict(betas=(0.8, 0.99), amsgrad=True),
                 'AdamW': dict(weight_decay=0.1), 'RMSprop': dict(alpha=0.9, centered=True),
                 'Adagrad': dict(lr_decay=0.01), 'Adadelta': dict(rho=0.5)}


@pytest.mark.parametrize('name', list(CONFIGS))
def test_param_groups_with_own_options(name):
    "Two groups, the second with its own learning rate and another option of its own: both follow PyTorch."
    lr = dict(CONFIGS[name][0][1]).get('lr', 1.0)
    groups = lambda ps: [{'params': ps[:2]}, {'params': ps[2:], 'lr': lr / 10, **GROUP_OPTIONS[name]}]
    for step, ours, theirs in run_both(name, dict(CONFIGS[name][0][1]), 'mlp', steps=50, groups=groups):
        assert_same(step, ours, theirs)


def test_sgd_closure_and_lr_change_mid_training():
    "`step(closure)` returns the loss; changing `param_groups[0]['lr']` takes effect at the next step."
    runs = []
    for T, O in ((learntorch, optim), (torch, torch.optim)):
        params, loss = rosenbrock(T)
        opt = O.SGD(params, lr=1e-4, momentum=0.9)
        def closure(opt=opt, loss=loss):
            opt.zero_grad()
            out = loss()
            out.backward()
            return out
        values = []
        for i in range(30):
            if i == 15: opt.param_groups[0]['lr'] = 5e-5
            values.append(float(opt.step(closure)))
        runs.append((values, [p.detach().numpy() for p in params]))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-10)
    assert_same(30, runs[0][1], runs[1][1])


# --------------------------------------------------------------------------------------------- state dicts
def to_torch(sd):
    "A learntorch optimizer state_dict with every tensor converted to torch through numpy."
    conv = lambda v: torch.from_numpy(v.numpy().copy()) if isinstance(v, learntorch.Tensor) else v
    return {'state': {k: {n: conv(v) for n, v in s.items()} for k, s in sd['state'].items()},
            'param_groups': copy.deepcopy(sd['param_groups'])}


def to_learntorch(sd):
    conv = lambda v: learntorch.from_numpy(v.numpy().copy()) if isinstance(v, torch.Tensor) else v
    return {'state': {k: {n: conv(v) for n, v in s.items()} for k, s in sd['state'].items()},
            'param_groups': copy.deepcopy(sd['param_groups'])}


def train(params, loss, opt, steps):
    for _ in range(steps):
        opt.zero_grad()
        loss().backward()
        opt.step()


STATE_CASES = [pytest.param(name, kw, id=f'{name}-{oid}') for name, configs in CONFIGS.items()
               for oid, kw in configs if oid in ('default', 'plain', 'momentum', 'amsgrad', 'centered+momentum',
                                                  'nesterov', 'lr_decay')]


@pytest.mark.parametrize('name,kwargs', STATE_CASES)
def test_state_dict_layout_matches_pytorch(name, kwargs):
    "Same keys, same group options, same state entries (names, shapes, values) after 5 steps."
    sds = []
    for T, O in ((learntorch, optim), (torch, torch.optim)):
        params, loss = mlp(T)
        opt = getattr(O, name)(params, **kwargs)
        train(params, loss, opt, 5)
        sds.append(opt.state_dict())
    ours, theirs = sds
    assert list(ours) == list(theirs) == ['state', 'param_groups']
    assert ours['param_groups'] == theirs['param_groups']
    assert list(ours['state']) == list(theirs['state'])
    for k in theirs['state']:
        assert list(ours['state'][k]) == list(theirs['state'][k])
        for n, v in theirs['state'][k].items():
            mine = ours['state'][k][n]
            assert str(mine.dtype) == str(v.dtype) and tuple(mine.shape) == tuple(v.shape), n
            np.testing.assert_allclose(mine.numpy(), v.numpy(), rtol=1e-7, err_msg=n)


@pytest.mark.parametrize('name,kwargs', STATE_CASES)
def test_state_dict_round_trip_continues_identically(name, kwargs):
    "Save mid-training, load into a fresh optimizer over copied parameters: the next steps are identical."
    params, loss = mlp(learntorch)
    opt = getattr(optim, name)(params, **kwargs)
    train(params, loss, opt, 10)
    saved = copy.deepcopy(opt.state_dict())
    params2, loss2 = mlp(learntorch)
    with learntorch.no_grad():
        for p, q in zip(params2, params): p.copy_(q)
    opt2 = getattr(optim, name)(params2, **kwargs)
    opt2.load_state_dict(saved)
    train(params, loss, opt, 10)
    train(params2, loss2, opt2, 10)
    for p, q in zip(params, params2): np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


@pytest.mark.parametrize('name,kwargs', STATE_CASES)
def test_state_dict_moves_to_pytorch_and_back(name, kwargs):
    "learntorch state -> PyTorch's optimizer -> 10 more steps -> back into learntorch -> 10 more steps, vs PyTorch."
    lt_params, lt_loss = mlp(learntorch)
    lt_opt = getattr(optim, name)(lt_params, **kwargs)
    train(lt_params, lt_loss, lt_opt, 10)
    th_params, th_loss = mlp(torch)
    with torch.no_grad():
        for p, q in zip(th_params, lt_params): p.copy_(torch.from_numpy(q.detach().numpy().copy()))
    th_opt = getattr(torch.optim, name)(th_params, **kwargs)
    th_opt.load_state_dict(to_torch(lt_opt.state_dict()))
    train(lt_params, lt_loss, lt_opt, 10)
    train(th_params, th_loss, th_opt, 10)
    assert_same(20, [p.detach().numpy() for p in lt_params], [p.detach().numpy() for p in th_params])
    # and back: PyTorch's state into a fresh learntorch optimizer over PyTorch's parameters
    back_params, back_loss = mlp(learntorch)
    with learntorch.no_grad():
        for p, q in zip(back_params, th_params): p.copy_(learntorch.from_numpy(q.detach().numpy().copy()))
    back = getattr(optim, name)(back_params, **kwargs)
    back.load_state_dict(to_learntorch(th_opt.state_dict()))
    train(back_params, back_loss, back, 10)
    train(th_params, th_loss, th_opt, 10)
    assert_same(30, [p.detach().numpy() for p in back_params], [p.detach().numpy() for p in th_params])


def test_state_dict_param_names_and_repr():
    "Named parameters keep their names in the groups; the repr lists each group's options like PyTorch."
    reprs, sds = [], []
    for T, O in ((learntorch, optim), (torch, torch.optim)):
        params, _ = mlp(T)
        opt = O.Adam([('w1', params[0]), ('b1', params[1])], lr=0.1)
        opt.add_param_group({'params': [('w2', params[2]), ('b2', params[3])], 'lr': 0.01})
        reprs.append(repr(opt)); sds.append(opt.state_dict())
    assert reprs[0] == reprs[1]
    assert sds[0]['param_groups'] == sds[1]['param_groups']


# --------------------------------------------------------------------------------------------- bad input
def same_error(make):
    "`make(T, O)` raises the same exception type with the same message in both libraries; returns it."
    errors = []
    for T, O in ((learntorch, optim), (torch, torch.optim)):
        with pytest.raises(Exception) as info: make(T, O)
        errors.append(info.value)
    assert type(errors[0]) is type(errors[1]), errors
    assert str(errors[0]) == str(errors[1])
    return errors[0]


def leaf(T): return T.ones(3, requires_grad=True)


@pytest.mark.parametrize('make', [
    lambda T, O: O.SGD([leaf(T)], lr=-1.0),
    lambda T, O: O.Adam([leaf(T)], lr=-1.0),
    lambda T, O: O.Adam([leaf(T)], betas=(1.0, 0.9)),
    lambda T, O: O.Adam([leaf(T)], betas=(0.9, -0.1)),
    lambda T, O: O.Adam([leaf(T)], eps=-1.0),
    lambda T, O: O.AdamW([leaf(T)], weight_decay=-0.5),
    lambda T, O: O.SGD([leaf(T)], lr=0.1, momentum=-0.5),
    lambda T, O: O.SGD([leaf(T)], lr=0.1, nesterov=True),
    lambda T, O: O.SGD([leaf(T)], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
    lambda T, O: O.RMSprop([leaf(T)], alpha=-0.1),
    lambda T, O: O.Adagrad([leaf(T)], lr_decay=-0.1),
    lambda T, O: O.Adagrad([leaf(T)], initial_accumulator_value=-1),
    lambda T, O: O.Adadelta([leaf(T)], rho=1.5),
    lambda T, O: O.SGD([], lr=0.1),
    lambda T, O: O.SGD(iter([]), lr=0.1),
    lambda T, O: O.SGD(leaf(T), lr=0.1),
    lambda T, O: O.SGD([leaf(T) * 2], lr=0.1),
    lambda T, O: O.SGD([1.0], lr=0.1),
    lambda T, O: O.SGD([leaf(T)], lr=0.1).add_param_group({'params': {leaf(T)}}),
    lambda T, O: (lambda p: O.SGD([{'params': [p]}, {'params': [p]}], lr=0.1))(leaf(T)),
    lambda T, O: (lambda p: O.SGD([p], lr=0.1).add_param_group({'params': p}))(leaf(T)),
    lambda T, O: O.SGD([leaf(T)], lr=0.1).add_param_group([leaf(T)]),
    lambda T, O: O.SGD([('a', leaf(T)), leaf(T)], lr=0.1),
    lambda T, O: O.SGD([leaf(T)], lr=0.1).load_state_dict({'state': {}, 'param_groups': []}),
    lambda T, O: O.SGD([leaf(T)], lr=0.1).load_state_dict(
        {'state': {}, 'param_groups': [{'params': [0, 1], 'lr': 0.1}]}),
], ids=['sgd-lr', 'adam-lr', 'beta0', 'beta1', 'eps', 'adamw-wd', 'momentum', 'nesterov-no-momentum',
        'nesterov-dampening', 'alpha', 'lr_decay', 'initial_accumulator', 'rho', 'empty-list', 'empty-iterator',
        'tensor-not-iterable', 'non-leaf', 'not-a-tensor', 'set', 'param-in-two-groups', 'add-group-twice',
        'group-not-dict', 'names-missing', 'load-group-count', 'load-group-size'])
def test_bad_input_as_pytorch(make):
    same_error(make)


def test_messages_spelled_out():
    "PyTorch's messages for bad input, verbatim."
    assert str(same_error(lambda T, O: O.SGD([leaf(T)], lr=-1.0))) == 'Invalid learning rate: -1.0'
    assert str(same_error(lambda T, O: O.Adam([], lr=0.1))) == 'optimizer got an empty parameter list'
    assert str(same_error(lambda T, O: O.SGD([leaf(T) * 2]))) == "can't optimize a non-leaf Tensor"


@pytest.mark.parametrize('name', list(CONFIGS))
@pytest.mark.parametrize('flag', ['foreach', 'fused', 'capturable', 'differentiable'])
def test_implementation_switches(name, flag):
    "Every switch PyTorch accepts is accepted off (None/False) and refused on with NotImplementedError naming it."
    import inspect
    accepted = inspect.signature(getattr(torch.optim, name)).parameters
    ours = inspect.signature(getattr(optim, name)).parameters
    assert list(ours) == list(accepted), 'same parameters, same order'
    if flag not in accepted:
        with pytest.raises(TypeError): getattr(optim, name)([leaf(learntorch)], **{flag: False})
        return
    getattr(optim, name)([leaf(learntorch)], **{flag: accepted[flag].default})
    getattr(optim, name)([leaf(learntorch)], **{flag: False})
    with pytest.raises(NotImplementedError, match=flag): getattr(optim, name)([leaf(learntorch)], **{flag: True})


def test_defaults_match_pytorch():
    import inspect
    for name in CONFIGS:
        ours, theirs = (inspect.signature(getattr(m, name)).parameters for m in (optim, torch.optim))
        assert {k: v.default for k, v in ours.items()} == {k: v.default for k, v in theirs.items()}, name
    assert optim.Adadelta([leaf(learntorch)]).defaults['lr'] == 1.0


def test_zero_grad():
    p = leaf(learntorch)
    (p * 2).sum().backward()
    opt = optim.SGD([p], lr=0.1)
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and p.grad.tolist() == [0.0, 0.0, 0.0]
    opt.zero_grad()
    assert p.grad is None


def test_step_bumps_version_and_skips_params_without_grad():
    a, b = leaf(learntorch), leaf(learntorch)
    saved = a * a                  # saves `a` for backward
    (a.sum()).backward()
    optim.SGD([a, b], lr=0.1).step()
    assert b.tolist() == [1.0, 1.0, 1.0] and np.allclose(a.tolist(), 0.9)
    with pytest.raises(RuntimeError, match='modified by an inplace operation'): saved.sum().backward()


def test_float32_and_no_graph():
    "float32 parameters stay float32, state is float32, the update records no graph."
    for name, configs in CONFIGS.items():
        params, loss = mlp(learntorch)
        params = [p.detach().float().requires_grad_() for p in params]
        opt = getattr(optim, name)(params, **configs[0][1])
        xb = learntorch.randn(4, 3)
        for _ in range(3):
            opt.zero_grad()
            ((xb @ params[0] + params[1]).tanh() @ params[2] + params[3]).pow(2).mean().backward()
            opt.step()
        for p in params: assert p.dtype == learntorch.float32 and p.grad_fn is None and p.is_leaf
        for s in opt.state.values():
            for k, v in s.items():
                if k != 'step': assert v.dtype == learntorch.float32, (name, k)


# --------------------------------------------------------------------------------------------- schedulers
def lr_sequences(make, steps=100, metrics=None):
    "learning rates of both libraries over `steps` steps of `make(O, opt)`, two param groups."
    seqs = []
    for T, O in ((learntorch, optim), (torch, torch.optim)):
        a, b = T.ones(2, requires_grad=True), T.ones(2, requires_grad=True)
        opt = O.SGD([{'params': [a]}, {'params': [b], 'lr': 0.5}], lr=0.1, momentum=0.9)
        sched = make(O.lr_scheduler, opt)
        seq = [sched.get_last_lr() + [g.get('momentum') for g in opt.param_groups]]
        for i in range(steps):
            opt.step()
            if metrics is None: sched.step()
            else: sched.step(metrics[i])
            seq.append(sched.get_last_lr() + [g.get('momentum') for g in opt.param_groups])
        seqs.append(seq)
    return seqs


METRICS = [1.0, 0.9, 0.8, 0.8, 0.8, 0.8, 0.79999, 0.8, 0.8, 0.8] * 10
SCHEDULES = {
    'LambdaLR': lambda S, o: S.LambdaLR(o, lambda e: 0.95 ** e),
    'LambdaLR-per-group': lambda S, o: S.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.9 ** e]),
    'MultiplicativeLR': lambda S, o: S.MultiplicativeLR(o, lambda e: 0.97),
    'StepLR': lambda S, o: S.StepLR(o, step_size=7, gamma=0.5),
    'MultiStepLR': lambda S, o: S.MultiStepLR(o, milestones=[10, 30, 30, 60], gamma=0.3),
    'ExponentialLR': lambda S, o: S.ExponentialLR(o, gamma=0.96),
    'CosineAnnealingLR': lambda S, o: S.CosineAnnealingLR(o, T_max=30, eta_min=1e-3),
    'LinearLR': lambda S, o: S.LinearLR(o, start_factor=0.1, end_factor=0.8, total_iters=40),
    'OneCycleLR': lambda S, o: S.OneCycleLR(o, max_lr=1.0, total_steps=100),
    'OneCycleLR-linear-3phase': lambda S, o: S.OneCycleLR(o, max_lr=[1.0, 2.0], epochs=10, steps_per_epoch=10,
                                                          anneal_strategy='linear', three_phase=True),
    'SequentialLR': lambda S, o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=10),
                                                    S.CosineAnnealingLR(o, T_max=50),
                                                    S.ExponentialLR(o, gamma=0.9)], milestones=[10, 60]),
}


@pytest.mark.parametrize('name', list(SCHEDULES))
def test_schedule_matches_pytorch(name):
    ours, theirs = lr_sequences(SCHEDULES[name])
    np.testing.assert_allclose(np.array(ours, dtype=float), np.array(theirs, dtype=float), rtol=1e-12, atol=0)


@pytest.mark.parametrize('kwargs', [dict(), dict(patience=2, factor=0.5), dict(mode='max', patience=1),
                                    dict(patience=1, cooldown=3, threshold_mode='abs', threshold=0.05),
                                    dict(patience=0, min_lr=[0.01, 0.2], factor=0.5)])
def test_reduce_on_plateau_matches_pytorch(kwargs):
    ours, theirs = lr_sequences(lambda S, o: S.ReduceLROnPlateau(o, **kwargs), metrics=METRICS)
    np.testing.assert_allclose(np.array(ours, dtype=float), np.array(theirs, dtype=float), rtol=1e-12, atol=0)


@pytest.mark.parametrize('name', list(SCHEDULES) + ['ReduceLROnPlateau'])
def test_scheduler_state_dict_round_trip(name):
    "Save a schedule (and its optimizer) after 37 steps, load into fresh ones: the next lrs are identical."
    make = SCHEDULES.get(name, lambda S, o: S.ReduceLROnPlateau(o, patience=2))
    def fresh():
        p = learntorch.ones(2, requires_grad=True)
        opt = optim.SGD([{'params': [p]}, {'params': [learntorch.ones(2, requires_grad=True)], 'lr': 0.5}],
                        lr=0.1, momentum=0.9)
        return opt, make(lr_scheduler, opt)
    def advance(opt, sched, start, n):
        out = []
        for i in range(start, start + n):
            opt.step()
            sched.step(METRICS[i]) if name == 'ReduceLROnPlateau' else sched.step()
            out.append(sched.get_last_lr())
        return out
    opt, sched = fresh()
    advance(opt, sched, 0, 37)
    saved_opt, saved_sched = copy.deepcopy(opt.state_dict()), copy.deepcopy(sched.state_dict())
    expected = advance(opt, sched, 37, 40)
    opt2, sched2 = fresh()
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    assert advance(opt2, sched2, 37, 40) == expected


def test_scheduler_state_dict_keys_match_pytorch():
    for name, make in SCHEDULES.items():
        keys = []
        for O, T in ((optim, learntorch), (torch.optim, torch)):
            opt = O.SGD([T.ones(2, requires_grad=True)], lr=0.1, momentum=0.9)
            keys.append(set(make(O.lr_scheduler, opt).state_dict()) if 'per-group' not in name and
                        '3phase' not in name else set())
        assert keys[0] == keys[1], name


def test_scheduler_warns_when_stepped_before_optimizer():
    for O, T in ((optim, learntorch), (torch.optim, torch)):
        opt = O.SGD([T.ones(2, requires_grad=True)], lr=0.1)
        sched = O.lr_scheduler.StepLR(opt, 3)
        with pytest.warns(UserWarning, match='before `optimizer.step\\(\\)`'): sched.step()
        opt2 = O.SGD([T.ones(2, requires_grad=True)], lr=0.1)
        sched2 = O.lr_scheduler.StepLR(opt2, 3)
        opt2.step()
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            sched2.step()


@pytest.mark.parametrize('make', [
    lambda S, o: S.StepLR(None, 3),
    lambda S, o: S.ReduceLROnPlateau(o, factor=1.5),
    lambda S, o: S.ReduceLROnPlateau(o, mode='avg'),
    lambda S, o: S.LinearLR(o, start_factor=0),
    lambda S, o: S.OneCycleLR(o, max_lr=0.1),
    lambda S, o: S.OneCycleLR(o, max_lr=0.1, total_steps=0),
    lambda S, o: S.LambdaLR(o, [lambda e: 1, lambda e: 1]),
    lambda S, o: S.SequentialLR(o, [S.StepLR(o, 3)], milestones=[3]),
    lambda S, o: S.SequentialLR(o, [S.StepLR(o, 3), S.ReduceLROnPlateau(o)], milestones=[3]),
], ids=['not-optimizer', 'factor', 'mode', 'start_factor', 'onecycle-no-steps', 'onecycle-zero', 'lambdas',
        'milestones', 'plateau-in-sequence'])
def test_scheduler_bad_input_as_pytorch(make):
    def build(T, O):
        opt = O.SGD([T.ones(2, requires_grad=True)], lr=0.1, momentum=0.9)
        make(O.lr_scheduler, opt)
    same_error(build)


def test_onecycle_past_the_end():
    def build(T, O):
        opt = O.SGD([T.ones(2, requires_grad=True)], lr=0.1, momentum=0.9)
        s = O.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            for _ in range(4): s.step()
    same_error(build)


# --------------------------------------------------------------------------------------------- nn.utils
def grads_pair(seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) * scale for s in [(3, 4), (4,), (5,)]]
    out = []
    for T in (learntorch, torch):
        ps = [T.tensor(a, requires_grad=True) for a in arrays]
        for p, a in zip(ps, arrays): p.grad = T.tensor(a * 2)
        out.append(ps)
    return out


@pytest.mark.parametrize('norm_type', [2.0, 1, 3.5, math.inf, 'inf'])
@pytest.mark.parametrize('max_norm', [0.5, 1e3])
def test_clip_grad_norm(norm_type, max_norm):
    nt = float(norm_type)
    ours, theirs = grads_pair()
    a = lnn.utils.clip_grad_norm_(ours, max_norm, norm_type=nt)
    b = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=nt)
    assert isinstance(a, learntorch.Tensor) and a.dim() == 0 and str(a.dtype) == str(b.dtype)
    np.testing.assert_allclose(a.item(), b.item(), rtol=1e-12)
    for p, q in zip(ours, theirs): np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_float32_single_tensor_and_errors():
    for T in (learntorch, torch):
        p = T.ones(4, requires_grad=True)
        p.grad = T.full((4,), 3.0)
        n = T.nn.utils.clip_grad_norm_(p, 1.0)
        assert n.dtype == T.float32 and abs(n.item() - 6.0) < 1e-6 and abs(p.grad.norm().item() - 1.0) < 1e-5
        assert T.nn.utils.clip_grad_norm_([], 1.0).item() == 0.0
    def nonfinite(T, O):
        p = T.ones(2, requires_grad=True)
        p.grad = T.tensor([float('inf'), 1.0])
        T.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    same_error(nonfinite)
    with pytest.raises(NotImplementedError, match='foreach'): lnn.utils.clip_grad_norm_([], 1.0, foreach=True)


def test_clip_grad_value_and_vectors():
    ours, theirs = grads_pair(scale=3)
    lnn.utils.clip_grad_value_(ours, 1.5)
    torch.nn.utils.clip_grad_value_(theirs, 1.5)
    for p, q in zip(ours, theirs): np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
    v, w = lnn.utils.parameters_to_vector(ours), torch.nn.utils.parameters_to_vector(theirs)
    np.testing.assert_array_equal(v.detach().numpy(), w.detach().numpy())
    assert type(v.grad_fn).__name__ == type(w.grad_fn).__name__
    lnn.utils.vector_to_parameters(v.detach() * 2, ours)
    torch.nn.utils.vector_to_parameters(w.detach() * 2, theirs)
    for p, q in zip(ours, theirs): np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    same_error(lambda T, O: T.nn.utils.vector_to_parameters([1.0], [T.ones(1)]))


def test_namespaces_import():
    import importlib
    assert importlib.import_module('learntorch.optim.lr_scheduler').StepLR is lr_scheduler.StepLR
    assert importlib.import_module('learntorch.nn.utils').clip_grad_norm_ is lnn.utils.clip_grad_norm_
    for name in ['LambdaLR', 'MultiplicativeLR', 'StepLR', 'MultiStepLR', 'ExponentialLR', 'CosineAnnealingLR',
                 'LinearLR', 'OneCycleLR', 'ReduceLROnPlateau', 'SequentialLR', 'LRScheduler']:
        assert name in lr_scheduler.__all__


@pytest.mark.parametrize('name', list(CONFIGS))
def test_tensor_learning_rate(name):
    "A one-element tensor lr gives the same trajectory as PyTorch with the same tensor lr."
    kwargs = dict(CONFIGS[name][0][1])
    lr = kwargs.pop('lr', 1.0)
    runs = []
    for T, O in ((learntorch, optim), (torch, torch.optim)):
        params, loss = mlp(T)
        opt = getattr(O, name)(params, lr=T.tensor(lr, dtype=T.float64), **kwargs)
        train(params, loss, opt, 20)
        runs.append([p.detach().numpy() for p in params])
    assert_same(20, *runs)


def test_optimizer_pickles_without_schedule_wrapper():
    import pickle
    params, _ = mlp(learntorch)       # gradients set by hand: this tests the optimizer's pickling, not
    opt = optim.Adam(params, lr=0.01)  # the pickling of tensors that went through backward (core's)
    lr_scheduler.StepLR(opt, 3)
    for _ in range(3):
        for p in params: p.grad = learntorch.ones_like(p)
        opt.step()
    back = pickle.loads(pickle.dumps(opt))
    assert sorted(back.__dict__) == ['defaults', 'param_groups', 'state']
    for k, s in opt.state_dict()['state'].items():
        for n, v in s.items(): np.testing.assert_array_equal(back.state_dict()['state'][k][n].numpy(), v.numpy())


@pytest.mark.parametrize('name', ['StepLR', 'MultiStepLR', 'ExponentialLR', 'CosineAnnealingLR', 'LinearLR'])
def test_closed_form_step_with_epoch(name):
    "`step(epoch)` (deprecated, warns) jumps with the closed form, as in PyTorch."
    make = {k: v for k, v in SCHEDULES.items()}[name]
    seqs = []
    for T, O in ((learntorch, optim), (torch, torch.optim)):
        opt = O.SGD([T.ones(2, requires_grad=True)], lr=0.1)
        s = make(O.lr_scheduler, opt)
        opt.step()
        out = []
        for e in (5, 17, 40, 3):
            with pytest.warns(UserWarning, match='epoch parameter'): s.step(e)
            out.append(s.get_last_lr())
        seqs.append(out)
    np.testing.assert_allclose(seqs[0], seqs[1], rtol=1e-12)


@pytest.mark.parametrize('name', ['LambdaLR', 'MultiplicativeLR', 'StepLR', 'MultiStepLR', 'ExponentialLR',
                                  'CosineAnnealingLR', 'LinearLR', 'OneCycleLR', 'ReduceLROnPlateau', 'SequentialLR'])
def test_scheduler_signatures_match_pytorch(name):
    "Same parameters, order and defaults as PyTorch's schedulers (none accepted and ignored)."
    import inspect
    ours, theirs = (inspect.signature(getattr(m, name)).parameters for m in (lr_scheduler, torch.optim.lr_scheduler))
    assert [(k, v.default, v.kind) for k, v in ours.items()] == [(k, v.default, v.kind) for k, v in theirs.items()]


def test_clip_signatures_match_pytorch():
    import inspect
    for name in ['clip_grad_norm_', 'clip_grad_value_', 'get_total_norm', 'clip_grads_with_norm_',
                 'parameters_to_vector', 'vector_to_parameters']:
        ours, theirs = (inspect.signature(getattr(m, name)).parameters for m in (lnn.utils, torch.nn.utils))
        assert [(k, v.default) for k, v in ours.items()] == [(k, v.default) for k, v in theirs.items()], name
