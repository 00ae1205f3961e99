import time

import pytest

from recovery_jax.study.stages import PRIOR_SECONDS_PER_UNIT, Stages


def test_eta_comes_from_the_measured_rate_of_each_kind_and_stage_times_are_kept(tmp_path):
    stages = Stages(tmp_path, {"train": 100.0, "probe": 4.0})

    def slow(folder):
        time.sleep(0.2)
        (folder / "out").write_text("x")

    assert stages.eta() == pytest.approx(100 * PRIOR_SECONDS_PER_UNIT["train"] + 4 * PRIOR_SECONDS_PER_UNIT["probe"])
    stages.parallel = {"train": 2}  # two training stages at a time: each one's seconds count half the wall time
    assert stages.eta() == pytest.approx(50 * PRIOR_SECONDS_PER_UNIT["train"] + 4 * PRIOR_SECONDS_PER_UNIT["probe"])
    stages.parallel = {}
    assert stages.run("fit", ["a"], slow, lambda f: (f / "out").read_text(), "train", 40.0) == "x"
    [rate] = stages.measured["train"]
    assert 0.2 / 40 <= rate < 0.3 / 40
    # 60 train units left at this run's rate; probes still at the prior
    assert stages.eta() == pytest.approx(60 * rate + 4 * PRIOR_SECONDS_PER_UNIT["probe"])
    # two faster stages after a slow first one (the first of a kind also compiles): the median rate counts
    # (20 units each, so a stage's own overhead of a few ms under load stays well under half the first's rate)
    for name in ("fit-b", "fit-c"):
        stages.run(name, [name], lambda folder: time.sleep(0.01), lambda f: None, "train", 20.0)
    fast = sorted(stages.measured["train"])[1]
    assert fast < rate / 2
    assert stages.eta() == pytest.approx(20 * fast + 4 * PRIOR_SECONDS_PER_UNIT["probe"])

    again = Stages(tmp_path, {"train": 100.0})
    assert again.run("fit", ["a"], slow, lambda f: (f / "out").read_text(), "train", 40.0) == "x"
    assert again.times[-1]["cached"] and not stages.times[0]["cached"]
    assert stages.times[0]["seconds"] >= 0.2
    assert 0 <= stages.times[0]["start"] < 0.1  # seconds into the study when the stage began
    assert "train" not in again.measured  # a cache hit measures nothing: the prior stays until real work runs
