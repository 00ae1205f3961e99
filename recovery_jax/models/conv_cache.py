"""The frozen conv feature encoder's output, computed once per clip instead of once per step or system.

Every system of the study shares one conv stack (it is frozen in fine-tuning), so its output per clip is a
function of the clip alone: fine-tunes, embeddings and probes can all start from it. A clip's features are its
valid frames only; `batch_iterator(conv_features=...)` pads them back to the frames its padded audio would give,
and with the masked GroupNorm (`groupnorm_over_padding=False`) valid frames never depend on padding, so a step
fed cached features computes what the audio path computes (up to float summation order).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from typing import Any, Sequence

import jax
import numpy as np

from recovery_jax.data.batching import batch_iterator
from recovery_jax.models.config import Wav2Vec2Config, feature_lengths
from recovery_jax.models.wav2vec2 import FeatureEncoder

Params = Any


@functools.lru_cache(maxsize=8)
def _encoder_fn(config: Wav2Vec2Config):
    encoder = FeatureEncoder(config)
    return jax.jit(lambda params, audio, lengths: encoder.apply({"params": params}, audio, lengths))


def _clip_key(waveform: np.ndarray) -> bytes:
    return hashlib.sha1(np.ascontiguousarray(waveform).view(np.uint8)).digest()


def clip_conv_features(config: Wav2Vec2Config, conv_params: Params, waveforms: Sequence[np.ndarray], *,
                       batch_size: int = 16, bucket_multiple: int = 16000) -> list[np.ndarray]:
    """Per clip, the conv stack's (valid frames, conv channels) output; clips with the same samples are run
    once. `conv_params` is a backbone's "feature_extractor" subtree."""
    unique: dict[bytes, int] = {}
    keys = [_clip_key(w) for w in waveforms]
    firsts = [unique.setdefault(k, i) for i, k in enumerate(keys)]
    todo = sorted(set(firsts))
    encode = _encoder_fn(config)
    done: dict[int, np.ndarray] = {}
    for batch in batch_iterator([waveforms[i] for i in todo], None, batch_size, bucket_multiple=bucket_multiple):
        features = np.asarray(encode(conv_params, batch["audio"][0], batch["lengths"][0]))
        frames = feature_lengths(config, batch["lengths"][0])
        for row, index in enumerate(batch["index"][0]):
            if index >= 0:
                done[todo[index]] = features[row, :frames[row]].copy()
    return [done[first] for first in firsts]


@dataclasses.dataclass(frozen=True)
class CorpusConvFeatures:
    """One conv stack's output for every clip of a corpus, handed to each backbone that has that conv stack."""

    conv_params: Params
    features: list[np.ndarray]

    def for_backbone(self, backbone: Params) -> list[np.ndarray] | None:
        """The cached features if `backbone`'s conv stack equals this one (a frozen-conv fine-tune of it), else
        None: that backbone runs its own conv stack."""
        mine, theirs = jax.tree.leaves(self.conv_params), jax.tree.leaves(backbone["feature_extractor"])
        same = len(mine) == len(theirs) and all(np.array_equal(a, b) for a, b in zip(mine, theirs))
        return self.features if same else None
