import jax
import jax.numpy as jnp
import numpy as np
import pytest

from recovery_jax.analysis.attention import BC_FLOOR, attention_distance_sums, bhattacharyya_rows


def numpy_corpus_distance(maps_a, maps_b, frames):
    """The slow, obvious Eq. 1: loop over utterances, layers, heads and rows, float64."""
    batch, layers, heads = maps_a.shape[:3]
    out = np.zeros((layers, heads))
    for b in range(batch):
        n = frames[b]
        for l in range(layers):
            for h in range(heads):
                rows = []
                for i in range(n):
                    p, q = maps_a[b, l, h, i, :n].astype(np.float64), maps_b[b, l, h, i, :n].astype(np.float64)
                    rows.append(-np.log(np.clip(np.sum(np.sqrt(p * q)), BC_FLOOR, 1.0)))
                out[l, h] += np.mean(rows)
    return out / batch


def random_maps(rng, batch, layers, heads, frames, width):
    """Softmax rows over each utterance's valid columns, garbage in padded rows and columns."""
    logits = rng.normal(size=(batch, layers, heads, width, width)) * 3
    valid = np.arange(width)[None, :] < np.asarray(frames)[:, None]
    logits = np.where(valid[:, None, None, None, :], logits, -1e9)
    maps = np.exp(logits - logits.max(-1, keepdims=True))
    maps /= maps.sum(-1, keepdims=True)
    maps = np.where(valid[:, None, None, :, None], maps, rng.uniform(size=maps.shape))
    return maps.astype(np.float32), valid


def test_distance_sums_match_slow_numpy_loop():
    rng = np.random.default_rng(0)
    frames = [9, 4, 7]
    maps_a, valid = random_maps(rng, 3, 2, 3, frames, 9)
    maps_b, _ = random_maps(rng, 3, 2, 3, frames, 9)
    sums, count = jax.jit(attention_distance_sums)(maps_a, maps_b, valid)
    assert float(count) == 3.0
    np.testing.assert_allclose(sums / count, numpy_corpus_distance(maps_a, maps_b, frames), atol=1e-6)


def test_padding_utterances_with_weight_zero_do_not_count():
    rng = np.random.default_rng(1)
    maps_a, valid = random_maps(rng, 4, 1, 2, [5, 3, 5, 1], 5)
    maps_b, _ = random_maps(rng, 4, 1, 2, [5, 3, 5, 1], 5)
    sums, count = attention_distance_sums(maps_a, maps_b, valid, jnp.asarray([1.0, 1.0, 0.0, 1.0]))
    keep = [0, 1, 3]
    expected = numpy_corpus_distance(maps_a[keep], maps_b[keep], [5, 3, 1])
    assert float(count) == 3.0
    np.testing.assert_allclose(sums / count, expected, atol=1e-6)


def test_identical_maps_are_at_distance_zero_and_disjoint_rows_stay_finite():
    rng = np.random.default_rng(2)
    maps, valid = random_maps(rng, 2, 2, 2, [6, 6], 6)
    sums, _ = attention_distance_sums(maps, maps, valid)
    np.testing.assert_array_less(-1e-12, np.asarray(sums))  # clipped at BC = 1: never negative
    np.testing.assert_allclose(sums, 0.0, atol=1e-6)
    p, q = jnp.asarray([1.0, 0.0]), jnp.asarray([0.0, 1.0])
    assert float(bhattacharyya_rows(p, q)) == pytest.approx(-np.log(BC_FLOOR))


def test_masked_columns_are_ignored():
    p = jnp.asarray([0.5, 0.25, 0.25])
    q = jnp.asarray([0.5, 0.5, 0.0])
    assert float(bhattacharyya_rows(p, q)) == pytest.approx(-np.log(0.5 + np.sqrt(0.125)))
    assert float(bhattacharyya_rows(p, q, jnp.asarray([True, False, True]))) == pytest.approx(-np.log(0.5))
    assert float(bhattacharyya_rows(p, q, jnp.asarray([False, False, True]))) == pytest.approx(-np.log(BC_FLOOR))
