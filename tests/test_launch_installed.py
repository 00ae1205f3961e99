"""The installed package, as a user gets it: a wheel of the checkout in a fresh virtual environment, run from
a directory outside the checkout (dependencies come from the test's own environment through a .pth file)."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(bin folder of a venv holding only the recovery-jax wheel, an empty working directory)."""
    base = tmp_path_factory.mktemp("installed")
    cwd = base / "elsewhere"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = lambda *cmd: subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600,  # noqa: E731
                                      cwd=cwd, env=env)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(base / "wheels"),
        str(ROOT))
    run(sys.executable, "-m", "venv", str(base / "venv"))
    python = base / "venv" / "bin" / "python"
    run(str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", *map(str, (base / "wheels").glob("*.whl")))
    site = run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = run(str(python), "-c", "import recovery_jax, recovery_jax_configs; print(recovery_jax.__file__)").stdout
    assert where.startswith(site)  # the wheel's copy, not the checkout's
    return python.parent, cwd


def _run(installed, *args: str) -> subprocess.CompletedProcess:
    bin_dir, cwd = installed
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(bin_dir / "recovery-jax"), *args], cwd=cwd, env={**env, "JAX_PLATFORMS": "cpu"},
                          capture_output=True, text=True, timeout=1800)


def test_installed_help_lists_flags_and_shipped_configs(installed):
    result = _run(installed, "train", "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    for flag in ("--config", "--workdir", "--[no]distributed", "--[no]verbose"):
        assert flag in result.stdout
    shipped = result.stdout.split("Shipped config files", 1)[1].split()
    assert {"ser.py", "ctc.py", "pretrain.py", "study_embedded.py", "study_real.py"} <= set(shipped)
    launchers = _run(installed, "--help").stdout
    assert all(name in launchers for name in ("train", "study", "compare", "determinism"))
    bad = _run(installed, "train", "--config", "ser.py:quick", "--workdir", "W", "--config.optim.lrr=1")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "close matches: lr" in bad.stderr


@pytest.mark.slow
def test_installed_quick_study_writes_its_report(installed, tmp_path):
    result = _run(installed, "study", "--config", "study_embedded.py:quick", "--workdir", str(tmp_path / "W"))
    assert result.returncode == 0, result.stderr[-3000:]
    report = (tmp_path / "W" / "results" / "report.md").read_text()
    assert "Table I" in report
