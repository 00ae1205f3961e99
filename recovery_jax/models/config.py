"""wav2vec2-family architecture config, read from and written back to HF `config.json`."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Sequence

import numpy as np

# What decides the backbone's deterministic output (not dropout, masking, heads or pretraining).
_BACKBONE_FIELDS = (
    "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
    "hidden_act", "layer_norm_eps", "feat_extract_norm", "feat_extract_activation", "conv_dim",
    "conv_stride", "conv_kernel", "conv_bias", "num_conv_pos_embeddings",
    "num_conv_pos_embedding_groups", "do_stable_layer_norm", "feat_proj_layer_norm",
)
_ARCH_FIELDS = _BACKBONE_FIELDS + (
    "hidden_dropout", "activation_dropout", "attention_dropout", "feat_proj_dropout",
    "final_dropout", "layerdrop", "apply_spec_augment", "mask_time_prob", "mask_time_length", "mask_time_min_masks",
    "mask_feature_prob", "mask_feature_length", "mask_feature_min_masks",
    "vocab_size", "pad_token_id", "classifier_proj_size", "num_labels",
    "num_codevectors_per_group", "num_codevector_groups", "codevector_dim", "proj_codevector_dim",
    "contrastive_logits_temperature", "num_negatives", "diversity_loss_weight",
    "feat_quantizer_dropout",
)

# HF options that change the architecture in ways this package does not reproduce.
_UNSUPPORTED = ("add_adapter", "use_weighted_layer_sum", "conv_pos_batch_norm", "adapter_attn_dim")


@dataclasses.dataclass(frozen=True)
class Wav2Vec2Config:
    """The HF `Wav2Vec2Config`/`HubertConfig` fields our model uses; defaults are wav2vec2-base."""

    model_type: str = "wav2vec2"
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-5
    feat_extract_norm: str = "group"
    feat_extract_activation: str = "gelu"
    conv_dim: tuple[int, ...] = (512,) * 7
    conv_stride: tuple[int, ...] = (5, 2, 2, 2, 2, 2, 2)
    conv_kernel: tuple[int, ...] = (10, 3, 3, 3, 3, 2, 2)
    conv_bias: bool = False
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    do_stable_layer_norm: bool = False
    feat_proj_layer_norm: bool = True
    hidden_dropout: float = 0.1
    activation_dropout: float = 0.0
    attention_dropout: float = 0.1
    feat_proj_dropout: float = 0.0
    final_dropout: float = 0.1
    # Training-time regularisation, applied as HF does in train mode (see models/spec_augment.py).
    layerdrop: float = 0.0
    apply_spec_augment: bool = True
    mask_time_prob: float = 0.05
    mask_time_length: int = 10
    mask_time_min_masks: int = 2
    mask_feature_prob: float = 0.0
    mask_feature_length: int = 10
    mask_feature_min_masks: int = 0
    vocab_size: int = 32
    pad_token_id: int = 0
    classifier_proj_size: int = 256
    num_labels: int = 4
    num_codevectors_per_group: int = 320
    num_codevector_groups: int = 2
    codevector_dim: int = 256
    proj_codevector_dim: int = 256
    contrastive_logits_temperature: float = 0.1
    num_negatives: int = 100
    diversity_loss_weight: float = 0.1
    feat_quantizer_dropout: float = 0.0

    def __post_init__(self):
        if self.feat_extract_norm not in ("group", "layer"):
            raise ValueError(f"feat_extract_norm must be 'group' or 'layer', got {self.feat_extract_norm!r}")
        if not len(self.conv_dim) == len(self.conv_stride) == len(self.conv_kernel):
            raise ValueError(
                f"conv_dim, conv_stride and conv_kernel must have one entry per conv layer, got "
                f"{len(self.conv_dim)}, {len(self.conv_stride)}, {len(self.conv_kernel)}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by "
                             f"num_attention_heads {self.num_attention_heads}")
        for name in ("layerdrop", "mask_time_prob", "mask_feature_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")
        for name in ("mask_time_length", "mask_feature_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 frame / channel, got {getattr(self, name)}")
        if self.mask_feature_prob > 0 and self.mask_feature_length > self.hidden_size:
            raise ValueError(f"mask_feature_length {self.mask_feature_length} exceeds hidden_size {self.hidden_size}")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Wav2Vec2Config":
        unsupported = [k for k in _UNSUPPORTED if d.get(k)]
        if unsupported:
            raise ValueError(f"config sets {unsupported}, which recovery-jax does not implement")
        kwargs = {k: d[k] for k in _ARCH_FIELDS if k in d and d[k] is not None}
        if "id2label" in d and "num_labels" not in d:
            kwargs["num_labels"] = len(d["id2label"])
        for k in ("conv_dim", "conv_stride", "conv_kernel"):
            if k in kwargs:
                kwargs[k] = tuple(int(v) for v in kwargs[k])
        if "feat_proj_layer_norm" not in d and kwargs.get("model_type", "wav2vec2") == "wav2vec2":
            kwargs["feat_proj_layer_norm"] = True
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("conv_dim", "conv_stride", "conv_kernel"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "Wav2Vec2Config":
        with open(path) as f:
            try:
                return cls.from_dict(json.load(f))
            except (json.JSONDecodeError, TypeError, ValueError) as e:
                raise ValueError(f"{path}: not a valid wav2vec2 config.json ({e})") from e


def backbone_differences(a: Wav2Vec2Config, b: Wav2Vec2Config) -> list[str]:
    """Names of the fields in which two configs' backbones compute differently (empty: interchangeable)."""
    return [name for name in _BACKBONE_FIELDS if getattr(a, name) != getattr(b, name)]


def feature_lengths(config: Wav2Vec2Config, sample_lengths: Any) -> Any:
    """Frames the conv stack yields for each input length (HF `_get_feat_extract_output_lengths`).

    Works on Python ints, numpy and jax arrays alike.
    """
    lengths = sample_lengths
    for kernel, stride in zip(config.conv_kernel, config.conv_stride):
        lengths = (lengths - kernel) // stride + 1
    return lengths


def receptive_field(config: Wav2Vec2Config) -> int:
    """Fewest samples that yield one frame (400 = 25 ms for wav2vec2-base)."""
    field = 1
    for kernel, stride in reversed(list(zip(config.conv_kernel, config.conv_stride))):
        field = (field - 1) * stride + kernel
    return field


def frame_mask(config: Wav2Vec2Config, sample_lengths: Sequence[int] | np.ndarray, num_frames: int) -> Any:
    """(B, num_frames) bool mask of valid frames."""
    import jax.numpy as jnp

    frames = feature_lengths(config, jnp.asarray(sample_lengths))
    return jnp.arange(num_frames)[None, :] < frames[:, None]
