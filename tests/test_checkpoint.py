"""Checkpoints (`learntorch.save` / `learntorch.load`): PyTorch's zip format both ways with the installed PyTorch
as the oracle, the weights-only unpickler against malicious pickles, atomic saves under SIGKILL, damaged files,
map_location, and resuming training from a checkpoint."""
import io, os, pickle, random, signal, subprocess, sys, textwrap, time, zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

import learntorch as lt
from learntorch import nn, serialization

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
DTYPES = ['float32', 'float64', 'float16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool']


def _np_values(a, dt):
    "A small array of dtype `dt` with distinct values."
    if dt == 'bool': return np.array([True, False, True, True, False, False])[:a]
    return (np.arange(a) * 3 % 7).astype(dt)


def _as_np(t):
    "numpy values of a learntorch or PyTorch tensor."
    return t.detach().numpy()


def _assert_same(lt_obj, th_obj):
    "A learntorch structure and a PyTorch structure hold the same values, types and tensor metadata."
    if isinstance(th_obj, torch.Tensor):
        assert isinstance(lt_obj, lt.Tensor), type(lt_obj)
        assert isinstance(lt_obj, nn.Parameter) == isinstance(th_obj, torch.nn.Parameter)
        assert str(lt_obj.dtype) == str(th_obj.dtype) and tuple(lt_obj.shape) == tuple(th_obj.shape)
        assert lt_obj.requires_grad == th_obj.requires_grad
        np.testing.assert_array_equal(_as_np(lt_obj), _as_np(th_obj))
    elif isinstance(th_obj, torch.Size):
        assert isinstance(lt_obj, lt.Size) and tuple(lt_obj) == tuple(th_obj)
    elif isinstance(th_obj, dict):
        assert type(lt_obj) is type(th_obj) and list(lt_obj) == list(th_obj)
        for k in th_obj: _assert_same(lt_obj[k], th_obj[k])
    elif isinstance(th_obj, (list, tuple)):
        assert type(lt_obj) is type(th_obj) and len(lt_obj) == len(th_obj)
        for a, b in zip(lt_obj, th_obj): _assert_same(a, b)
    elif isinstance(th_obj, torch.dtype): assert str(lt_obj) == str(th_obj)
    elif isinstance(th_obj, torch.device): assert str(lt_obj) == str(th_obj)
    else: assert type(lt_obj) is type(th_obj) and lt_obj == th_obj, (lt_obj, th_obj)


def _twins():
    "The same nested state in both libraries: (learntorch object, PyTorch object)."
    def both(fn): return fn(lt), fn(torch)
    parts = {
        'weight': both(lambda T: T.nn.Parameter(T.arange(6.).reshape(2, 3))),
        'frozen': both(lambda T: T.nn.Parameter(T.ones(2), requires_grad=False)),
        'scalar': both(lambda T: T.tensor(2.5)),
        'empty': both(lambda T: T.zeros(0, 3)),
        'grad_leaf': both(lambda T: T.ones(3).requires_grad_()),
        'transposed': both(lambda T: T.arange(12.).reshape(3, 4).t()),
        'nested': both(lambda T: {'list': [1, 2.5, 'three', None, True], 'tuple': (T.ones(1), (4,)),
                                  'size': T.Size([2, 3]), 'dtype': T.float16, 'device': T.device('cpu'),
                                  'bytes': b'\x00\xff', 'set': {1, 2}, 'complex': 1 + 2j}),
    }
    for dt in DTYPES:
        parts[dt] = (lt.from_numpy(_np_values(6, dt)), torch.from_numpy(_np_values(6, dt)))
    lt_state = OrderedDict((k, v[0]) for k, v in parts.items())
    th_state = OrderedDict((k, v[1]) for k, v in parts.items())
    return lt_state, th_state


# ---------------------------------------------------------------- interop: learntorch writes, PyTorch reads

def test_pytorch_reads_learntorch_state(tmp_path):
    lt_state, th_state = _twins()
    lt.save(lt_state, tmp_path / 'lt.pt')
    got = torch.load(tmp_path / 'lt.pt', weights_only=True)
    _assert_same(lt_state, got)
    _assert_same(lt_state, th_state)   # the twins agree, so PyTorch's load gave PyTorch's own values


def test_pytorch_sees_learntorch_views_as_one_storage(tmp_path):
    base = lt.arange(24.).reshape(4, 6)
    state = {'base': base, 'rows': base[1:3], 'cols': base[:, ::2], 't': base.t(), 'flat': base.view(-1)}
    lt.save(state, tmp_path / 'views.pt')
    got = torch.load(tmp_path / 'views.pt', weights_only=True)
    ptrs = {got[k].untyped_storage().data_ptr() for k in got}
    assert len(ptrs) == 1, 'views of one tensor must share one storage in the file'
    for k in state:
        np.testing.assert_array_equal(got[k].numpy(), state[k].numpy())
        assert got[k].stride() == state[k].stride() and got[k].storage_offset() == _offset(state[k])
    assert len([n for n in zipfile.ZipFile(tmp_path / 'views.pt').namelist() if '/data/' in n]) == 1


def _offset(t):
    root = serialization._root(t.numpy())
    return (serialization._pointer(t.numpy()) - serialization._pointer(root)) // t.element_size()


def test_pytorch_loads_learntorch_model_and_optimizer_state(tmp_path):
    lt.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))
    state = model.state_dict()
    momentum = {i: {'momentum_buffer': lt.randn(*p.shape)} for i, p in enumerate(model.parameters())}
    opt_state = {'state': momentum, 'param_groups': [{'lr': 0.1, 'momentum': 0.9, 'dampening': 0,
                 'weight_decay': 0, 'nesterov': False, 'maximize': False, 'foreach': None,
                 'differentiable': False, 'fused': None, 'params': [0, 1, 2, 3]}]}
    lt.save({'epoch': 7, 'model': state, 'optimizer': opt_state, 'loss': 0.125}, tmp_path / 'ckpt.pt')
    ckpt = torch.load(tmp_path / 'ckpt.pt', weights_only=True)
    th_model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    assert str(th_model.load_state_dict(ckpt['model'])) == '<All keys matched successfully>'
    th_opt = torch.optim.SGD(th_model.parameters(), lr=0.5, momentum=0.9)
    th_opt.load_state_dict(ckpt['optimizer'])
    assert th_opt.param_groups[0]['lr'] == 0.1 and ckpt['epoch'] == 7 and ckpt['loss'] == 0.125
    for i, p in enumerate(th_model.parameters()):
        np.testing.assert_array_equal(th_opt.state[p]['momentum_buffer'].numpy(), momentum[i]['momentum_buffer'].numpy())
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    np.testing.assert_allclose(th_model(torch.from_numpy(x)).detach().numpy(),
                               model(lt.from_numpy(x)).detach().numpy(), rtol=1e-6, atol=1e-6)


def test_learntorch_file_layout_matches_pytorch(tmp_path):
    lt.save({'a': lt.ones(3)}, tmp_path / 'lt.pt')
    torch.save({'a': torch.ones(3)}, tmp_path / 'th.pt')
    ours, theirs = zipfile.ZipFile(tmp_path / 'lt.pt'), zipfile.ZipFile(tmp_path / 'th.pt')
    strip = lambda z: [n.split('/', 1)[1] for n in z.namelist()]
    assert strip(ours) == strip(theirs)
    assert ours.testzip() is None
    raw = (tmp_path / 'lt.pt').read_bytes()
    for info in ours.infolist():   # every record's data is 64-byte aligned, as PyTorch's
        n, m = np.frombuffer(raw[info.header_offset + 26: info.header_offset + 30], '<u2')
        assert (info.header_offset + 30 + n + m) % 64 == 0
    for name in ('byteorder', 'version', '.format_version', '.storage_alignment'):
        assert ours.read(f'archive/{name}') == theirs.read(f'th/{name}')


def test_zip64_records_are_read_by_both(tmp_path, monkeypatch):
    "Force the zip64 fields (normally from 4 GiB on) with a tiny threshold: zipfile and PyTorch read them."
    monkeypatch.setattr(serialization, '_BIG', 100)
    state = {'big': lt.arange(1000.), 'small': lt.ones(2)}
    lt.save(state, tmp_path / 'z64.pt')
    assert zipfile.ZipFile(tmp_path / 'z64.pt').testzip() is None
    got = torch.load(tmp_path / 'z64.pt', weights_only=True)
    np.testing.assert_array_equal(got['big'].numpy(), np.arange(1000.))
    np.testing.assert_array_equal(lt.load(tmp_path / 'z64.pt')['big'].numpy(), np.arange(1000.))


@pytest.mark.filterwarnings('ignore:Detected pickle protocol')
@pytest.mark.parametrize('protocol', [2, 3, 4, 5])
def test_pickle_protocols(tmp_path, protocol):
    "PyTorch's weights-only unpickler reads protocols 2 and 3 (its own protocol-4 files fail there too: FRAME)."
    lt.save({'w': lt.ones(2), 'n': [1, 2]}, tmp_path / 'p.pt', pickle_protocol=protocol)
    assert torch.load(tmp_path / 'p.pt', weights_only=protocol < 4)['n'] == [1, 2]
    assert lt.load(tmp_path / 'p.pt')['w'].tolist() == [1., 1.]


# ---------------------------------------------------------------- interop: PyTorch writes, learntorch reads

def test_learntorch_reads_pytorch_state(tmp_path):
    lt_state, th_state = _twins()
    torch.save(th_state, tmp_path / 'th.pt')
    got = lt.load(tmp_path / 'th.pt')
    _assert_same(got, th_state)


def test_learntorch_keeps_pytorch_views_as_views(tmp_path):
    base = torch.arange(24.).reshape(4, 6)
    state = {'base': base, 'rows': base[1:3], 'cols': base[:, ::2], 't': base.t(), 'diag': base.diagonal()}
    torch.save(state, tmp_path / 'views.pt')
    got = lt.load(tmp_path / 'views.pt')
    for k in state:
        np.testing.assert_array_equal(got[k].numpy(), state[k].numpy())
        assert got[k].stride() == state[k].stride()
    assert not got['cols'].is_contiguous() and not got['t'].is_contiguous()
    got['base'][2, 0] = -1.   # one storage: a write through one tensor shows in all its views
    assert got['rows'][1, 0].item() == -1. and got['cols'][2, 0].item() == -1. and got['t'][0, 2].item() == -1.
    assert got['diag'][2].item() == got['base'][2, 2].item()
    # and saving them again keeps the single storage
    lt.save(got, tmp_path / 'again.pt')
    again = torch.load(tmp_path / 'again.pt', weights_only=True)
    assert len({again[k].untyped_storage().data_ptr() for k in again}) == 1


def test_learntorch_reads_pytorch_module_and_optimizers(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    adam = torch.optim.Adam(model.parameters())
    for opt in (sgd, adam):
        model(torch.randn(3, 5)).sum().backward()
        opt.step()
    torch.save({'model': model.state_dict(), 'sgd': sgd.state_dict(), 'adam': adam.state_dict(), 'epoch': 2},
               tmp_path / 'th.pt')
    got = lt.load(tmp_path / 'th.pt', weights_only=True)
    ours = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))
    assert repr(ours.load_state_dict(got['model'])) == '<All keys matched successfully>'
    _assert_same(got['sgd'], sgd.state_dict())
    _assert_same(got['adam'], adam.state_dict())
    x = torch.randn(3, 5)
    np.testing.assert_allclose(ours(lt.from_numpy(x.numpy())).detach().numpy(), model(x).detach().numpy(),
                               rtol=1e-6, atol=1e-6)


def test_learntorch_reads_pytorch_parameters_and_file_objects(tmp_path):
    lin = torch.nn.Linear(3, 2)
    buf = io.BytesIO()
    torch.save({'w': lin.weight, 'params': list(lin.parameters())}, buf)
    got = lt.load(io.BytesIO(buf.getvalue()))
    assert isinstance(got['w'], nn.Parameter) and got['w'].requires_grad
    assert got['params'][0] is got['w']   # the pickle's memo keeps one object
    with open(tmp_path / 'f.pt', 'wb') as f: f.write(buf.getvalue())
    with open(tmp_path / 'f.pt', 'rb') as f: assert lt.load(f)['w'].shape == (2, 3)


def test_learntorch_roundtrip_of_its_own_state(tmp_path):
    lt_state, _ = _twins()
    lt.save(lt_state, str(tmp_path / 'own.pt'))
    again = lt.load(str(tmp_path / 'own.pt'))
    assert list(again) == list(lt_state)
    for k, v in lt_state.items():
        if isinstance(v, lt.Tensor):
            np.testing.assert_array_equal(again[k].detach().numpy(), v.detach().numpy())
            assert again[k].dtype is v.dtype and again[k].requires_grad == v.requires_grad
    assert again['nested']['dtype'] is lt.float16 and again['nested']['size'] == lt.Size([2, 3])


def test_unusual_arrays_are_saved_as_copies(tmp_path):
    "Views that are not plain strided views of their owner (negative strides, dtype views) become own storages."
    a = np.arange(10.)
    state = {'reversed': lt.from_numpy(a[::-1]), 'as_int': lt.from_numpy(a.view(np.int64)), 'a': lt.from_numpy(a)}
    lt.save(state, tmp_path / 'odd.pt')
    got = torch.load(tmp_path / 'odd.pt', weights_only=True)
    for k in state: np.testing.assert_array_equal(got[k].numpy(), state[k].numpy())


# ---------------------------------------------------------------- malicious payloads

SENTINEL_NAME = 'PWNED'


def _payloads(sentinel):
    "(name, the global the pickle names, the callable and its arguments): each creates `sentinel` if run."
    s = str(sentinel)
    code = f"open({s!r}, 'w').close()"
    import builtins, functools, logging, shutil, sqlite3, subprocess as sp, timeit, zipfile as zf
    src = Path(sentinel).with_name('source.txt')
    src.write_text('x')
    return [
        ('os.system', os.system, (f'touch {s}',)),
        ('os.popen', os.popen, (f'touch {s}',)),
        ('eval', builtins.eval, (code,)),
        ('exec', builtins.exec, (code,)),
        ('compile+exec via timeit', timeit.timeit, (code,)),
        ('subprocess.call', sp.call, (['touch', s],)),
        ('subprocess.run', sp.run, (['touch', s],)),
        ('subprocess.Popen', sp.Popen, (['touch', s],)),
        ('subprocess.check_call', sp.check_call, (['touch', s],)),
        ('subprocess.check_output', sp.check_output, (['touch', s],)),
        ('subprocess.getoutput', sp.getoutput, (f'touch {s}',)),
        ('open', builtins.open, (s, 'w')),
        ('os.mkdir', os.mkdir, (s,)),
        ('os.makedirs', os.makedirs, (s,)),
        ('shutil.copy', shutil.copy, (str(src), s)),
        ('logging.FileHandler', logging.FileHandler, (s,)),
        ('sqlite3.connect', sqlite3.connect, (s,)),
        ('zipfile.ZipFile', zf.ZipFile, (s, 'w')),
        ('functools.partial(os.system)', functools.partial(os.system, f'touch {s}'), ()),
        ('pickle.loads of a nested payload', pickle.loads, (pickle.dumps(_Call(os.system, (f'touch {s}',))),)),
        ('builtins.__import__', builtins.__import__, ('this_module_does_not_exist_' + SENTINEL_NAME,)),
        ('os.rename', os.rename, (str(src), s)),
    ]


class _Call:
    "An object whose pickle calls `fn(*args)` when loaded."
    def __init__(self, fn, args): self.fn, self.args = fn, args
    def __reduce__(self): return self.fn, self.args


def _global_of(fn):
    "The `module.name` a pickle writes for `fn` (os.system is posix.system on Linux)."
    if isinstance(fn, _Call): return _global_of(fn.fn)
    import functools
    if isinstance(fn, functools.partial): return 'functools.partial'
    return f'{fn.__module__}.{fn.__qualname__}'


def _positions(payload):
    "The payload at different depths of a checkpoint-like structure (all loaded before the result exists)."
    t = lt.ones(2)
    return {
        'top': payload,
        'dict value': {'model': {'0.weight': payload}},
        'list item': {'params': [t, [1, payload]]},
        'tuple item': {'betas': (0.9, payload)},
        'ordered dict': OrderedDict([('a', t), ('b', payload)]),
        'dict key': {_Key(payload): 1},
        'tensor argument': _TensorWith(payload),
    }


class _Key:
    "A hashable wrapper whose pickle is the payload itself (so the payload sits in a dict key)."
    def __init__(self, payload): self.payload = payload
    def __reduce__(self): return self.payload.__reduce__()


class _TensorWith:
    "Pickles as a tensor rebuild whose requires_grad argument is the payload: nested in PyTorch's own call."
    def __init__(self, payload): self.payload = payload
    def __reduce__(self):
        storage = None
        return (serialization._REBUILD_TENSOR, (storage, 0, (2,), (1,), self.payload, OrderedDict()))


def _checkpoint_bytes(obj):
    buf = io.BytesIO()
    serialization._write_checkpoint(obj, buf)
    return buf.getvalue()


def _payload_cases(tmp_path):
    sentinel = tmp_path / SENTINEL_NAME
    cases = []
    for name, fn, args in _payloads(sentinel):
        payload = _Call(fn, args)
        positions = _positions(payload)
        for where in ('top', 'dict value', 'list item', 'tuple item', 'ordered dict', 'dict key', 'tensor argument'):
            cases.append((f'{name} / zip / {where}', _global_of(fn), lambda o=positions[where]: _checkpoint_bytes(o)))
        for proto in (2, 4):
            cases.append((f'{name} / raw pickle protocol {proto}', _global_of(fn),
                          lambda p=payload, proto=proto: pickle.dumps({'w': [p]}, protocol=proto)))
        cases.append((f'{name} / legacy format', _global_of(fn), lambda p=payload: _legacy_bytes({'w': p})))
    return sentinel, cases


def test_malicious_payloads_never_run(tmp_path):
    sentinel, cases = _payload_cases(tmp_path)
    assert len({c[1] for c in cases}) >= 20, 'at least 20 different forbidden globals'
    failures = []
    for label, forbidden, make in cases:
        data = make()
        path = tmp_path / 'evil.pt'
        path.write_bytes(data)
        for source in (path, io.BytesIO(data)):
            try:
                lt.load(source)
                failures.append(f'{label}: loaded without error')
            except pickle.UnpicklingError as e:
                if forbidden.lstrip('_') not in str(e): failures.append(f'{label}: error does not name {forbidden}: {e}')
            except Exception as e:
                failures.append(f'{label}: {type(e).__name__} instead of UnpicklingError: {e}')
            if sentinel.exists(): failures.append(f'{label}: THE PAYLOAD RAN')
    assert not failures, '\n'.join(failures[:20])
    print(f'{len(cases)} payload files ({len({c[1] for c in cases})} distinct globals) refused, none ran')


def test_payloads_are_live(tmp_path):
    "The payloads are real: an unrestricted load runs them (so the test above can fail)."
    sentinel = tmp_path / SENTINEL_NAME
    for name, fn, args in _payloads(sentinel):
        if 'import' in name: continue    # raises ImportError (naming the sentinel) instead of creating a file
        data = _checkpoint_bytes({'w': _Call(fn, args)})
        try: lt.load(io.BytesIO(data), weights_only=False)
        except Exception: pass
        for _ in range(100):           # Popen runs asynchronously
            if sentinel.exists(): break
            time.sleep(0.01)
        assert sentinel.exists(), f'{name}: the payload did not run even unrestricted'
        if sentinel.is_dir(): sentinel.rmdir()
        else: sentinel.unlink()
        (tmp_path / 'source.txt').write_text('x')


def _hand_pickle(*ops):
    return b'\x80\x02' + b''.join(ops) + b'.'


@pytest.mark.parametrize('name, data, expect', [
    ('BUILD rewrites a global dtype', _hand_pickle(b'ctorch\nfloat32\n', b'}', b'X\x02\x00\x00\x00np', b'N', b's', b'b'),
     'BUILD'),
    ('BUILD on a tensor', None, 'BUILD'),
    ('codec other than latin1', _hand_pickle(b'c_codecs\nencode\n', b'X\x01\x00\x00\x00x', b'X\x05\x00\x00\x00rot13',
                                              b'\x86', b'R'), 'latin1'),
    ('STACK_GLOBAL os.system', b'\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x04true\x85R.', 'os.system'),
    ('INST opcode', b'(S\'touch x\'\nios\nsystem\n.', 'os.system'),
])
def test_opcode_level_attacks(tmp_path, name, data, expect):
    if data is None:   # a tensor rebuilt, then BUILD with a state that would replace its array
        buf = io.BytesIO()
        serialization._write_checkpoint({'t': lt.ones(2)}, buf)
        z = zipfile.ZipFile(buf)
        pkl = z.read('archive/data.pkl')
        # append "}(X _array N) b" after the tensor: replace the final SETITEM ('s') + STOP ('.')
        assert pkl.endswith(b's.')
        evil = pkl[:-2] + b'}X\x06\x00\x00\x00_arrayNsbs.'
        data = _zip_with_pickle(z, evil)
    else:
        data = _zip_with_pickle(None, data)
    with pytest.raises(pickle.UnpicklingError, match=expect):
        lt.load(io.BytesIO(data))
    assert lt.float32.np == np.float32


def _zip_with_pickle(template, pkl):
    "A checkpoint whose data.pkl is `pkl` (and whose other records are `template`'s, if given)."
    buf = io.BytesIO()
    z = serialization._ZipWriter(buf)
    z.write_record('archive/data.pkl', pkl)
    if template is not None:
        for n in template.namelist():
            if not n.endswith('data.pkl'): z.write_record(n, template.read(n))
    z.close()
    return buf.getvalue()


def test_pytorch_whole_model_refused_by_default(tmp_path):
    torch.save(torch.nn.Linear(2, 2), tmp_path / 'model.pt')
    with pytest.raises(pickle.UnpicklingError, match='torch.nn.modules.linear.Linear'):
        lt.load(tmp_path / 'model.pt')
    with pytest.raises(pickle.UnpicklingError, match='state_dict'):
        lt.load(tmp_path / 'model.pt', weights_only=False)


def test_add_safe_globals():
    from fractions import Fraction
    data = _checkpoint_bytes({'f': Fraction(1, 3)})
    with pytest.raises(pickle.UnpicklingError, match='fractions.Fraction'): lt.load(io.BytesIO(data))
    with serialization.safe_globals([Fraction]):
        assert lt.load(io.BytesIO(data))['f'] == Fraction(1, 3)
    assert serialization.get_safe_globals() == []
    serialization.add_safe_globals([Fraction])
    try: assert lt.load(io.BytesIO(data))['f'] == Fraction(1, 3)
    finally: serialization.clear_safe_globals()


# ---------------------------------------------------------------- whole models (weights_only=False)

def test_whole_model_roundtrip(tmp_path):
    lt.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    lt.save(model, tmp_path / 'model.pt')
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        lt.load(tmp_path / 'model.pt')
    back = lt.load(tmp_path / 'model.pt', weights_only=False)
    x = lt.randn(2, 3)
    assert type(back) is nn.Sequential and back(x).tolist() == model(x).tolist()
    assert all(isinstance(p, nn.Parameter) for p in back.parameters())


# ---------------------------------------------------------------- atomic saves

KILL_CHILD = textwrap.dedent('''
    import sys, numpy as np
    sys.path.insert(0, sys.argv[2])
    import learntorch as lt
    path = sys.argv[1]
    print('ready', flush=True)
    state = {f'layer{k}': lt.zeros(1_000_000) for k in range(6)}   # 24 MB
    i = 0
    while True:                       # nearly all the time is spent inside save
        i += 1
        for k in range(6): state[f'layer{k}'].numpy().fill(i)
        state['iteration'] = i
        lt.save(state, path)
''')


def _check_intact(path):
    state = lt.load(path)
    i = state['iteration']
    for k in range(6):
        a = state[f'layer{k}'].numpy()
        assert a.shape == (1_000_000,) and (a == i).all(), f'layer{k} of iteration {i} is damaged'
    return i


def test_sigkill_during_save_never_destroys_the_old_checkpoint(tmp_path):
    path = tmp_path / 'ckpt.pt'
    lt.save({**{f'layer{k}': lt.full((1_000_000,), 0.) for k in range(6)}, 'iteration': 0}, path)
    rng = random.Random(0)
    trials, leftovers, iterations = 20, 0, []
    for trial in range(trials):
        child = subprocess.Popen([sys.executable, '-c', KILL_CHILD, str(path), str(ROOT)],
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == 'ready'
        time.sleep(rng.uniform(0.0, 0.6))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        iterations.append(_check_intact(path))          # the checkpoint always loads, complete
        temps = [p for p in tmp_path.iterdir() if p.name != 'ckpt.pt']
        leftovers += bool(temps)
        for p in temps: p.unlink()                      # a stray temporary file: the kill hit mid-save
    assert leftovers >= trials // 2, f'only {leftovers} of {trials} kills landed during a save: the test is too weak'
    print(f'{trials} kills, {leftovers} during a write; iterations found: {iterations}')


def test_sigkill_does_break_a_naive_save(tmp_path):
    "The kill test has teeth: writing the checkpoint in place (open 'wb') does lose it to a SIGKILL."
    path = tmp_path / 'ckpt.pt'
    child_code = KILL_CHILD.replace('lt.save(state, path)', textwrap.dedent('''
        with open(path, 'wb') as f: lt.serialization._write_checkpoint(state, f)''').strip())
    lt.save({**{f'layer{k}': lt.full((1_000_000,), 0.) for k in range(6)}, 'iteration': 0}, path)
    rng, broken = random.Random(1), 0
    for trial in range(10):
        child = subprocess.Popen([sys.executable, '-c', child_code, str(path), str(ROOT)],
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == 'ready'
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        try: _check_intact(path)
        except (RuntimeError, pickle.UnpicklingError): broken += 1
        if broken: break
    assert broken, 'no naive save was ever caught half-written'


def test_failed_save_keeps_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / 'ckpt.pt'
    lt.save({'w': lt.ones(3)}, path)
    before = path.read_bytes()
    with pytest.raises(Exception, match='lambda'):
        lt.save({'w': lt.zeros(3), 'f': lambda: 0}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ['ckpt.pt']


def test_save_targets(tmp_path):
    # pathlib.Path, str, a binary file object, permissions kept, symlinks followed
    lt.save({'a': 1}, tmp_path / 'p.pt')
    lt.save({'a': 2}, str(tmp_path / 's.pt'))
    with open(tmp_path / 'f.pt', 'wb') as f: lt.save({'a': 3}, f)
    assert [lt.load(tmp_path / n)['a'] for n in ('p.pt', 's.pt', 'f.pt')] == [1, 2, 3]
    os.chmod(tmp_path / 'p.pt', 0o640)
    lt.save({'a': 4}, tmp_path / 'p.pt')
    assert (os.stat(tmp_path / 'p.pt').st_mode & 0o777) == 0o640
    os.symlink(tmp_path / 'p.pt', tmp_path / 'link.pt')
    lt.save({'a': 5}, tmp_path / 'link.pt')
    assert os.path.islink(tmp_path / 'link.pt') and lt.load(tmp_path / 'p.pt')['a'] == 5
    with pytest.raises(RuntimeError, match='Parent directory .* does not exist'):
        lt.save({}, tmp_path / 'missing' / 'x.pt')
    with pytest.raises(TypeError, match='binary file'):
        with open(tmp_path / 't.txt', 'w') as f: lt.save({}, f)


# ---------------------------------------------------------------- damaged and wrong files

def _good_file(tmp_path):
    path = tmp_path / 'good.pt'
    lt.save({'w': lt.arange(100.).reshape(10, 10), 'b': lt.ones(10), 'epoch': 3}, path)
    return path.read_bytes()


def _load_bytes(tmp_path, data, name='bad.pt'):
    path = tmp_path / name
    path.write_bytes(data)
    return lt.load(path)


def test_truncated_files_give_clear_errors(tmp_path):
    good = _good_file(tmp_path)
    for cut in [0, 1, 10, 100, len(good) // 3, len(good) // 2, len(good) - 100, len(good) - 1]:
        with pytest.raises((RuntimeError, pickle.UnpicklingError)) as e:
            _load_bytes(tmp_path, good[:cut], 'cut.pt')
        assert 'cut.pt' in str(e.value), str(e.value)
        assert type(e.value) not in (zipfile.BadZipFile,) and 'Traceback' not in str(e.value)
    with pytest.raises(RuntimeError, match='truncated'): _load_bytes(tmp_path, good[:len(good) // 2])
    with pytest.raises(RuntimeError, match='empty'): _load_bytes(tmp_path, b'')


def test_corrupted_bytes_are_caught_or_harmless(tmp_path):
    "Flip bytes anywhere: the load either gives the right values or a clear error naming the file."
    good = _good_file(tmp_path)
    rng = np.random.default_rng(0)
    outcomes = {'error': 0, 'same': 0}
    for pos in rng.choice(len(good), 300, replace=False):
        bad = bytearray(good)
        bad[pos] ^= 1 << int(rng.integers(8))
        try:
            got = _load_bytes(tmp_path, bytes(bad), 'flip.pt')
        except (RuntimeError, pickle.UnpicklingError) as e:
            assert 'flip.pt' in str(e), (pos, str(e))
            outcomes['error'] += 1
            continue
        assert got['w'].tolist() == np.arange(100.).reshape(10, 10).tolist() and got['epoch'] == 3, pos
        outcomes['same'] += 1
    assert outcomes['error'] > 100, outcomes


def test_crc_mismatch_names_the_record(tmp_path):
    good = bytearray(_good_file(tmp_path))
    z = zipfile.ZipFile(io.BytesIO(bytes(good)))
    info = z.getinfo('archive/data/0')
    n, m = np.frombuffer(bytes(good[info.header_offset + 26: info.header_offset + 30]), '<u2')
    good[info.header_offset + 30 + n + m + 5] ^= 0xFF
    with pytest.raises(RuntimeError, match=r"bad\.pt.*archive/data/0 is corrupted: its CRC-32"):
        _load_bytes(tmp_path, bytes(good))


def test_not_checkpoints(tmp_path):
    with pytest.raises(RuntimeError, match='neither a zip archive nor a pickle'):
        _load_bytes(tmp_path, b'hello, world')
    with pytest.raises(RuntimeError, match='bare pickle'):
        _load_bytes(tmp_path, pickle.dumps({'a': 1}))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z: z.writestr('readme.txt', 'hi')
    with pytest.raises(RuntimeError, match='no <folder>/data.pkl'):
        _load_bytes(tmp_path, buf.getvalue())
    with pytest.raises(FileNotFoundError):
        lt.load(tmp_path / 'nope.pt')


def test_missing_storage_record_and_out_of_bounds_views(tmp_path):
    data = _checkpoint_bytes({'w': lt.ones(4)})
    z = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    w = serialization._ZipWriter(buf)
    for n in z.namelist():
        if not n.endswith('data/0'): w.write_record(n, z.read(n))
    w.close()
    with pytest.raises(RuntimeError, match='archive/data/0 is missing'):
        lt.load(io.BytesIO(buf.getvalue()))
    # a pickle claiming a view larger than its storage
    pkl = z.read('archive/data.pkl').replace(b'K\x04\x85', b'K\x09\x85', 1)   # size (4,) -> (9,)
    with pytest.raises(RuntimeError, match='out of bounds|fewer than'):
        lt.load(io.BytesIO(_zip_with_pickle(z, pkl)))


def test_unsupported_arguments_raise():
    buf = io.BytesIO(_checkpoint_bytes({'a': 1}))
    with pytest.raises(NotImplementedError, match='encoding'): lt.load(buf, encoding='latin1')
    with pytest.raises(NotImplementedError, match='legacy'):
        lt.save({}, io.BytesIO(), _use_new_zipfile_serialization=False)
    with pytest.raises(TypeError, match='map_location'): lt.load(buf, map_location=3.5)


# ---------------------------------------------------------------- map_location

def test_map_location_forms(tmp_path):
    path = tmp_path / 'm.pt'
    a = lt.arange(6.)
    lt.save({'a': a, 'v': a[2:]}, path)
    for ml in ('cpu', lt.device('cpu'), {'cpu': 'cpu'}, {'cuda:0': 'cpu'}, None):
        got = lt.load(path, map_location=ml)
        assert got['v'].device.type == 'cpu' and got['v'].tolist() == [2., 3., 4., 5.]
    calls = []
    got = lt.load(path, map_location=lambda storage, loc: calls.append((loc, storage.numel())) or storage)
    assert calls == [('cpu', 6)] and got['v'].numpy().base is got['a'].numpy().base
    got = lt.load(path, map_location=lambda storage, loc: None)   # None: the default placement
    assert got['a'].tolist() == a.tolist()


def test_cuda_checkpoint_without_gpu(tmp_path):
    if lt.cuda.is_available(): pytest.skip('a GPU is present: the no-GPU message does not apply')
    path = tmp_path / 'gpu.pt'
    lt.save({'w': lt.ones(2)}, path)
    z = zipfile.ZipFile(path)
    pkl = z.read('archive/data.pkl').replace(b'X\x03\x00\x00\x00cpu', b'X\x06\x00\x00\x00cuda:0')
    data = _zip_with_pickle(z, pkl)
    th = torch.load(io.BytesIO(data), map_location='cpu', weights_only=True)   # PyTorch reads the tag too
    assert th['w'].tolist() == [1., 1.]
    with pytest.raises(RuntimeError, match='torch.cuda.is_available\\(\\) is False'):
        lt.load(io.BytesIO(data))
    for ml in ('cpu', {'cuda:0': 'cpu'}, lambda s, loc: s):
        assert lt.load(io.BytesIO(data), map_location=ml)['w'].tolist() == [1., 1.]


# ---------------------------------------------------------------- resuming training

class _HandSGD:
    "SGD with momentum, by hand, with PyTorch's state_dict layout (until learntorch.optim exists)."
    def __init__(self, params, lr, momentum):
        self.params, self.lr, self.momentum, self.buffers = list(params), lr, momentum, {}

    def step(self):
        with lt.no_grad():
            for i, p in enumerate(self.params):
                b = self.buffers.get(i)
                b = p.grad.clone() if b is None else b.mul_(self.momentum).add_(p.grad)
                self.buffers[i] = b
                p.sub_(b * self.lr)

    def zero_grad(self):
        for p in self.params: p.grad = None

    def state_dict(self):
        return {'state': {i: {'momentum_buffer': b} for i, b in self.buffers.items()},
                'param_groups': [{'lr': self.lr, 'momentum': self.momentum, 'dampening': 0, 'weight_decay': 0,
                                  'nesterov': False, 'maximize': False, 'foreach': None,
                                  'differentiable': False, 'fused': None,
                                  'params': list(range(len(self.params)))}]}

    def load_state_dict(self, sd):
        self.lr, self.momentum = sd['param_groups'][0]['lr'], sd['param_groups'][0]['momentum']
        self.buffers = {i: s['momentum_buffer'].clone() for i, s in sd['state'].items()}


def _optimizers():
    opts = {'hand-written SGD': lambda ps: _HandSGD(ps, lr=0.05, momentum=0.9)}
    optim = getattr(lt, 'optim', None)
    if optim is not None:
        for name, kw in OPTIMIZERS.items():
            opts[f'optim.{name}'] = lambda ps, name=name, kw=kw: getattr(optim, name)(ps, **kw)
    return opts


OPTIMIZERS = {'SGD': dict(lr=0.05, momentum=0.9), 'Adam': dict(lr=0.01), 'AdamW': dict(lr=0.01),
              'RMSprop': dict(lr=0.01), 'Adagrad': dict(lr=0.05), 'Adadelta': dict(lr=0.5)}


@pytest.mark.parametrize('name', list(OPTIMIZERS))
def test_optimizer_state_dicts_both_ways(name):
    "Every optimizer's state dict (and a scheduler's) written by one library loads into the other's optimizer."
    optim = getattr(lt, 'optim', None)
    if optim is None: pytest.skip('learntorch.optim is not on this branch yet')
    kw = OPTIMIZERS[name]
    lt_model, th_model = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    lt_opt, th_opt = getattr(optim, name)(lt_model.parameters(), **kw), getattr(torch.optim, name)(th_model.parameters(), **kw)
    lt_model(lt.randn(4, 3)).sum().backward(); lt_opt.step()
    th_model(torch.randn(4, 3)).sum().backward(); th_opt.step()
    lt_sched = optim.lr_scheduler.StepLR(lt_opt, 3)
    buf = io.BytesIO(); lt.save({'opt': lt_opt.state_dict(), 'sched': lt_sched.state_dict()}, buf)
    got = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
    th_again = getattr(torch.optim, name)(torch.nn.Linear(3, 2).parameters(), **kw)
    th_again.load_state_dict(got['opt'])
    torch.optim.lr_scheduler.StepLR(th_again, 3).load_state_dict(got['sched'])
    _assert_same(lt_opt.state_dict(), th_again.state_dict())
    buf = io.BytesIO(); torch.save(th_opt.state_dict(), buf)
    back = lt.load(io.BytesIO(buf.getvalue()))
    getattr(optim, name)(nn.Linear(3, 2).parameters(), **kw).load_state_dict(back)
    _assert_same(back, th_opt.state_dict())


@pytest.mark.parametrize('opt_name', list(_optimizers()))
def test_resume_training_identically(tmp_path, opt_name):
    make_opt = _optimizers()[opt_name]
    rng = np.random.default_rng(0)
    X = lt.from_numpy(rng.standard_normal((32, 4)).astype(np.float32))
    Y = lt.from_numpy(rng.integers(0, 3, 32))

    def new_model(seed):
        lt.manual_seed(seed)
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))

    def train(model, opt, epochs, start=0):
        loss_fn, loss = nn.CrossEntropyLoss(), None
        for epoch in range(start, epochs):
            for i in range(0, 32, 8):
                loss = loss_fn(model(X[i:i + 8]), Y[i:i + 8])
                opt.zero_grad()
                loss.backward()
                opt.step()
        return loss.item()

    straight = new_model(0)
    straight_loss = train(straight, make_opt(straight.parameters()), 6)

    model = new_model(0)
    opt = make_opt(model.parameters())
    loss = train(model, opt, 3)
    lt.save({'epoch': 3, 'model_state_dict': model.state_dict(), 'optimizer_state_dict': opt.state_dict(),
             'loss': loss}, tmp_path / 'ckpt.pt')
    del model, opt

    resumed = new_model(123)                         # different initial weights: all must come from the file
    opt = make_opt(resumed.parameters())
    ckpt = lt.load(tmp_path / 'ckpt.pt', weights_only=True)
    resumed.load_state_dict(ckpt['model_state_dict'])
    opt.load_state_dict(ckpt['optimizer_state_dict'])
    resumed_loss = train(resumed, opt, 6, start=ckpt['epoch'])
    assert resumed_loss == straight_loss
    for a, b in zip(resumed.state_dict().values(), straight.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # and PyTorch's SGD accepts the optimizer state learntorch wrote
    if 'SGD' in opt_name:
        th = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
        th_ckpt = torch.load(tmp_path / 'ckpt.pt', weights_only=True)
        th.load_state_dict(th_ckpt['model_state_dict'])
        torch.optim.SGD(th.parameters(), lr=1.0, momentum=0.0).load_state_dict(th_ckpt['optimizer_state_dict'])



def test_backward_hooks_in_a_file_are_refused():
    "A tensor whose (normally empty) backward-hooks dict holds an allowed callable, `set`."
    import re
    z = zipfile.ZipFile(io.BytesIO(_checkpoint_bytes({'t': lt.zeros(2)})))
    pkl = z.read('archive/data.pkl')
    evil, n = re.subn(rb'OrderedDict\nq.\)Rq.', lambda m: m.group(0) + b'(K\x00c__builtin__\nset\nu', pkl,
                      count=1, flags=re.DOTALL)
    assert n == 1
    with pytest.raises(RuntimeError, match='backward hooks'): lt.load(io.BytesIO(_zip_with_pickle(z, evil)))


def test_mmap_load(tmp_path):
    path = tmp_path / 'big.pt'
    base = torch.arange(100_000.).reshape(100, 1000)
    torch.save({'w': base, 'v': base[:, 10:20], 'i': torch.arange(5)}, path)
    got = lt.load(path, mmap=True)
    assert isinstance(serialization._root(got['w'].numpy()), np.memmap)
    np.testing.assert_array_equal(got['v'].numpy(), base[:, 10:20].numpy())
    got['w'][0, 10] = -5.                                        # views share the mapped storage...
    assert got['v'][0, 0].item() == -5.
    assert lt.load(path)['w'][0, 10].item() == 10.               # ...and writes stay private (copy-on-write)
    assert (got['w'] + 1)[0, 0].item() == 1. and got['i'].tolist() == [0, 1, 2, 3, 4]
    lt.save(got, tmp_path / 'again.pt')                          # a mapped storage saves like any other
    again = torch.load(tmp_path / 'again.pt', weights_only=True)
    assert again['w'][0, 10].item() == -5. and len({again[k].untyped_storage().data_ptr() for k in 'wv'}) == 1
    with pytest.raises(ValueError, match='file path'): lt.load(io.BytesIO(path.read_bytes()), mmap=True)


from hypothesis import given, settings, strategies as st
from helpers import arrays, dtype_names, layouts, shapes


@settings(max_examples=40)
@given(data=st.data())
def test_random_layouts_cross_both_ways(data):
    "Any dtype, shape (0-d, empty) and memory layout (permuted, strided view of a bigger array), with inf/nan."
    dt = data.draw(dtype_names()).name
    a = data.draw(layouts(data.draw(arrays(dt, shapes(max_dims=3), specials=True))))
    ours, theirs = lt.from_numpy(a), torch.from_numpy(a)
    buf = io.BytesIO()
    lt.save({'t': ours, 'n': a.ndim}, buf)
    got = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)['t']
    assert str(got.dtype) == str(ours.dtype) and tuple(got.shape) == a.shape
    np.testing.assert_array_equal(got.numpy(), a)
    buf = io.BytesIO()
    torch.save({'t': theirs}, buf)
    back = lt.load(io.BytesIO(buf.getvalue()))['t']
    assert back.dtype is ours.dtype and back.shape == ours.shape
    if a.size > 1: assert back.stride() == theirs.stride()
    np.testing.assert_array_equal(back.numpy(), a)



def _legacy_bytes(obj):
    "PyTorch's pre-1.6 header pickles followed by `obj` pickled plainly (no storages)."
    head = [0x1950a86a20f9469cfc6c, 1001, {'protocol_version': 1001, 'little_endian': True,
                                          'type_sizes': {'short': 2, 'int': 4, 'long': 4}}]
    return b''.join(pickle.dumps(h, protocol=2) for h in head) + pickle.dumps(obj, protocol=2) + pickle.dumps([])


def test_legacy_format_written_by_pytorch(tmp_path):
    lt_state, th_state = _twins()
    base = torch.arange(24.).reshape(4, 6)
    th_state.update(base=base, cols=base[:, ::2], t=base.t())
    torch.save(th_state, tmp_path / 'legacy.pt', _use_new_zipfile_serialization=False)
    assert not zipfile.is_zipfile(tmp_path / 'legacy.pt')
    got = lt.load(tmp_path / 'legacy.pt')
    _assert_same(got, th_state)
    assert got['cols'].numpy().base is got['base'].numpy().base and got['t'].stride() == (1, 6)
    with open(tmp_path / 'legacy.pt', 'rb') as f: assert lt.load(f)['weight'].shape == (2, 3)
    assert lt.load(tmp_path / 'legacy.pt', map_location={'cpu': 'cpu'})['int8'].tolist() == th_state['int8'].tolist()
    with pytest.raises(NotImplementedError, match='CPU only'):
        lt.load(tmp_path / 'legacy.pt', map_location='cuda:0')
    raw = (tmp_path / 'legacy.pt').read_bytes()
    for cut in (len(raw) - 1, len(raw) - 30, len(raw) // 2, 40):
        with pytest.raises((RuntimeError, pickle.UnpicklingError), match="cut.pt"):
            _load_bytes(tmp_path, raw[:cut], 'cut.pt')
    torch.save(torch.nn.Linear(2, 2), tmp_path / 'model.pt', _use_new_zipfile_serialization=False)
    with pytest.raises(pickle.UnpicklingError, match='torch.nn.modules.linear.Linear'):
        lt.load(tmp_path / 'model.pt')


def test_weights_only_none_means_the_safe_default(tmp_path):
    "PyTorch reads weights_only=None as its default, True: None must not open the door."
    data = _checkpoint_bytes({'w': _Call(os.system, (f'touch {tmp_path / SENTINEL_NAME}',))})
    with pytest.raises(pickle.UnpicklingError, match='system'): lt.load(io.BytesIO(data), weights_only=None)
    assert not (tmp_path / SENTINEL_NAME).exists()
