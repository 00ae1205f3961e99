"""SpecAugment span masks as HF's `_compute_mask_indices` draws them, in-graph from a jax rng.

Drawn inside the jitted step from the step's rng, a mask is a pure function of (seed, step, device): a resumed
run masks exactly as an uninterrupted one, and the draw works under pmap/vmap. The span count is shared with
the host-side (numpy) pretraining masks of `train/pretrain_task.py`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from recovery_jax.models.config import Wav2Vec2Config


def num_spans(frames: Any, width: int, prob: float, length: int, min_masks: int, epsilon: Any) -> Any:
    """Spans per utterance of `frames` (B,) valid frames in a `width`-frame batch (numpy or jax arrays).

    HF's rule: floor(prob * frames / length + epsilon) (epsilon ~ U[0, 1), one per batch: probabilistic
    rounding), at least `min_masks`, at most width // length, and no more than the frames can start.
    """
    xp = jnp if isinstance(frames, jax.Array) else np
    spans = xp.maximum(xp.floor(prob * frames / length + epsilon).astype(frames.dtype), min_masks)
    spans = xp.where(spans * length > width, width // length, spans)
    return xp.maximum(xp.minimum(spans, frames - (length - 1)), 0)


def span_mask(rng: jax.Array, frames: jax.Array, width: int, prob: float, length: int, min_masks: int
              ) -> jax.Array:
    """(B, width) bool: `num_spans` spans of `length` frames per row, starts drawn uniformly without
    replacement among the row's first frames - length + 1 positions, so frames >= `frames` are never masked.

    Spans may overlap (their union is masked), as in HF; a batch shorter than `length` masks nothing
    (HF raises there).
    """
    frames = jnp.asarray(frames, jnp.int32)
    eps_key, order_key = jax.random.split(rng)
    spans = num_spans(frames, width, prob, length, min_masks, jax.random.uniform(eps_key, ()))
    # A uniformly random order of the positions per row, valid starts first: its first `spans` are a
    # uniformly random subset of the valid starts (no float ties, unlike ranking uniform draws).
    order = jax.vmap(lambda key: jax.random.permutation(key, width))(jax.random.split(order_key, len(frames)))
    position = jnp.arange(width)
    order = jnp.where(position < (frames - (length - 1))[:, None], order, order + width)
    rank = jnp.argsort(jnp.argsort(order, axis=-1), axis=-1)
    starts = (rank < spans[:, None]).astype(jnp.int32)
    # frame t is masked when some span starts in (t - length, t]
    started = jnp.cumsum(starts, axis=-1)
    before = jnp.pad(started, ((0, 0), (length, 0)))[:, :width]
    return started > before


# The Wav2Vec2Config fields a fine-tuning config's `augment` section may override (HF's names).
# Training-time regularisers a run may set apart from the checkpoint's config: SpecAugment, LayerDrop, dropout.
AUGMENT_FIELDS = ("apply_spec_augment", "mask_time_prob", "mask_time_length", "mask_time_min_masks",
                  "mask_feature_prob", "mask_feature_length", "mask_feature_min_masks", "layerdrop",
                  "hidden_dropout", "attention_dropout", "activation_dropout", "feat_proj_dropout", "final_dropout")


def with_augment(config: Wav2Vec2Config, overrides: Mapping[str, Any]) -> Wav2Vec2Config:
    """`config` with a run config's `augment` section applied; None keeps the model's (checkpoint's) value."""
    unknown = sorted(set(overrides) - set(AUGMENT_FIELDS))
    if unknown:
        raise ValueError(f"config.augment.{unknown[0]}: unknown field; expected some of {list(AUGMENT_FIELDS)}")
    try:
        return dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    except ValueError as e:
        raise ValueError(f"config.augment: {e}") from e
