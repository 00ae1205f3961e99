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
