"""wav2vec2 utterance embeddings: each selected layer's hidden states, mean-pooled over valid frames.

Index l of the layer axis is HF's hidden_states[l]: 0 is the encoder input, l >= 1 the output of layer l.
Padding never changes an embedding: the backbone masks padded samples and frames (GroupNorm statistics over
valid samples), and the mean runs over valid frames only, so a padded batch equals single-utterance runs.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from recovery_jax.data import batch_iterator
from recovery_jax.models import Wav2Vec2Config, Wav2Vec2Model, feature_lengths, masked_mean
from recovery_jax.progress import Progress

Params = Any


def all_layers(config: Wav2Vec2Config) -> tuple[int, ...]:
    """Every hidden_states index: 0 (encoder input) to num_hidden_layers."""
    return tuple(range(config.num_hidden_layers + 1))


def params_digest(params: Params) -> str:
    """Hex SHA-256 over every leaf's path, dtype, shape and bytes: the identity of a checkpoint's weights."""
    h = hashlib.sha256()
    for path, leaf in sorted(jax.tree_util.tree_flatten_with_path(params)[0],
                             key=lambda item: jax.tree_util.keystr(item[0])):
        leaf = np.asarray(leaf)
        h.update(f"{jax.tree_util.keystr(path)}|{leaf.dtype}|{leaf.shape}".encode())
        h.update(np.ascontiguousarray(leaf).tobytes())
    return h.hexdigest()


@functools.cache
def _pooled_fn(config: Wav2Vec2Config, layers: tuple[int, ...]):
    model = Wav2Vec2Model(config)

    @jax.jit
    def pooled(params, audio, lengths, conv_features):
        out = model.apply({"params": params}, audio, lengths, output_hidden_states=True, deterministic=True,
                          conv_features=conv_features)
        selected = out.hidden_states[:, jnp.asarray(layers)]  # (B, layers, T, H)
        return jax.vmap(masked_mean, in_axes=(1, None), out_axes=1)(selected, out.frame_mask)

    return pooled


def layer_embeddings(config: Wav2Vec2Config, params: Params, waveforms: Sequence[np.ndarray], *,
                     layers: Sequence[int] | None = None, batch_size: int = 8,
                     bucket_multiple: int = 16000, what: str = "embeddings",
                     conv_features: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """(N, len(layers), H) float32 mean-pooled hidden states of the backbone `params` (default: all layers).

    Batches are padded to a multiple of `bucket_multiple` samples, so jit compiles once per bucket length.
    `what` names the pass in its progress lines. `conv_features` (per clip, this backbone's conv stack output:
    models/conv_cache.py) skips the conv stack.
    """
    layers = all_layers(config) if layers is None else tuple(int(l) for l in layers)
    bad = [l for l in layers if not 0 <= l <= config.num_hidden_layers]
    if bad or not layers:
        raise ValueError(f"layers {list(layers)}: expected indices in [0, {config.num_hidden_layers}]")
    pooled = _pooled_fn(config, layers)
    out = np.zeros((len(waveforms), len(layers), config.hidden_size), np.float32)
    progress = Progress(what, len(waveforms), "utterances")
    frames_for = None if conv_features is None else functools.partial(feature_lengths, config)
    for batch in batch_iterator(waveforms, None, batch_size, bucket_multiple=bucket_multiple,
                                conv_features=conv_features, frames_for=frames_for):
        index = batch["index"][0]
        audio, conv = (batch[k][0] if k in batch else None for k in ("audio", "conv_features"))
        result = np.asarray(pooled(params, audio, batch["lengths"][0], conv))
        out[index[index >= 0]] = result[index >= 0]
        progress.advance(int((index >= 0).sum()))
    return out


@functools.cache
def _last_layer_fn(config: Wav2Vec2Config):
    model = Wav2Vec2Model(config)

    @jax.jit
    def last(params, audio, lengths):
        out = model.apply({"params": params}, audio, lengths, deterministic=True)
        return out.last_hidden_state, out.frame_mask

    return last


def last_layer_frames(config: Wav2Vec2Config, params: Params, waveforms: Sequence[np.ndarray], *,
                      batch_size: int = 8, bucket_multiple: int = 16000) -> list[np.ndarray]:
    """Per clip, the backbone's last hidden states over its valid frames: (frames, H) float32, unpooled."""
    last = _last_layer_fn(config)
    out: list[np.ndarray] = [np.zeros((0, config.hidden_size), np.float32)] * len(waveforms)
    for batch in batch_iterator(waveforms, None, batch_size, bucket_multiple=bucket_multiple):
        hidden, mask = (np.asarray(x) for x in last(params, batch["audio"][0], batch["lengths"][0]))
        for row, i in enumerate(batch["index"][0]):
            if i >= 0:
                out[i] = hidden[row, :int(mask[row].sum())]
    return out
