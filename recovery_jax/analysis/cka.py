"""Linear CKA between every layer of two systems, by the minibatch unbiased HSIC estimator.

Nguyen, Raghu & Kornblith (2021), "Do wide and deep networks learn the same things?": for each
minibatch k, HSIC_1 (Song et al. 2012) is computed on the linear Grams K_k = X_k X_k^T, L_k = Y_k Y_k^T, and

    CKA = mean_k HSIC_1(K_k, L_k) / sqrt(mean_k HSIC_1(K_k, K_k) * mean_k HSIC_1(L_k, L_k)).

HSIC_1 of a Gram with itself estimates a non-negative quantity but can come out <= 0 on a small or
degenerate minibatch (constant features), where other implementations return NaN. Here the self terms
are clipped at SELF_HSIC_FLOOR and a layer pair whose self term is not positive gets CKA 0: a layer with
no measurable variation shares none with another.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

SELF_HSIC_FLOOR = 1e-30
MIN_BATCH = 4  # HSIC_1 divides by n (n - 3)


def hsic_unbiased(k: jax.Array, l: jax.Array, n: jax.Array) -> jax.Array:
    """HSIC_1(K, L) for two (n, n) Grams (Song et al. 2012, eq. 5).

    `n` may be smaller than the Gram size: rows and columns of padded examples must be zero, and they
    then drop out of every sum, so a padded minibatch gives the estimate of its `n` real examples.
    """
    k = k * (1.0 - jnp.eye(k.shape[0], dtype=k.dtype))
    l = l * (1.0 - jnp.eye(l.shape[0], dtype=l.dtype))
    trace = jnp.sum(k * l)  # tr(K L) for symmetric Grams
    k_ones, l_ones = k.sum(1), l.sum(1)
    total = trace + k_ones.sum() * l_ones.sum() / ((n - 1) * (n - 2)) - 2.0 * (k_ones @ l_ones) / (n - 2)
    return total / (n * (n - 3))


class CKAState(NamedTuple):
    """Running sums over minibatches; the CKA ratio is the same for sums as for means."""

    cross: jax.Array   # (La, Lb) sum_k HSIC_1(K_a, L_b)
    self_a: jax.Array  # (La,)    sum_k HSIC_1(K_a, K_a)
    self_b: jax.Array  # (Lb,)    sum_k HSIC_1(L_b, L_b)
    batches: jax.Array  # () minibatches counted


def cka_init(layers_a: int, layers_b: int) -> CKAState:
    return CKAState(jnp.zeros((layers_a, layers_b)), jnp.zeros(layers_a), jnp.zeros(layers_b), jnp.zeros(()))


def _grams(features: jax.Array, weights: jax.Array) -> jax.Array:
    """(L, n, n) linear Grams of (L, n, D) features, padded examples zeroed.

    Features are centred on the real examples first: HSIC_1 is unchanged by a mean shift, and centring
    keeps a large common offset (common in pooled transformer states) from cancelling in float32.
    """
    w = weights[None, :, None]
    mean = (features * w).sum(1, keepdims=True) / jnp.maximum(weights.sum(), 1.0)
    x = (features - mean) * w
    return jnp.einsum("lnd,lmd->lnm", x, x)


def cka_update(state: CKAState, features_a: jax.Array, features_b: jax.Array,
               weights: jax.Array | None = None) -> CKAState:
    """Adds one minibatch: features_* (L, n, D) per layer; weights (n,) 1 real / 0 padding.

    A minibatch with fewer than MIN_BATCH real examples has no unbiased estimate and is skipped.
    """
    if weights is None:
        weights = jnp.ones(features_a.shape[1])
    weights = (weights > 0).astype(features_a.dtype)
    n = weights.sum()
    grams_a, grams_b = _grams(features_a, weights), _grams(features_b, weights)
    pairwise = jax.vmap(jax.vmap(hsic_unbiased, (None, 0, None)), (0, None, None))
    selfwise = jax.vmap(hsic_unbiased, (0, 0, None))
    counted = n >= MIN_BATCH
    n_safe = jnp.where(counted, n, float(MIN_BATCH + 1))  # keeps the skipped branch finite
    add = lambda total, value: total + jnp.where(counted, value, 0.0)
    return CKAState(
        cross=add(state.cross, pairwise(grams_a, grams_b, n_safe)),
        self_a=add(state.self_a, selfwise(grams_a, grams_a, n_safe)),
        self_b=add(state.self_b, selfwise(grams_b, grams_b, n_safe)),
        batches=state.batches + counted,
    )


def cka_result(state: CKAState) -> np.ndarray:
    """(La, Lb) CKA matrix from accumulated minibatches."""
    if int(state.batches) == 0:
        raise ValueError(f"no minibatch with at least {MIN_BATCH} real examples was accumulated")
    # Square roots taken apart: the product of two small self terms could underflow to 0.
    root_a = jnp.sqrt(jnp.maximum(state.self_a, SELF_HSIC_FLOOR))[:, None]
    root_b = jnp.sqrt(jnp.maximum(state.self_b, SELF_HSIC_FLOOR))[None, :]
    positive = (state.self_a[:, None] > SELF_HSIC_FLOOR) & (state.self_b[None, :] > SELF_HSIC_FLOOR)
    return np.asarray(jnp.where(positive, state.cross / (root_a * root_b), 0.0))


def mean_pool(hidden_states: jax.Array, frame_mask: jax.Array) -> jax.Array:
    """(B, L, T, D) per-layer frame states -> (L, B, D) utterance vectors, averaged over valid frames."""
    mask = frame_mask.astype(hidden_states.dtype)
    summed = jnp.einsum("bltd,bt->lbd", hidden_states, mask)
    return summed / jnp.maximum(mask.sum(-1), 1.0)[None, :, None]


def pooled_cka(pooled_a: np.ndarray, pooled_b: np.ndarray, batch_size: int = 64, seed: int = 0) -> np.ndarray:
    """(La, Lb) minibatch CKA of already pooled (N, L, D) utterance vectors (e.g. cached embeddings).

    Utterances are shuffled into minibatches so that none holds a single class or session only.
    """
    if len(pooled_a) != len(pooled_b):
        raise ValueError(f"{len(pooled_a)} vs {len(pooled_b)} utterances: CKA compares the same utterances")
    order = np.random.default_rng(seed).permutation(len(pooled_a))
    update = jax.jit(cka_update)
    state = cka_init(pooled_a.shape[1], pooled_b.shape[1])
    for start in range(0, len(order), batch_size):
        rows = np.resize(order[start:start + batch_size], batch_size)  # fixed shape; filler rows weigh 0
        weights = (np.arange(batch_size) < len(order[start:start + batch_size])).astype(np.float32)
        state = update(state, jnp.asarray(pooled_a[rows].transpose(1, 0, 2)),
                       jnp.asarray(pooled_b[rows].transpose(1, 0, 2)), jnp.asarray(weights))
    return cka_result(state)
