"""wav2vec2-family architecture config, read from and written back to HF `config.json`."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping, Sequence

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

# Compute choices, not architecture: never read from or written to config.json, no part of `to_dict`.
COMPUTE_FIELDS = ("remat", "compute_dtype")
REMAT = ("none", "layers", "layers_and_conv")
COMPUTE_DTYPES = ("float32", "bfloat16")

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
    # Recompute activations in the backward pass instead of keeping them: "layers" per encoder layer,
    # "layers_and_conv" also per conv block (worth it only when the conv stack is trained). Same numbers.
    remat: str = "none"
    # The backbone's activations and matmuls; params stay float32, heads and losses compute in float32.
    compute_dtype: str = "float32"

    def __post_init__(self):
        if self.remat not in REMAT:
            raise ValueError(f"remat must be one of {REMAT}, got {self.remat!r}")
        if self.compute_dtype not in COMPUTE_DTYPES:
            raise ValueError(f"compute_dtype must be one of {COMPUTE_DTYPES}, got {self.compute_dtype!r}")
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

    @property
    def dtype(self) -> Any:
        """`compute_dtype` as a jnp dtype, for flax modules' `dtype`."""
        import jax.numpy as jnp

        return jnp.dtype(self.compute_dtype)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Wav2Vec2Config":
        if not isinstance(d, Mapping):
            raise ValueError(f"expected a JSON object of config fields, found {json_type(d)}")
        wrong = [f"field {k!r}: expected {_KIND_NAMES[_FIELD_KINDS[k]]}, found {json_type(d[k])} {d[k]!r}"
                 for k in _ARCH_FIELDS if d.get(k) is not None and not _fits(_FIELD_KINDS[k], d[k])]
        if "id2label" in d and not isinstance(d["id2label"], Mapping):
            wrong.append(f"field 'id2label': expected an object, found {json_type(d['id2label'])}")
        if wrong:
            raise ValueError("; ".join(wrong))
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
        """The HF config fields (what `config.json` holds); compute choices are left out."""
        d = {k: v for k, v in dataclasses.asdict(self).items() if k not in COMPUTE_FIELDS}
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


_FIELD_KINDS = {f.name: type(f.default) for f in dataclasses.fields(Wav2Vec2Config)}
_KIND_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
               tuple: "a list of integers"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not a layer count


def _fits(kind: type, value: Any) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return _is_int(value)
    if kind is float:
        return _is_int(value) or isinstance(value, float)
    if kind is tuple:
        return isinstance(value, (list, tuple)) and all(map(_is_int, value))
    return isinstance(value, kind)


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for errors about hand-edited config files."""
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                       (Mapping, "object"), ((list, tuple), "array"), (type(None), "null")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def with_compute(config: Wav2Vec2Config, choices: Mapping[str, Any], where: str = "compute") -> Wav2Vec2Config:
    """`config` with the compute choices of a training config section (`where` names it in errors)."""
    unknown = sorted(set(choices) - set(COMPUTE_FIELDS))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; expected some of {COMPUTE_FIELDS}")
    try:
        return dataclasses.replace(config, **choices)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from e


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
