"""Resolve a corpus config section (name, root, size) to utterances, and utterances to model inputs."""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from .audio import load_audio
from .iemocap import read_iemocap
from .msp_improv import read_msp_improv
from .synthetic import synthesize_asr_corpus, synthesize_emotion_corpus
from .utterance import Utterance

CORPORA = ("embedded", "iemocap", "msp_improv")


def check_root(section: Any) -> None:
    """A release corpus's root must exist (the embedded one is synthesised into it)."""
    if section.name != "embedded" and not os.path.isdir(section.root):
        raise ValueError(f"no such directory (--config.corpus.root={section.root}): expected the {section.name} "
                         f"release root")


def emotion_corpus(section: Any) -> list[Utterance]:
    """Utterances of `section.name`; "embedded" synthesises `section.embedded` (configs/corpus.py) into
    `section.root`/emotion once, then reuses it."""
    check_root(section)
    if section.name == "embedded":
        return synthesize_emotion_corpus(os.path.join(section.root, "emotion"), section.embedded)
    if section.name == "iemocap":
        return read_iemocap(section.root)
    if section.name == "msp_improv":
        return read_msp_improv(section.root)
    raise ValueError(f"corpus.name: unknown corpus {section.name!r}; expected one of {CORPORA}")


def asr_corpus(section: Any) -> dict[str, list[Utterance]]:
    """The nested ASR subsets (asr10 ⊂ asr100 ⊂ asr960) of the embedded corpus."""
    return synthesize_asr_corpus(os.path.join(section.root, "asr"), section.embedded)


def load_waveforms(utts: Sequence[Utterance], min_samples: int) -> list[np.ndarray]:
    return [load_audio(u.path, min_samples=min_samples) for u in utts]
