"""Seed pairs: each system against SER, beside SER's own seed pairs (the same-recipe noise floor).

Every fine-tuned system exists in S seeds. A comparison of system X with SER is made on every (SER seed a,
X seed b) pair; the floor is every pair of distinct SER seeds: how far two runs of one recipe fall apart.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from recovery_jax.analysis import beyond_floor

FLOOR = "SER (other seed)"
ALPHA = 0.05  # "exceeds the floor": one-sided p below this
REFERENCE = "SER"


def seed_pairs(reference_seeds: int, system_seeds: int, same_system: bool) -> list[tuple[int, int]]:
    """(reference seed, system seed) pairs; a system against itself pairs distinct seeds once each."""
    return [(a, b) for a in range(reference_seeds) for b in range(system_seeds) if not same_system or a < b]


def pair_values(seeds: Mapping[str, Sequence], compared: Sequence[str], measure: Callable) -> dict[str, np.ndarray]:
    """{name: (pairs, ...) stacked `measure(SER seed a's value, name's seed b's value)`} for each compared
    name and FLOOR (SER's distinct seed pairs). `seeds`: name -> one value per seed (predictions, embeddings)."""
    reference = seeds[REFERENCE]
    out = {}
    for name in (FLOOR, *compared):
        system = seeds[REFERENCE if name == FLOOR else name]
        pairs = seed_pairs(len(reference), len(system), name == FLOOR)
        if pairs:
            out[name] = np.stack([measure(reference[a], system[b]) for a, b in pairs])
    return out


def against_floor(values: Mapping[str, np.ndarray], compared: Sequence[str]) -> dict[str, dict]:
    """Per compared name: its mean, the floor's, the excess and the bootstrap p (analysis.bootstrap) of
    per-utterance `values` ((pairs, N, ...) arrays); NaN where there is no floor (one SER seed)."""
    out = {}
    for name in compared:
        if FLOOR in values:
            result = beyond_floor(values[name], values[FLOOR])
        else:
            nan = np.full(values[name].shape[2:], np.nan)
            result = {"excess": nan, "p_value": nan, "cross_mean": values[name].mean(axis=(0, 1)),
                      "floor_mean": nan, "floor_max_pair": nan, "cross_min_pair": values[name].mean(axis=1).min(0)}
        out[name] = {k: np.asarray(v).tolist() for k, v in result.items()}
    return out
