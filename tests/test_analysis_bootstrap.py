import numpy as np
import pytest

from recovery_jax.analysis.bootstrap import beyond_floor, resample_counts, uar_interval
from recovery_jax.probe.metrics import uar


def test_resample_counts_draw_n_utterances_each_time():
    counts = resample_counts(50, draws=100, seed=3)
    assert counts.shape == (100, 50)
    np.testing.assert_array_equal(counts.sum(axis=1), 50)
    assert not np.all(counts == 1)
    with pytest.raises(ValueError, match="no utterances"):
        resample_counts(0)


def test_uar_interval_brackets_the_seed_mean_and_narrows_with_more_utterances():
    rng = np.random.default_rng(0)

    def draw(n):
        labels = rng.integers(0, 4, n)
        seeds = np.stack([np.where(rng.random(n) < 0.6, labels, rng.integers(0, 4, n)) for _ in range(3)])
        return labels, seeds

    labels, seeds = draw(200)
    observed = 100 * np.mean([uar(labels, s, 4) for s in seeds])
    low, high = uar_interval(labels, seeds, 4)
    assert low < observed < high
    assert 0 <= low and high <= 100
    big_low, big_high = uar_interval(*draw(3200), 4)
    assert big_high - big_low < (high - low) / 2  # ~1/sqrt(16) as wide
    perfect = uar_interval(labels, labels[None], 4)
    assert perfect == (100.0, 100.0)
    sessions = np.arange(200) % 5  # per-session UARs averaged, as LOSO reports them
    observed = 100 * np.mean([np.mean([uar(labels[sessions == g], s[sessions == g], 4) for g in range(5)])
                              for s in seeds])
    low, high = uar_interval(labels, seeds, 4, groups=sessions)
    assert low < observed < high


def test_beyond_floor_detects_an_excess_and_keeps_its_false_positive_rate():
    rng = np.random.default_rng(1)
    n = 300

    def pairs(count, rate):
        return (rng.random((count, n)) < rate).astype(float)

    shifted = beyond_floor(pairs(9, 0.45), pairs(3, 0.30))
    assert shifted["excess"] == pytest.approx(0.15, abs=0.05)
    assert shifted["p_value"] < 0.01
    assert shifted["cross_min_pair"] > shifted["floor_max_pair"]
    assert beyond_floor(pairs(9, 0.25), pairs(3, 0.40))["p_value"] > 0.9  # below the floor is not beyond it
    # same process on both sides: p < 0.05 in about 5 % of worlds, not far more
    p_values = np.array([beyond_floor(pairs(9, 0.35), pairs(3, 0.35), draws=400, seed=k)["p_value"]
                         for k in range(200)])
    assert np.mean(p_values < 0.05) < 0.1
    assert 0.3 < np.mean(p_values) < 0.7


def test_beyond_floor_works_per_trailing_index_and_rejects_missing_pairs():
    rng = np.random.default_rng(2)
    floor = rng.normal(1.0, 0.2, (3, 100, 4))
    cross = rng.normal(1.0, 0.2, (9, 100, 4))
    cross[..., 3] += 0.3  # only layer 3 differs
    result = beyond_floor(cross, floor)
    assert result["p_value"].shape == (4,)
    assert result["p_value"][3] < 0.01 and np.all(result["p_value"][:3] > 0.01)
    with pytest.raises(ValueError, match="floor pair"):
        beyond_floor(cross, floor[:0])
