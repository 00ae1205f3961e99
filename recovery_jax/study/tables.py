"""The paper's Tables I-III as data, written as Markdown, CSV and JSON beside the paper's own numbers."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Sequence

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


def table1_rows(results: dict[str, dict], dims: dict[str, Any], groups: dict[str, str], corpus: str
                ) -> list[list[Any]]:
    column = paper_column(corpus)
    rows = []
    for name, result in results.items():
        paper_uar, paper_war = PAPER_TABLE1.get(name, ((math.nan, math.nan),) * 2)[column]
        rows.append([groups[name], name, dims[name], result["uar"], result["war"], paper_uar, paper_war])
    return rows


TABLE1_HEADER = ("group", "representation", "dim", "UAR", "WAR", "paper UAR", "paper WAR")
TABLE2_HEADER = ("system", "mismatch % vs SER", "paper mismatch %", "beyond the floor (% points)",
                 "p (sign test)")
TABLE3_HEADER = ("system", "threshold", "data %", "match %", "distance > 1 %", "paper data %", "paper match %")
