import csv
import json
import os

import numpy as np
import pytest

from recovery_jax.analysis import figures
from recovery_jax.analysis.cosine import histogram_curve

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == PNG_MAGIC


def test_cosine_figure_writes_png_and_the_curves_behind_it(tmp_path):
    rng = np.random.default_rng(0)
    panels = {"IEMOCAP": {"SER vs ASR10->SER": rng.uniform(0, 1.2, 40), "SER vs ASR100->SER": rng.uniform(0, 0.8, 40)},
              "MSP-IMPROV": {"SER vs ASR10->SER": rng.uniform(0, 1.5, 30)}}
    path = tmp_path / "fig3.png"
    figures.plot_cosine_histograms(panels, {"IEMOCAP": 0.6, "MSP-IMPROV": 0.65}, path)
    assert is_png(path)
    data = json.loads((tmp_path / "fig3.json").read_text())
    assert data["MSP-IMPROV"]["threshold"] == 0.65
    curve = data["IEMOCAP"]["curves"]["SER vs ASR100->SER"]
    centres, percent = histogram_curve(panels["IEMOCAP"]["SER vs ASR100->SER"])
    np.testing.assert_allclose(curve["bin_centres"], centres)
    np.testing.assert_allclose(curve["percent"], percent)
    assert sorted(os.listdir(tmp_path)) == ["fig3.json", "fig3.png"]  # no temp files left


@pytest.mark.parametrize("normalise", [False, True])
def test_attention_figure_uses_one_scale_and_states_it(tmp_path, normalise):
    a, b = np.arange(6.0).reshape(2, 3), np.full((2, 3), 10.0)
    path = tmp_path / "fig4.png"
    scale = figures.plot_attention_distances({"ASR100 vs SER": a, "ASR100->SER vs SER": b}, path, normalise=normalise)
    assert is_png(path)
    assert scale == (10.0 if normalise else 1.0)
    with open(tmp_path / "fig4.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12
    row = next(r for r in rows if r["pair"] == "ASR100 vs SER" and r["layer"] == "2" and r["head"] == "3")
    assert float(row["distance"]) == 5.0
    assert float(row["shown"]) == pytest.approx(5.0 / scale)


def test_cka_figure_writes_matrix(tmp_path):
    m = np.eye(3) * 0.5 + 0.25
    figures.plot_cka(m, tmp_path / "cka.png", "SER", "ASR100->SER")
    assert is_png(tmp_path / "cka.png")
    with open(tmp_path / "cka.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["SER_layer", "ASR100->SER_layer", "cka"]
    assert float(rows[1 + 3 * 1 + 1][2]) == 0.75


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("old")

    def explode(f):
        f.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        figures._atomic_write(path, explode)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["table.csv"]
