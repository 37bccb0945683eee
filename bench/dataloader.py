"""The data loader: samples per second through `DataLoader`, learntorch against PyTorch on the same data.

    python bench/dataloader.py [--rounds N]

Cases: a `TensorDataset` (indexing and collating dominate) and a transform-heavy image dataset (uint8 HWC
images -> float tensor, pad-and-random-crop, random flip, normalise per sample), each with `num_workers` 0 and 2.
One timed call is one epoch. torchvision is not installed (and must not be), so PyTorch's side of the image
dataset does the same steps with plain torch operations; learntorch's side uses `learntorch.vision.transforms`.
The harness prints time ratios (learntorch / PyTorch); the last line turns the median into a throughput ratio
(learntorch samples/s divided by PyTorch samples/s: above 1.0 means learntorch loads faster)."""
import statistics
import numpy as np
from _harness import Case, run

N_ROWS, N_IMAGES, BATCH = 4096, 512, 64
MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
rng = np.random.default_rng(0)
FEATURES = rng.standard_normal((N_ROWS, 32)).astype(np.float32)
LABELS = rng.integers(0, 10, N_ROWS)
IMAGES = rng.integers(0, 256, (N_IMAGES, 32, 32, 3), dtype=np.uint8)


def tensor_loader(num_workers):
    def setup(T):
        ds = T.utils.data.TensorDataset(T.from_numpy(FEATURES), T.from_numpy(LABELS))
        loader = T.utils.data.DataLoader(ds, batch_size=BATCH, shuffle=True, num_workers=num_workers)
        return lambda: [b for b in loader]
    return setup


def torch_augment(torch):
    "PyTorch's side: ToTensor, RandomCrop(32, padding=4), RandomHorizontalFlip, Normalize, as torch ops."
    F = torch.nn.functional
    mean, std = torch.tensor(MEAN).view(3, 1, 1), torch.tensor(STD).view(3, 1, 1)
    def augment(hwc):
        x = torch.from_numpy(hwc).permute(2, 0, 1).contiguous().float().div(255)
        x = F.pad(x, (4, 4, 4, 4))
        i, j = torch.randint(0, 9, (1,)).item(), torch.randint(0, 9, (1,)).item()
        x = x[:, i:i + 32, j:j + 32]
        if torch.rand(1).item() < 0.5: x = x.flip(-1)
        return (x - mean) / std
    return augment


def learntorch_augment(lt):
    "learntorch's side: the same pipeline from learntorch.vision.transforms."
    from learntorch.vision import transforms as T
    return T.Compose([T.ToTensor(), T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(),
                      T.Normalize(MEAN, STD)])


def image_loader(num_workers):
    def setup(T):
        augment = torch_augment(T) if T.__name__ == 'torch' else learntorch_augment(T)
        class Images(T.utils.data.Dataset):
            def __len__(self): return N_IMAGES
            def __getitem__(self, i): return augment(IMAGES[i]), int(i % 10)
        loader = T.utils.data.DataLoader(Images(), batch_size=BATCH, shuffle=True, num_workers=num_workers)
        return lambda: [b for b in loader]
    return setup


CASES = [Case(f'TensorDataset 4096x32, workers={w}', tensor_loader(w)) for w in (0, 2)] + \
        [Case(f'augmented 32x32 images, workers={w}', image_loader(w)) for w in (0, 2)]

if __name__ == '__main__':
    import argparse, sys
    results = run(CASES, 'DataLoader epochs (samples per second)')
    for r, n in zip(results, (N_ROWS, N_ROWS, N_IMAGES, N_IMAGES)):
        print(f'{r.name:36s} learntorch {n / r.learntorch_s:9.0f} samples/s   PyTorch {n / r.torch_s:9.0f} samples/s')
    overall = statistics.median(1 / r.ratio for r in results)
    print(f'throughput ratio learntorch / PyTorch (samples/s, median over {len(results)} cases): {overall:.2f}x')
