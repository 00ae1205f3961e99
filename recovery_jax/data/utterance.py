"""The utterance record every corpus reader returns, and its on-disk manifest (TSV).

`Utterance.path` is absolute in memory. In a manifest file it is stored relative to the manifest's folder, so
a corpus tree can be moved as a whole; `read_manifest` resolves it again.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path
from typing import Iterable


@dataclasses.dataclass(frozen=True)
class Utterance:
    """One labelled clip. `session` is 0 where a corpus has no sessions (ASR); `emotion` is one of EMOTIONS."""

    utt_id: str
    path: str
    speaker: str
    session: int
    emotion: str
    transcript: str
    duration: float


FIELDS = tuple(f.name for f in dataclasses.fields(Utterance))


def write_manifest(path: str | os.PathLike, utts: Iterable[Utterance]) -> None:
    """Write `utts` as a tab-separated manifest with a header line; paths become relative to its folder."""
    path = Path(path)
    base = path.parent.resolve()
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(FIELDS)
        for u in utts:
            rel = os.path.relpath(os.path.abspath(u.path), base)
            writer.writerow([u.utt_id, rel, u.speaker, u.session, u.emotion, u.transcript, f"{u.duration:.4f}"])


def read_manifest(path: str | os.PathLike) -> list[Utterance]:
    """Read a manifest written by `write_manifest`; paths come back absolute."""
    path = Path(path)
    base = path.parent.resolve()
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    if not rows or tuple(rows[0]) != FIELDS:
        raise ValueError(f"{path}: not a manifest, expected the header {FIELDS}")
    utts = []
    for line_no, row in enumerate(rows[1:], start=2):
        if len(row) != len(FIELDS):
            raise ValueError(f"{path}:{line_no}: expected {len(FIELDS)} tab-separated fields, got {len(row)}")
        utt_id, rel, speaker, session, emotion, transcript, duration = row
        utts.append(Utterance(utt_id, os.path.normpath(base / rel), speaker, int(session), emotion, transcript,
                              float(duration)))
    return utts
