"""wav2vec2 self-supervised pretraining model, laid out and computed as HF `Wav2Vec2ForPreTraining`.

Masked latent frames are predicted contrastively against Gumbel-softmax product-quantized targets:
`backbone` (its transformer sees `masked_spec_embed` at masked frames), `quantizer` (G groups of V
codevectors over the LayerNorm'd conv features), `project_hid` / `project_q` into a shared space.
`pretraining_losses` is HF's contrastive + diversity loss, as sums over the masked frames.
"""

from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct
from jax.scipy.special import xlogy

from recovery_jax.models.config import Wav2Vec2Config
from recovery_jax.models.dropout import Dropout
from recovery_jax.models.wav2vec2 import Wav2Vec2Model, Wav2Vec2Output

# torch.nn.functional.cosine_similarity's default eps
_COSINE_EPS = 1e-8


@struct.dataclass
class PreTrainingOutput:
    projected_states: jax.Array  # (B, T, P) project_hid(transformer output), at every frame
    projected_quantized_states: jax.Array  # (B, T, P) project_q(quantized conv features)
    codevector_perplexity: jax.Array  # () summed over groups, over the masked frames (all frames if no mask)
    backbone: Wav2Vec2Output


def codevector_perplexity(probs: jax.Array, mask: Optional[jax.Array]) -> jax.Array:
    """exp(entropy) of the mean code distribution per group, summed over groups. probs (B, T, G, V)."""
    if mask is None:
        marginal = probs.mean(axis=(0, 1))
    else:
        weight = mask[:, :, None, None].astype(probs.dtype)
        marginal = (probs * weight).sum(axis=(0, 1)) / jnp.maximum(weight.sum(), 1.0)
    return jnp.exp(-xlogy(marginal, marginal).sum(-1)).sum()


class GumbelVectorQuantizer(nn.Module):
    """Product quantizer: per group, a hard one-hot code choice (Gumbel straight-through when training)."""

    config: Wav2Vec2Config

    @nn.compact
    def __call__(self, features: jax.Array, mask: Optional[jax.Array], temperature: Optional[jax.Array]
                 ) -> tuple[jax.Array, jax.Array]:
        """(quantized (B, T, codevector_dim), perplexity); `temperature` None means eval: plain argmax."""
        cfg = self.config
        g, v = cfg.num_codevector_groups, cfg.num_codevectors_per_group
        if cfg.codevector_dim % g:
            raise ValueError(f"codevector_dim {cfg.codevector_dim} is not divisible by {g} codevector groups")
        codevectors = self.param("codevectors", nn.initializers.uniform(1.0), (1, g * v, cfg.codevector_dim // g))
        # HF's init: N(0, 1) logits projection, so initial code choices are spread out.
        proj = nn.Dense(g * v, name="weight_proj", kernel_init=nn.initializers.normal(1.0),
                        bias_init=nn.initializers.zeros)
        b, t, _ = features.shape
        logits = proj(features).reshape(b, t, g, v)
        if temperature is None:
            probs = jax.nn.one_hot(jnp.argmax(logits, -1), v, dtype=logits.dtype)
            perplexity = codevector_perplexity(probs, mask)
        else:
            # Training-time noise like dropout, so it draws from the same rng stream.
            noise = jax.random.gumbel(self.make_rng("dropout"), logits.shape, logits.dtype)
            self.sow("intermediates", "gumbel_noise", noise)  # lets tests replay the draw in torch
            soft = jax.nn.softmax((logits + noise) / temperature, -1)
            hard = jax.nn.one_hot(jnp.argmax(soft, -1), v, dtype=logits.dtype)
            probs = hard - jax.lax.stop_gradient(soft) + soft  # straight-through, as torch's hard=True
            perplexity = codevector_perplexity(jax.nn.softmax(logits, -1), mask)
        quantized = jnp.einsum("btgv,gvd->btgd", probs, codevectors.reshape(g, v, -1))
        return quantized.reshape(b, t, -1), perplexity


def _scale_gradient(x: jax.Array, scale: float) -> jax.Array:
    """Identity forward; gradient times `scale` (fairseq's GradMultiply)."""
    return x * scale + jax.lax.stop_gradient(x) * (1.0 - scale)


class Wav2Vec2ForPreTraining(nn.Module):
    """HF's Wav2Vec2ForPreTraining. `feature_grad_mult` scales the conv stack's gradient (fairseq base uses
    0.1; HF, i.e. 1.0, does not); the forward pass is the same either way."""

    config: Wav2Vec2Config
    groupnorm_over_padding: bool = False
    feature_grad_mult: float = 1.0

    def setup(self):
        cfg = self.config
        self.backbone = Wav2Vec2Model(cfg, self.groupnorm_over_padding)
        self.dropout_features = Dropout(cfg.feat_quantizer_dropout)
        self.quantizer = GumbelVectorQuantizer(cfg)
        # HF re-initialises both as plain torch Linear layers (not N(0, 0.02)); the bias starts at 0 here.
        linear_init = nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform")
        self.project_hid = nn.Dense(cfg.proj_codevector_dim, kernel_init=linear_init, name="project_hid")
        self.project_q = nn.Dense(cfg.proj_codevector_dim, kernel_init=linear_init, name="project_q")

    def __call__(self, audio: jax.Array, sample_lengths: Optional[jax.Array] = None, *,
                 mask_time_indices: Optional[jax.Array] = None, gumbel_temperature: jax.Array | float = 2.0,
                 deterministic: bool = True, conv_features: Optional[jax.Array] = None,
                 **backbone_kwargs) -> PreTrainingOutput:
        """Training mode (`deterministic=False`, rng "dropout") quantizes with Gumbel noise at
        `gumbel_temperature`; eval mode takes the argmax code, as HF's `model.eval()`."""
        if conv_features is None:
            conv_features = self.backbone.extract_conv_features(audio, sample_lengths)
            if self.feature_grad_mult != 1.0:
                conv_features = _scale_gradient(conv_features, self.feature_grad_mult)
        out = self.backbone(audio, sample_lengths, mask_time_indices=mask_time_indices, deterministic=deterministic,
                            conv_features=conv_features, **backbone_kwargs)
        features = self.dropout_features(out.extract_features, deterministic=deterministic)
        quantized, perplexity = self.quantizer(features, mask_time_indices,
                                               None if deterministic else gumbel_temperature)
        return PreTrainingOutput(projected_states=self.project_hid(out.last_hidden_state),
                                 projected_quantized_states=self.project_q(quantized),
                                 codevector_perplexity=perplexity, backbone=out)


def _unit(x: jax.Array) -> jax.Array:
    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), _COSINE_EPS)


def contrastive_logits(predicted: jax.Array, targets: jax.Array, negative_indices: jax.Array,
                       temperature: float) -> jax.Array:
    """(B, T, 1 + K) cosine similarities / temperature to [the frame's own target, K negatives].

    `negative_indices` (B, T, K) are frame indices within the same utterance. A negative equal to the
    positive (a collapsed codebook) is masked to -inf, as HF does.
    """
    negatives = jax.vmap(lambda q, idx: q[idx])(targets, negative_indices)  # (B, T, K, P)
    candidates = jnp.concatenate([targets[:, :, None], negatives], axis=2)
    logits = (_unit(predicted)[:, :, None] * _unit(candidates)).sum(-1) / temperature
    neg_is_pos = (negatives == targets[:, :, None]).all(-1)
    return logits.at[..., 1:].set(jnp.where(neg_is_pos, -jnp.inf, logits[..., 1:]))


def pretraining_losses(out: PreTrainingOutput, mask_time_indices: jax.Array, negative_indices: jax.Array,
                       config: Wav2Vec2Config) -> dict[str, jax.Array]:
    """HF's loss terms as sums over masked frames: loss = contrastive + diversity_loss_weight * diversity.

    The diversity term is (GV - perplexity) / GV times the number of masked frames, so dividing every term
    by the masked-frame count gives per-frame means (what HF's pretraining script logs and optimises).
    """
    logits = contrastive_logits(out.projected_states, out.projected_quantized_states, negative_indices,
                                config.contrastive_logits_temperature)
    cross_entropy = jax.nn.logsumexp(logits, -1) - logits[..., 0]
    contrastive = jnp.where(mask_time_indices, cross_entropy, 0.0).sum()
    num_masked = mask_time_indices.sum().astype(jnp.float32)
    num_codevectors = config.num_codevector_groups * config.num_codevectors_per_group
    diversity = (num_codevectors - out.codevector_perplexity) / num_codevectors * num_masked
    return {"loss": contrastive + config.diversity_loss_weight * diversity, "contrastive": contrastive,
            "diversity": diversity, "perplexity": out.codevector_perplexity, "num_masked": num_masked}
