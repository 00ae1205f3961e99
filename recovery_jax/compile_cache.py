"""Persistent XLA compilation cache: the study compiles the same train step for dozens of fine-tunes."""

from __future__ import annotations

import os

import jax


def enable(cache_dir: str | os.PathLike) -> None:
    """Reuse compiled executables across fits and processes (keyed by the program, so always safe)."""
    os.makedirs(cache_dir, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", os.fspath(cache_dir))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
