import numpy as np
import pytest

from recovery_jax.embed.compare import NUM_FUNCTIONALS, compare_functionals, compare_llds

SR = 16000


@pytest.fixture(scope="module")
def waves():
    rng = np.random.default_rng(0)
    t = np.arange(int(1.2 * SR)) / SR
    sweep = 0.3 * np.sin(2 * np.pi * (150 + 120 * t) * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    noise = 0.05 * rng.normal(size=int(0.8 * SR))
    return [w.astype(np.float32) for w in (sweep, noise)]


def test_functionals_one_row_per_utterance(waves):
    x = compare_functionals(waves, SR)
    assert x.shape == (2, NUM_FUNCTIONALS) and x.dtype == np.float32
    assert np.isfinite(x).all() and not np.allclose(x[0], x[1])


def test_llds_and_deltas_are_aligned(waves):
    llds = compare_llds(waves, SR)
    for w, f in zip(waves, llds):
        assert f.shape[1] == 130 and abs(len(f) - len(w) / SR * 100) < 8  # 10 ms hop
        # openSMILE's deltas of the 59 energy/spectral LLDs are the W=2 regression deltas of those LLDs, so
        # aligned frames match (one frame off they do not); the 6 voicing LLDs (0-5) take deltas differently
        lld, delta = f[:, 6:65].astype(np.float64), f[:, 71:]
        t = np.arange(2, len(f) - 2)
        regression = (lld[t + 1] - lld[t - 1] + 2 * (lld[t + 2] - lld[t - 2])) / 10
        np.testing.assert_allclose(delta[t], regression, rtol=1e-3, atol=1e-3 * np.abs(regression).max())
