"""IEMOCAP reader: the 4-class protocol (excited merged into happy; 5531 utterances on the full release).

Layout (the release as distributed):
    IEMOCAP_full_release/SessionN/dialog/EmoEvaluation/<dialog>.txt     consensus + rater labels
    IEMOCAP_full_release/SessionN/dialog/transcriptions/<dialog>.txt    "<utt> [start-end]: text" (optional)
    IEMOCAP_full_release/SessionN/sentences/wav/<dialog>/<utt>.wav
Only the dialogs' own label files (Ses<NN><F|M>_<dialog>.txt, NN the folder's session) are read: copies of the
release carry other text files there (notes, macOS "._Ses01F_impro01.txt" resource forks), skipped with a warning.
Consensus lines are  "[START - END]\\t<utt>\\t<emo>\\t[V, A, D]"; everything else in the label files (the "%"
header, rater lines "C-E2:\\t...", "A-E3:\\t...") is ignored. Other classes (fru, sur, xxx...) are skipped.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from .missing import drop_missing, listing
from .texts import normalize_transcript
from .utterance import Utterance

CODES = {"ang": "angry", "hap": "happy", "exc": "happy", "neu": "neutral", "sad": "sad"}
_LABEL = re.compile(r"^\[(\d+(?:\.\d+)?) - (\d+(?:\.\d+)?)\]\t(\S+)\t(\S+)\t\[")
_TRANSCRIPT = re.compile(r"^(\S+) \[[^\]]*\]:\s*(.*)$")
_NON_SPEECH = re.compile(r"\[[^\]]*\]")  # [LAUGHTER], [BREATHING]: not words
# The utterance's last field is <gender><index>: the gender of the speaking actor (Ses01F_impro01_M003 is the
# male actor of session 1, whoever led the dialog).
_SPEAKER = re.compile(r"^Ses(\d\d)[FM]_.*_([FM])\d+$")
_DIALOG = re.compile(r"^Ses(\d\d)[FM]_\w+$")
_log = logging.getLogger(__name__)


def _release_root(root: Path) -> Path:
    nested = root / "IEMOCAP_full_release"
    return nested if nested.is_dir() else root


def _transcripts(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return {m[1]: normalize_transcript(_NON_SPEECH.sub(" ", m[2])) for m in map(_TRANSCRIPT.match, lines) if m}


def speaker_of(utt_id: str) -> tuple[str, int]:
    """(speaker, session) of an IEMOCAP utterance id: Ses01F_impro01_M003 -> ("Ses01M", 1)."""
    m = _SPEAKER.match(utt_id)
    if not m:
        raise ValueError(f"not an IEMOCAP utterance id: {utt_id!r}")
    return f"Ses{m[1]}{m[2]}", int(m[1])


def _is_dialog_file(path: Path) -> bool:
    m = _DIALOG.match(path.stem)
    return bool(m) and path.parents[2].name == f"Session{int(m[1])}"


def _dialog_label_files(release: Path) -> list[Path]:
    """The dialogs' label files under `release`, warning about any other text file found beside them."""
    found = sorted(release.glob("Session*/dialog/EmoEvaluation/*.txt"))
    skipped = [str(p) for p in found if not _is_dialog_file(p)]
    if skipped:
        _log.warning("IEMOCAP: skipped %d file(s) in EmoEvaluation that are not dialog label files "
                     "(SesNN<F|M>_<dialog>.txt in SessionN): %s", len(skipped), listing(skipped))
    return [p for p in found if _is_dialog_file(p)]


def read_iemocap(root: str | os.PathLike, *, skip_missing: bool = False) -> list[Utterance]:
    """4-class IEMOCAP utterances under `root` (the IEMOCAP_full_release folder or its parent).

    A labelled utterance without its wav raises MissingAudioError listing them, or is dropped with a warning
    under `skip_missing`. Durations come from the label times."""
    release = _release_root(Path(root))
    label_files = _dialog_label_files(release)
    if not label_files:
        raise FileNotFoundError(f"{release}: no Session*/dialog/EmoEvaluation/Ses*.txt dialog label files")
    utts = []
    for label_file in label_files:
        dialog, session_dir = label_file.stem, label_file.parents[2]
        texts = _transcripts(session_dir / "dialog" / "transcriptions" / f"{dialog}.txt")
        for line in label_file.read_text(encoding="utf-8", errors="replace").splitlines():
            m = _LABEL.match(line)
            if not m or m[4] not in CODES:
                continue
            utt_id = m[3]
            speaker, session = speaker_of(utt_id)
            wav = session_dir / "sentences" / "wav" / dialog / f"{utt_id}.wav"
            utts.append(Utterance(utt_id, str(wav.resolve()), speaker, session, CODES[m[4]],
                                  texts.get(utt_id, ""), float(m[2]) - float(m[1])))
    return drop_missing("IEMOCAP", utts, skip_missing)
