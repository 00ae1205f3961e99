import numpy as np
import pytest

from recovery_jax.analysis.cosine import cosine_distances, histogram_curve, threshold_agreement
from recovery_jax.analysis.decisions import match_percent, mismatch_percent


def test_mismatch_percent_counts_disagreements():
    assert mismatch_percent([0, 1, 2, 3], [0, 1, 3, 2]) == 50.0
    assert match_percent(np.array([[1], [2], [2]]), [1, 2, 0]) == pytest.approx(200 / 3)


def test_mismatch_percent_rejects_unpaired_predictions():
    with pytest.raises(ValueError, match="length"):
        mismatch_percent([0, 1], [0, 1, 2])
    with pytest.raises(ValueError, match="no predictions"):
        mismatch_percent([], [])


def test_cosine_distances_match_definition_and_span_zero_to_two():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 16)).astype(np.float32)
    b = rng.normal(size=(50, 16)).astype(np.float32)
    d = cosine_distances(a, b)
    expected = [1 - x @ y / np.linalg.norm(x) / np.linalg.norm(y) for x, y in zip(a.astype(float), b.astype(float))]
    np.testing.assert_allclose(d, expected, atol=1e-12)
    np.testing.assert_allclose(cosine_distances(a, 3 * a), 0.0, atol=1e-12)
    np.testing.assert_allclose(cosine_distances(a, -a), 2.0, atol=1e-12)


def test_cosine_distances_of_zero_vector_is_one_not_nan():
    assert cosine_distances(np.zeros((1, 4)), np.ones((1, 4)))[0] == 1.0


def test_histogram_curve_has_ten_centres_and_sums_to_100_percent():
    d = np.array([0.0, 0.1, 0.1, 0.95, 1.0])
    centres, percent = histogram_curve(d)
    assert centres.shape == percent.shape == (10,)
    np.testing.assert_allclose(centres[[0, -1]], [0.05, 0.95])
    np.testing.assert_allclose(percent[[0, 1, -1]], [20.0, 40.0, 40.0])
    centres, _ = histogram_curve(d, value_range=(0.0, 2.0))
    np.testing.assert_allclose(centres[0], 0.1)


def test_threshold_agreement_is_table_three_row():
    d = np.array([0.1, 0.2, 0.5, 0.7, 1.2, 1.5])
    a = np.array([0, 1, 2, 3, 0, 1])
    b = np.array([0, 1, 0, 3, 1, 1])
    row = threshold_agreement(d, a, b, threshold=0.6)
    assert row.data_percent == pytest.approx(50.0)
    assert row.match_percent == pytest.approx(200 / 3)
    assert row.over_one_percent == pytest.approx(100 / 3)
    assert row.over_one_match_percent == pytest.approx(50.0)
    assert np.isnan(threshold_agreement(d, a, b, threshold=0.05).match_percent)
