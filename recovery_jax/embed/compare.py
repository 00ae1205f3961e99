"""ComParE 2016 features with openSMILE: turn-level functionals (6373) and frame-level LLDs + deltas (130)."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import numpy as np
import opensmile

from recovery_jax.progress import Progress

NUM_FUNCTIONALS = 6373
NUM_LLDS = 65


def _smile(level: str) -> opensmile.Smile:
    return opensmile.Smile(feature_set=opensmile.FeatureSet.ComParE_2016,
                           feature_level=getattr(opensmile.FeatureLevel, level))


def _per_clip(levels: Sequence[str], waveforms: Sequence[np.ndarray], sample_rate: int, what: str,
              combine: Callable[[list[np.ndarray]], np.ndarray]) -> list[np.ndarray]:
    """`combine` of each clip's features at `levels`, in order. Clips run on a thread per core: openSMILE's C
    core releases the GIL (functionals 1.6-2.3x on 2 cores; LLDs+deltas gained nothing in the study run), and
    a Smile object is not thread-safe, so each thread makes its own."""
    local = threading.local()

    def one(waveform: np.ndarray) -> np.ndarray:
        if not hasattr(local, "smiles"):
            local.smiles = [_smile(level) for level in levels]
        return combine([smile.process_signal(waveform, sample_rate).to_numpy() for smile in local.smiles])

    progress, out = Progress(what, len(waveforms), "utterances"), []
    with ThreadPoolExecutor(min(len(os.sched_getaffinity(0)), 8)) as pool:
        for features in pool.map(one, waveforms):
            out.append(features)
            progress.advance()
    return out


def compare_functionals(waveforms: Sequence[np.ndarray], sample_rate: int = 16000) -> np.ndarray:
    """(N, 6373) float32 ComParE_2016 functionals (COMPARE_LLDxF in Table I), one row per waveform."""
    rows = _per_clip(["Functionals"], waveforms, sample_rate, "ComParE functionals", lambda f: f[0][0])
    return np.stack(rows).astype(np.float32)


def compare_llds(waveforms: Sequence[np.ndarray], sample_rate: int = 16000) -> list[np.ndarray]:
    """Per waveform a (T, 130) float32 array: the 65 ComParE LLDs, then their 65 deltas (COMPARE_LLD).

    openSMILE emits T LLD frames but T+2 delta frames (two trailing frames from the end-of-input flush, whose
    start times repeat the last ones); both start at time 0 with a 10 ms hop, so the first T rows align.
    """
    def aligned(features: list[np.ndarray]) -> np.ndarray:
        lld, delta = features
        t = min(len(lld), len(delta))
        return np.concatenate([lld[:t], delta[:t]], axis=1).astype(np.float32)

    return _per_clip(["LowLevelDescriptors", "LowLevelDescriptors_Deltas"], waveforms, sample_rate, "ComParE LLDs",
                     aligned)
