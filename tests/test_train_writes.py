"""A quick training run started from a clean copy of the checkout writes only into its workdir and the user cache."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from recovery_jax import compile_cache
from recovery_jax.data.cache import user_cache_dir

ROOT = Path(__file__).resolve().parents[1]


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_user_cache_dir_follows_xdg_and_ignores_relative_values(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert user_cache_dir("embedded") == str(tmp_path / "recovery-jax" / "embedded")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for value in ("", "relative/cache"):
        monkeypatch.setenv("XDG_CACHE_HOME", value)
        assert user_cache_dir("embedded") == str(tmp_path / "home" / ".cache" / "recovery-jax" / "embedded")


@pytest.mark.slow
def test_quick_training_writes_only_workdir_and_cache(tmp_path):
    checkout, home, cache, work = (tmp_path / d for d in ("checkout", "home", "cache", "work"))
    for package in ("recovery_jax", "launch", "configs"):
        shutil.copytree(ROOT / package, checkout / package, ignore=shutil.ignore_patterns("__pycache__"))
    home.mkdir()
    before = _files(checkout)
    # No bytecode: Python's own __pycache__ is not the toolkit writing into the checkout.
    # without the suite's shared compilation cache: a user's default run writes its own under the workdir
    env = {**{k: v for k, v in os.environ.items() if k != compile_cache.CACHE_DIR_VARIABLE}, "HOME": str(home),
           "XDG_CACHE_HOME": str(cache), "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run([sys.executable, "-m", "launch.train", "--config", "configs/ser.py:quick", "--workdir", str(work)],
                   cwd=checkout, env=env, check=True, capture_output=True, text=True)
    assert _files(checkout) == before
    assert not any(home.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "checkout", "home", "work"]
    assert (cache / "recovery-jax" / "embedded_quick" / "emotion" / "corpus.json").is_file()
    assert (work / "results.json").is_file()
    assert any((work / "jax_cache").iterdir())  # its compiled programs, for a resumed run


def test_compilation_cache_variable_wins_over_the_workdirs_cache(tmp_path):
    """One cache for every launch when JAX_COMPILATION_CACHE_DIR is set (the suite sets it for its launches)."""
    program = ("import sys, jax, jax.numpy as jnp; from recovery_jax import compile_cache; "
               "print(compile_cache.enable(sys.argv[1])); "
               "jax.config.update('jax_persistent_cache_min_compile_time_secs', 0); "
               "jax.jit(lambda x: (x @ x.T).sum())(jnp.ones((64, 64))).block_until_ready()")
    shared, own = tmp_path / "shared", tmp_path / "own"
    env = {**os.environ, compile_cache.CACHE_DIR_VARIABLE: str(shared), "JAX_PLATFORMS": "cpu"}

    def launch() -> list[str]:  # the folder the launch's enable(own) chose
        return subprocess.run([sys.executable, "-c", program, str(own)], env=env, capture_output=True, text=True,
                              check=True).stdout.split()

    assert launch() == [str(shared)]
    assert any(shared.iterdir()) and not own.exists()
    del env[compile_cache.CACHE_DIR_VARIABLE]
    assert launch() == [str(own)] and any(own.iterdir())
