"""The training helpers (learntorch.train) on tiny data, and the `learntorch` command line end to end, run as a
subprocess the way a user runs it: files written, exit statuses, argparse errors, the offline dataset message."""
import configparser, importlib, json, os, subprocess, sys
from pathlib import Path

import numpy as np
import pytest

import learntorch as torch
from learntorch import nn
from learntorch.utils.data import DataLoader, TensorDataset
from learntorch import train as lt

REPO = Path(__file__).resolve().parents[1]


def blobs(n=96, seed=0):
    "Two well-separated classes in 4 dimensions."
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = (rng.standard_normal((n, 4)) + 3 * (2 * y[:, None] - 1)).astype(np.float32)
    return TensorDataset(torch.from_numpy(x), torch.from_numpy(y.astype(np.int64)))


def tiny_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


@pytest.fixture(autouse=True)
def one_thread():
    "One BLAS thread while these tests run (the small products here only wait on more), as before afterwards."
    before = lt.get_num_threads()
    lt.set_num_threads(1)
    yield
    lt.set_num_threads(before)


# ---- helpers -------------------------------------------------------------------------------------------------------

def test_train_one_epoch_lowers_the_loss_and_counts_accuracy():
    model, loss_fn = tiny_model(), nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    dl = DataLoader(blobs(), batch_size=16, shuffle=True)
    first, _ = lt.train_one_epoch(dl, model, loss_fn, optimizer)
    for _ in range(3): last, acc = lt.train_one_epoch(dl, model, loss_fn, optimizer)
    assert last < first and model.training
    assert acc > 0.9


def test_evaluate_matches_a_manual_count_and_sample_weighted_loss():
    model, loss_fn, data = tiny_model(), nn.CrossEntropyLoss(), blobs(50)
    loss, acc = lt.evaluate(DataLoader(data, batch_size=16), model, loss_fn)   # batches 16, 16, 16, 2
    X, y = data.tensors
    with torch.no_grad():
        out = model(X)
    assert not model.training
    assert acc == pytest.approx((out.argmax(1) == y).float().mean().item())
    assert loss == pytest.approx(loss_fn(out, y).item(), rel=1e-5)   # mean over samples, not over batches


def test_evaluate_leaves_no_graph_and_accepts_a_predict_rule():
    model = nn.Sequential(nn.Linear(4, 1), nn.Sigmoid())
    data = blobs(32)
    X, y = data.tensors
    binary = TensorDataset(X, y.float().unsqueeze(1))
    loss, acc = lt.evaluate(DataLoader(binary, batch_size=8), model, nn.BCELoss(),
                            predict=lambda p: (p > 0.5).float())
    with torch.no_grad():
        expected = ((model(X) > 0.5).float() == y.float().unsqueeze(1)).float().mean().item()
    assert acc == pytest.approx(expected) and 0 <= loss
    assert all(p.grad is None for p in model.parameters())


def test_fit_history_shape_and_learning(capsys):
    model, loss_fn = tiny_model(), nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    dl, tdl = DataLoader(blobs(), batch_size=16, shuffle=True), DataLoader(blobs(40, seed=1), batch_size=16)
    h = lt.fit(model, dl, tdl, loss_fn, optimizer, epochs=4, scheduler=scheduler, progress=False)
    assert list(h) == ['epoch', 'train_loss', 'train_accuracy', 'test_loss', 'test_accuracy', 'lr', 'seconds']
    assert all(len(v) == 4 for v in h.values()) and h['epoch'] == [1, 2, 3, 4]
    assert h['lr'] == pytest.approx([0.1, 0.05, 0.025, 0.0125])
    assert h['train_loss'][-1] < h['train_loss'][0] and h['test_accuracy'][-1] > 0.9
    assert all(0 <= a <= 1 for a in h['train_accuracy'] + h['test_accuracy'])
    json.dumps(h)                                                  # plain numbers, ready for a JSON file
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[0].startswith('epoch 1/4') and 'test loss' in lines[0]


def test_fit_quiet_and_with_progress_bars(capsys):
    model = tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    dl = DataLoader(blobs(32), batch_size=8)
    lt.fit(model, dl, dl, nn.CrossEntropyLoss(), opt, epochs=1, progress=False, verbose=False)
    assert capsys.readouterr().out == ''
    lt.fit(model, dl, dl, nn.CrossEntropyLoss(), opt, epochs=2, progress=True)
    captured = capsys.readouterr()
    assert 'epochs' in captured.err and '2/2' in captured.err        # tqdm's bar over the epochs
    assert captured.out.count('epoch ') == 2                          # per-epoch lines through tqdm.write


def test_progress_bar_is_off_when_nobody_watches(monkeypatch):
    items = [1, 2, 3]
    assert lt.progress_bar(items, enabled=False) is items
    monkeypatch.setattr(lt, '_watched', lambda: False)
    assert lt.progress_bar(items) is items
    monkeypatch.setattr(lt, '_watched', lambda: True)
    bar = lt.progress_bar(items, disable=True)
    assert bar is not items and list(bar) == items


def test_threads_and_data():
    assert lt.get_num_threads() == 1
    with pytest.raises(RuntimeError, match='positive integer'): lt.set_num_threads(0)
    train_data, test_data, classes = lt.quickstart_data('digits')
    x, y = test_data[0]
    assert (len(train_data), len(test_data), len(classes)) == (1437, 360, 10)
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and isinstance(y, int)
    with pytest.raises(ValueError, match='unknown dataset'): lt.quickstart_data('cifar')
    assert str(lt.NeuralNetwork()).startswith('NeuralNetwork(\n  (flatten): Flatten(start_dim=1, end_dim=-1)')


def test_plots_are_figures_with_red_mistakes(tmp_path):
    import matplotlib
    matplotlib.use('Agg')
    h = {'epoch': [1, 2], 'train_loss': [1.0, 0.5], 'train_accuracy': [0.5, 0.8], 'test_loss': [1.1, 0.6],
         'test_accuracy': [0.4, 0.7], 'lr': [0.1, 0.1], 'seconds': [1, 1]}
    fig = lt.plot_history(h, path=tmp_path / 'c.png')
    assert (tmp_path / 'c.png').stat().st_size > 1000 and len(fig.axes) == 2
    _, test_data, classes = lt.quickstart_data('digits')
    model = lt.NeuralNetwork()                                       # untrained: mostly wrong
    fig = lt.show_predictions(model, test_data, classes, n=12, ncols=6, path=tmp_path / 'p.png')
    titles = [ax.title for ax in fig.axes if ax.get_title()]
    with torch.no_grad():
        guesses = model(torch.stack([test_data[i][0] for i in range(12)])).argmax(1).tolist()
    truth = [test_data[i][1] for i in range(12)]
    assert len(titles) == 12
    assert [t.get_color() == 'red' for t in titles] == [g != t for g, t in zip(guesses, truth)]
    assert (tmp_path / 'p.png').stat().st_size > 1000
    wrong = lt.first_mistakes(model, test_data, k=5, batch_size=7)
    assert len(wrong) == 5 and wrong == sorted(wrong)
    all_guesses = model(torch.stack([test_data[i][0] for i in range(wrong[-1] + 1)])).argmax(1).tolist()
    assert wrong == [i for i, g in enumerate(all_guesses) if g != test_data[i][1]][:5]
    fig = lt.show_predictions(model, test_data, classes, indices=wrong)
    assert [ax.title.get_color() for ax in fig.axes if ax.get_title()] == ['red'] * 5


# ---- the command line ----------------------------------------------------------------------------------------------

def learntorch_cli(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, '-m', 'learntorch.train', *args], capture_output=True, text=True,
                          env=env, cwd=cwd or REPO, timeout=600)


def test_cli_train_then_evaluate_on_digits(tmp_path):
    out = tmp_path / 'run'
    p = learntorch_cli('train', '--epochs', '1', '--batch-size', '128', '--out', str(out))
    assert p.returncode == 0, p.stderr
    assert sorted(os.listdir(out)) == ['curves.png', 'history.json', 'model.pth', 'predictions.png']
    assert 'epoch 1/1' in p.stdout and str(out / 'model.pth') in p.stdout
    assert p.stderr == ''                                            # not a terminal: no progress bars
    saved = json.loads((out / 'history.json').read_text())
    assert saved['settings'] == {'dataset': 'digits', 'epochs': 1, 'lr': 0.05, 'momentum': 0.9,
                                 'batch_size': 128, 'seed': 0, 'threads': 1}
    assert len(saved['history']['test_accuracy']) == 1 and saved['history']['test_accuracy'][0] > 0.3
    ckpt = lt.load(str(out / 'model.pth'), weights_only=True)
    assert ckpt['dataset'] == 'digits' and len(ckpt['classes']) == 10
    assert list(ckpt['model_state_dict']) == list(lt.NeuralNetwork().state_dict())
    p = learntorch_cli('evaluate', '--checkpoint', str(out / 'model.pth'))
    assert p.returncode == 0, p.stderr
    assert f"accuracy {100 * saved['history']['test_accuracy'][0]:.1f}%" in p.stdout


def test_cli_evaluates_a_bare_state_dict_and_rejects_other_models(tmp_path):
    torch.manual_seed(0)
    model = lt.NeuralNetwork()
    lt.save(model.state_dict(), str(tmp_path / 'model.pth'))        # seed 001's own kind of file
    p = learntorch_cli('evaluate', '--checkpoint', str(tmp_path / 'model.pth'), '--dataset', 'digits')
    assert p.returncode == 0 and 'digits test set: accuracy' in p.stdout, p.stderr
    lt.save(tiny_model().state_dict(), str(tmp_path / 'other.pth'))
    p = learntorch_cli('evaluate', '--checkpoint', str(tmp_path / 'other.pth'))
    assert p.returncode == 1 and 'not a checkpoint of the quickstart MLP' in p.stderr
    assert 'Traceback' not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    p = learntorch_cli('evaluate', '--checkpoint', str(tmp_path / 'missing.pth'))
    assert p.returncode == 1 and 'cannot read' in p.stderr and 'Traceback' not in p.stderr


@pytest.mark.parametrize('args', [['train', '--epochs', '0'], ['train', '--lr', 'fast'],
                                  ['train', '--dataset', 'cifar'], ['train', '--batch-size', '-4'],
                                  ['evaluate'], ['fly'], []])
def test_cli_bad_arguments_are_argparse_errors(args):
    with pytest.raises(SystemExit) as e: lt.main(args)
    assert e.value.code == 2


def test_cli_bad_arguments_in_a_subprocess():
    p = learntorch_cli('train', '--epochs', 'many')
    assert p.returncode == 2 and p.stderr.startswith('usage: learntorch train')
    assert "argument --epochs: must be a positive int, got 'many'" in p.stderr and 'Traceback' not in p.stderr


def write_idx(path, array):
    "An IDX file (MNIST's format): zero, zero, type 0x08 (unsigned bytes), rank, big-endian sizes, data."
    import struct
    with open(path, 'wb') as f:
        f.write(struct.pack('>BBBB', 0, 0, 8, array.ndim) + struct.pack(f'>{array.ndim}I', *array.shape))
        f.write(array.astype(np.uint8).tobytes())


def test_cli_trains_on_fashion_mnist_files_when_present(tmp_path):
    raw = tmp_path / 'FashionMNIST' / 'raw'
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (('train', 128), ('t10k', 32)):
        write_idx(raw / f'{prefix}-images-idx3-ubyte', rng.integers(0, 256, (n, 28, 28)))
        write_idx(raw / f'{prefix}-labels-idx1-ubyte', rng.integers(0, 10, n))
    p = learntorch_cli('train', '--dataset', 'fashion-mnist', '--data-root', str(tmp_path), '--epochs', '1',
                       '--out', str(tmp_path / 'run'))
    assert p.returncode == 0, p.stderr
    assert 'fashion-mnist: 128 training, 32 test images' in p.stdout
    ckpt = lt.load(str(tmp_path / 'run' / 'model.pth'), weights_only=True)
    assert ckpt['classes'][0] == 'T-shirt/top' and ckpt['dataset'] == 'fashion-mnist'


def test_cli_offline_fashion_mnist_is_one_clear_line(tmp_path):
    p = learntorch_cli('train', '--dataset', 'fashion-mnist', '--data-root', str(tmp_path),
                       '--out', str(tmp_path / 'never'))
    assert p.returncode == 1 and p.stdout == ''
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and 'Traceback' not in p.stderr
    assert lines[0].startswith('learntorch train: error: Dataset not found: FashionMNIST')
    assert str(tmp_path / 'FashionMNIST' / 'raw') in lines[0] and '--download' in lines[0]
    assert not (tmp_path / 'never').exists()                         # nothing trained, nothing written


def test_console_script_is_declared_and_passed_to_setuptools():
    cfg = configparser.ConfigParser(delimiters=['='])
    cfg.read(REPO / 'settings.ini')
    name, target = cfg['DEFAULT']['console_scripts'].split('=')
    module, func = target.split(':')
    assert name == 'learntorch' and getattr(importlib.import_module(module), func) is lt.main
    assert "'console_scripts': cfg.get('console_scripts'" in (REPO / 'setup.py').read_text()
    for req in ('tqdm', 'threadpoolctl'): assert req in cfg['DEFAULT']['requirements'].split()


def test_cli_checkpoint_opens_in_pytorch(tmp_path):
    "With notebook 09's learntorch.save, `learntorch train` writes PyTorch's own format: torch.load reads it."
    pytest.importorskip('learntorch.serialization')
    torch_ = pytest.importorskip('torch')
    out = tmp_path / 'run'
    p = learntorch_cli('train', '--epochs', '1', '--out', str(out), '--no-progress')
    assert p.returncode == 0, p.stderr
    ckpt = torch_.load(str(out / 'model.pth'), weights_only=True)
    ours = lt.load(str(out / 'model.pth'), weights_only=True)['model_state_dict']
    theirs = torch_.nn.Sequential(torch_.nn.Flatten(), torch_.nn.Linear(784, 512), torch_.nn.ReLU(),
                                  torch_.nn.Linear(512, 512), torch_.nn.ReLU(), torch_.nn.Linear(512, 10))
    state = {k.replace('linear_relu_stack.', ''): v for k, v in ckpt['model_state_dict'].items()}
    theirs.load_state_dict({str(int(k.split('.')[0]) + 1) + '.' + k.split('.')[1]: v for k, v in state.items()})
    _, test_data, _ = lt.quickstart_data('digits')
    x = np.stack([test_data[i][0].numpy() for i in range(16)])
    model = lt.NeuralNetwork()
    model.load_state_dict(ours)
    with torch.no_grad(), torch_.no_grad():
        np.testing.assert_allclose(theirs(torch_.from_numpy(x)).numpy(), model(torch.from_numpy(x)).numpy(),
                                   rtol=1e-4, atol=1e-5)
    assert ckpt['dataset'] == 'digits' and ckpt['epoch'] == 1
