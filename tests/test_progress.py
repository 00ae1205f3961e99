"""Progress lines of the study's non-training stages: the ETA comes from measured work, throttled in time."""

import logging

import numpy as np
import pytest

from recovery_jax.probe import make_search, probe_layers
from recovery_jax.progress import Progress, eta_seconds


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_eta_is_remaining_work_at_measured_rate():
    assert eta_seconds(done=25, total=100, elapsed=10.0) == pytest.approx(30.0)
    assert eta_seconds(done=0, total=100, elapsed=10.0) == float("inf")
    assert eta_seconds(done=120, total=100, elapsed=10.0) == 0.0


def test_progress_logs_eta_every_interval_and_at_the_end(caplog):
    clock = _Clock()
    progress = Progress("embeddings SER", total=40, unit="utterances", every_s=10.0, clock=clock)
    with caplog.at_level(logging.INFO):
        for second in range(1, 21):  # 2 utterances a second: 40 after 20 s
            clock.now = float(second)
            progress.advance(2)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("embeddings SER")]
    assert lines == ["embeddings SER: 20/40 utterances, 2 utterances/s, ETA 10 s",
                     "embeddings SER: 40/40 utterances, 2 utterances/s, ETA 0 s"]


def test_layerwise_probes_share_one_counter_over_layers_and_folds(caplog):
    rng = np.random.default_rng(0)
    labels = np.arange(24) % 4
    hidden = rng.standard_normal((24, 3, 5)) + labels[:, None, None]
    sessions = np.repeat([1, 2, 3], 8)
    with caplog.at_level(logging.INFO):
        probe_layers(hidden, labels, sessions, name="toy", search=lambda: make_search(cv_folds=2))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("layer-wise probes toy")]
    assert lines and lines[-1].startswith("layer-wise probes toy: 9/9 fold fits")
