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


def mismatch_beyond_floor(reference: ArrayLike, system: ArrayLike, control: ArrayLike) -> dict[str, float]:
    """Does `system` disagree with `reference` more often than `control` (the reference's own recipe, another
    seed) does? Exact one-sided sign test (McNemar) over utterances, paired through the reference's decisions:
    only utterances where exactly one of the two disagrees count, and under "no more than the noise floor"
    each such utterance is equally likely to be either kind."""
    from scipy.stats import binomtest

    ref, sys_ = paired_labels(reference, system)
    _, ctrl = paired_labels(reference, control)
    system_only = int(np.sum((ref != sys_) & (ref == ctrl)))
    control_only = int(np.sum((ref == sys_) & (ref != ctrl)))
    discordant = system_only + control_only
    p = binomtest(system_only, discordant, 0.5, alternative="greater").pvalue if discordant else 1.0
    return {"excess_percent": 100.0 * (system_only - control_only) / ref.size, "p_value": float(p),
            "system_only": system_only, "control_only": control_only}
