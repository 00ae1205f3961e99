"""study._systems on several training workers: the same systems as one after another, dependencies waited
for, jobs really overlapped, and a failing job stops the study without starting queued ones."""

import threading
import time

import pytest

from configs import study_embedded
from recovery_jax.study import study

ASR = {"asr10": ["a"], "asr100": ["b"], "asr960": ["c"]}


class FakeJobs:
    """Stand-ins for the study's training stages: they record when they ran and return tagged names."""

    def __init__(self, fail: str = ""):
        self.events, self.lock, self.fail = [], threading.Lock(), fail
        self.running, self.overlapped = 0, False

    def _job(self, name: str, seconds: float = 0.05) -> None:
        with self.lock:
            self.running += 1
            self.overlapped |= self.running > 1
            self.events.append(("start", name))
        time.sleep(seconds)
        with self.lock:
            self.running -= 1
            self.events.append(("end", name))
        if name == self.fail:
            raise RuntimeError(f"{name} failed")

    def pretrained(self, stages, name, *args):
        self._job(name)
        return name

    def asr(self, stages, name, inits, settings, train, test):
        self._job(name, 0.3 if name == "ASR960" else 0.05)
        return [f"{name}<-{init}" for init in inits]

    def ser(self, stages, name, init, settings, folds, last_layer):
        self._job(name)
        return f"{name}<-{init}"


def _run(monkeypatch, workers: int, jobs: FakeJobs) -> dict:
    monkeypatch.setattr(study, "pretrained_system", jobs.pretrained)
    monkeypatch.setattr(study, "asr_systems", jobs.asr)
    monkeypatch.setattr(study, "ser_system", jobs.ser)
    config = study_embedded.get_config("quick")
    config.train_workers = workers
    config.seeds.update(finetune=2, asr=1)
    config.ctc.steps_per_subset = study_embedded.get_config().ctc.steps_per_subset  # the default's: ASR960 longest
    return study._systems(config, None, [], [], "key", ASR, lambda system: None)


def test_two_workers_give_the_sequential_systems_and_wait_for_dependencies(monkeypatch):
    one, two = FakeJobs(), FakeJobs()
    sequential, parallel = _run(monkeypatch, 1, one), _run(monkeypatch, 2, two)
    assert parallel == sequential
    assert list(parallel) == ["PT", "ASR10", "ASR100", "ASR960", "SER", "ASR10→SER", "ASR100→SER", "ASR960→SER"]
    assert parallel["ASR960→SER"] == ["ASR960→SER#0<-ASR960<-PT#0", "ASR960→SER#1<-ASR960<-PT#0"]
    assert two.overlapped and not one.overlapped
    order = two.events
    for k in range(2):  # each ASR(x)->SER job starts after its ASR(x) job ended
        for name in ("ASR10", "ASR100", "ASR960"):
            assert order.index(("end", name)) < order.index(("start", f"{name}→SER#{k}"))
    # the long ASR960 job started first; SER's jobs ran beside it; the shorter CTC jobs followed shortest first
    assert order.index(("start", "ASR960")) < order.index(("start", "ASR10")) < order.index(("start", "ASR100"))
    assert order.index(("start", "SER#0")) < order.index(("end", "ASR960"))


def test_a_failing_job_stops_the_study_and_starts_nothing_queued(monkeypatch):
    jobs = FakeJobs(fail="ASR10")
    with pytest.raises(RuntimeError, match="ASR10 failed"):
        _run(monkeypatch, 2, jobs)
    started = [name for kind, name in jobs.events if kind == "start"]
    assert "ASR10" in started and not any("→SER" in name for name in started)
    assert all(("end", name) in jobs.events for name in started)  # running jobs finished their stage
