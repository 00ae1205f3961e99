"""Dropout whose mask is a counter-based hash of the element index, not threefry bits per element.

`flax.linen.Dropout` draws one threefry output per element. XLA's CPU lowering of threefry is a rolled loop
that writes its state arrays to memory every round, and the attention maps alone are B x H x T x T elements
per layer: in a CTC step of the tiny model (3 runs x 8 clips of 2 s) the dropout masks took ~23 % of the step.
Here one threefry draw per call gives two 32-bit seeds and each element's keep bit is murmur3's 32-bit
finaliser (an invertible avalanche mix) of its index and the seeds, fused by XLA into the op that uses it.
The stream is as reproducible as threefry's (a function of the `dropout` rng, so resume stays exact) and
differs from it, as any change of PRNG would.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

_GOLDEN = 0x9E3779B9


def _fmix32(h: jax.Array) -> jax.Array:
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def keep_mask(key: jax.Array, shape: tuple[int, ...], keep_prob: float) -> jax.Array:
    """Boolean mask of `shape`, each element True with probability `keep_prob` (to 2^-24)."""
    size = math.prod(shape)
    if size >= 1 << 32:  # a uint32 index would wrap and repeat the mask
        raise ValueError(f"dropout over {size} elements: at most 2^32 - 1 per call, got shape {shape}")
    seeds = jax.random.bits(key, (2,), jnp.uint32)
    index = jnp.arange(size, dtype=jnp.uint32).reshape(shape)
    h = _fmix32(index * jnp.uint32(_GOLDEN) + seeds[0])
    h = _fmix32(h ^ seeds[1])
    return (h >> 8) < jnp.uint32(round(keep_prob * (1 << 24)))


class Dropout(nn.Module):
    """`flax.linen.Dropout(rate)` with the hashed mask above (same scaling: kept elements / (1 - rate))."""

    rate: float

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
        if deterministic or self.rate == 0.0:
            return x
        if self.rate == 1.0:
            return jnp.zeros_like(x)
        keep = keep_mask(self.make_rng("dropout"), x.shape, 1.0 - self.rate)
        return jnp.where(keep, x / (1.0 - self.rate), jnp.zeros_like(x)).astype(x.dtype)
