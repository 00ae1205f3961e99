"""Run-to-run: the same forward twice, and the same training steps twice from one seed, in one framework."""

from __future__ import annotations

from types import ModuleType
from typing import Sequence

import ml_collections
import numpy as np

from recovery_jax.determinism.compare import Diff, diff_named, trajectory_diff
from recovery_jax.determinism.inputs import Batch


def forward_twice(side: ModuleType, folder: str, audio: np.ndarray) -> dict[str, Diff]:
    """Per-layer difference between two calls of one built forward (`jax_side` or `torch_side`)."""
    run = side.forward_runner(folder, audio)
    return diff_named(run(), run())


def train_twice(side: ModuleType, folder: str, batches: Sequence[Batch], optim: ml_collections.ConfigDict,
                seed: int) -> dict:
    """Two independent training runs from `seed` with dropout on (seeded), compared after every step."""
    return trajectory_diff(side.train(folder, batches, optim, dropout=True, seed=seed),
                           side.train(folder, batches, optim, dropout=True, seed=seed))
