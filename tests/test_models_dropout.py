"""The hashed dropout mask (models/dropout.py): keep rate, independence, reproducibility, vmap over run keys."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from recovery_jax.models.dropout import Dropout, keep_mask

SHAPE = (4, 6, 50, 50)  # an attention map's (B, H, T, T)


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.05])
def test_keep_rate_matches_the_probability(keep):
    n = int(np.prod(SHAPE))
    for seed in range(3):
        rate = float(keep_mask(jax.random.PRNGKey(seed), SHAPE, keep).mean())
        assert abs(rate - keep) < 5 * np.sqrt(keep * (1 - keep) / n)


def test_masks_are_uncorrelated_across_keys_neighbours_and_axes():
    a = np.asarray(keep_mask(jax.random.PRNGKey(0), SHAPE, 0.5), np.float64) - 0.5
    b = np.asarray(keep_mask(jax.random.PRNGKey(1), SHAPE, 0.5), np.float64) - 0.5
    folded = np.asarray(keep_mask(jax.random.fold_in(jax.random.PRNGKey(0), 1), SHAPE, 0.5), np.float64) - 0.5
    bound = 5 / np.sqrt(a.size)  # correlation of independent fair bits: sd 1/sqrt(n)
    for other in (b, folded):
        assert abs(np.mean(a * other) / 0.25) < bound
    flat = a.ravel()
    for lag in (1, 2, 50, 2500):  # neighbours in time, rows of a map, heads
        assert abs(np.mean(flat[:-lag] * flat[lag:]) / 0.25) < 5 / np.sqrt(flat.size - lag)


def test_same_key_same_mask_and_a_vmapped_key_row_equals_its_own_call():
    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    batched = jax.vmap(lambda k: keep_mask(k, (7, 9), 0.8))(keys)
    for row, key in zip(batched, keys):
        np.testing.assert_array_equal(row, keep_mask(key, (7, 9), 0.8))
    assert not np.array_equal(batched[0], batched[1])


def test_dropout_scales_the_kept_elements_and_is_off_when_deterministic():
    x = jnp.ones((8, 100))
    layer = Dropout(0.25)
    out = layer.apply({}, x, False, rngs={"dropout": jax.random.PRNGKey(0)})
    kept = np.asarray(out) != 0
    np.testing.assert_allclose(np.asarray(out)[kept], 1 / 0.75)
    assert 0.6 < kept.mean() < 0.9
    np.testing.assert_array_equal(layer.apply({}, x, True), x)
    np.testing.assert_array_equal(Dropout(1.0).apply({}, x, False, rngs={"dropout": jax.random.PRNGKey(0)}), 0 * x)
