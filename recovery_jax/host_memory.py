"""Host allocator settings for long CPU runs: freed memory stays in the process for the next step to reuse.

XLA:CPU allocates each execution's buffers afresh (some hundreds of MB for a study train step). With glibc's
defaults these large blocks are mmapped and unmapped every step, so the kernel zero-fills every page again:
measured on the embedded study's SER step (5 runs x 8 clips, 2 cores), ~58k page faults and 0.19 CPU-s of
system time per step, a step of 0.35 s; with one arena, no mmap and no trimming, 0.22-0.25 s and a tenth of
the faults. Results are bit-identical (only where the bytes live changes); the cost is that the process keeps
its peak heap until it exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8


def keep_freed_memory() -> bool:
    """Tunes glibc malloc as the module doc says. Call it before importing JAX: threads started earlier keep
    arenas of their own (called after `import launch.study`, a SER job took 75 s, as untuned). False where
    the C library is not glibc (nothing changes there)."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    return all(mallopt(param, value) == 1 for param, value in ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0),
                                                               (_M_TRIM_THRESHOLD, 2**31 - 1)))
