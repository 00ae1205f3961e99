import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

# Two host devices so pmap/multi-device code paths run on a CPU-only machine.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from recovery_jax import compile_cache  # noqa: E402  (after XLA_FLAGS)

# Default corpus roots live in the user cache (recovery_jax.data.cache.user_cache_dir): tests, and the launchers
# they start, use the checkout's own instead of the user's home.
CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ["XDG_CACHE_HOME"] = os.path.join(CHECKOUT, ".test_cache")

# Many tests compile the same train step; share executables across tests, runs and the launches tests start
# (they read the variable, so a quick study in a fresh workdir reuses what the other tests compiled).
os.environ[compile_cache.CACHE_DIR_VARIABLE] = os.path.join(CHECKOUT, ".jax_cache")
compile_cache.enable(os.environ[compile_cache.CACHE_DIR_VARIABLE])


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """The package as a user gets it: (bin folder of a fresh venv holding only the wheel of this checkout, an empty
    working directory outside the checkout). Dependencies come from the test's own environment via a .pth file."""
    base = tmp_path_factory.mktemp("installed")
    cwd = base / "elsewhere"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = lambda *cmd: subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600,  # noqa: E731
                                      cwd=cwd, env=env)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(base / "wheels"),
        str(Path(__file__).resolve().parent.parent))
    run(sys.executable, "-m", "venv", str(base / "venv"))
    python = base / "venv" / "bin" / "python"
    run(str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", *map(str, (base / "wheels").glob("*.whl")))
    site = run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = run(str(python), "-c", "import recovery_jax, recovery_jax_configs; print(recovery_jax.__file__)").stdout
    assert where.startswith(site)  # the wheel's copy, not the checkout's
    return python.parent, cwd


def run_installed(installed: tuple[Path, Path], *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`recovery-jax *args` from the installed wheel, run in its working directory outside the checkout."""
    bin_dir, cwd = installed
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(bin_dir / "recovery-jax"), *args], cwd=cwd, env={**base, "JAX_PLATFORMS": "cpu",
                                                                              **(env or {})},
                          capture_output=True, text=True, timeout=1800)


def pytest_collection_modifyitems(config, items) -> None:
    """Slow end-to-end tests first: with `-n 2` the long ones then run side by side instead of ending the run
    on one worker while the other idles."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def default_emotion_corpus() -> list:
    """The default embedded emotion corpus, synthesised once into the tests' cache and shared by every test that
    needs it (configs/pretrain.py's corpus section points at the same folder and key)."""
    from configs.corpus import get_config
    from recovery_jax.data import synthesize_emotion_corpus
    from recovery_jax.data.cache import user_cache_dir

    return synthesize_emotion_corpus(user_cache_dir("embedded", "emotion"), get_config("default"))
