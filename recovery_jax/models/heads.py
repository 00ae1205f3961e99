"""Task models on the wav2vec2 backbone, laid out as HF's so their checkpoints load and export.

The SER head is S3PRL's emotion downstream (per-frame Linear(H -> 256), masked mean pooling,
Linear(256 -> classes)), which is also exactly HF `Wav2Vec2ForSequenceClassification`'s
`projector` / `classifier`.
"""

from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from recovery_jax.models.config import Wav2Vec2Config
from recovery_jax.models.dropout import Dropout
from recovery_jax.models.wav2vec2 import Wav2Vec2Model, Wav2Vec2Output, _torch_dense


def masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean over axis 1 of (B, T, D) restricted to mask (B, T)."""
    weight = mask[:, :, None].astype(x.dtype)
    return (x * weight).sum(axis=1) / jnp.maximum(weight.sum(axis=1), 1.0)


class Wav2Vec2ForSequenceClassification(nn.Module):
    config: Wav2Vec2Config
    groupnorm_over_padding: bool = False

    def setup(self):
        self.backbone = Wav2Vec2Model(self.config, self.groupnorm_over_padding)
        self.projector = _torch_dense(self.config.classifier_proj_size, "projector")
        self.classifier = _torch_dense(self.config.num_labels, "classifier")

    def __call__(self, audio: jax.Array, sample_lengths: Optional[jax.Array] = None, *,
                 deterministic: bool = True, **backbone_kwargs) -> tuple[jax.Array, Wav2Vec2Output]:
        out = self.backbone(audio, sample_lengths, deterministic=deterministic, **backbone_kwargs)
        pooled = masked_mean(self.projector(out.last_hidden_state), out.frame_mask)
        return self.classifier(pooled), out


class Wav2Vec2ForCTC(nn.Module):
    config: Wav2Vec2Config
    groupnorm_over_padding: bool = False

    def setup(self):
        self.backbone = Wav2Vec2Model(self.config, self.groupnorm_over_padding)
        self.dropout = Dropout(self.config.final_dropout)
        self.lm_head = _torch_dense(self.config.vocab_size, "lm_head")

    def __call__(self, audio: jax.Array, sample_lengths: Optional[jax.Array] = None, *,
                 deterministic: bool = True, **backbone_kwargs) -> tuple[jax.Array, Wav2Vec2Output]:
        out = self.backbone(audio, sample_lengths, deterministic=deterministic, **backbone_kwargs)
        hidden = self.dropout(out.last_hidden_state, deterministic=deterministic)
        return self.lm_head(hidden), out
