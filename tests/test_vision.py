"""learntorch.vision: the IDX reader on files written here (raw, gzip, truncated, corrupted), MNIST/FashionMNIST
from such files and through the download path (a local HTTP server on 127.0.0.1: no internet), Digits, transforms
against expected arrays (and PyTorch's arithmetic where torchvision would use it), read_image, ImageFolder on a
temporary folder of PNGs, FakeData, and the torchvision-style import paths."""
import functools, gzip, hashlib, http.server, os, struct, subprocess, sys, threading
import numpy as np
import pytest
from PIL import Image
import learntorch as lt
from learntorch import vision
from learntorch.vision import datasets, transforms as T, io as vio
from learntorch.utils.data import DataLoader


# ------------------------------------------------------------------------------------------------ IDX files
def idx_bytes(arr):
    codes = {np.dtype('u1'): 8, np.dtype('i1'): 9, np.dtype('>i2'): 11, np.dtype('>i4'): 12,
             np.dtype('>f4'): 13, np.dtype('>f8'): 14}
    arr = np.ascontiguousarray(arr)
    return struct.pack('>BBBB', 0, 0, codes[arr.dtype], arr.ndim) + struct.pack(f'>{arr.ndim}I', *arr.shape) + \
        arr.tobytes()


def write(path, data, gz=False):
    with (gzip.open if gz else open)(path, 'wb') as f: f.write(data)
    return str(path)


@pytest.mark.parametrize('dtype', ['u1', 'i1', '>i2', '>i4', '>f4', '>f8'])
@pytest.mark.parametrize('gz', [False, True])
def test_read_idx_round_trip(tmp_path, dtype, gz):
    arr = (np.arange(2 * 3 * 5).reshape(2, 3, 5) - 7).astype(dtype) if dtype != 'u1' else \
        np.arange(30, dtype='u1').reshape(2, 3, 5)
    got = vision.read_idx(write(tmp_path / ('f.gz' if gz else 'f'), idx_bytes(arr), gz))
    np.testing.assert_array_equal(got, arr)
    assert got.dtype == arr.dtype.newbyteorder('=') and got.flags.writeable


def test_read_idx_errors_name_the_file_and_the_problem(tmp_path):
    good = idx_bytes(np.zeros((4, 28, 28), 'u1'))
    cases = {'truncated': (good[:-1], 'wrong size'), 'longer': (good + b'\0', 'wrong size'),
             'header-cut': (good[:9], 'wrong size'), 'empty': (b'', 'bad magic number'),
             'magic': (b'\x1f\x8b' + good[2:], 'bad magic number 0x1f8b'),
             'type': (good[:2] + b'\x07' + good[3:], 'bad magic number 0x00000703')}
    for name, (content, problem) in cases.items():
        path = write(tmp_path / name, content)
        with pytest.raises(ValueError, match=problem) as info: vision.read_idx(path)
        assert path in str(info.value)
    whole = gzip.compress(good)
    for name, content in (('cut.gz', whole[:len(whole) // 2]), ('junk.gz', b'not gzip at all')):
        path = write(tmp_path / name, content)
        with pytest.raises(ValueError, match='gzip archive is truncated or corrupted') as info: vision.read_idx(path)
        assert path in str(info.value)


# ------------------------------------------------------------------------------------------- MNIST family
def make_mnist(root, name='FashionMNIST', n=(30, 10), gz=False):
    raw = os.path.join(root, name, 'raw'); os.makedirs(raw, exist_ok=True)
    rng = np.random.default_rng(1)
    files = {}
    for prefix, count in zip(('train', 't10k'), n):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = (np.arange(count) % 10).astype(np.uint8)
        for kind, arr in (('images-idx3', images), ('labels-idx1', labels)):
            fname = f'{prefix}-{kind}-ubyte'
            files[fname] = arr
            write(os.path.join(raw, fname + ('.gz' if gz else '')), idx_bytes(arr), gz)
    return files


@pytest.mark.parametrize('cls', [datasets.MNIST, datasets.FashionMNIST])
@pytest.mark.parametrize('gz', [False, True])
def test_mnist_reads_idx_files(tmp_path, cls, gz):
    files = make_mnist(tmp_path, cls.__name__, gz=gz)
    train, test = cls(str(tmp_path), train=True), cls(str(tmp_path), train=False, transform=T.ToTensor(),
                                                       target_transform=lambda y: y + 100)
    assert (len(train), len(test)) == (30, 10)
    np.testing.assert_array_equal(train.data.numpy(), files['train-images-idx3-ubyte'])
    assert train.targets.dtype == lt.int64 and train.targets.tolist() == files['train-labels-idx1-ubyte'].tolist()
    img, label = train[3]
    assert isinstance(img, Image.Image) and img.mode == 'L' and isinstance(label, int) and label == 3
    x, y = test[4]
    assert x.shape == (1, 28, 28) and x.dtype == lt.float32 and y == 104
    np.testing.assert_array_equal(x.numpy()[0], files['t10k-images-idx3-ubyte'][4].astype(np.float32) / 255)
    assert train.class_to_idx[train.classes[2]] == 2 and 'Split: Train' in repr(train)
    xb, yb = next(iter(DataLoader(test, batch_size=4)))
    assert xb.shape == (4, 1, 28, 28) and yb.tolist() == [100, 101, 102, 103]


def test_mnist_missing_files_error_names_files_and_folder(tmp_path):
    with pytest.raises(RuntimeError) as info: datasets.MNIST(str(tmp_path))
    msg = str(info.value)
    assert 'train-images-idx3-ubyte' in msg and 'train-labels-idx1-ubyte' in msg
    assert os.path.join(str(tmp_path), 'MNIST', 'raw') in msg and 'download=True' in msg


def test_mnist_inconsistent_files(tmp_path):
    make_mnist(tmp_path, 'MNIST')
    raw = tmp_path / 'MNIST' / 'raw'
    write(raw / 'train-labels-idx1-ubyte', idx_bytes(np.zeros(29, 'u1')))
    with pytest.raises(ValueError, match='holds 30 images but .* holds 29 labels'): datasets.MNIST(str(tmp_path))
    write(raw / 'train-images-idx3-ubyte', idx_bytes(np.zeros(29, 'u1')))
    with pytest.raises(ValueError, match=r'expected images \(3 dimensions\)'): datasets.MNIST(str(tmp_path))


@pytest.fixture
def file_server(tmp_path):
    "A directory served over HTTP on 127.0.0.1; yields (directory, base url)."
    served = tmp_path / 'served'; served.mkdir()
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args): pass
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True); thread.start()
    yield served, f'http://127.0.0.1:{httpd.server_address[1]}/'
    httpd.shutdown(); httpd.server_close()


def serve_fake_mnist(served):
    "gzipped IDX files in `served`, and torchvision-style resources (file name, MD5) for them."
    resources, arrays = [], {}
    rng = np.random.default_rng(2)
    for prefix, n in (('train', 12), ('t10k', 6)):
        for kind, arr in (('images-idx3', rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
                          ('labels-idx1', (np.arange(n) % 10).astype(np.uint8))):
            name = f'{prefix}-{kind}-ubyte.gz'
            data = gzip.compress(idx_bytes(arr))
            (served / name).write_bytes(data)
            resources.append((name, hashlib.md5(data).hexdigest())); arrays[name] = arr
    return resources, arrays


def test_download_from_a_local_mirror_with_checksums(tmp_path, file_server, monkeypatch):
    served, url = file_server
    resources, arrays = serve_fake_mnist(served)
    monkeypatch.setattr(datasets.FashionMNIST, 'mirrors', ['http://127.0.0.1:9/', url])   # first mirror is dead
    monkeypatch.setattr(datasets.FashionMNIST, 'resources', resources)
    root = tmp_path / 'data'
    ds = datasets.FashionMNIST(str(root), train=True, download=True)
    assert len(ds) == 12
    np.testing.assert_array_equal(ds.data.numpy(), arrays['train-images-idx3-ubyte.gz'])
    assert sorted(os.listdir(root / 'FashionMNIST' / 'raw')) == sorted(name for name, _ in resources)
    (served / 'train-images-idx3-ubyte.gz').unlink()              # present files are not fetched again
    assert len(datasets.FashionMNIST(str(root), train=False, download=True)) == 6


def test_download_rejects_a_bad_checksum_and_keeps_nothing(tmp_path, file_server, monkeypatch):
    served, url = file_server
    resources, _ = serve_fake_mnist(served)
    resources[0] = (resources[0][0], '0' * 32)
    monkeypatch.setattr(datasets.MNIST, 'mirrors', [url])
    monkeypatch.setattr(datasets.MNIST, 'resources', resources)
    with pytest.raises(RuntimeError) as info: datasets.MNIST(str(tmp_path), download=True)
    msg = str(info.value)
    assert 'checksum mismatch' in msg and 'train-images-idx3-ubyte.gz' in msg
    assert os.path.join(str(tmp_path), 'MNIST', 'raw') in msg
    assert not any(n.startswith('train-images') for n in os.listdir(tmp_path / 'MNIST' / 'raw'))


def test_download_offline_names_the_missing_file_and_where_to_put_it(tmp_path, monkeypatch):
    import urllib.error
    def offline(*args, **kwargs): raise urllib.error.URLError('no network')
    monkeypatch.setattr(vision, '_urlopen', offline)
    with pytest.raises(RuntimeError) as info: datasets.FashionMNIST(str(tmp_path), download=True)
    msg = str(info.value)
    assert 'Could not download train-images-idx3-ubyte.gz' in msg and 'no network' in msg
    assert os.path.join(str(tmp_path), 'FashionMNIST', 'raw') in msg and 'by hand' in msg


# ------------------------------------------------------------------------------------------------- Digits
def test_digits_offline_default():
    from sklearn.datasets import load_digits
    train, test = datasets.Digits(), datasets.Digits(train=False, transform=T.ToTensor())
    assert (len(train), len(test)) == (1437, 360)
    bunch = load_digits()
    pixels = np.rint(bunch.images * (255 / 16)).astype(np.uint8)
    both = np.concatenate([train.data.numpy(), test.data.numpy()])
    assert sorted(map(bytes, both)) == sorted(map(bytes, pixels))          # a split of all 1797, no overlap
    assert datasets.Digits().targets.tolist() == train.targets.tolist()    # deterministic
    img, label = train[0]
    assert isinstance(img, Image.Image) and img.size == (8, 8) and 0 <= label <= 9
    x, _ = test[0]
    assert x.shape == (1, 8, 8) and float(x.max()) <= 1


# --------------------------------------------------------------------------------------------- transforms
def test_to_tensor_against_expected_arrays():
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(0)
    hwc = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    want = torch.from_numpy(hwc).permute(2, 0, 1).float().div(255).numpy()     # torchvision's arithmetic
    for pic in (hwc, Image.fromarray(hwc)):
        got = T.ToTensor()(pic)
        assert got.dtype == lt.float32 and np.array_equal(got.numpy(), want)
    gray = rng.integers(0, 256, (4, 6), dtype=np.uint8)
    assert np.array_equal(T.ToTensor()(Image.fromarray(gray)).numpy(), (gray / np.float32(255))[None])
    bits = Image.fromarray(np.array([[0, 255]], dtype=np.uint8)).convert('1')
    assert T.ToTensor()(bits).tolist() == [[[0.0, 1.0]]]
    floats = rng.standard_normal((2, 2, 1))
    assert T.ToTensor()(floats).dtype == lt.float64 and np.array_equal(T.ToTensor()(floats).numpy(), floats.transpose(2, 0, 1))
    assert T.PILToTensor()(Image.fromarray(hwc)).dtype == lt.uint8
    sixteen = Image.fromarray(np.array([[1, 40000]], dtype=np.uint16))          # mode I;16: int16, as torchvision
    assert T.ToTensor()(sixteen).dtype == lt.int16 and T.ToTensor()(sixteen).tolist() == [[[1, 40000 - 65536]]]
    assert np.array_equal(T.PILToTensor()(Image.fromarray(hwc)).numpy(), hwc.transpose(2, 0, 1))
    with pytest.raises(TypeError, match='pic should be PIL Image or ndarray'): T.ToTensor()(lt.zeros(1, 2, 2))
    with pytest.raises(ValueError, match='pic should be 2/3 dimensional'): T.ToTensor()(np.zeros((1, 1, 1, 1)))


def test_normalize_matches_torch_arithmetic():
    torch = pytest.importorskip('torch')
    x = np.random.default_rng(1).random((3, 4, 5), dtype=np.float32)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    want = ((torch.from_numpy(x) - torch.tensor(mean).view(-1, 1, 1)) / torch.tensor(std).view(-1, 1, 1)).numpy()
    assert np.array_equal(T.Normalize(mean, std)(lt.from_numpy(x)).numpy(), want)
    batch = lt.from_numpy(np.stack([x, x]))
    assert np.array_equal(T.Normalize(mean, std)(batch).numpy()[1], want)
    y = lt.from_numpy(x.copy())
    assert T.Normalize(mean, std, inplace=True)(y) is y and np.array_equal(y.numpy(), want)
    g = lt.from_numpy(x.copy()).requires_grad_()
    T.Normalize(mean, std)(g).sum().backward()
    np.testing.assert_allclose(g.grad.numpy(), np.broadcast_to((1 / np.float32(std))[:, None, None], x.shape), rtol=1e-6)
    with pytest.raises(ValueError, match='std evaluated to zero'): T.Normalize([0.], [0.])(lt.ones(1, 2, 2))
    with pytest.raises(TypeError, match='Input tensor should be a float tensor'): T.Normalize([0], [1])(lt.ones(1, 2, 2, dtype=lt.uint8))
    with pytest.raises(ValueError, match=r'Expected tensor to be a tensor image of size \(\.\.\., C, H, W\)'):
        T.Normalize([0], [1])(lt.ones(2, 2))


def test_convert_image_dtype():
    u8 = lt.tensor([[[0, 1, 127, 128, 255]]], dtype=lt.uint8)
    np.testing.assert_array_equal(T.ConvertImageDtype(lt.float32)(u8).numpy(), u8.numpy().astype(np.float32) / 255)
    f = lt.tensor([[[0.0, 0.001, 0.5, 0.999, 1.0]]])
    assert T.ConvertImageDtype(lt.uint8)(f).tolist() == [[[0, 0, 127, 255, 255]]]
    assert T.ConvertImageDtype(lt.int16)(u8).tolist() == [[[0, 128, 127 * 128, 128 * 128, 255 * 128]]]
    assert T.ConvertImageDtype(lt.uint8)(lt.tensor([[[0, 256, 32767]]], dtype=lt.int16)).tolist() == [[[0, 2, 255]]]
    assert T.ConvertImageDtype(lt.float64)(f).dtype == lt.float64
    with pytest.raises(RuntimeError, match='cannot be performed safely'): T.ConvertImageDtype(lt.int64)(f)


def test_crops_flips_and_gray_against_expected_arrays():
    img = np.arange(2 * 5 * 6, dtype=np.uint8).reshape(2, 5, 6)
    t = lt.from_numpy(img)
    assert np.array_equal(T.CenterCrop(3)(t).numpy(), img[:, 1:4, 2:5])            # round(1.0)=1, round(1.5)=2
    assert np.array_equal(T.CenterCrop((2, 4))(t).numpy(), img[:, 2:4, 1:5])       # round(1.5)=2, round(1.0)=1
    padded = T.CenterCrop((7, 8))(t).numpy()
    assert padded.shape == (2, 7, 8) and np.array_equal(padded[:, 1:6, 1:7], img) and padded[:, 0].sum() == 0
    pil = Image.fromarray(img[0])
    assert np.array_equal(np.array(T.CenterCrop(3)(pil)), img[0, 1:4, 2:5])
    lt.manual_seed(0)
    crop = T.RandomCrop(4, padding=1)(t).numpy()
    big = np.pad(img, ((0, 0), (1, 1), (1, 1)))
    assert any(np.array_equal(crop, big[:, i:i + 4, j:j + 4]) for i in range(4) for j in range(5))
    lt.manual_seed(3); a = T.RandomCrop(3)(t).numpy()
    lt.manual_seed(3); b = T.RandomCrop(3)(t).numpy()
    assert np.array_equal(a, b)                                                    # the global generator decides
    for mode in ('edge', 'reflect', 'symmetric'):
        out = T.RandomCrop((9, 10), padding=2, padding_mode=mode)(t).numpy()
        assert np.array_equal(out, np.pad(img, ((0, 0), (2, 2), (2, 2)), mode=mode))
    assert T.RandomCrop(8, pad_if_needed=True)(t).shape == (2, 8, 8)
    with pytest.raises(ValueError, match='is larger than input image size'): T.RandomCrop(8)(t)
    assert np.array_equal(T.RandomHorizontalFlip(1.0)(t).numpy(), img[:, :, ::-1])
    assert T.RandomHorizontalFlip(0.0)(t) is t
    assert np.array_equal(np.array(T.RandomHorizontalFlip(1.0)(pil)), img[0, :, ::-1])
    rgb = np.random.default_rng(3).integers(0, 256, (3, 4, 4), dtype=np.uint8)
    mix = (np.float32(0.2989) * rgb[0] + np.float32(0.587) * rgb[1] + np.float32(0.114) * rgb[2]).astype(np.uint8)
    assert np.array_equal(T.Grayscale()(lt.from_numpy(rgb)).numpy(), mix[None])
    assert np.array_equal(T.Grayscale(3)(lt.from_numpy(rgb)).numpy(), np.stack([mix] * 3))
    rgb_pil = Image.fromarray(rgb.transpose(1, 2, 0))
    assert np.array_equal(np.array(T.Grayscale()(rgb_pil)), np.array(rgb_pil.convert('L')))
    assert T.Grayscale(3)(rgb_pil).mode == 'RGB'


def test_resize():
    pic = Image.fromarray(np.random.default_rng(4).integers(0, 256, (30, 40, 3), dtype=np.uint8))
    assert T.Resize(15)(pic).size == (20, 15) and T.Resize((10, 12))(pic).size == (12, 10)
    assert T.Resize(15, max_size=18)(pic).size == (18, 13)
    assert np.array_equal(np.array(T.Resize(15)(pic)), np.array(pic.resize((20, 15), Image.Resampling.BILINEAR)))
    t = T.PILToTensor()(pic)
    got = T.Resize(15)(t)
    assert got.shape == (3, 15, 20) and got.dtype == lt.uint8
    want = np.stack([np.array(Image.fromarray(c).resize((20, 15), Image.Resampling.BILINEAR)) for c in t.numpy()])
    assert np.array_equal(got.numpy(), want)
    np.testing.assert_allclose(T.Resize(4)(lt.full((2, 3, 8, 8), 0.25)).numpy(), 0.25, rtol=1e-6)
    near = T.Resize((2, 2), interpolation=T.InterpolationMode.NEAREST)(lt.arange(16.).reshape(1, 4, 4))
    assert near.shape == (1, 2, 2)
    with pytest.raises(ValueError, match='must be strictly greater'): T.Resize(15, max_size=15)(pic)
    with pytest.raises(NotImplementedError, match='antialias=False'): T.Resize(4, antialias=False)(t)


def test_compose_lambda_and_reprs():
    pipeline = T.Compose([T.ToTensor(), T.Normalize([0.5], [0.5]), T.Lambda(lambda x: x * 2)])
    out = pipeline(np.full((2, 2), 255, dtype=np.uint8))
    assert out.tolist() == [[[2.0, 2.0], [2.0, 2.0]]]
    assert repr(pipeline) == 'Compose(\n    ToTensor()\n    Normalize(mean=[0.5], std=[0.5])\n    Lambda()\n)'
    with pytest.raises(TypeError, match="Argument lambd should be callable, got 'int'"): T.Lambda(3)
    assert repr(T.CenterCrop(3)) == 'CenterCrop(size=(3, 3))'


def test_one_hot_target_transform_of_the_quickstart():
    onehot = T.Lambda(lambda y: lt.eye(10)[y])
    ds = datasets.Digits(transform=T.ToTensor(), target_transform=onehot)
    x, y = ds[0]
    assert y.shape == (10,) and y.sum().item() == 1 and y.argmax().item() == datasets.Digits()[0][1]


# ----------------------------------------------------------------------------------- files and folders
def test_read_image(tmp_path):
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / 'rgb.png')
    Image.fromarray(rgb[:, :, 0]).save(tmp_path / 'gray.png')
    Image.fromarray(np.dstack([rgb, rgb[:, :, :1]])).save(tmp_path / 'rgba.png')
    Image.fromarray(rgb).convert('P').save(tmp_path / 'palette.png')
    x = vio.read_image(str(tmp_path / 'rgb.png'))
    assert x.dtype == lt.uint8 and np.array_equal(x.numpy(), rgb.transpose(2, 0, 1))
    assert vio.read_image(str(tmp_path / 'gray.png')).shape == (1, 6, 5)
    assert vio.read_image(str(tmp_path / 'rgba.png')).shape == (4, 6, 5)
    assert vio.read_image(str(tmp_path / 'palette.png')).shape == (3, 6, 5)
    gray = vio.read_image(str(tmp_path / 'rgb.png'), vio.ImageReadMode.GRAY)
    assert np.array_equal(gray.numpy()[0], np.array(Image.fromarray(rgb).convert('L')))
    assert vio.read_image(str(tmp_path / 'gray.png'), vio.ImageReadMode.RGB).shape == (3, 6, 5)


def make_folder(root, classes=('dog', 'cat', 'ant'), n=3):
    rng = np.random.default_rng(6)
    for c in classes:
        os.makedirs(root / c / 'sub')
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(root / c / f'{i}.png')
        Image.fromarray(np.zeros((10, 12), np.uint8)).save(root / c / 'sub' / 'deep.PNG')
        (root / c / 'notes.txt').write_text('not an image')
    return root


def test_image_folder(tmp_path):
    root = make_folder(tmp_path / 'train')
    ds = datasets.ImageFolder(str(root), transform=T.ToTensor())
    assert ds.classes == ['ant', 'cat', 'dog'] and ds.class_to_idx == {'ant': 0, 'cat': 1, 'dog': 2}
    assert len(ds) == 12 and ds.targets == [0] * 4 + [1] * 4 + [2] * 4
    assert [os.path.relpath(p, root) for p, _ in ds.samples[:4]] == ['ant/0.png', 'ant/1.png', 'ant/2.png',
                                                                     'ant/sub/deep.PNG']
    assert ds.imgs == ds.samples
    x, y = ds[3]
    assert x.shape == (3, 10, 12) and y == 0                     # the gray PNG is loaded as RGB
    xb, yb = next(iter(DataLoader(ds, batch_size=12, num_workers=2)))
    assert xb.shape == (12, 3, 10, 12) and yb.tolist() == ds.targets
    only0 = datasets.ImageFolder(str(root), is_valid_file=lambda p: p.endswith('0.png'))
    assert len(only0) == 3
    sizes = datasets.ImageFolder(str(root), loader=lambda p: Image.open(p).size)
    assert sizes[0][0] == (12, 10)
    txt = datasets.DatasetFolder(str(root), loader=lambda p: open(p).read(), extensions=('.txt',))
    assert len(txt) == 3 and txt[0] == ('not an image', 0)
    (root / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='Found no valid file for the classes empty'):
        datasets.ImageFolder(str(root))
    assert len(datasets.ImageFolder(str(root), allow_empty=True).classes) == 4
    with pytest.raises(FileNotFoundError, match="Couldn't find any class folder"):
        datasets.ImageFolder(str(root / 'ant' / 'sub'))
    with pytest.raises(ValueError, match='Both extensions and is_valid_file'):
        datasets.DatasetFolder(str(root), loader=open, extensions=('.txt',), is_valid_file=bool)


def test_fake_data():
    ds = datasets.FakeData(size=5, image_size=(3, 16, 12), num_classes=4, transform=T.ToTensor())
    x, y = ds[2]
    assert x.shape == (3, 16, 12) and 0 <= y < 4 and len(ds) == 5
    assert np.array_equal(ds[2][0].numpy(), x.numpy())
    assert not np.array_equal(ds[1][0].numpy(), x.numpy())
    assert datasets.FakeData(size=2, image_size=(1, 4, 4))[0][0].mode == 'L'
    with pytest.raises(IndexError, match='FakeData index out of range'): ds[5]


def test_dataset_repr():
    ds = datasets.Digits(root='somewhere', transform=T.Compose([T.ToTensor(), T.Normalize([0.5], [0.5])]))
    assert repr(ds) == ('Dataset Digits\n    Number of datapoints: 1437\n    Root location: somewhere\n'
                        '    Split: Train\n    StandardTransform\n    Transform: Compose(\n'
                        '                   ToTensor()\n                   Normalize(mean=[0.5], std=[0.5])\n'
                        '               )')


def test_torchvision_style_imports_in_a_fresh_process():
    code = ('import learntorch.vision.transforms as T, learntorch.vision.datasets as D, learntorch.vision.io as I\n'
            'from learntorch.vision.transforms import ToTensor\n'
            'from learntorch.vision import datasets, transforms\n'
            'assert T.ToTensor is ToTensor and D.MNIST is datasets.MNIST and I.read_image\n'
            'import learntorch as torch\n'
            'assert torch.utils.data.DataLoader is __import__("learntorch.utils.data").utils.data.DataLoader\n'
            'print("ok")')
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=root,
                         env={**os.environ, 'PYTHONPATH': root}, timeout=120)
    assert out.stdout.strip() == 'ok', out.stderr
