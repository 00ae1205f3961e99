import json
import os
import subprocess
import sys
from pathlib import Path

import ml_collections
import pytest

from recovery_jax.data import EMOTIONS, Utterance
from recovery_jax.study.selection import parse_overrides, validation_folds, with_overrides

REPO = Path(__file__).resolve().parent.parent


def _corpus(sessions: int):
    return [Utterance(f"s{s}_{e}_{i}", f"/x/s{s}_{e}_{i}.wav", f"spk{s}", s, e, "HI", 1.0)
            for s in range(1, sessions + 1) for e in EMOTIONS for i in range(2)]


def test_validation_folds_never_touch_their_study_folds_test_session():
    utts = _corpus(5)
    folds = validation_folds(utts)
    assert [f.test_session for f in folds] == [2, 3, 4, 5, 1]  # study fold k validates on the session after k
    for k, fold in zip(range(1, 6), folds):
        assert {u.session for u in fold.test} == {fold.test_session}
        assert {u.session for u in fold.train} == set(range(1, 6)) - {k, fold.test_session}
    with pytest.raises(ValueError, match="at least 3 sessions"):
        validation_folds(_corpus(2))


def test_overrides_set_nested_keys_and_name_unknown_ones():
    recipe = ml_collections.ConfigDict(dict(total_steps=100, optim=dict(lr=1e-4, frozen=("a",))))
    overrides = parse_overrides("optim.lr=3e-5; total_steps=200;optim.frozen=('a','b');optim.head_lr_scale=0.1")
    out = with_overrides(recipe, overrides)
    assert (out.optim.lr, out.total_steps, out.optim.frozen, out.optim.head_lr_scale) == (3e-5, 200, ("a", "b"), 0.1)
    assert recipe.optim.lr == 1e-4  # a copy
    with pytest.raises(KeyError, match="'total_step'"):
        with_overrides(recipe, {"total_step": 1})
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides("optim.lr")


@pytest.mark.slow
def test_select_ser_writes_every_recipes_validation_gain(tmp_path):
    cmd = [sys.executable, "-m", "launch.select_ser", "--config", "configs/study_embedded.py:quick",
           "--config.corpus.embedded.emotion.sessions=3", "--workdir", str(tmp_path), "--recipe=slow=optim.lr=3e-5",
           # its own corpus root: a 3-session corpus at the quick study's shared root would replace the 2-session
           # tree while a test beside this one reads it (build_once keeps one corpus per root)
           f"--config.corpus.root={tmp_path / 'corpus'}"]
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((tmp_path / "results" / "selection.json").read_text())
    assert [r["recipe"] for r in summary["runs"]] == ["config", "slow"]
    for run in summary["runs"]:
        assert set(run["folds"]) == {"1", "2", "3"}
        assert all(0 <= v <= 100 for pair in run["folds"].values() for v in pair)
        assert run["gain"] == pytest.approx(run["ser"] - run["pt"])
    md = (tmp_path / "results" / "selection.md").read_text()
    assert "| slow | `optim.lr=3e-5` | 1 |" in md
    bad = subprocess.run([*cmd[:-1], "--recipe=slow"], cwd=REPO, env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "--recipe='slow'" in bad.stderr


def test_report_settings_name_the_fine_tunes_masks():
    from configs import study_embedded
    from recovery_jax.study.report import _settings

    config = study_embedded.get_config("quick")
    assert "SpecAugment" not in _settings(config)  # off in the embedded recipe
    config.ser.augment.update(apply_spec_augment=True, mask_time_prob=0.05, mask_time_length=4)
    ser_line = _settings(config).splitlines()[0]
    assert ser_line.startswith("- ser:") and "SpecAugment time masks p 0.05 length 4, channel masks p 0" in ser_line
