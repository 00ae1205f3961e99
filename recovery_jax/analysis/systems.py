"""Several wav2vec2 systems run side by side on one batch, their outputs reduced on the device.

The systems' backbone params are stacked on a leading axis and the forward is `vmap`ped over it inside
one jit, so the attention maps and hidden states live only inside XLA: what comes back per batch is an
(L, H) distance sum per compared pair, or CKA running sums. The encoder layers are applied one at a time
(all systems together), so that each layer's maps are reduced before the next layer's are made.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, Iterable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from recovery_jax.analysis.attention import attention_distance_per_utterance
from recovery_jax.analysis.batches import Batch, indexed_batches
from recovery_jax.analysis.cka import CKAState, cka_init, cka_result, cka_update, mean_pool
from recovery_jax.models import CheckpointError, Wav2Vec2Config, Wav2Vec2Model, load_hf
from recovery_jax.models.config import backbone_differences
from recovery_jax.models.wav2vec2 import EncoderLayer
from recovery_jax.progress import Progress

Params = Any
Pair = tuple[int, int]


def _stack(*leaves):
    if all(isinstance(leaf, np.ndarray) for leaf in leaves):  # as load_hf returns them
        return jnp.asarray(np.stack(leaves))  # one host copy, not one per system plus the stack
    return jnp.stack(leaves)


def stack_params(*params: Params) -> Params:
    """Backbone params of S systems -> one pytree with a leading system axis of size S."""
    return jax.tree.map(_stack, *params)


def load_stacked(folders: Sequence[str | os.PathLike]) -> tuple[Wav2Vec2Config, Params]:
    """(config, stacked backbones) of HF checkpoint folders, ready for `attention_distances`/`layer_cka`.

    Stacked leaf by leaf, each host copy released once its stacked leaf is on the device: the peak is the
    checkpoints on the host plus one leaf, not host and device copies of every system.
    """
    config, flat = None, []
    for folder in folders:
        loaded, params = load_hf(folder)
        differences = backbone_differences(config, loaded) if config else []
        if differences:
            raise CheckpointError(f"{folder}: backbone config differs from {folders[0]}'s in {differences}; "
                                  f"stacked systems must share one architecture")
        config = config or loaded
        flat.append(traverse_util.flatten_dict(params.pop("backbone")))
        del params  # the heads
    stacked = {path: _stack(*[leaves.pop(path) for leaves in flat]) for path in list(flat[0])}
    return config, traverse_util.unflatten_dict(stacked)


def shares_conv_stack(stacked: Params) -> bool:
    """True when all stacked systems have the same conv feature encoder (it is frozen during fine-tuning
    in the paper), so its output can be computed once per batch instead of once per system."""
    return all(bool(jnp.all(leaf == leaf[:1])) for leaf in jax.tree.leaves(stacked["feature_extractor"]))


def _encoder_inputs(model: Wav2Vec2Model, stacked: Params, audio: jax.Array, sample_lengths: jax.Array,
                    shared_conv: bool) -> tuple[jax.Array, jax.Array]:
    """((S, B, T, H) first-layer input of every stacked system, (B, T) frame mask)."""
    # Only the conv stack's params (and setup()'s eagerly created masked_spec_embed) go through it, so
    # that lax.map slices no encoder weights.
    conv_keys = ("feature_extractor", "masked_spec_embed")

    def conv_stack(conv_params):
        return model.apply({"params": conv_params}, audio, sample_lengths, method=Wav2Vec2Model.extract_conv_features)

    # The conv stack is not vmapped: a vmapped conv kernel becomes a grouped conv, which XLA's CPU backend
    # runs far below its dense speed, and one system at a time also keeps its large temporaries single.
    if shared_conv:
        conv_features = conv_stack({k: jax.tree.map(lambda leaf: leaf[0], stacked[k]) for k in conv_keys})
    else:
        conv_features = jax.lax.map(conv_stack, {k: stacked[k] for k in conv_keys})

    def embed(params, features):
        return model.apply({"params": params}, audio, sample_lengths, conv_features=features,
                           method=Wav2Vec2Model.encoder_input)

    hidden, frame_masks = jax.vmap(embed, (0, None if shared_conv else 0))(stacked, conv_features)
    return hidden, frame_masks[0]


def _layer_outputs(config: Wav2Vec2Config, stacked: Params, hidden: jax.Array, frame_mask: jax.Array
                   ) -> Iterator[tuple[jax.Array, jax.Array]]:
    """Each encoder layer's ((S, B, T, H) output, (S, B, heads, T, T) maps), one layer at a time, so that a
    caller reducing them holds one layer's maps, not all L (7 systems x 144 maps of a 30 s utterance are
    ~9 GB)."""
    layer = EncoderLayer(config)

    def apply(params, x):
        return layer.apply({"params": params}, x, frame_mask, True)

    for i in range(config.num_hidden_layers):
        hidden, maps = jax.vmap(apply)(stacked["encoder"][f"layers_{i}"], hidden)
        yield hidden, maps


def _per_utterance_distances(model: Wav2Vec2Model, config: Wav2Vec2Config, pairs: tuple[Pair, ...],
                             shared_conv: bool, stacked: Params, audio: jax.Array, sample_lengths: jax.Array
                             ) -> tuple[jax.Array, jax.Array]:
    """((P, B, L, H) each utterance's Eq. 1 distance for each pair, (B, T) frame mask); each layer's maps are
    reduced as soon as they are made."""
    hidden, mask = _encoder_inputs(model, stacked, audio, sample_lengths, shared_conv)
    per_layer = [jnp.stack([attention_distance_per_utterance(maps[i][:, None], maps[j][:, None], mask)[:, 0]
                            for i, j in pairs])
                 for _, maps in _layer_outputs(config, stacked, hidden, mask)]  # each (P, B, H)
    return jnp.stack(per_layer, axis=2), mask


# Cached so that repeated corpus calls reuse one jitted function and its compilations.
@functools.lru_cache(maxsize=16)
def make_attention_distance_fn(config: Wav2Vec2Config, pairs: tuple[Pair, ...] = ((0, 1),), *,
                               shared_conv: bool = False, groupnorm_over_padding: bool = False
                               ) -> Callable[[Params, Any, Any, Any], tuple[jax.Array, jax.Array]]:
    """jit(stacked params, audio (B, S), sample_lengths (B,), weights (B,)) -> ((P, L, H) sums, count).

    For each pair (i, j) of system indices: the sum over the batch's weighted utterances of the
    per-utterance mean row Bhattacharyya distance between systems i and j (Eq. 1), and how many
    utterances that sum holds.
    """
    model = Wav2Vec2Model(config, groupnorm_over_padding=groupnorm_over_padding)

    @jax.jit
    def distance_sums(stacked, audio, sample_lengths, weights):
        per_utterance, mask = _per_utterance_distances(model, config, pairs, shared_conv, stacked, audio,
                                                       sample_lengths)
        weights = jnp.where(mask.any(-1), weights, 0.0)  # an utterance with no frames has no rows to compare
        return jnp.einsum("pblh,b->plh", per_utterance, weights), weights.sum()

    return distance_sums


@functools.lru_cache(maxsize=16)
def make_attention_per_utterance_fn(config: Wav2Vec2Config, pairs: tuple[Pair, ...], *, shared_conv: bool = False
                                   ) -> Callable[[Params, Any, Any], jax.Array]:
    """jit(stacked params, audio (B, S), sample_lengths (B,)) -> (P, B, L, H) per-utterance Eq. 1 distances."""
    model = Wav2Vec2Model(config)
    return jax.jit(lambda stacked, audio, lengths: _per_utterance_distances(model, config, pairs, shared_conv,
                                                                            stacked, audio, lengths)[0])


@functools.lru_cache(maxsize=16)
def make_cka_update_fn(config: Wav2Vec2Config, *, shared_conv: bool = False, groupnorm_over_padding: bool = False
                       ) -> Callable[[CKAState, Params, Any, Any, Any], CKAState]:
    """jit(state, stacked params of 2 systems, audio, sample_lengths, weights) -> state.

    Each layer's states (encoder input + every layer) are averaged over valid frames per utterance, and
    the batch is one CKA minibatch (see `cka.py`; batches with < 4 real utterances are skipped).
    """
    model = Wav2Vec2Model(config, groupnorm_over_padding=groupnorm_over_padding)
    pool = jax.vmap(mean_pool, (0, None))  # over systems

    @jax.jit
    def update(state, stacked, audio, sample_lengths, weights):
        hidden, mask = _encoder_inputs(model, stacked, audio, sample_lengths, shared_conv)
        layers = [hidden] + [h for h, _ in _layer_outputs(config, stacked, hidden, mask)]
        pooled = pool(jnp.stack(layers, axis=2), mask)  # (S, L + 1, B, H)
        return cka_update(state, pooled[0], pooled[1], weights)

    return update


def attention_distances(config: Wav2Vec2Config, stacked: Params, batches: Iterable[Batch],
                        pairs: Sequence[Pair] = ((0, 1),), groupnorm_over_padding: bool = False,
                        progress: Progress | None = None) -> np.ndarray:
    """(P, L, H) corpus-mean Eq. 1 distance for each pair of systems in `stacked` (see `stack_params`);
    `progress` counts the real utterances passed."""
    fn = make_attention_distance_fn(config, tuple(map(tuple, pairs)), shared_conv=shares_conv_stack(stacked),
                                    groupnorm_over_padding=groupnorm_over_padding)
    total, count = 0.0, 0.0
    for audio, sample_lengths, weights in batches:
        sums, n = fn(stacked, audio, sample_lengths, weights)
        total, count = total + sums, count + n  # stays on the device: no sync per batch
        if progress is not None:
            jax.block_until_ready(n)  # the ETA measures finished work, not work queued on the device
            progress.advance(int(np.count_nonzero(weights)))
    if float(count) == 0:
        raise ValueError("no utterance with a non-zero weight and at least one frame")
    return np.asarray(total / count)


def attention_distances_per_utterance(config: Wav2Vec2Config, stacked: Params, waveforms: Sequence[np.ndarray],
                                      batch_size: int, pairs: Sequence[Pair], progress: Progress | None = None
                                      ) -> np.ndarray:
    """(P, N, L, H) Eq. 1 distance of each pair of stacked systems on each of the N clips, in input order: what
    a bootstrap over utterances resamples. Their mean over N is `attention_distances`' corpus mean."""
    fn = make_attention_per_utterance_fn(config, tuple(map(tuple, pairs)), shared_conv=shares_conv_stack(stacked))
    out = np.zeros((len(pairs), len(waveforms), config.num_hidden_layers, config.num_attention_heads), np.float32)
    for audio, sample_lengths, _, index in indexed_batches(waveforms, batch_size):
        real = index >= 0
        out[:, index[real]] = np.asarray(fn(stacked, audio, sample_lengths))[:, real]
        if progress is not None:
            progress.advance(int(real.sum()))
    return out


def layer_cka(config: Wav2Vec2Config, stacked: Params, batches: Iterable[Batch],
              groupnorm_over_padding: bool = False) -> np.ndarray:
    """(L+1, L+1) linear CKA between every layer of system 0 (rows) and of system 1 (columns) of a
    2-system `stacked` tree; layer 0 is the encoder input."""
    systems = {leaf.shape[0] for leaf in jax.tree.leaves(stacked)}
    if systems != {2}:
        raise ValueError(f"layer_cka compares 2 stacked systems, got leading axes {sorted(systems)}")
    fn = make_cka_update_fn(config, shared_conv=shares_conv_stack(stacked),
                            groupnorm_over_padding=groupnorm_over_padding)
    layers = config.num_hidden_layers + 1
    state = cka_init(layers, layers)
    for audio, sample_lengths, weights in batches:
        state = fn(state, stacked, audio, sample_lengths, weights)
    return cka_result(state)
