"""Fine-tuning tasks: which head, which loss, what a prediction is.

A loss returns the batch's *sum* divided by the global weight (all devices, all processes), so summing
gradients over devices gives exactly the gradient of the global mean whatever the padding rows are.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from recovery_jax.models import (Wav2Vec2Config, Wav2Vec2ForCTC, Wav2Vec2ForSequenceClassification,
                                 feature_lengths)
from recovery_jax.models.wav2vec2 import FeatureEncoder
from recovery_jax.train import pretrain_task

Batch = dict[str, jax.Array]


def _conv_features(module: nn.Module, audio: jax.Array, lengths: jax.Array) -> jax.Array:
    return module.backbone.extract_conv_features(audio, lengths)


def frozen_conv_features(module: nn.Module, params: Any, batch: Batch) -> jax.Array:
    """The frozen conv stack (`params["backbone"]["feature_extractor"]`) over a batch of any leading shape,
    as one conv over all its rows, no gradient: (..., frames, channels)."""
    audio, lengths = batch["audio"], batch["lengths"]
    encoder = FeatureEncoder(module.config, module.groupnorm_over_padding)
    conv = encoder.apply({"params": params["backbone"]["feature_extractor"]}, audio.reshape(-1, audio.shape[-1]),
                         lengths.reshape(-1))
    return jax.lax.stop_gradient(conv.reshape(audio.shape[:-1] + conv.shape[1:]))


def forward(module: nn.Module, params: Any, batch: Batch, rng: Optional[jax.Array], freeze_conv: bool):
    """(head output, backbone output). With `freeze_conv` no gradient flows into the conv stack; a batch's
    "conv_features" (the frozen stack's output, computed upstream) skips it."""
    conv = batch.get("conv_features")
    if conv is None and freeze_conv:
        conv = jax.lax.stop_gradient(module.apply({"params": params}, batch["audio"], batch["lengths"],
                                                  method=_conv_features))
    train = rng is not None
    return module.apply({"params": params}, batch.get("audio"), batch["lengths"], deterministic=not train,
                        conv_features=conv, rngs={"dropout": rng} if train else {})


@dataclasses.dataclass(frozen=True)
class Task:
    name: str
    head_keys: tuple[str, ...]  # param subtrees that belong to the head
    make_module: Callable[[Wav2Vec2Config], nn.Module]
    loss: Callable[..., tuple[jax.Array, dict[str, jax.Array]]]  # (params, batch, rng, module, freeze, total)
    predict: Callable[..., dict[str, jax.Array]]  # (params, batch, module)
    # Host-side per-step additions to a batch: (batch, step, model config, run config) -> batch.
    prepare_batch: Optional[Callable[..., Batch]] = None
    # Extra logged values from a run of steps' summed metrics: sums -> {name: value}.
    metrics: Optional[Callable[[dict[str, float]], dict[str, float]]] = None


def _ser_loss(params, batch, rng, module, freeze_conv, total_weight):
    logits, _ = forward(module, params, batch, rng, freeze_conv)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["labels"])
    w = batch["weights"]
    correct = (jnp.argmax(logits, -1) == batch["labels"]) * w
    return (ce * w).sum() / total_weight, {"loss_sum": (ce * w).sum(), "weight": w.sum(),
                                           "correct": correct.sum()}


def _ser_predict(params, batch, module):
    logits, _ = forward(module, params, batch, None, False)
    return {"logits": logits, "prediction": jnp.argmax(logits, -1)}


def _ctc_loss(params, batch, rng, module, freeze_conv, total_weight):
    logits, out = forward(module, params, batch, rng, freeze_conv)
    logit_pad = 1.0 - out.frame_mask.astype(jnp.float32)
    target_pad = (jnp.arange(batch["targets"].shape[1])[None] >= batch["target_lengths"][:, None])
    per_utt = optax.ctc_loss(logits, logit_pad, batch["targets"], target_pad.astype(jnp.float32),
                             blank_id=module.config.pad_token_id)
    # torch CTCLoss(reduction="mean") divides each utterance by its target length
    per_utt = per_utt / jnp.maximum(batch["target_lengths"], 1)
    w = batch["weights"]
    return (per_utt * w).sum() / total_weight, {"loss_sum": (per_utt * w).sum(), "weight": w.sum()}


def _ctc_predict(params, batch, module):
    logits, out = forward(module, params, batch, None, False)
    frames = feature_lengths(module.config, batch["lengths"])
    return {"frame_ids": jnp.argmax(logits, -1), "frames": frames}


TASKS = {
    "ser": Task("ser", ("projector", "classifier"), Wav2Vec2ForSequenceClassification, _ser_loss, _ser_predict),
    "ctc": Task("ctc", ("lm_head",), Wav2Vec2ForCTC, _ctc_loss, _ctc_predict),
    "pretrain": Task("pretrain", pretrain_task.HEAD_KEYS, pretrain_task.make_module, pretrain_task.loss,
                     pretrain_task.predict, pretrain_task.prepare_batch, pretrain_task.metrics),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {sorted(TASKS)}")
    return TASKS[name]


@functools.lru_cache(maxsize=32)
def _jitted_init(task: Task, config: Wav2Vec2Config):
    return jax.jit(task.make_module(config).init)


def init_params(task: Task, config: Wav2Vec2Config, rng: jax.Array, pretrained: Optional[dict] = None) -> dict:
    """Random task params; the backbone (and any head of this task) taken from `pretrained` if given."""
    params = _jitted_init(task, config)(rng, jnp.zeros((1, 16000), jnp.float32))["params"]
    params = jax.tree.map(lambda x: x, params)  # plain mutable dicts
    if pretrained is not None:
        params = dict(params)
        params["backbone"] = pretrained["backbone"]
        for key in task.head_keys:
            if key in pretrained:
                params[key] = pretrained[key]
    return params
