"""keep_freed_memory: a freed large block is reused without page-faulting it in again (glibc hosts)."""

import subprocess
import sys

import pytest

_PROBE = """
import resource, sys
import numpy as np
if sys.argv[1] == "tuned":
    from recovery_jax.host_memory import keep_freed_memory
    assert keep_freed_memory()
def touch():  # 256 MB, the size class of a study train step's buffers
    a = np.empty(64 << 20, np.float32); a[::1024] = 1.0; del a
touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    touch()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_blocks_are_reused_without_page_faults():
    default, tuned = _faults("default"), _faults("tuned")
    # glibc's default unmaps the block, so every reuse faults it in again: one fault per page, or per 2 MB
    # where transparent huge pages back it (3 x 128 then)
    assert default >= 3 * 128
    assert tuned < default // 20
