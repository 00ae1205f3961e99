"""Persistent XLA compilation cache: the study compiles the same train step for dozens of fine-tunes."""

from __future__ import annotations

import os

import jax

# JAX's own variable: a user (or the test suite, for the launches it starts) who sets it gets one cache shared
# by every run, instead of one per workdir that each new workdir fills again.
CACHE_DIR_VARIABLE = "JAX_COMPILATION_CACHE_DIR"


def enable(cache_dir: str | os.PathLike) -> str:
    """Reuse compiled executables across fits and processes (keyed by the program, so always safe). Uses
    `$JAX_COMPILATION_CACHE_DIR` if set, else `cache_dir`; returns the folder used."""
    cache_dir = os.environ.get(CACHE_DIR_VARIABLE) or os.fspath(cache_dir)
    os.makedirs(cache_dir, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return cache_dir
