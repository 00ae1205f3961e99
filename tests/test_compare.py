"""launch/compare.py: any HF checkpoints against a reference, on the quick embedded corpus."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recovery_jax.study.compare import parse_systems
from tiny_hf import make_hf_model

REPO = Path(__file__).resolve().parents[1]
SEVEN_CONVS = dict(conv_dim=(16,) * 7, conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2))


def _compare(tmp_path, systems):
    cmd = [sys.executable, "-m", "launch.compare", "--config", "configs/compare.py:quick",
           "--config.corpus.root", str(tmp_path / "corpus"), "--workdir", str(tmp_path / "work"),
           "--systems", ",".join(systems)]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_compare_writes_distances_that_equal_the_library_pass(tmp_path):
    from recovery_jax.analysis import attention_distances, bucketed_batches, load_stacked
    from recovery_jax.data.corpora import emotion_corpus, load_waveforms
    from configs import compare

    heads = ("Model", "ForSequenceClassification", "ForCTC")  # heads are ignored: backbones are compared
    for seed, (name, head) in enumerate(zip(("SER", "ASR", "ASR_SER"), heads)):
        make_hf_model("base", head=head, seed=seed, **SEVEN_CONVS).save_pretrained(tmp_path / name)
    run = _compare(tmp_path, [f"{n}={tmp_path / n}" for n in ("SER", "ASR", "ASR_SER")])
    assert run.returncode == 0, run.stderr[-3000:]
    results = tmp_path / "work" / "results"
    summary = json.loads((results / "summary.json").read_text())
    assert list(summary["attention_distance_mean"]) == ["SER vs ASR", "SER vs ASR_SER"]
    assert (results / "figure4.png").stat().st_size > 0
    assert (results / "cka_SER_vs_ASR_SER.png").exists()

    config = compare.get_config("quick")
    config.corpus.root = str(tmp_path / "corpus")
    model_config, stacked = load_stacked([tmp_path / n for n in ("SER", "ASR", "ASR_SER")])
    waves = load_waveforms(emotion_corpus(config.corpus), 400)
    expected = attention_distances(model_config, stacked, bucketed_batches(waves, config.batch_size),
                                   ((0, 1), (0, 2)))
    rows = np.loadtxt(results / "figure4.csv", delimiter=",", skiprows=1, usecols=(1, 2, 3))
    np.testing.assert_allclose(rows[:, 2].reshape(2, *expected.shape[1:]), expected, rtol=1e-6)


def test_bad_systems_flag_names_the_flag_and_what_was_expected(tmp_path):
    with pytest.raises(ValueError, match=r"--systems: 'SER' is not NAME=FOLDER"):
        parse_systems(["SER"])
    with pytest.raises(ValueError, match=r"--systems: B's folder .*nowhere.* does not exist"):
        parse_systems([f"A={tmp_path}", f"B={tmp_path / 'nowhere'}"])
    with pytest.raises(ValueError, match="at least one other system"):
        parse_systems([f"A={tmp_path}"])
    run = _compare(tmp_path, ["A=" + str(tmp_path)])
    assert run.returncode != 0 and "--systems" in run.stderr


def test_checkpoints_of_different_architectures_are_refused_naming_the_folder(tmp_path):
    make_hf_model("base", **SEVEN_CONVS).save_pretrained(tmp_path / "base")
    make_hf_model("large", **SEVEN_CONVS).save_pretrained(tmp_path / "large")
    run = _compare(tmp_path, [f"A={tmp_path / 'base'}", f"B={tmp_path / 'large'}"])
    assert run.returncode != 0
    assert "large" in run.stderr and "feat_extract_norm" in run.stderr
    assert not (tmp_path / "corpus").exists() and not (tmp_path / "work" / "results").exists()  # no work done
