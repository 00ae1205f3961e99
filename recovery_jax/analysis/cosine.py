"""Per-utterance cosine distances between two systems' embeddings (paper Fig. 3, Table III)."""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike

from recovery_jax.analysis.decisions import paired_labels

# The paper's Figure 3 / Table III thresholds, chosen there to keep > 70 % of the data within them; a
# study config may set others.
PAPER_THRESHOLDS = {"IEMOCAP": 0.6, "MSP-IMPROV": 0.65}


def cosine_distances(emb_a: ArrayLike, emb_b: ArrayLike, eps: float = 1e-12) -> np.ndarray:
    """1 - cos(a_i, b_i) for each row pair of two (N, D) embedding matrices; values lie in [0, 2].

    Computed in float64: the distances of near-identical systems sit close to 0, where float32
    cancellation in `1 - cos` would swamp them.
    """
    a, b = np.asarray(emb_a, np.float64), np.asarray(emb_b, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"need two (N, D) embedding matrices of one shape, got {a.shape} and {b.shape}")
    norms = np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), eps)
    return 1.0 - np.einsum("nd,nd->n", a, b) / norms


def histogram_curve(distances: ArrayLike, bins: int = 10,
                    value_range: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres, % of utterances per bin): one line-joined curve of Figure 3.

    Without `value_range` the bins span this curve's own min..max, as the paper's per-system
    markers do.
    """
    counts, edges = np.histogram(np.asarray(distances, np.float64), bins=bins, range=value_range)
    return 0.5 * (edges[:-1] + edges[1:]), 100.0 * counts / max(counts.sum(), 1)


@dataclasses.dataclass(frozen=True)
class ThresholdAgreement:
    """One Table III row, plus the paper's remark on distances above one."""

    threshold: float
    data_percent: float      # % of utterances with distance <= threshold
    match_percent: float     # decision match % among those (NaN if there are none)
    over_one_percent: float  # % of utterances with distance > 1 ("complete dissimilarity")
    over_one_match_percent: float  # decision match % among those (NaN if there are none)


def _percent_of(values: np.ndarray) -> float:
    return float(100.0 * values.mean()) if values.size else float("nan")


def threshold_agreement(distances: ArrayLike, pred_a: ArrayLike, pred_b: ArrayLike,
                        threshold: float) -> ThresholdAgreement:
    """Table III for one compared pair: how much data lies within `threshold` and how often it agrees."""
    a, b = paired_labels(pred_a, pred_b)
    d = np.asarray(distances, np.float64).ravel()
    if d.shape != a.shape:
        raise ValueError(f"{d.shape[0]} distances for {a.shape[0]} predictions")
    same, near, far = a == b, d <= threshold, d > 1.0
    return ThresholdAgreement(
        threshold=float(threshold),
        data_percent=_percent_of(near),
        match_percent=_percent_of(same[near]),
        over_one_percent=_percent_of(far),
        over_one_match_percent=_percent_of(same[far]),
    )
