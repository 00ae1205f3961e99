"""The pretraining stage: unlabelled audio -> a wav2vec2 pretrained from random init (or resumed).

    params = pretrain(model_config, waveforms, config, workdir)  # config: configs/pretrain.py
    backbone = params["backbone"]  # for probing, or as `init_params(..., pretrained=params)` of a fine-tune
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional, Sequence

import jax
import ml_collections
import numpy as np

from recovery_jax.data.corpora import asr_corpus, emotion_corpus, load_waveforms
from recovery_jax.models import Wav2Vec2Config
from recovery_jax.train.loop import Examples, fit
from recovery_jax.train.tasks import get_task, init_params


def pretraining_waveforms(corpus: ml_collections.ConfigDict, min_samples: int) -> list[np.ndarray]:
    """Every clip of the emotion corpus plus the largest (embedded) ASR subset, labels unused."""
    utts = list(emotion_corpus(corpus)) + max(asr_corpus(corpus).values(), key=len)
    return load_waveforms(utts, min_samples)


def crop_waveforms(waveforms: Sequence[np.ndarray], samples: int, seed: int) -> list[np.ndarray]:
    """One window of `samples` per clip at a seeded random offset (shorter clips whole): one padded shape per
    batch and no padding frames, so a pretraining step costs about a third of one over whole 0.8-2.6 s clips."""
    rng = np.random.default_rng(seed)
    out = []
    for w in waveforms:
        start = int(rng.integers(0, len(w) - samples + 1)) if len(w) > samples else 0
        out.append(w[start:start + samples] if samples else w)
    return out


def pretrain(model_config: Wav2Vec2Config, waveforms: Sequence[np.ndarray], config: ml_collections.ConfigDict,
             workdir: str, params: Optional[Any] = None) -> Any:
    """Pretrains `params` (default: random init from `config.seed`) for `config.total_steps` in `workdir`,
    resuming from its checkpoints. Returns the whole tree: backbone, quantizer, project_q, project_hid.
    `config.pretrain.crop_samples` (if set and > 0) crops each clip to one window of that many samples."""
    task = get_task("pretrain")
    if params is None:
        params = jax.device_get(init_params(task, model_config, jax.random.PRNGKey(config.seed)))
    crop = config.pretrain.get("crop_samples", 0) if "pretrain" in config else 0
    if crop:
        waveforms = crop_waveforms(waveforms, crop, config.seed)
    return fit(task, model_config, params, Examples(list(waveforms)), config, workdir)


def final_metrics(workdir: str) -> dict[str, float]:
    """The last record of the run's metrics.jsonl (loss, contrastive, diversity, perplexity, temperature)."""
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return json.loads(f.read().splitlines()[-1])
