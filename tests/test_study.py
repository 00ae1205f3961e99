"""The study end to end on the quick embedded config; bad flags; kill and resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_installed

from configs import study_embedded
from recovery_jax.study.study import StudyConfigError, validate

REPO = Path(__file__).resolve().parents[1]


def _config():
    return study_embedded.get_config("quick")


def test_bad_flags_fail_before_any_work(tmp_path):
    c = _config()
    c.corpus.name = "timit"
    with pytest.raises(StudyConfigError, match=r"--config.corpus.name='timit'"):
        validate(c)
    c = _config()
    c.corpus.name, c.corpus.root = "iemocap", str(tmp_path / "nowhere")
    with pytest.raises(StudyConfigError, match=r"no such directory \(--config.corpus.root="):
        validate(c)
    c = _config()
    for name in ("PT", "ASR10", "ASR100", "ASR960"):
        c.checkpoints[name] = str(tmp_path)
    with pytest.raises(StudyConfigError, match=r"--config.checkpoints.PT=.*no config.json"):
        validate(c)
    c = _config()
    c.checkpoints.PT = str(tmp_path)
    with pytest.raises(StudyConfigError, match="give all four"):
        validate(c)


def _study(workdir):
    cmd = [sys.executable, "-m", "launch.study", "--config", "configs/study_embedded.py:quick",
           "--workdir", str(workdir)]
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_quick_study_end_to_end_then_killed_rerun_continues(tmp_path, installed):
    """Started from the checkout, killed, then finished by the installed `recovery-jax study` (as a user has it)."""
    workdir = tmp_path / "study"
    # kill the first run once some stages are done, then rerun to completion
    proc = _study(workdir)
    stages = workdir / "stages"
    deadline = time.time() + 600
    while time.time() < deadline and len(list(stages.glob("*/DONE"))) < 2 and proc.poll() is None:
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = {p.parent.name: p.stat().st_mtime for p in stages.glob("*/DONE")}
    assert len(done_before) >= 2  # e.g. pretraining and a baseline: the rest reruns
    rerun = run_installed(installed, "study", "--config", "study_embedded.py:quick", "--workdir", str(workdir),
                          env={"XLA_FLAGS": "--xla_force_host_platform_device_count=1"})
    out = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, out[-3000:]
    for name, mtime in done_before.items():  # finished stages were not redone
        assert (stages / name / "DONE").stat().st_mtime == mtime
    assert "cached" in out

    check_results(workdir / "results", seeds=2, asr_seeds=2)


TWO_STEP = ["ASR10→SER", "ASR100→SER", "ASR960→SER"]
VERDICTS = ("supported", "partly", "not supported")


def check_results(results: Path, seeds: int, asr_seeds: int) -> None:
    """Every table, row, figure panel and p-value of a seeded study is written and well-formed."""
    table1 = json.loads((results / "table1.json").read_text())
    assert [row["representation"] for row in table1] == ["ComParE_LLDxF", "BoAW(ComParE_LLD)", "PT", "SER", "ASR10",
                                                          "ASR100", "ASR960", *TWO_STEP]
    for row in table1:
        expected = 1 if row["group"] in ("G-1", "G-2") else asr_seeds if row["representation"].startswith("ASR") \
            and "→" not in row["representation"] else seeds
        assert row["seeds"] == expected
        assert 0 <= row["UAR 95% CI low"] <= row["UAR"] <= row["UAR 95% CI high"] <= 100 and 0 <= row["WAR"] <= 100
        assert row["UAR std"] >= 0 if row["seeds"] > 1 else row["UAR std"] != row["UAR std"]  # NaN for one seed
    summary = json.loads((results / "summary.json").read_text())
    n = len(summary["table1"]["SER"]["predictions"][0])
    for name in ("SER", "ASR100", *TWO_STEP):  # every seed's value and every prediction kept
        assert len(summary["table1"][name]["uar"]) == (asr_seeds if name == "ASR100" else seeds)
        assert all(len(p) == n for p in summary["table1"][name]["predictions"])
    heads = json.loads((results / "heads.json").read_text())
    assert [r["system"] for r in heads] == ["SER", *TWO_STEP]
    assert all(0 <= r["head UAR test"] <= 100 for r in heads)
    assert all(0 <= r["head UAR valid"] <= 100 for r in heads if r["head UAR valid"] == r["head UAR valid"])

    floor_pairs, cross_pairs = seeds * (seeds - 1) // 2, seeds * seeds
    table2 = json.loads((results / "table2.json").read_text())
    assert [(r["system"], r["seed pairs"]) for r in table2] == [("SER (other seed)", floor_pairs)] + [
        (name, cross_pairs) for name in TWO_STEP]
    floor = table2[0]["mismatch % vs SER"]
    for row in table2:
        assert 0 <= row["mismatch % vs SER"] <= 100
    for row in table2[1:]:
        assert 0 < row["p (bootstrap)"] <= 1
        assert abs(row["beyond the floor (% points)"] - (row["mismatch % vs SER"] - floor)) < 1e-6
    table3 = json.loads((results / "table3.json").read_text())
    assert [r["system"] for r in table3] == ["SER (other seed)", *TWO_STEP]
    for row in table3[1:]:  # the threshold rule keeps >= 70 % of every paper pair's data: match % is defined
        assert 70 <= row["data %"] <= 100 and 0 <= row["match %"] <= 100 and 0 <= row["distance > 1 %"] <= 100
    noise = json.loads((results / "noise_floor.json").read_text())
    for name in ("ASR10", *TWO_STEP):
        measures = {r["measure"]: r for r in noise if r["system"] == name}
        assert {"attention distance, all layers", "attention distance, layer 1", "same-layer CKA (no test)"} <= set(
            measures)
        if name in TWO_STEP:
            assert {"decision mismatch %", "last-layer cosine distance"} <= set(measures)
    for row in noise:
        if row["measure"] != "same-layer CKA (no test)":
            assert 0 < row["p (bootstrap)"] <= 1 and row["exceeds the floor"] == (
                "yes" if row["p (bootstrap)"] < 0.05 else "no")
            assert abs(row["excess"] - (row["value"] - row["floor"])) < 1e-6
    for figure in ("figure3.png", "figure4.png", "layerwise.png", "cka_SER_vs_ASR100-to-SER.png",
                   "cka_SER_vs_SER_other_seed_.png"):
        assert (results / figure).stat().st_size > 1000
    figure3 = json.loads((results / "figure3.json").read_text())
    curves = next(iter(figure3.values()))["curves"]
    assert len(curves) == 4 and all(abs(sum(c["percent"]) - 100) < 1e-6 for c in curves.values())
    figure4 = (results / "figure4.csv").read_text().splitlines()
    model = _config().model  # header + 7 panels (6 + the noise floor) x layers x heads
    assert len(figure4) == 1 + 7 * model.num_hidden_layers * model.num_attention_heads
    report = (results / "report.md").read_text()
    assert "Table I" in report and "paper UAR" in report and "## Stage times" in report
    assert "fine-tuning seeds from one pretraining draw" in report  # the quick config's one PT
    verdicts = report.split("## Verdicts on the paper's claims", 1)[1].split("##", 1)[0].strip().splitlines()
    assert len(verdicts) == 5 and all(any(f"**: {v}." in line for v in VERDICTS) for line in verdicts)
    assert "nan" not in report.split("## Table I", 1)[0]


def _iemocap_tree(root: Path, utts) -> Path:
    """The synthetic clips laid out as an IEMOCAP release (labels in EmoEvaluation, wavs per dialog)."""
    import shutil

    codes = {"angry": "ang", "happy": "hap", "neutral": "neu", "sad": "sad"}
    release = root / "IEMOCAP_full_release"
    for session in sorted({u.session for u in utts}):
        dialog = f"Ses0{session}F_impro01"
        lines = []
        for i, u in enumerate(u for u in utts if u.session == session):
            utt_id = f"{dialog}_{'FM'[i % 2]}{i:03d}"
            lines.append(f"[{i}.0 - {i}.5]\t{utt_id}\t{codes[u.emotion]}\t[2.5, 2.5, 2.5]\n")
            wav = release / f"Session{session}" / "sentences" / "wav" / dialog / f"{utt_id}.wav"
            wav.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(u.path, wav)
        labels = release / f"Session{session}" / "dialog" / "EmoEvaluation" / f"{dialog}.txt"
        labels.parent.mkdir(parents=True, exist_ok=True)
        labels.write_text("% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n" + "\n".join(lines))
    return release


@pytest.mark.slow
def test_real_corpus_path_with_local_checkpoints(tmp_path):
    """IEMOCAP layout + four HF folders: no pretraining or CTC stage, SER per fold from the checkpoints."""
    from configs import study_real
    from recovery_jax.data.corpora import emotion_corpus
    from recovery_jax.study.study import run_study
    from tiny_hf import make_hf_model

    quick = _config()
    release = _iemocap_tree(tmp_path / "iemocap", emotion_corpus(quick.corpus))
    c = study_real.get_config("iemocap")
    c.corpus.root = str(release)
    for i, (name, head) in enumerate((("PT", "ForPreTraining"), ("ASR10", "ForCTC"), ("ASR100", "ForCTC"),
                                      ("ASR960", "ForCTC"))):
        # wav2vec2's own 7-conv stack (320-sample hop): tiny_hf's 3-conv default gives 16x more frames, and
        # seven stacked systems' T x T attention maps would then take gigabytes
        make_hf_model("base", head=head, seed=i, conv_dim=(16,) * 7, conv_kernel=(10, 3, 3, 3, 3, 2, 2),
                      conv_stride=(5, 2, 2, 2, 2, 2, 2)).save_pretrained(tmp_path / name)
        c.checkpoints[name] = str(tmp_path / name)
    c.ser.update(total_steps=4, batch_size=4, checkpoint_every=2, bucket_samples=16000)
    c.probe.update(cv_folds=3, boaw_codebook_size=20)
    c.analysis.update(layerwise=("PT",), batch_size=4)
    c.seeds.finetune = 2
    summary = run_study(c, tmp_path / "work")
    stages = {p.name.rsplit("-", 1)[0] for p in (tmp_path / "work" / "stages").iterdir()}
    assert not any(s.startswith(("pretrain", "ctc-")) for s in stages)
    assert {"ser-SER_0", "ser-SER_1", "ser-ASR100-to-SER_1"} <= stages  # one job (all folds) per system and seed
    assert set(summary["table1"]) >= {"PT", "SER", "ASR960→SER", "ComParE_LLDxF"}
    assert summary["threshold"] == 0.6
    report = (tmp_path / "work" / "results" / "report.md").read_text()
    assert "IEMOCAP" in report and str(tmp_path / "PT") in report
