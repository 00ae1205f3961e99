import jax
import jax.numpy as jnp
import numpy as np
import pytest

from recovery_jax.analysis.cka import cka_init, cka_result, cka_update, hsic_unbiased, mean_pool, pooled_cka


def numpy_hsic_unbiased(x, y):
    """Song et al. (2012) HSIC_1 on linear kernels, spelt out in float64."""
    n = x.shape[0]
    k, l = x @ x.T, y @ y.T
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    one = np.ones(n)
    return (np.trace(k @ l) + (one @ k @ one) * (one @ l @ one) / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * (one @ k @ l @ one)) / (n * (n - 3))


def numpy_cka_full(x, y):
    """Biased full-batch linear CKA on centred features."""
    x, y = x - x.mean(0), y - y.mean(0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def layered(rng, layers, n, d, offset=0.0, base=None):
    """Layers that share a signal to different degrees, so CKA spreads over (0, 1)."""
    base = rng.normal(size=(n, d)) if base is None else base
    return np.stack([base * (1 - i / layers) + rng.normal(size=(n, d)) * i / layers + offset
                     for i in range(layers)])


def test_hsic_matches_direct_formula_and_ignores_zero_padded_examples():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 5)), rng.normal(size=(12, 7))
    expected = numpy_hsic_unbiased(x, y)
    got = hsic_unbiased(jnp.asarray(x @ x.T), jnp.asarray(y @ y.T), 12.0)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    xp, yp = np.concatenate([x, np.zeros((4, 5))]), np.concatenate([y, np.zeros((4, 7))])
    got = hsic_unbiased(jnp.asarray(xp @ xp.T), jnp.asarray(yp @ yp.T), 12.0)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_minibatch_cka_equals_numpy_estimator_exactly():
    rng = np.random.default_rng(1)
    xa, xb = layered(rng, 3, 40, 6, offset=5.0), layered(rng, 4, 40, 9)
    state = cka_init(3, 4)
    for k in range(0, 40, 10):
        state = cka_update(state, jnp.asarray(xa[:, k:k + 10], jnp.float32), jnp.asarray(xb[:, k:k + 10], jnp.float32))
    got = cka_result(state)
    batches = [slice(k, k + 10) for k in range(0, 40, 10)]
    cross = np.array([[np.mean([numpy_hsic_unbiased(a[s], b[s]) for s in batches]) for b in xb] for a in xa])
    self_a = np.array([np.mean([numpy_hsic_unbiased(a[s], a[s]) for s in batches]) for a in xa])
    self_b = np.array([np.mean([numpy_hsic_unbiased(b[s], b[s]) for s in batches]) for b in xb])
    expected = cross / np.sqrt(self_a[:, None] * self_b[None, :])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert int(state.batches) == 4


def test_minibatch_unbiased_cka_approaches_full_batch_cka():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(4096, 8))
    xa, xb = layered(rng, 3, 4096, 8, base=base), layered(rng, 3, 4096, 8, base=base @ rng.normal(size=(8, 8)))
    update = jax.jit(cka_update)
    state = cka_init(3, 3)
    for k in range(0, 4096, 512):
        state = update(state, jnp.asarray(xa[:, k:k + 512], jnp.float32), jnp.asarray(xb[:, k:k + 512], jnp.float32))
    expected = np.array([[numpy_cka_full(a, b) for b in xb] for a in xa])
    assert expected.min() < 0.5 < expected.max()
    np.testing.assert_allclose(cka_result(state), expected, atol=0.01)
    np.testing.assert_allclose(np.diag(cka_result(cka_update(cka_init(3, 3), *[jnp.asarray(xa[:, :512], jnp.float32)] * 2))), 1.0,
                               atol=1e-4)


def test_padding_weights_and_small_batches_do_not_count():
    rng = np.random.default_rng(3)
    xa, xb = layered(rng, 2, 8, 4), layered(rng, 2, 8, 4)
    plain = cka_update(cka_init(2, 2), jnp.asarray(xa), jnp.asarray(xb))
    junk = rng.normal(size=(2, 3, 4)) * 100
    weights = jnp.asarray([1.0] * 8 + [0.0] * 3)
    padded = cka_update(cka_init(2, 2), jnp.concatenate([xa, junk], 1), jnp.concatenate([xb, junk], 1), weights)
    np.testing.assert_allclose(cka_result(padded), cka_result(plain), atol=1e-5)
    tiny = cka_update(plain, jnp.asarray(xa[:, :3]), jnp.asarray(xb[:, :3]))
    assert int(tiny.batches) == 1
    np.testing.assert_allclose(tiny.cross, plain.cross)


def test_degenerate_layer_gives_zero_not_nan():
    rng = np.random.default_rng(4)
    xa = np.stack([np.ones((6, 3)), rng.normal(size=(6, 3))])  # layer 0 is constant: HSIC_1(K, K) = 0
    state = cka_update(cka_init(2, 2), jnp.asarray(xa), jnp.asarray(xa))
    result = cka_result(state)
    assert np.all(np.isfinite(result))
    np.testing.assert_allclose(result[0], 0.0)
    np.testing.assert_allclose(result[1, 1], 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="no minibatch"):
        cka_result(cka_init(2, 2))


def test_mean_pool_averages_valid_frames_only():
    h = jnp.arange(2 * 3 * 4 * 2, dtype=jnp.float32).reshape(2, 3, 4, 2)
    mask = jnp.asarray([[1, 1, 0, 0], [1, 1, 1, 1]], bool)
    pooled = mean_pool(h, mask)
    assert pooled.shape == (3, 2, 2)
    np.testing.assert_allclose(pooled[1, 0], h[0, 1, :2].mean(0))
    np.testing.assert_allclose(pooled[2, 1], h[1, 2].mean(0))


def test_pooled_cka_of_cached_embeddings_matches_full_batch_and_refuses_mismatch():
    rng = np.random.default_rng(5)
    base = rng.normal(size=(1024, 8))
    xa, xb = layered(rng, 3, 1024, 8, base=base), layered(rng, 2, 1024, 8, base=base @ rng.normal(size=(8, 8)))
    got = pooled_cka(xa.transpose(1, 0, 2), xb.transpose(1, 0, 2), batch_size=256)
    expected = np.array([[numpy_cka_full(a, b) for b in xb] for a in xa])
    assert got.shape == (3, 2)
    np.testing.assert_allclose(got, expected, atol=0.02)
    with pytest.raises(ValueError, match="same utterances"):
        pooled_cka(xa.transpose(1, 0, 2), xb.transpose(1, 0, 2)[:10])
