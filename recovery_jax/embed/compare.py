"""ComParE 2016 features with openSMILE: turn-level functionals (6373) and frame-level LLDs + deltas (130)."""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import opensmile

from recovery_jax.progress import Progress

NUM_FUNCTIONALS = 6373
NUM_LLDS = 65


@functools.cache
def _smile(level: str) -> opensmile.Smile:
    return opensmile.Smile(feature_set=opensmile.FeatureSet.ComParE_2016,
                           feature_level=getattr(opensmile.FeatureLevel, level))


def compare_functionals(waveforms: Sequence[np.ndarray], sample_rate: int = 16000) -> np.ndarray:
    """(N, 6373) float32 ComParE_2016 functionals (COMPARE_LLDxF in Table I), one row per waveform."""
    smile, progress = _smile("Functionals"), Progress("ComParE functionals", len(waveforms), "utterances")
    rows = []
    for w in waveforms:
        rows.append(smile.process_signal(w, sample_rate).to_numpy()[0])
        progress.advance()
    return np.stack(rows).astype(np.float32)


def compare_llds(waveforms: Sequence[np.ndarray], sample_rate: int = 16000) -> list[np.ndarray]:
    """Per waveform a (T, 130) float32 array: the 65 ComParE LLDs, then their 65 deltas (COMPARE_LLD).

    openSMILE emits T LLD frames but T+2 delta frames (two trailing frames from the end-of-input flush, whose
    start times repeat the last ones); both start at time 0 with a 10 ms hop, so the first T rows align.
    """
    lld, delta = _smile("LowLevelDescriptors"), _smile("LowLevelDescriptors_Deltas")
    out, progress = [], Progress("ComParE LLDs", len(waveforms), "utterances")
    for w in waveforms:
        a = lld.process_signal(w, sample_rate).to_numpy()
        b = delta.process_signal(w, sample_rate).to_numpy()
        t = min(len(a), len(b))
        out.append(np.concatenate([a[:t], b[:t]], axis=1).astype(np.float32))
        progress.advance()
    return out
