"""Checkpoint save and load of a ~100 MB state dict (six 2048x2048 float32 weights and their biases) in learntorch
and PyTorch: `save(state, path)` and `load(path, weights_only=True)`, interleaved round by round, one thread each.

    python bench/checkpoint.py [--rounds N] [--dir DIR]   # times; last line: the median learntorch / PyTorch ratio

Where the files go matters. In a memory file system (`/dev/shm`, the default when it exists) the times are the
serialization itself. On a disk, learntorch's save also waits for `fsync` (its atomic, durable write: temporary
file, fsync, rename), which PyTorch's save does not do; the `disk` cases show that price separately. Loads read
from the page cache in both places.

Extra peak memory is measured in a fresh process per library and operation (VmHWM after /proc/self/clear_refs):
for save, the peak above the resident state; for load, the peak above the loaded result."""
import argparse, os, subprocess, sys, tempfile
import numpy as np
from _harness import Case, machine_line, measure, pin_threads

SHAPES = [(2048, 2048)] * 6 + [(2048,)] * 6


def numpy_state():
    rng = np.random.default_rng(0)
    return {f'layer{i}.{"weight" if len(s) == 2 else "bias"}': rng.standard_normal(s, dtype=np.float32)
            for i, s in enumerate(SHAPES)}


def state_of(T):
    "The state dict as library `T`'s tensors (each its own copy)."
    return {k: T.from_numpy(v.copy()) for k, v in numpy_state().items()}


STATE_MB = sum(v.nbytes for v in numpy_state().values()) / 2**20


def save_case(folder):
    def setup(T):
        state, path = state_of(T), os.path.join(folder, f'{T.__name__}_save.pt')
        return lambda: T.save(state, path)
    return setup


def load_case(folder):
    def setup(T):
        path = os.path.join(folder, f'{T.__name__}_load.pt')
        T.save(state_of(T), path)
        return lambda: T.load(path, weights_only=True)
    return setup


def _status(field):
    return int(next(l for l in open('/proc/self/status') if l.startswith(field)).split()[1]) / 1024


def _reset_peak():
    "Make VmHWM (this process's peak RSS) start again from the current RSS (Linux 4.0 and later)."
    with open('/proc/self/clear_refs', 'w') as f: f.write('5')


def extra_peak(lib, op, folder):
    "Run one save or load of library `lib` in this fresh process; print the extra peak MiB."
    T = __import__(lib)
    if lib == 'torch': T.set_num_threads(1)
    path = os.path.join(folder, f'{lib}_mem.pt')
    if op == 'save':
        state = state_of(T)
        _reset_peak(); before = _status('VmRSS:')
        T.save(state, path)
        print(_status('VmHWM:') - before)
    else:
        T.save(state_of(T), path)
        _reset_peak(); before = _status('VmRSS:')
        result = T.load(path, weights_only=True)   # held while the peak is read
        print(_status('VmHWM:') - _status('VmRSS:'), _status('VmRSS:') - before)


def memory(folder):
    print(f'extra peak memory, fresh process each (state {STATE_MB:.0f} MiB; target: at most the state):')
    for op in ('save', 'load'):
        mib = {}
        for lib in ('learntorch', 'torch'):
            out = subprocess.run([sys.executable, __file__, '--peak-of', lib, op, '--dir', folder],
                                 capture_output=True, text=True, check=True)
            mib[lib] = float(out.stdout.split()[0])
        what = 'above the state' if op == 'save' else 'above the loaded result'
        print(f'  {op}: learntorch {mib["learntorch"]:.0f} MiB, PyTorch {mib["torch"]:.0f} MiB {what}; '
              f'learntorch within target: {mib["learntorch"] <= STATE_MB}')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--rounds', type=int, default=9)
    ap.add_argument('--dir', default='/dev/shm' if os.path.isdir('/dev/shm') else None,
                    help='where the memory-file-system cases write (default /dev/shm)')
    ap.add_argument('--no-disk', action='store_true', help='skip the disk cases')
    ap.add_argument('--peak-of', nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.peak_of: return extra_peak(*a.peak_of, a.dir)
    shm = tempfile.mkdtemp(dir=a.dir)
    disk = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(__file__)))
    limiter = pin_threads()
    print(machine_line())
    print(f'checkpoint of a {STATE_MB:.0f} MiB state dict ({len(SHAPES)} tensors), {a.rounds} rounds; '
          'ratio = learntorch / PyTorch (median of rounds)')
    cases = [Case(f'save ({a.dir})', save_case(shm)), Case(f'load ({a.dir})', load_case(shm))]
    if not a.no_disk:
        cases += [Case('save (disk, learntorch fsyncs)', save_case(disk)), Case('load (disk)', load_case(disk))]
    results = []
    try:
        for case in cases:
            r = measure(case, a.rounds, 0.02)
            results.append(r)
            print(f'{r.name:34s} learntorch {r.learntorch_s * 1e3:8.1f} ms  PyTorch {r.torch_s * 1e3:8.1f} ms  '
                  f'{r.ratio:5.2f}x', flush=True)
        memory(shm)
    finally:
        for folder in (shm, disk):
            for f in os.listdir(folder): os.unlink(os.path.join(folder, f))
            os.rmdir(folder)
    fs = [r for r in results if 'disk' not in r.name]
    print(f'save ratio learntorch / PyTorch ({a.dir}): {fs[0].ratio:.2f}x')
    print(f'load ratio learntorch / PyTorch ({a.dir}): {fs[1].ratio:.2f}x')
    del limiter


if __name__ == '__main__':
    main()
