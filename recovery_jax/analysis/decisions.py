"""Decision agreement between two systems' predicted labels (paper Table II)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def paired_labels(pred_a: ArrayLike, pred_b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Two equally long, non-empty 1-D label arrays."""
    a, b = np.asarray(pred_a).ravel(), np.asarray(pred_b).ravel()
    if a.shape != b.shape:
        raise ValueError(f"predictions differ in length: {a.shape[0]} vs {b.shape[0]}")
    if a.size == 0:
        raise ValueError("no predictions to compare")
    return a, b


def match_percent(pred_a: ArrayLike, pred_b: ArrayLike) -> float:
    """% of utterances on which the two systems predict the same label."""
    a, b = paired_labels(pred_a, pred_b)
    return float(100.0 * np.mean(a == b))


def mismatch_percent(pred_a: ArrayLike, pred_b: ArrayLike) -> float:
    """% of utterances on which the two systems disagree (Table II's "Miss-Match %")."""
    return 100.0 - match_percent(pred_a, pred_b)

