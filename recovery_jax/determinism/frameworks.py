"""JAX vs PyTorch on the same weights and input: per-layer forward differences, and parameter drift over
identical optimiser steps with every dropout off, so that numerics are the only difference left."""

from __future__ import annotations

from typing import Sequence

import ml_collections
import numpy as np

from recovery_jax.determinism import jax_side, torch_side
from recovery_jax.determinism.compare import Diff, diff_named, trajectory_diff
from recovery_jax.determinism.inputs import Batch


def forward_difference(folder: str, audio: np.ndarray) -> dict[str, Diff]:
    return diff_named(jax_side.forward_runner(folder, audio)(), torch_side.forward_runner(folder, audio)())


def training_drift(folder: str, batches: Sequence[Batch], optim: ml_collections.ConfigDict, seed: int) -> dict:
    """Same init (the checkpoint), same batches, same Adam; run a = JAX, run b = PyTorch."""
    return trajectory_diff(jax_side.train(folder, batches, optim, dropout=False, seed=seed),
                           torch_side.train(folder, batches, optim, dropout=False, seed=seed))
