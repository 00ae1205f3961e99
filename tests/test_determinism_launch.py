"""launch/determinism.py end to end on the quick config: report.md and report.json with computed numbers."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_launch_writes_markdown_and_json_reports(tmp_path):
    out = tmp_path / "report"
    subprocess.run([sys.executable, "-m", "launch.determinism", "--config", "configs/determinism.py:quick",
                    "--out", str(out), f"--config.corpus.root={tmp_path / 'corpus'}"],
                   cwd=ROOT, check=True, capture_output=True, text=True,
                   env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})  # a CPU test, wherever it runs
    report = json.loads((out / "report.json").read_text())
    assert "not a pretrained model" in report["checkpoint"]["label"]
    assert report["devices"] == {"jax": "cpu:0", "torch": "cpu"}
    for side in ("jax", "torch"):  # CPU: run to run is bitwise, forward and training
        assert all(d["bitwise_equal"] for d in report["run_to_run"]["forward"][side].values())
        assert all(s["bitwise_equal"] for s in report["run_to_run"]["training"][side]["steps"])
    cross = report["across_frameworks"]
    assert 0 < cross["forward"]["last_hidden_state"]["max_abs"] < 1e-4
    assert len(cross["training"]["steps"]) == 2 and "dropout" in cross["training"]["note"]
    assert cross["training"]["per_layer_at_end"]["feature_extractor"]["bitwise_equal"]  # frozen on both sides
    assert [r["setting"] for r in report["settings"]] == ["jax/default", "torch/default"]
    assert all(r["processes"] == 1 and r["same_bits_across_processes"] is None for r in report["settings"])
    markdown = (out / "report.md").read_text()
    assert "## Run to run" in markdown and "## JAX vs PyTorch" in markdown and "| hidden_states[0] |" in markdown
    assert markdown.count("| not measured (1 process) |") == 2  # one timing round: one process per setting
