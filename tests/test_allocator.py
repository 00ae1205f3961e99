"""The launchers' allocator: re-executed once under tcmalloc where the machine has it, glibc on request."""

import os
import subprocess
import sys

import pytest

from recovery_jax import allocator

# What a launcher does first (launch/cli.py `run`), then which allocator the process ended up with.
PROBE = ("import sys; from recovery_jax import allocator; allocator.reexec_under_tcmalloc(); "
         "print(allocator.in_use(), sys.argv[1:])")


def _probe(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", allocator.OFF)}
    out = subprocess.run([sys.executable, "-c", PROBE, "--flag=1", "x"], env={**clean, **env}, check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


@pytest.mark.skipif(allocator.tcmalloc_library() is None, reason="no tcmalloc on this machine")
def test_launcher_process_reexecutes_under_tcmalloc_with_its_arguments():
    assert _probe() == "tcmalloc ['--flag=1', 'x']"


def test_switch_keeps_glibc_malloc():
    assert _probe(**{allocator.OFF: "system"}) == "glibc malloc ['--flag=1', 'x']"
