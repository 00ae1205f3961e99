"""Launchers run under tcmalloc when the machine has it: glibc's malloc costs XLA:CPU a fifth of its time.

XLA:CPU allocates and frees its step buffers from worker threads; glibc hands large blocks back to the kernel
and takes them again, page by page (the default study: 149 M minor page faults, 418 s of system time in 1085 s;
glibc's mmap/trim tunables do not stop it). Under tcmalloc one SER fine-tuning job (5 folds, 100 steps) took
96-104 s instead of 116-128 s, system time 7 s instead of 28 s, with the same results (2026-12-04).
The allocator changes no number: it only decides where buffers live.
"""

from __future__ import annotations

import ctypes.util
import os
import sys

OFF = "RECOVERY_JAX_MALLOC"  # =system: keep glibc's malloc
_LIBRARIES = ("tcmalloc_minimal", "tcmalloc")  # Debian/Ubuntu libtcmalloc-minimal4, Fedora gperftools-libs


def tcmalloc_library() -> str | None:
    """The soname of an installed tcmalloc (the dynamic loader finds it by name), or None."""
    return next((name for name in map(ctypes.util.find_library, _LIBRARIES) if name), None)


def reexec_under_tcmalloc() -> None:
    """Replace this process by the same command with tcmalloc preloaded, once; a no-op where it is already
    preloaded, unavailable, not Linux, or switched off with RECOVERY_JAX_MALLOC=system."""
    if (not sys.platform.startswith("linux") or os.environ.get(OFF) == "system"
            or "tcmalloc" in os.environ.get("LD_PRELOAD", "")):
        return
    library = tcmalloc_library()
    if library is None:
        return
    env = dict(os.environ, LD_PRELOAD=" ".join(filter(None, [library, os.environ.get("LD_PRELOAD", "")])),
               # tcmalloc's default reports each allocation over 1 GiB on stderr: noise in a training log
               TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD=os.environ.get("TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD",
                                                                  str(1 << 40)))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def in_use() -> str:
    """The allocator of this process: "tcmalloc" when it is mapped, else "glibc malloc" (what report.md says)."""
    try:
        with open("/proc/self/maps") as maps:
            return "tcmalloc" if "tcmalloc" in maps.read() else "glibc malloc"
    except OSError:
        return "the platform's malloc"
