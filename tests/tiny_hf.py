"""Tiny random HF checkpoints, written with `save_pretrained` so tests load them through the real path."""

from __future__ import annotations

import numpy as np
import torch
import transformers

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
            conv_dim=(16, 16, 16), conv_kernel=(10, 3, 2), conv_stride=(5, 2, 2),
            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, vocab_size=12,
            classifier_proj_size=8, num_labels=4)

VARIANTS = {
    "base": dict(feat_extract_norm="group", do_stable_layer_norm=False, conv_bias=False),
    "large": dict(feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True),
}


def hf_config(variant: str = "base", family: str = "wav2vec2", **overrides):
    kw = {**TINY, **VARIANTS[variant], **overrides, "attn_implementation": "eager"}
    cls = transformers.HubertConfig if family == "hubert" else transformers.Wav2Vec2Config
    return cls(**kw)


def make_hf_model(variant: str = "base", head: str = "Model", family: str = "wav2vec2", seed: int = 0,
                  **overrides):
    """A random HF model; every parameter (norms included) perturbed so no weight sits at its init."""
    torch.manual_seed(seed)
    prefix = "Hubert" if family == "hubert" else "Wav2Vec2"
    model = getattr(transformers, prefix + head)(hf_config(variant, family, **overrides)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def random_audio(batch: int, samples: int, seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).randn(batch, samples).astype(np.float32)
