"""Shared measuring tools: median wall time, matmul peak, peak memory of a child process."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Callable

import numpy as np


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Achievable float32 matmul rate of this machine right now (numpy/BLAS)."""
    a = np.random.RandomState(0).randn(n, n).astype(np.float32)
    seconds = median_seconds(lambda: a @ a, repeats)
    return 2 * n ** 3 / seconds / 1e9


def peak_rss_mib() -> float:
    # VmHWM, not getrusage: ru_maxrss survives fork+exec and would report the parent's peak.
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(module: str, side: str, args: list[str]) -> dict:
    """Runs `python -m module --side side ...` and returns the JSON it prints last.

    Each side runs in its own process so that its peak RSS is its own.
    """
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-m", module, "--side", side, *args], check=True,
                         capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def side_by_side(module: str, build: Callable, make_checkpoint: Callable, gflop_per_utterance: float, title: str,
                 argv: list[str] | None = None, options: dict[str, tuple[str, str]] | None = None) -> None:
    """The shared main of the JAX-vs-PyTorch benchmarks.

    `build(side, folder, batch, samples, **choices)` returns a zero-argument run of one side, `choices` being
    the string flags `options` declares ({name: (default, help)}); `gflop_per_utterance` is
    the work of one 4 s utterance. Times alternate the sides in
    this process (medians, best of two rounds); each side's peak RSS is measured alone in a child process.
    """
    import argparse
    import tempfile

    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--side", choices=["jax", "torch"], help="child mode: measure one side's memory")
    parser.add_argument("--folder")
    for name, (default, help_) in (options or {}).items():
        parser.add_argument(f"--{name}", default=default, help=help_)
    args = parser.parse_args(argv)
    choices = {name: getattr(args, name) for name in options or {}}
    samples = int(args.seconds * 16000)
    if args.side:
        baseline = peak_rss_mib()
        run = build(args.side, args.folder, args.batch, samples, **choices)
        run()
        run()
        print(json.dumps({"peak_rss_mib": peak_rss_mib(), "before_mib": baseline}))
        return

    with tempfile.TemporaryDirectory() as folder:
        make_checkpoint(folder)
        runs = {side: build(side, folder, args.batch, samples, **choices) for side in ("jax", "torch")}
        runs["jax"]()  # compile
        peak = matmul_peak_gflops()
        times = {side: float("inf") for side in runs}
        for _ in range(2):  # alternate sides so a noisy neighbour hits both
            for side, run in runs.items():
                times[side] = min(times[side], median_seconds(run, args.repeats))
        memory = {side: run_child(module, side, ["--folder", folder, "--batch", str(args.batch),
                                                 "--seconds", str(args.seconds),
                                                 *(f"--{k}={v}" for k, v in choices.items())]) for side in runs}
    total = gflop_per_utterance * args.batch * args.seconds / 4.0  # linear in duration: approximate
    title += "".join(f", {k}={v}" for k, v in choices.items())
    print(f"{title}, batch {args.batch} x {args.seconds:g} s, about {total:.0f} GFLOP; matmul peak {peak:.0f} GFLOP/s")
    for side, t in times.items():
        print(f"  {side:5s} median {t * 1e3:8.1f} ms  {total / t:6.1f} GFLOP/s ({100 * total / t / peak:4.1f}% of "
              f"peak)  peak RSS {memory[side]['peak_rss_mib']:.0f} MiB (after imports {memory[side]['before_mib']:.0f} MiB)")
    print(f"ratio JAX/PyTorch: {times['jax'] / times['torch']:.3f}")
