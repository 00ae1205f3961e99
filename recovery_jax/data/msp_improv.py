"""MSP-IMPROV reader: the 4-class protocol on consensus labels (7798 utterances on the full release).

Layout:
    Evaluation.txt (some copies spell it Evalution.txt)
    [Audio/]sessionK/<S01A>/<P>/MSP-IMPROV-<S01A>-<F01>-<P>-<FM01>.wav
In Evaluation.txt a consensus line "UTD-IMPROV-<id>.avi; <A|H|S|N|O|X>; A:..; V:..; D:.. ; N:..;" is followed
by one line per rater, which we skip. O (other) and X (no agreement) are not among the 4 classes.
The utterance id is the wav's stem, the release's own id (MSP-IMPROV-S01A-F01-P-FM01), so results join with
other tools' outputs. The speaker is the field after the scenario (F01..F06, M01..M06); its number is the session.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import soundfile as sf

from .missing import drop_missing
from .utterance import Utterance

CODES = {"A": "angry", "H": "happy", "N": "neutral", "S": "sad"}
_CONSENSUS = re.compile(r"^UTD-IMPROV-([A-Z0-9]+-([FM]\d\d)-[A-Z]+-[A-Z0-9]+)\.avi;\s*([A-Z]);")
_LABEL_NAMES = ("Evaluation.txt", "Evalution.txt")


def _label_file(root: Path) -> Path:
    for name in _LABEL_NAMES:
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(f"{root}: no {' or '.join(_LABEL_NAMES)}")


def read_msp_improv(root: str | os.PathLike, *, skip_missing: bool = False) -> list[Utterance]:
    """4-class MSP-IMPROV utterances under `root` (the folder holding Evaluation.txt).

    A labelled utterance without its wav raises MissingAudioError listing them, or is dropped with a warning
    under `skip_missing`. Durations are read from the wav headers."""
    root = Path(root)
    audio_root = root / "Audio" if (root / "Audio").is_dir() else root
    utts = []
    for line in _label_file(root).read_text(encoding="utf-8", errors="replace").splitlines():
        m = _CONSENSUS.match(line.strip())
        if not m or m[3] not in CODES:
            continue
        utt_id, speaker = f"MSP-IMPROV-{m[1]}", m[2]
        scenario, _, kind, _ = m[1].split("-")
        session = int(speaker[1:])
        wav = audio_root / f"session{session}" / scenario / kind / f"{utt_id}.wav"
        utts.append(Utterance(utt_id, str(wav.resolve()), speaker, session, CODES[m[3]], "", 0.0))
    present = drop_missing("MSP-IMPROV", utts, skip_missing)
    return [dataclasses.replace(u, duration=sf.info(u.path).duration) for u in present]
