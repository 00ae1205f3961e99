"""The paper's Tables I-III as data, written as Markdown, CSV and JSON beside the paper's own numbers."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from recovery_jax.analysis import uar_interval
from recovery_jax.data import EMOTIONS
from recovery_jax.study.floor import ALPHA, FLOOR
from recovery_jax.study.stages import atomic_write_text

# (UAR, WAR) on IEMOCAP and MSP-IMPROV, Table I of the paper.
PAPER_TABLE1 = {
    "ComParE_LLDxF": ((58.00, 56.51), (43.10, 55.90)),
    "BoAW(ComParE_LLD)": ((57.67, 56.62), (43.30, 55.60)),
    "PT": ((56.76, 56.26), (47.01, 58.49)),
    "SER": ((64.98, 63.89), (56.54, 63.41)),
    "ASR10": ((55.18, 53.59), (41.42, 58.10)),
    "ASR100": ((60.03, 58.09), (49.25, 60.44)),
    "ASR960": ((49.38, 49.34), (36.51, 62.22)),
    "ASR10→SER": ((60.93, 59.52), (52.80, 59.91)),
    "ASR100→SER": ((64.59, 63.68), (56.29, 63.99)),
    "ASR960→SER": ((63.57, 62.56), (55.54, 62.72)),
}
PAPER_TABLE2 = {"ASR10→SER": (35.18, 34.03), "ASR100→SER": (27.57, 25.10), "ASR960→SER": (29.66, 28.89)}
PAPER_TABLE3 = {"ASR10→SER": ((70.85, 89.00), (70.00, 85.63)), "ASR100→SER": ((75.55, 90.69), (81.98, 88.75)),
                "ASR960→SER": ((70.01, 94.07), (73.04, 89.69))}
PAPER_CORPUS_INDEX = {"iemocap": 0, "msp_improv": 1}


def paper_column(corpus: str) -> int:
    """Which of the paper's corpora to set our numbers beside (IEMOCAP for the IEMOCAP-shaped default)."""
    return PAPER_CORPUS_INDEX.get(corpus, 0)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.2f}" if value == 0 or abs(value) >= 0.01 else f"{value:.1e}"  # small p-values stay readable
    return str(value)


def markdown(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_table(folder: Path, name: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Writes name.md, name.csv and name.json atomically; returns the Markdown."""
    folder.mkdir(parents=True, exist_ok=True)
    text = markdown(header, rows)
    atomic_write_text(folder / f"{name}.md", text)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *rows])
    atomic_write_text(folder / f"{name}.csv", buffer.getvalue())
    atomic_write_text(folder / f"{name}.json", json.dumps([dict(zip(header, row)) for row in rows], indent=1))
    return text


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation over seeds (std NaN for one seed)."""
    values = np.asarray(values, np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else math.nan


def table1_rows(probes: dict[str, list[dict]], labels: np.ndarray, sessions: np.ndarray, dims: dict[str, Any],
                groups: dict[str, str], corpus: str) -> list[list[Any]]:
    """One row per representation: seeds, UAR and WAR mean and std over seeds, the 95 % bootstrap interval
    (over utterances, drawn within sessions) of the seed-mean UAR, and the paper's numbers."""
    column = paper_column(corpus)
    rows = []
    for name, runs in probes.items():
        paper_uar, paper_war = PAPER_TABLE1.get(name, ((math.nan, math.nan),) * 2)[column]
        low, high = uar_interval(labels, np.stack([np.asarray(r["predictions"]) for r in runs]), len(EMOTIONS),
                                 sessions)
        rows.append([groups[name], name, dims[name], len(runs), *_mean_std([r["uar"] for r in runs]), low, high,
                     *_mean_std([r["war"] for r in runs]), paper_uar, paper_war])
    return rows


def head_rows(infos: dict[str, list[dict]]) -> list[list[Any]]:
    """The SER heads' own UAR (%) on validation (training sessions) and test sessions, mean and std over seeds."""
    rows = []
    for name, runs in infos.items():
        rows.append([name, len(runs), *_mean_std([r.get("head_valid_uar", math.nan) for r in runs]),
                     *_mean_std([r.get("head_test_uar", math.nan) for r in runs])])
    return rows


def table2_rows(mismatch: dict[str, np.ndarray], floor: dict[str, dict], column: int) -> list[list[Any]]:
    """Decision mismatch with SER (%) over seed pairs; the floor row first, then each ASR(x)->SER with its
    excess over the floor and bootstrap p."""
    rows = []
    for name, values in mismatch.items():
        per_pair = 100 * values.mean(axis=1)
        f = floor.get(name)
        rows.append([name, len(per_pair), *_mean_std(per_pair), PAPER_TABLE2.get(name, (math.nan,) * 2)[column],
                     100 * f["excess"] if f else math.nan, f["p_value"] if f else math.nan])
    return rows


def table3_rows(agreement: dict[str, list], threshold: float, column: int) -> list[list[Any]]:
    """Data within the threshold and decision match there (%), mean and std over seed pairs."""
    rows = []
    for name, pairs in agreement.items():
        paper = PAPER_TABLE3.get(name, ((math.nan,) * 2,) * 2)[column]
        rows.append([name, len(pairs), threshold, *_mean_std([a.data_percent for a in pairs]),
                     *_mean_std([a.match_percent for a in pairs]),
                     float(np.mean([a.over_one_percent for a in pairs])), *paper])
    return rows


def floor_rows(mismatch: dict[str, dict], cosine: dict[str, dict], attention: dict[str, dict[str, dict]],
               cka_pairs: dict[str, np.ndarray]) -> list[list[Any]]:
    """Each compared system against the noise floor on every measure: its mean over seed pairs, the floor's
    mean and largest pair, the excess, the bootstrap p over utterances, and whether it exceeds the floor
    (p < 0.05)."""
    rows = []

    def add(name, measure, r, scale=1.0, index=()):
        value, floor, top = (scale * np.asarray(r[k])[index] for k in ("cross_mean", "floor_mean", "floor_max_pair"))
        p = float(np.asarray(r["p_value"])[index])
        rows.append([name, measure, float(value), float(floor), float(top), float(value - floor), p,
                     "n/a" if math.isnan(p) else ("yes" if p < ALPHA else "no")])

    for name, r in mismatch.items():
        add(name, "decision mismatch %", r, 100.0)
    for name, r in cosine.items():
        add(name, "last-layer cosine distance", r)
    for name, r in attention["all layers"].items():
        add(name, "attention distance, all layers", r)
        for layer in range(len(attention["per layer"][name]["p_value"])):
            add(name, f"attention distance, layer {layer + 1}", attention["per layer"][name], index=(layer,))
    floor_cka = np.diagonal(cka_pairs[FLOOR], axis1=1, axis2=2).mean(axis=1) if FLOOR \
        in cka_pairs else np.array([math.nan])
    for name, matrices in cka_pairs.items():
        if name == FLOOR:
            continue
        same_layer = np.diagonal(matrices, axis1=1, axis2=2).mean(axis=1)  # per seed pair
        rows.append([name, "same-layer CKA (no test)", float(same_layer.mean()), float(floor_cka.mean()),
                     float(floor_cka.min()), float(same_layer.mean() - floor_cka.mean()), math.nan, "n/a"])
    return rows


TABLE1_HEADER = ("group", "representation", "dim", "seeds", "UAR", "UAR std", "UAR 95% CI low", "UAR 95% CI high",
                 "WAR", "WAR std", "paper UAR", "paper WAR")
HEADS_HEADER = ("system", "seeds", "head UAR valid", "valid std", "head UAR test", "test std")
TABLE2_HEADER = ("system", "seed pairs", "mismatch % vs SER", "std over pairs", "paper mismatch %",
                 "beyond the floor (% points)", "p (bootstrap)")
TABLE3_HEADER = ("system", "seed pairs", "threshold", "data %", "data % std", "match %", "match % std",
                 "distance > 1 %", "paper data %", "paper match %")
FLOOR_HEADER = ("system", "measure", "value", "floor", "floor's largest pair", "excess", "p (bootstrap)",
                "exceeds the floor")
