"""Named architectures for random initialisation (a checkpoint's own config.json wins when loading)."""

from __future__ import annotations

from recovery_jax.models.config import Wav2Vec2Config

# Keeps wav2vec2-base's conv kernels/strides (so frame counts follow the same formula: 16000 samples
# -> 49 frames) with narrow layers, so the embedded study's many fine-tunes fit minutes on 2 CPU cores.
TINY = dict(hidden_size=96, num_hidden_layers=6, num_attention_heads=6, intermediate_size=192,
            conv_dim=(64,) * 7, num_conv_pos_embeddings=32, num_conv_pos_embedding_groups=8,
            classifier_proj_size=64, hidden_dropout=0.1, attention_dropout=0.1, activation_dropout=0.0,
            feat_proj_dropout=0.0, final_dropout=0.1, mask_time_prob=0.05, mask_time_length=4,
            num_codevectors_per_group=64, num_codevector_groups=2, codevector_dim=64,
            proj_codevector_dim=64, num_negatives=20)

# The quick (test) configs' tiny model: the layers unroll into every compiled step, so 2 instead of 6 cut a cold
# quick study from 147 s to 105 s.
TINY_QUICK = {**TINY, "num_hidden_layers": 2}

PRESETS = {"tiny": TINY, "tiny_quick": TINY_QUICK, "base": {}}


def preset(name: str, **overrides) -> Wav2Vec2Config:
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; expected one of {sorted(PRESETS)}")
    return Wav2Vec2Config(**{**PRESETS[name], **overrides})
