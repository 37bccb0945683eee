"""The shared timing harness of bench/: learntorch and PyTorch side by side in one process.

The machines are shared and noisy, so: both libraries are pinned to one thread (`torch.set_num_threads(1)`, and
threadpoolctl for numpy's BLAS); the two run interleaved, round by round (the one going first alternates); each
timing repeats the call enough times that it takes ~20 ms; a case's ratio is the median of its per-round ratios
(learntorch time / PyTorch time); differences under ~30% are noise. A workload is a list of `Case`s."""
import argparse, os, platform, statistics, sys, time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import learntorch from this checkout


@dataclass
class Case:
    "One timed workload: `setup(T)` gets the library module and returns a zero-argument function doing one step."
    name: str
    setup: Callable


@dataclass
class Result:
    name: str
    learntorch_s: float  # median seconds per call
    torch_s: float
    ratio: float         # median of the per-round ratios learntorch / torch


def pin_threads():
    "One thread for PyTorch and for numpy's BLAS; returns the threadpoolctl limiter (keep it alive)."
    import torch
    from threadpoolctl import threadpool_limits
    torch.set_num_threads(1)
    return threadpool_limits(limits=1)


def machine_line():
    "The CPU, numpy's BLAS and the library versions: figures from different machines can be told apart."
    import numpy, torch, learntorch
    from threadpoolctl import threadpool_info
    cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')),
               platform.processor() or platform.machine()) if os.path.exists('/proc/cpuinfo') else platform.machine()
    blas = next((f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture', '?')})"
                 for i in threadpool_info() if i.get('user_api') == 'blas'), 'unknown')
    return (f'machine: {cpu}, {os.cpu_count()} cores; numpy {numpy.__version__} with BLAS {blas}; '
            f'torch {torch.__version__}; learntorch {learntorch.__version__}; Python {platform.python_version()}')


def per_call(fn, n):
    "Seconds per call of `fn`, over `n` calls."
    t0 = time.perf_counter()
    for _ in range(n): fn()
    return (time.perf_counter() - t0) / n


def calibrate(fn, target_s):
    "How many calls of `fn` take about `target_s` seconds (also warms `fn` up)."
    n = 1
    while True:
        t = per_call(fn, n) * n
        if t >= target_s / 4: return max(1, round(n * target_s / t))
        n *= 4


def measure(case, rounds, target_s):
    "Time `case` in both libraries, interleaved round by round."
    import torch, learntorch
    fns = {'lt': case.setup(learntorch), 'th': case.setup(torch)}
    counts = {k: calibrate(f, target_s) for k, f in fns.items()}
    times = {'lt': [], 'th': []}
    for r in range(rounds):
        for k in (('lt', 'th') if r % 2 == 0 else ('th', 'lt')): times[k].append(per_call(fns[k], counts[k]))
    ratios = [a / b for a, b in zip(times['lt'], times['th'])]
    return Result(case.name, statistics.median(times['lt']), statistics.median(times['th']), statistics.median(ratios))


def run(cases, title, argv=None):
    "Measure every case, print one line per case and the overall median ratio last; returns the results."
    ap = argparse.ArgumentParser(description=title)
    ap.add_argument('--rounds', type=int, default=15, help='interleaved rounds per case')
    ap.add_argument('--target-ms', type=float, default=20, help='length of one timing (each library, each round)')
    args = ap.parse_args(argv)
    limiter = pin_threads()
    print(machine_line())
    print(f'{title}: {args.rounds} rounds, 1 thread each; times per call, ratio = learntorch / PyTorch (median of rounds)')
    print(f'{"case":36s} {"learntorch":>12s} {"PyTorch":>12s} {"ratio":>8s}')
    results = []
    for case in cases:
        res = measure(case, args.rounds, args.target_ms / 1000)
        results.append(res)
        print(f'{res.name:36s} {res.learntorch_s * 1e6:9.2f} µs {res.torch_s * 1e6:9.2f} µs {res.ratio:7.2f}x', flush=True)
    overall = statistics.median(r.ratio for r in results)
    print(f'median ratio learntorch / PyTorch over {len(results)} cases: {overall:.2f}x')
    del limiter
    return results
