"""The "pretrain" task for the fine-tuning engine: host-side masks and negatives, loss, logged metrics.

Masks and negatives are drawn on the host per step, as HF's pretraining collator does, from
(seed, step, process), so a resumed run draws exactly what an uninterrupted one would. Each step's batch
gets `mask_time_indices` (B, T), `negative_indices` (B, T, K) (frame indices within the utterance, among
its masked frames, as HF and fairseq) and the step's `gumbel_temperature` (one scalar per device); its
`weights` become the masked-frame counts, so the engine's global weight is the number of masked frames and
the gradient is that of the per-masked-frame loss (HF's run_wav2vec2_pretraining_no_trainer.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from recovery_jax.models import Wav2Vec2Config, feature_lengths
from recovery_jax.models.spec_augment import num_spans
from recovery_jax.models.pretraining import Wav2Vec2ForPreTraining, pretraining_losses

# fairseq's wav2vec2-base recipe scales the conv stack's gradient by 0.1 (HF's script does not scale it).
FEATURE_GRAD_MULT = 0.1


def mask_spans(rng: np.random.Generator, frames: np.ndarray, width: int, prob: float, length: int,
               min_masks: int) -> np.ndarray:
    """(B, width) bool: HF `_compute_mask_indices` with per-utterance valid `frames` (B,), on the host.

    `num_spans` spans of `length` frames per utterance (the same count as fine-tuning's in-graph
    `span_mask`), starts drawn without replacement so spans stay inside valid frames.
    """
    frames = np.asarray(frames)
    mask = np.zeros((len(frames), width), bool)
    spans = num_spans(frames, width, prob, length, min_masks, rng.random())
    for row, n in enumerate(frames):
        starts = rng.choice(max(int(n) - (length - 1), 0), int(spans[row]), replace=False)
        mask[row, (starts[:, None] + np.arange(length)).reshape(-1)] = True
    return mask


def sample_negatives(rng: np.random.Generator, mask: np.ndarray, num_negatives: int) -> np.ndarray:
    """(B, T, K) int32: for each masked frame, K other masked frames of its utterance, uniformly with
    replacement (HF `_sample_negative_indices`, minus its flat batch offsets); 0 elsewhere."""
    negatives = np.zeros(mask.shape + (num_negatives,), np.int32)
    for row in range(len(mask)):
        masked = np.flatnonzero(mask[row])
        if len(masked) < 2:
            continue
        draws = rng.integers(0, len(masked) - 1, size=(len(masked), num_negatives))
        draws[draws >= np.arange(len(masked))[:, None]] += 1  # skip the positive, uniform over the rest
        negatives[row, masked] = masked[draws]
    return negatives


def gumbel_temperature(pretrain: ml_collections.ConfigDict, update: int) -> float:
    """HF's schedule: max(max_t * decay ** update, min_t), per optimiser update."""
    return max(pretrain.max_gumbel_temperature * pretrain.gumbel_temperature_decay ** update,
               pretrain.min_gumbel_temperature)


def prepare_batch(batch: dict, step: int, model_config: Wav2Vec2Config, config: ml_collections.ConfigDict
                  ) -> dict:
    """Adds this step's masks, negatives and temperature to a (devices, B, ...) host batch (see module doc)."""
    rng = np.random.default_rng([config.seed, step, jax.process_index()])
    shape = batch["lengths"].shape
    frames = feature_lengths(model_config, batch["lengths"].reshape(-1).astype(np.int64))
    width = int(feature_lengths(model_config, batch["audio"].shape[-1]))
    p = config.pretrain
    mask = mask_spans(rng, frames, width, p.mask_time_prob, p.mask_time_length, model_config.mask_time_min_masks)
    filler = batch["weights"].reshape(-1) == 0
    # Filler rows and rows with one masked frame (no distinct negative) take no part in the loss.
    mask[filler | (mask.sum(1) < 2)] = False
    negatives = sample_negatives(rng, mask, model_config.num_negatives)
    temperature = gumbel_temperature(p, (step - 1) // config.optim.accum_steps)
    return {**batch, "mask_time_indices": mask.reshape(shape + (width,)),
            "negative_indices": negatives.reshape(shape + negatives.shape[1:]),
            "weights": mask.sum(1).astype(np.float32).reshape(shape),
            "gumbel_temperature": np.full(shape[:1], temperature, np.float32)}


def loss(params, batch, rng, module, freeze_conv, total_weight):
    """HF's total loss summed over this device's masked frames / all masked frames (the Task interface)."""
    if freeze_conv:
        raise ValueError("pretraining trains the conv feature encoder: set config.optim.frozen = ()")
    out = module.apply({"params": params}, batch["audio"], batch["lengths"],
                       mask_time_indices=batch["mask_time_indices"], gumbel_temperature=batch["gumbel_temperature"],
                       deterministic=False, rngs={"dropout": rng})
    terms = pretraining_losses(out, batch["mask_time_indices"], batch["negative_indices"], module.config)
    # Perplexity is per device (over its own masked frames, as per process in HF's multi-GPU script), summed
    # with a device count so the logged value is its mean over devices and steps.
    return terms["loss"] / total_weight, {
        "loss_sum": terms["loss"], "weight": terms["num_masked"], "contrastive_sum": terms["contrastive"],
        "diversity_sum": terms["diversity"], "perplexity_sum": terms["perplexity"],
        "temperature_sum": batch["gumbel_temperature"], "devices": jnp.ones(())}


def metrics(sums: dict[str, float]) -> dict[str, float]:
    """Logged means of a run of steps' metric sums: per masked frame, or per device for perplexity."""
    frames, devices = max(sums["weight"], 1.0), max(sums["devices"], 1.0)
    return {"contrastive": sums["contrastive_sum"] / frames, "diversity": sums["diversity_sum"] / frames,
            "perplexity": sums["perplexity_sum"] / devices, "gumbel_temperature": sums["temperature_sum"] / devices}


def predict(params, batch, module) -> dict[str, jax.Array]:
    """Eval mode (argmax codes, no mask): both projections and each utterance's frame count."""
    out = module.apply({"params": params}, batch["audio"], batch["lengths"])
    return {"projected_states": out.projected_states, "projected_quantized_states": out.projected_quantized_states,
            "frames": feature_lengths(module.config, batch["lengths"])}


def make_module(config: Wav2Vec2Config) -> Wav2Vec2ForPreTraining:
    return Wav2Vec2ForPreTraining(config, feature_grad_mult=FEATURE_GRAD_MULT)


HEAD_KEYS = ("quantizer", "project_q", "project_hid")
