import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_attention_benchmark_quick_run_agrees_with_torch():
    out = subprocess.run([sys.executable, "-m", "benchmarks.attention_analysis", "--quick"], cwd=ROOT,
                         check=True, capture_output=True, text=True, timeout=600).stdout
    assert float(re.search(r"max \|ours - torch\| distance: (\S+)", out).group(1)) < 1e-6
    assert re.search(r"speed-up torch / ours: [\d.]+x", out)
    assert re.search(r"peak RSS ratio torch / ours: [\d.]+x", out)
    assert re.search(r"at equal FLOP rates the speed-up would be [\d.]+x", out)
