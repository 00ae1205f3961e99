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


def pretrain(model_config: Wav2Vec2Config, waveforms: Sequence[np.ndarray], config: ml_collections.ConfigDict,
             workdir: str, params: Optional[Any] = None) -> Any:
    """Pretrains `params` (default: random init from `config.seed`) for `config.total_steps` in `workdir`,
    resuming from its checkpoints. Returns the whole tree: backbone, quantizer, project_q, project_hid."""
    task = get_task("pretrain")
    if params is None:
        params = jax.device_get(init_params(task, model_config, jax.random.PRNGKey(config.seed)))
    return fit(task, model_config, params, Examples(list(waveforms)), config, workdir)


def final_metrics(workdir: str) -> dict[str, float]:
    """The last record of the run's metrics.jsonl (loss, contrastive, diversity, perplexity, temperature)."""
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return json.loads(f.read().splitlines()[-1])
