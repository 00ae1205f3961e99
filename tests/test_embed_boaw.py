import numpy as np
import pytest

from recovery_jax.embed import boaw as boaw_module
from recovery_jax.embed.boaw import BoawConfig, boaw_fold_features, boaw_transform, fit_boaw
from recovery_jax.probe import make_search, probe_loso

SMALL = BoawConfig(codebook_size=8, num_assignments=3, splits=(3, 2), log_tf=False)


def _llds(num, dim=5, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    return [rng.normal(offset, 1 + i % 3, size=(rng.integers(20, 40), dim)) for i in range(num)]


@pytest.mark.parametrize("method", ["random", "random++"])
def test_codebook_words_are_standardised_training_frames(method):
    config = BoawConfig(**{**SMALL.__dict__, "codebook": method})
    train = _llds(6)
    frames = np.concatenate(train)
    boaw = fit_boaw(train, config)
    np.testing.assert_allclose(boaw.mean, frames.mean(axis=0))
    z = (frames - boaw.mean) / boaw.std
    for words, block in zip(boaw.codebooks, (z[:, :3], z[:, 3:])):
        assert words.shape == (8, block.shape[1])
        assert len(np.unique(words, axis=0)) == 8
        assert all(np.isclose(block, w).all(axis=1).any() for w in words)


def test_bags_count_the_nearest_words():
    train, test = _llds(6), _llds(3, seed=1)
    boaw = fit_boaw(train, SMALL)
    bags = boaw_transform(boaw, test, SMALL)
    assert bags.shape == (3, 16)
    for llds, bag in zip(test, bags):
        z = (llds - boaw.mean) / boaw.std
        for words, block, sub in zip(boaw.codebooks, (z[:, :3], z[:, 3:]), (bag[:8], bag[8:])):
            dist = ((block[:, None] - words[None]) ** 2).sum(axis=-1)
            expected = np.bincount(np.argsort(dist, axis=1)[:, :3].ravel(), minlength=8)
            np.testing.assert_array_equal(sub, expected)
    logged = boaw_transform(boaw, test, BoawConfig(**{**SMALL.__dict__, "log_tf": True}))
    np.testing.assert_allclose(logged, np.log10(bags + 1), rtol=1e-6)


def test_default_is_500_plus_500_words_over_130_columns():
    rng = np.random.default_rng(0)
    llds = [rng.normal(size=(300, 130)) for _ in range(4)]
    bags = boaw_transform(fit_boaw(llds), llds)
    assert bags.shape == (4, 1000)
    counts = 10 ** bags.astype(np.float64) - 1  # undo lg(TF + 1): each frame adds 10 (-a) to each half
    np.testing.assert_allclose(counts[:, :500].sum(axis=1), 10 * 300, rtol=1e-4)
    np.testing.assert_allclose(counts[:, 500:].sum(axis=1), 10 * 300, rtol=1e-4)


def test_each_fold_learns_its_codebook_from_training_sessions_only(monkeypatch):
    llds = _llds(12)
    sessions = np.repeat([1, 2, 3], 4)
    labels = np.tile([0, 1], 6)
    fitted_on = []
    real_fit = boaw_module.fit_boaw
    monkeypatch.setattr(boaw_module, "fit_boaw", lambda utts, config: fitted_on.append(utts) or real_fit(utts, config))
    result = probe_loso(boaw_fold_features(llds, SMALL), labels, sessions, num_classes=2,
                        search=lambda: make_search({"svc__kernel": ["linear"], "svc__C": [1.0]}, cv_folds=2))
    assert [f.test_session for f in result.folds] == [1, 2, 3]
    for session, utts in zip((1, 2, 3), fitted_on):
        expected = [llds[i] for i in np.flatnonzero(sessions != session)]
        assert len(utts) == len(expected) and all(a is b for a, b in zip(utts, expected))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_plus_plus_draws_exactly_the_words_of_rng_choice(dtype):
    """The fast loop (one reused buffer, numpy's draw without its checks) against the plain one it replaced."""
    frames = np.random.default_rng(3).normal(size=(30000, 20)).astype(dtype)
    frames[:10000] = frames[0]  # duplicates: zero-probability frames
    sq_frames = (frames ** 2).sum(axis=1)

    def plain(rng):
        words = [frames[rng.integers(len(frames))]]
        nearest = np.maximum(sq_frames - 2 * frames @ words[0] + words[0] @ words[0], 0.0)
        for _ in range(39):
            words.append(frames[rng.choice(len(frames), p=nearest / nearest.sum())])
            nearest = np.minimum(nearest, np.maximum(sq_frames - 2 * frames @ words[-1] + words[-1] @ words[-1], 0))
        return np.stack(words)

    for seed in range(3):
        got = boaw_module._random_plus_plus(frames, 40, np.random.default_rng(seed))
        assert got.dtype == dtype and len(np.unique(got, axis=0)) == 40
        np.testing.assert_array_equal(got, plain(np.random.default_rng(seed)))
