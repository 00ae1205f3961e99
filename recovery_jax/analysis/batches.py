"""Bucketed, fixed-shape batches of variable-length audio for the device passes.

Each batch is (audio (B, S) float32, sample_lengths (B,) int32, weights (B,) float32). Utterances are
sorted by length and padded to a multiple of `pad_to` samples, so a corpus compiles to a handful of
shapes; the last batch is filled with zero-weight rows so that every batch has B rows.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

Batch = tuple[np.ndarray, np.ndarray, np.ndarray]


def bucketed_batches(waveforms: Sequence[np.ndarray], batch_size: int, pad_to: int = 16000) -> Iterator[Batch]:
    lengths = np.array([len(w) for w in waveforms])
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        samples = int(-(-lengths[index].max() // pad_to) * pad_to)
        audio = np.zeros((batch_size, samples), np.float32)
        sample_lengths = np.zeros(batch_size, np.int32)
        weights = np.zeros(batch_size, np.float32)
        for row, i in enumerate(index):
            audio[row, :lengths[i]] = waveforms[i]
            sample_lengths[row], weights[row] = lengths[i], 1.0
        # Filler rows get a full length so the model never sees a zero-length utterance.
        sample_lengths[len(index):] = samples
        yield audio, sample_lengths, weights
