"""Optimiser: Adam with clipping and accumulation; frozen subtrees get no update via optax masking."""

from __future__ import annotations

from typing import Any, Sequence

import jax
import ml_collections
import optax


def _path_str(path) -> str:
    return "/".join(str(getattr(k, "key", k)) for k in path)


def trainable_labels(params: Any, frozen_prefixes: Sequence[str], separate_head: bool = False) -> Any:
    """"frozen" for leaves under any prefix ("backbone/feature_extractor"), "trained" otherwise; with
    `separate_head`, trained leaves outside "backbone/" (the task's head) are "head"."""
    def label(path, _):
        name = _path_str(path)
        if any(name.startswith(p) for p in frozen_prefixes):
            return "frozen"
        return "head" if separate_head and not name.startswith("backbone/") else "trained"
    return jax.tree_util.tree_map_with_path(label, params)


def learning_rate(optim: ml_collections.ConfigDict, total_steps: int) -> optax.Schedule:
    """Constant after a linear warm-up, or warm-up then cosine decay ("cosine")."""
    warmup = int(optim.get("warmup_steps", 0))
    if optim.get("schedule", "constant") == "cosine":
        return optax.warmup_cosine_decay_schedule(0.0, optim.lr, max(warmup, 1), max(total_steps, warmup + 1))
    if warmup:
        return optax.join_schedules([optax.linear_schedule(0.0, optim.lr, warmup), optax.constant_schedule(
            optim.lr)], [warmup])
    return optax.constant_schedule(optim.lr)


def make_optimizer(optim: ml_collections.ConfigDict, params: Any, total_steps: int
                   ) -> optax.GradientTransformation:
    """Adam(lr) after global-norm clipping, on trainable leaves only, every `accum_steps` micro-batches.

    `total_steps` counts optimiser updates (micro-batches / accum_steps). `optim.head_lr_scale` (if set and not 1)
    gives the task's head (every trained leaf outside the backbone) that multiple of the learning rate, clipped
    on its own: a head initialised at random must grow to the scale of the backbone's features, which a
    learning rate small enough for the pretrained backbone does slowly.
    """
    def adam(scale: float) -> optax.GradientTransformation:
        schedule = learning_rate(optim, total_steps)
        return optax.chain(
            optax.clip_by_global_norm(optim.clip_norm) if optim.clip_norm else optax.identity(),
            optax.adam(schedule if scale == 1 else lambda step: scale * schedule(step), b1=optim.b1, b2=optim.b2,
                       eps=optim.eps))

    head_scale = float(optim.get("head_lr_scale", 1.0))
    groups = {"trained": adam(1.0), "frozen": optax.set_to_zero()}
    if head_scale != 1.0:
        groups["head"] = adam(head_scale)
    tx = optax.multi_transform(groups, trainable_labels(params, optim.frozen, separate_head=head_scale != 1.0))
    if optim.accum_steps > 1:
        tx = optax.MultiSteps(tx, every_k_schedule=optim.accum_steps)
    return tx
