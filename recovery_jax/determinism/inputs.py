"""What both frameworks are given: one HF checkpoint with an SER head, fixed-length batches, the optimiser."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import ml_collections
import numpy as np

from recovery_jax.data import emotion_index, load_audio
from recovery_jax.data.corpora import emotion_corpus
from recovery_jax.models import load_hf, read_config_dict, save_hf
from recovery_jax.train.tasks import get_task, init_params

Batch = tuple[np.ndarray, np.ndarray]  # audio (B, samples) float32, labels (B,) int32

RANDOM_LABEL = ("tiny random weights built by this command (transformers save_pretrained, seed {seed}); "
                "not a pretrained model")


def train_overrides(dropout: bool) -> dict[str, float]:
    """Config fields for training. SpecAugment and LayerDrop are off on both sides (each framework would draw
    them from its own generator); `dropout=False` zeroes every dropout so the frameworks differ only in numerics."""
    off = dict(mask_time_prob=0.0, mask_feature_prob=0.0, layerdrop=0.0)
    if not dropout:
        off.update(hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
                   final_dropout=0.0)
    return off


def check_optim(optim: ml_collections.ConfigDict) -> None:
    """The PyTorch side implements constant-lr Adam + global-norm clipping, conv stack frozen, no accumulation."""
    supported = (optim.get("schedule", "constant") == "constant" and not optim.get("warmup_steps", 0)
                 and optim.get("accum_steps", 1) == 1 and tuple(optim.frozen) == ("backbone/feature_extractor",))
    if not supported:
        raise ValueError("determinism runs need optim.schedule='constant', warmup_steps=0, accum_steps=1 and "
                         f"frozen=('backbone/feature_extractor',); got {optim.to_dict()}")


def build_random_checkpoint(folder: str, model: dict[str, Any], seed: int) -> str:
    """A random transformers Wav2Vec2ForSequenceClassification of shape `model`, via save_pretrained."""
    import torch
    import transformers

    torch.manual_seed(seed)
    transformers.Wav2Vec2ForSequenceClassification(transformers.Wav2Vec2Config(**model)).save_pretrained(folder)
    return folder


def prepare_checkpoint(given: str, out_dir: str, model: dict[str, Any], num_labels: int, seed: int
                       ) -> tuple[str, str]:
    """(folder, label) of the checkpoint both frameworks load. No `given`: a tiny random one in `out_dir`.
    A given checkpoint without an SER head gets one initialised by JAX from `seed`, written next to the
    report, so that PyTorch and JAX start training from identical weights."""
    if not given:
        folder = build_random_checkpoint(os.path.join(out_dir, "tiny_random_checkpoint"),
                                         {**model, "num_labels": num_labels}, seed)
        return folder, RANDOM_LABEL.format(seed=seed)
    config, params = load_hf(given)
    if {"projector", "classifier"} <= set(params) and config.num_labels == num_labels:
        return given, f"{given} (as given)"
    config = dataclasses.replace(config, num_labels=num_labels)
    params = jax.device_get(init_params(get_task("ser"), config, jax.random.PRNGKey(seed),
                                        {"backbone": params["backbone"]}))
    folder = os.path.join(out_dir, "checkpoint_with_ser_head")
    save_hf(folder, config, params, base_config=read_config_dict(given))
    return folder, f"{given} + SER head initialised by JAX (seed {seed}), saved as {folder}"


def corpus_batches(section: ml_collections.ConfigDict, batch_size: int, num_batches: int, samples: int
                   ) -> list[Batch]:
    """`num_batches` batches of corpus clips cut (or tiled) to exactly `samples` samples, so there is no
    padding: both frameworks then see identical inputs and need no attention mask."""
    utts = emotion_corpus(section)
    picked = [utts[i % len(utts)] for i in range(batch_size * num_batches)]
    audio = np.stack([np.resize(load_audio(u.path), samples).astype(np.float32) for u in picked])
    labels = np.array([emotion_index(u.emotion) for u in picked], np.int32)
    return [(audio[i:i + batch_size], labels[i:i + batch_size]) for i in range(0, len(picked), batch_size)]
