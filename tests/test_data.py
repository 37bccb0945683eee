"""learntorch.utils.data against PyTorch's torch.utils.data on the same datasets: batches, collation of nested
samples, samplers, random_split, argument errors; worker processes (same batches as in-process, order kept,
seeding, sharding of iterable datasets) and their failure modes, each with a bound on how long it may take."""
import collections, multiprocessing, os, signal, subprocess, sys, textwrap, time
import numpy as np
import pytest
import learntorch as lt
from learntorch.utils import data as ld

torch = pytest.importorskip("torch")
td = torch.utils.data


@pytest.fixture(autouse=True)
def no_stray_workers():
    "Every test must leave no worker process behind (checked for a few seconds after it ends)."
    yield
    import gc; gc.collect()
    deadline = time.monotonic() + 5
    while multiprocessing.active_children() and time.monotonic() < deadline: time.sleep(0.05)
    assert multiprocessing.active_children() == [], 'worker processes left running'


# ------------------------------------------------------------------------------------------------ helpers
Pair = collections.namedtuple('Pair', 'left right')


def plain(x):
    "A batch of either library as plain Python: tensors become ('tensor', dtype name, shape, values)."
    if isinstance(x, (torch.Tensor, lt.Tensor)):
        return ('tensor', str(x.dtype).replace('torch.', ''), tuple(x.shape), np.asarray(x).tolist())
    if isinstance(x, dict): return {k: plain(v) for k, v in x.items()}
    if isinstance(x, tuple) and hasattr(x, '_fields'): return (type(x).__name__,) + tuple(plain(v) for v in x)
    if isinstance(x, (list, tuple)): return (type(x).__name__, [plain(v) for v in x])
    return x


def samples(T, n=11):
    "Nested samples (tensors, numpy arrays and scalars, numbers, strings, dicts, tuples, namedtuples)."
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        out.append({'x': T.from_numpy(rng.standard_normal((2, 3)).astype(np.float32)),
                    'arr': np.arange(4, dtype=np.int32) + i,
                    'pair': (i, float(i) / 2, f's{i}'),
                    'named': Pair(np.float64(i), T.tensor([i, i + 1])),
                    'flag': i % 2 == 0,
                    'nested': [{'k': np.int64(i)}, np.float32(i)]})
    return out


def batches(T, dataset, **kwargs):
    return [plain(b) for b in T.utils.data.DataLoader(dataset, **kwargs)]


# ------------------------------------------------------------------------------- batches match PyTorch's
@pytest.mark.parametrize('batch_size,drop_last', [(1, False), (3, False), (4, True), (11, False), (20, True)])
def test_fixed_order_batches_match_torch(batch_size, drop_last):
    got = batches(lt, samples(lt), batch_size=batch_size, drop_last=drop_last)
    want = batches(torch, samples(torch), batch_size=batch_size, drop_last=drop_last)
    assert got == want and len(got) == len(td.DataLoader(range(11), batch_size=batch_size, drop_last=drop_last))


def test_given_sampler_and_batch_sampler_match_torch():
    order = [7, 2, 9, 0, 4, 4, 10]
    assert batches(lt, samples(lt), batch_size=3, sampler=order) == \
        batches(torch, samples(torch), batch_size=3, sampler=order)
    groups = [[1, 2], [10], [3, 0, 5]]
    assert batches(lt, samples(lt), batch_sampler=groups) == batches(torch, samples(torch), batch_sampler=groups)


def test_tensor_dataset_and_no_batching_match_torch():
    x, y = np.arange(20, dtype=np.float32).reshape(10, 2), np.arange(10) % 3
    mine = ld.TensorDataset(lt.from_numpy(x), lt.from_numpy(y))
    theirs = td.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    for kw in ({'batch_size': 4}, {'batch_size': None}, {'batch_size': 3, 'drop_last': True}):
        assert batches(lt, mine, **kw) == batches(torch, theirs, **kw)
    arrays = [np.full((2,), i, dtype=np.int16) for i in range(3)]
    assert batches(lt, arrays, batch_size=None) == batches(torch, arrays, batch_size=None)


def test_default_collate_matches_torch_and_its_errors():
    for batch in ([1, 2], [1.5, 2.0], [True, False], ['a', 'b'], [np.float32(1), np.float32(2)],
                  [(1, 'a'), (2, 'b')], [[1, 2], [3, 4]], [{'a': 1}, {'a': 2}], [Pair(1, 2.), Pair(3, 4.)]):
        assert plain(ld.default_collate(batch)) == plain(td.default_collate(batch)), batch
    for bad in ([[1, 2], [3]], [object(), object()], [np.array(['a']), np.array(['b'])]):
        with pytest.raises(Exception) as theirs: td.default_collate(bad)
        with pytest.raises(type(theirs.value)) as mine: ld.default_collate(bad)
        assert str(theirs.value).split(';')[0] == str(mine.value).split(';')[0]


def test_shuffle_visits_every_sample_once_per_epoch_and_repeats_under_a_seed():
    ds = ld.TensorDataset(lt.arange(50))
    loader = ld.DataLoader(ds, batch_size=8, shuffle=True)
    epochs = [[v for (b,) in loader for v in b.tolist()] for _ in range(3)]
    for e in epochs: assert sorted(e) == list(range(50))
    assert epochs[0] != epochs[1]
    lt.manual_seed(5); a = [b.tolist() for (b,) in loader]
    lt.manual_seed(5); b = [b.tolist() for (b,) in loader]
    assert a == b
    g = lambda: lt.Generator().manual_seed(3)
    assert [x.tolist() for (x,) in ld.DataLoader(ds, 8, True, generator=g())] == \
        [x.tolist() for (x,) in ld.DataLoader(ds, 8, True, generator=g())]


def test_len_matches_torch():
    class Sized(td.IterableDataset):
        def __iter__(self): return iter(range(10))
        def __len__(self): return 10
    class MySized(ld.IterableDataset):
        def __iter__(self): return iter(range(10))
        def __len__(self): return 10
    for kw in ({}, {'batch_size': 3}, {'batch_size': 3, 'drop_last': True}, {'batch_size': None}):
        assert len(ld.DataLoader(range(10), **kw)) == len(td.DataLoader(range(10), **kw))
        assert len(ld.DataLoader(MySized(), **kw)) == len(td.DataLoader(Sized(), **kw))


def test_iterable_dataset_batches_match_torch():
    class Mine(ld.IterableDataset):
        def __iter__(self): return iter(range(7))
    class Theirs(td.IterableDataset):
        def __iter__(self): return iter(range(7))
    for kw in ({'batch_size': 3}, {'batch_size': 3, 'drop_last': True}, {'batch_size': None}):
        assert batches(lt, Mine(), **kw) == batches(torch, Theirs(), **kw)


def test_datasets_combine_like_torch():
    a, b = list(range(3)), list(range(10, 15))
    mine, theirs = ld.ConcatDataset([a, b]), td.ConcatDataset([a, b])
    assert [mine[i] for i in range(-8, 8)] == [theirs[i] for i in range(-8, 8)]
    assert mine.cumulative_sizes == theirs.cumulative_sizes
    assert ld.Subset(mine, [7, 0])[0] == td.Subset(theirs, [7, 0])[0]
    with pytest.raises(ValueError, match='absolute value of index'): mine[-9]
    class It(ld.IterableDataset):
        def __init__(self, n): self.n = n
        def __iter__(self): return iter(range(self.n))
    assert list(It(2) + It(3)) == [0, 1, 0, 1, 2]
    with pytest.raises(AssertionError, match='does not support IterableDataset'): ld.ConcatDataset([It(1)])


@pytest.mark.parametrize('n,lengths', [(10, [0.5, 0.5]), (11, [0.3, 0.3, 0.4]), (7, [0.1, 0.9]),
                                        (10, [3, 7]), (5, [1.0])])
def test_random_split_lengths_match_torch(n, lengths):
    with np.errstate(all='ignore'):
        mine = ld.random_split(range(n), lengths, generator=lt.Generator().manual_seed(0))
        theirs = td.random_split(range(n), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in mine] == [len(s) for s in theirs]
    assert sorted(i for s in mine for i in s.indices) == list(range(n))


def test_random_split_errors():
    with pytest.raises(ValueError, match='Sum of input lengths does not equal'): ld.random_split(range(5), [2, 2])
    with pytest.raises(ValueError, match='Fraction at index 0 is not between 0 and 1'):
        ld.random_split(range(5), [-0.5, 1.5])
    with pytest.warns(UserWarning, match='Length of split at index 1 is 0'): ld.random_split(range(2), [0.9, 0.1])


def test_samplers():
    assert list(ld.SequentialSampler(range(4))) == list(td.SequentialSampler(range(4)))
    assert sorted(ld.RandomSampler(range(6))) == list(range(6))
    drawn = list(ld.RandomSampler(range(3), replacement=True, num_samples=50))
    assert len(drawn) == 50 and set(drawn) <= {0, 1, 2}
    seven = list(ld.RandomSampler(range(3), num_samples=7))       # two permutations, then one more draw
    assert sorted(seven[:3]) == sorted(seven[3:6]) == [0, 1, 2] and seven[6] in (0, 1, 2)
    assert sorted(ld.SubsetRandomSampler([5, 9, 11])) == [5, 9, 11]
    w = list(ld.WeightedRandomSampler([0., 1., 0., 3.], 400, generator=lt.Generator().manual_seed(0)))
    assert set(w) == {1, 3} and 0.15 < w.count(1) / 400 < 0.35
    assert sorted(ld.WeightedRandomSampler([1., 1., 1.], 3, replacement=False)) == [0, 1, 2]
    for bs, dl in ((3, False), (3, True), (1, False), (10, True)):
        assert list(ld.BatchSampler(range(7), bs, dl)) == list(td.BatchSampler(range(7), bs, dl))
        assert len(ld.BatchSampler(range(7), bs, dl)) == len(td.BatchSampler(range(7), bs, dl))


def _same_error(make_mine, make_theirs):
    with pytest.raises(Exception) as theirs: make_theirs()
    with pytest.raises(type(theirs.value)) as mine: make_mine()
    assert str(mine.value) == str(theirs.value)


@pytest.mark.parametrize('kwargs', [
    dict(sampler=[0, 1], shuffle=True), dict(batch_sampler=[[0]], batch_size=2), dict(batch_sampler=[[0]], drop_last=True),
    dict(batch_size=None, drop_last=True), dict(num_workers=-1), dict(timeout=-1), dict(prefetch_factor=2),
    dict(persistent_workers=True), dict(num_workers=1, multiprocessing_context='nope')])
def test_argument_errors_match_torch(kwargs):
    _same_error(lambda: ld.DataLoader(range(4), **kwargs), lambda: td.DataLoader(range(4), **kwargs))


def test_sampler_argument_errors_match_torch():
    _same_error(lambda: ld.RandomSampler(range(3), replacement=1), lambda: td.RandomSampler(range(3), replacement=1))
    _same_error(lambda: ld.RandomSampler(range(3), num_samples=0), lambda: td.RandomSampler(range(3), num_samples=0))
    _same_error(lambda: ld.BatchSampler(range(3), 0, False), lambda: td.BatchSampler(range(3), 0, False))
    _same_error(lambda: ld.BatchSampler(range(3), 2, 1), lambda: td.BatchSampler(range(3), 2, 1))
    _same_error(lambda: ld.WeightedRandomSampler([[1.]], 2), lambda: td.WeightedRandomSampler([[1.]], 2))
    _same_error(lambda: setattr(ld.DataLoader(range(3)), 'batch_size', 2),
                lambda: setattr(td.DataLoader(range(3)), 'batch_size', 2))


def test_iterable_dataset_rejects_shuffle_and_samplers_like_torch():
    class Mine(ld.IterableDataset):
        def __iter__(self): return iter([])
    class Theirs(td.IterableDataset):
        def __iter__(self): return iter([])
    _same_error(lambda: ld.DataLoader(Mine(), shuffle=True), lambda: td.DataLoader(Theirs(), shuffle=True))


# ------------------------------------------------------------------------------------------------ workers
class Slow(ld.Dataset):
    "Sample i is {'i': i, 'x': tensor}; waits `delay` seconds per sample."
    def __init__(self, n=24, delay=0.0): self.n, self.delay = n, delay
    def __len__(self): return self.n
    def __getitem__(self, i):
        if self.delay: time.sleep(self.delay)
        return {'i': i, 'x': lt.full((2,), float(i)), 'tag': (f'#{i}', np.int16(i))}


@pytest.mark.parametrize('kwargs', [dict(batch_size=5), dict(batch_size=4, drop_last=True), dict(batch_size=None),
                                    dict(batch_size=3, shuffle=True, generator='seeded'),
                                    dict(batch_size=2, prefetch_factor=1), dict(batch_size=2, prefetch_factor=6)])
def test_two_workers_yield_the_batches_of_zero_in_order(kwargs):
    def run(n):
        kw = dict(kwargs)
        if kw.get('generator') == 'seeded': kw['generator'] = lt.Generator().manual_seed(11)
        if n == 0: kw.pop('prefetch_factor', None)
        return batches(lt, Slow(), num_workers=n, **kw)
    assert run(2) == run(0)


def test_workers_keep_order_when_later_batches_are_faster():
    class FirstSlow(ld.Dataset):
        def __len__(self): return 12
        def __getitem__(self, i):
            time.sleep(0.2 if i < 2 else 0)
            return i
    got = [b.tolist() for b in ld.DataLoader(FirstSlow(), batch_size=2, num_workers=2)]
    assert got == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11]]
    unordered = [b.tolist() for b in ld.DataLoader(FirstSlow(), batch_size=2, num_workers=2, in_order=False)]
    assert sorted(unordered) == got


def test_worker_info_seeds_and_init_fn():
    class Who(ld.Dataset):
        def __len__(self): return 8
        def __getitem__(self, i):
            info = ld.get_worker_info()
            return (info.id, info.num_workers, info.seed, lt.rand(1).item(), np.random.rand(), os.getpid(),
                    os.environ.get('WORKER_MARK'))
    def init(worker_id): os.environ['WORKER_MARK'] = f'w{worker_id}'
    g = lambda: lt.Generator().manual_seed(4)
    rows = list(ld.DataLoader(Who(), batch_size=None, num_workers=2, worker_init_fn=init, generator=g()))
    assert [r[0] for r in rows] == [0, 1] * 4 and {r[1] for r in rows} == {2}
    assert rows[1][2] == rows[0][2] + 1                         # seed = base seed + worker id
    assert rows[0][3] != rows[1][3] and rows[0][4] != rows[1][4]
    assert {r[6] for r in rows} == {'w0', 'w1'} and len({r[5] for r in rows}) == 2
    again = list(ld.DataLoader(Who(), batch_size=None, num_workers=2, worker_init_fn=init, generator=g()))
    assert [r[:5] for r in again] == [r[:5] for r in rows]
    assert ld.get_worker_info() is None


def test_iterable_dataset_sharded_through_worker_info():
    class Shards(ld.IterableDataset):
        def __iter__(self):
            info = ld.get_worker_info()
            return iter(range(info.id, 23, info.num_workers))
    got = [b.tolist() for b in ld.DataLoader(Shards(), batch_size=4, num_workers=2)]
    assert sorted(v for b in got for v in b) == list(range(23))
    assert got[:2] == [[0, 2, 4, 6], [1, 3, 5, 7]]                # worker 0's batch, then worker 1's
    class Unsharded(ld.IterableDataset):
        def __iter__(self): return iter(range(5))
    assert sorted(v for b in ld.DataLoader(Unsharded(), batch_size=2, num_workers=2) for v in b.tolist()) == \
        sorted(list(range(5)) * 2)                                   # each worker streams its own copy


def test_persistent_workers_survive_epochs_and_stop_with_the_loader():
    loader = ld.DataLoader(Slow(10), batch_size=3, num_workers=2, persistent_workers=True)
    first = [plain(b) for b in loader]
    pids = sorted(p.pid for p in multiprocessing.active_children())
    for b in loader: break
    assert [plain(b) for b in loader] == first
    assert sorted(p.pid for p in multiprocessing.active_children()) == pids
    del loader, b


class Boom(Exception):
    pass


class Failing(ld.Dataset):
    def __init__(self, exc, at=5): self.exc, self.at = exc, at
    def __len__(self): return 40
    def __getitem__(self, i):
        if i == self.at: raise self.exc
        return i


@pytest.mark.parametrize('exc', [ValueError('sample 5 is corrupt'), KeyError('missing'), Boom('custom')])
def test_worker_exception_surfaces_with_type_and_traceback(exc):
    start = time.monotonic()
    with pytest.raises(type(exc)) as info:
        for _ in ld.DataLoader(Failing(exc), batch_size=2, num_workers=2): pass
    elapsed = time.monotonic() - start
    text = str(info.value)
    assert 'Caught' in text and 'in DataLoader worker process 0' in text
    assert 'Original Traceback (most recent call last)' in text and '__getitem__' in text and 'raise self.exc' in text
    assert elapsed < 5, f'took {elapsed:.1f}s'
    del info


def test_worker_exception_whose_class_cannot_travel_becomes_runtime_error():
    class Local(Exception):
        pass
    with pytest.raises(RuntimeError, match='Caught Local in DataLoader worker process'):
        list(ld.DataLoader(Failing(Local('x'), at=0), num_workers=2))


def test_unpicklable_batch_is_an_error_not_a_hang():
    start = time.monotonic()
    with pytest.raises(Exception, match='in DataLoader worker process'):
        list(ld.DataLoader([lambda: 1] * 4, batch_size=None, num_workers=2))
    assert time.monotonic() - start < 5


def test_worker_init_fn_error_is_reported():
    def init(worker_id): raise OSError(f'cannot open device {worker_id}')
    with pytest.raises(OSError, match='Caught OSError in DataLoader worker process'):
        list(ld.DataLoader(range(8), num_workers=2, worker_init_fn=init))


def test_worker_killed_by_signal_names_its_pid():
    class Killer(ld.Dataset):
        def __len__(self): return 8
        def __getitem__(self, i):
            if ld.get_worker_info().id == 1: os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(0.05)
            return i
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r'DataLoader worker \(pid \d+\) is killed by signal: Killed') as info:
        list(ld.DataLoader(Killer(), num_workers=2))
    assert time.monotonic() - start < 5
    del info


def test_timeout_is_honoured():
    start = time.monotonic()
    with pytest.raises(RuntimeError, match='DataLoader timed out after 0.5 seconds'):
        list(ld.DataLoader(Slow(4, delay=60), num_workers=2, timeout=0.5))
    assert time.monotonic() - start < 0.5 + 4                     # the wait, a 1 s grace period, slack


def test_leaving_a_loop_early_shuts_workers_down():
    loader = ld.DataLoader(Slow(40, delay=0.01), batch_size=2, num_workers=2)
    for b in loader:
        assert len(multiprocessing.active_children()) == 2
        break
    start = time.monotonic()
    del b
    assert multiprocessing.active_children() == [] and time.monotonic() - start < 3
    it = iter(loader); next(it); del it
    assert multiprocessing.active_children() == []


def test_workers_exit_when_the_main_process_dies_without_cleanup():
    script = textwrap.dedent('''
        import os, sys, time
        sys.path.insert(0, sys.argv[1])
        from learntorch.utils.data import DataLoader, Dataset
        class Slow(Dataset):
            def __len__(self): return 100
            def __getitem__(self, i): time.sleep(0.05); return i
        it = iter(DataLoader(Slow(), num_workers=2))
        next(it)
        print(' '.join(str(w.pid) for w in it._workers), flush=True)
        os._exit(0)                                    # no atexit, no __del__
    ''')
    out = subprocess.run([sys.executable, '-c', script, os.getcwd()], capture_output=True, text=True, timeout=60,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    pids = [int(p) for p in out.stdout.split()]
    assert len(pids) == 2, out.stderr
    deadline = time.monotonic() + 5
    alive = lambda pid: os.path.exists(f'/proc/{pid}') and 'Z' not in open(f'/proc/{pid}/stat').read().split()[2]
    while any(alive(p) for p in pids) and time.monotonic() < deadline: time.sleep(0.1)
    assert not any(alive(p) for p in pids), 'orphaned workers kept running'


def test_spawn_context_works_with_a_picklable_dataset():
    ds = ld.TensorDataset(lt.arange(6.))
    got = [b.tolist() for (b,) in ld.DataLoader(ds, batch_size=4, num_workers=1, multiprocessing_context='spawn')]
    assert got == [[0., 1., 2., 3.], [4., 5.]]


def test_pin_memory_is_accepted_with_a_warning():
    with pytest.warns(UserWarning, match="'pin_memory' argument is set as true"):
        loader = ld.DataLoader(range(4), batch_size=2, pin_memory=True)
    assert [b.tolist() for b in loader] == [[0, 1], [2, 3]]


def test_too_many_workers_warn_like_torch():
    import warnings
    n = (len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()) + 1
    def messages(T):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            list(T.utils.data.DataLoader(range(2), num_workers=n))
        return {str(w.message) for w in caught if 'worker processes in total' in str(w.message)}
    assert messages(lt) == messages(torch) and len(messages(lt)) == 1


def test_large_index_lists_and_large_batches_do_not_deadlock():
    "The main process must never block sending indices to a worker that is blocked sending it a batch."
    script = textwrap.dedent('''
        import sys, numpy as np
        sys.path.insert(0, sys.argv[1])
        from learntorch.utils.data import DataLoader
        big = lambda batch: np.full(2_000_000, len(batch))      # a 16 MB reply per batch of 200000 indices
        out = [int(b[0]) for b in DataLoader(range(800_000), batch_size=200_000, num_workers=2, collate_fn=big)]
        print(out)
    ''')
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, '-c', script, root], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == '[200000, 200000, 200000, 200000]', out.stderr


def test_persistent_workers_restart_iterable_streams_each_epoch():
    class Shards(ld.IterableDataset):
        def __iter__(self):
            info = ld.get_worker_info()
            return iter(range(info.id, 9, info.num_workers))
    loader = ld.DataLoader(Shards(), batch_size=2, num_workers=2, persistent_workers=True)
    for _ in range(2): assert sorted(v for b in loader for v in b.tolist()) == list(range(9))
    for b in loader: break                                       # an epoch left early ...
    assert sorted(v for b in loader for v in b.tolist()) == list(range(9))   # ... the next is whole
    unordered = ld.DataLoader(Shards(), batch_size=2, num_workers=2, in_order=False)
    assert sorted(v for b in unordered for v in b.tolist()) == list(range(9))
    del loader, b
