import numpy as np

from recovery_jax.analysis.batches import bucketed_batches


def test_batches_are_sorted_padded_and_filled_with_zero_weight_rows():
    waves = [np.full(n, float(n), np.float32) for n in (2500, 900, 1200, 3100, 400)]
    batches = list(bucketed_batches(waves, batch_size=2, pad_to=1000))
    assert [a.shape for a, _, _ in batches] == [(2, 1000), (2, 3000), (2, 4000)]
    audio, lengths, weights = batches[1]
    np.testing.assert_array_equal(lengths, [1200, 2500])
    np.testing.assert_array_equal(audio[0, :1200], 1200.0)
    np.testing.assert_array_equal(audio[0, 1200:], 0.0)
    audio, lengths, weights = batches[2]
    np.testing.assert_array_equal(weights, [1.0, 0.0])
    # a filler row repeats a real clip (never an empty input) and has weight 0
    assert lengths[1] == lengths[0] and np.array_equal(audio[1], audio[0])
    assert sum(w.sum() for _, _, w in batches) == len(waves)
