"""Resampling over utterances: 95 % intervals of a seed-mean UAR and a test against the same-recipe noise floor.

Utterances are the unit resampled: every system and seed is evaluated on the same utterances, so drawing
utterances with replacement keeps the pairing between systems (their errors are correlated through the
utterances' difficulty) while seeds enter each statistic as an average.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

DRAWS = 2000


def resample_counts(n: int, draws: int = DRAWS, seed: int = 0) -> np.ndarray:
    """(draws, n): how many times each of n utterances is drawn in each bootstrap resample."""
    if n < 1:
        raise ValueError("nothing to resample: no utterances")
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=draws).astype(np.float64)


def uar_interval(labels: ArrayLike, predictions: ArrayLike, num_classes: int, groups: ArrayLike | None = None,
                 draws: int = DRAWS, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval (%) of the UAR averaged over seeds.

    labels: (N,); predictions: (S, N), one row per seed. Each resample draws utterances once for all seeds.
    With `groups` (e.g. test sessions) utterances are drawn within each group and the statistic is the mean
    of the groups' UARs, as leave-one-session-out results are reported.
    """
    labels = np.asarray(labels)
    predictions = np.atleast_2d(np.asarray(predictions))
    if predictions.shape[1] != labels.shape[0]:
        raise ValueError(f"predictions cover {predictions.shape[1]} utterances, labels {labels.shape[0]}")
    groups = np.zeros(labels.shape[0], int) if groups is None else np.asarray(groups)
    per_group = []
    for k, group in enumerate(np.unique(groups)):
        rows = groups == group
        onehot = (labels[rows, None] == np.arange(num_classes)).astype(np.float64)  # (n, C)
        hits = (predictions[:, rows] == labels[rows])[:, :, None] * onehot[None]  # (S, n, C)
        counts = resample_counts(int(rows.sum()), draws, seed + k)
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = np.einsum("dn,snc->dsc", counts, hits) / (counts @ onehot)[:, None, :]
        per_group.append(np.nanmean(recall, axis=-1).mean(axis=-1))  # classes absent from a resample do not count
    uar = 100.0 * np.mean(per_group, axis=0)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(uar, [tail, 100.0 - tail])
    return float(low), float(high)


def beyond_floor(cross: ArrayLike, floor: ArrayLike, draws: int = DRAWS, seed: int = 0) -> dict[str, np.ndarray]:
    """Do the system-vs-reference pairs differ more than the reference's own seed pairs do?

    cross: (Pc, N, ...) a per-utterance difference (1 for a decision mismatch, a distance) for each
    (reference seed, system seed) pair; floor: (Pf, N, ...) the same for pairs of reference seeds.
    The statistic is mean(cross) - mean(floor) over pairs and utterances, per trailing index. The p-value is
    one-sided, from the paired bootstrap over utterances centred on the observed excess (Efron & Tibshirani,
    ch. 16): how often a resample's excess exceeds twice the observed one, i.e. how often a world where the
    true excess is 0 gives one as large as observed.
    Returns excess, p_value, cross and floor means, and the floor's largest and the cross's smallest pair mean.
    """
    cross, floor = np.asarray(cross, np.float64), np.asarray(floor, np.float64)
    if cross.shape[1:] != floor.shape[1:] or 0 in (cross.shape[0], floor.shape[0]):
        raise ValueError(f"need >= 1 cross and >= 1 floor pair over the same utterances; got shapes "
                         f"{cross.shape} and {floor.shape}")
    difference = cross.mean(axis=0) - floor.mean(axis=0)  # (N, ...)
    observed = difference.mean(axis=0)
    n = difference.shape[0]
    resampled = np.tensordot(resample_counts(n, draws, seed) / n, difference, axes=1)  # (draws, ...)
    p_value = (1.0 + np.sum(resampled - observed >= observed, axis=0)) / (draws + 1.0)
    return {"excess": observed, "p_value": p_value, "cross_mean": cross.mean(axis=(0, 1)),
            "floor_mean": floor.mean(axis=(0, 1)), "floor_max_pair": floor.mean(axis=1).max(axis=0),
            "cross_min_pair": cross.mean(axis=1).min(axis=0)}
