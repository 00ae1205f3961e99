"""Bhattacharyya distance between two systems' self-attention maps (paper Eq. 1, Fig. 4).

For each layer l and head h, Dis_{l,h} is the Bhattacharyya distance BD(p, q) = -ln sum_j sqrt(p_j q_j)
between the i-th rows of the two systems' maps, averaged over the N valid rows of an utterance, then
averaged over utterances.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Disjoint rows give BC = 0; clipping keeps the distance finite (-ln 1e-30 ~ 69) instead of inf.
BC_FLOOR = 1e-30


def bhattacharyya_rows(p: jax.Array, q: jax.Array, column_mask: jax.Array | None = None) -> jax.Array:
    """BD between the distributions along the last axis of `p` and `q`; padded columns are ignored.

    The coefficient is clipped to [BC_FLOOR, 1]: float rounding can push it a hair above 1 for
    identical rows, which would give a negative distance.
    """
    overlap = jnp.sqrt(p * q)
    if column_mask is not None:
        overlap = jnp.where(column_mask, overlap, 0.0)
    return -jnp.log(jnp.clip(overlap.sum(-1), BC_FLOOR, 1.0))


def attention_distance_per_utterance(maps_a: jax.Array, maps_b: jax.Array, frame_mask: jax.Array) -> jax.Array:
    """(B, L, H) mean row distance of each utterance; maps_*: (B, L, H, T, T), frame_mask: (B, T) valid frames.
    An utterance without frames gives 0 (no rows to compare)."""
    frame_mask = frame_mask.astype(bool)
    row_bd = bhattacharyya_rows(maps_a, maps_b, frame_mask[:, None, None, None, :])  # (B, L, H, T)
    row_sum = jnp.where(frame_mask[:, None, None, :], row_bd, 0.0).sum(-1)
    return row_sum / jnp.maximum(frame_mask.sum(-1), 1)[:, None, None]


def attention_distance_sums(maps_a: jax.Array, maps_b: jax.Array, frame_mask: jax.Array,
                            weights: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """Sum over utterances of each utterance's mean row distance, and the utterance count.

    maps_*: (B, L, H, T, T) softmax maps; frame_mask: (B, T) valid frames; weights: (B,) 1 for real
    utterances, 0 for batch padding. Returns ((L, H) sums, scalar count) so that a corpus mean is
    sum(sums) / sum(counts) however the corpus was bucketed.
    """
    per_utterance = attention_distance_per_utterance(maps_a, maps_b, frame_mask)
    n_rows = frame_mask.astype(bool).sum(-1)
    weights = jnp.ones(n_rows.shape, per_utterance.dtype) if weights is None else weights.astype(per_utterance.dtype)
    weights = jnp.where(n_rows > 0, weights, 0.0)  # an utterance with no frames has no rows to compare
    return jnp.einsum("blh,b->lh", per_utterance, weights), weights.sum()
