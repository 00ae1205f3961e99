"""The device passes' view of `data.batch_iterator`: one device, (audio, sample_lengths, weights) tuples.

Clips are grouped by length bucket so a corpus compiles to a handful of shapes; filler rows (weight 0) keep
every batch at B rows.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from recovery_jax.data import batch_iterator

Batch = tuple[np.ndarray, np.ndarray, np.ndarray]


def indexed_batches(waveforms: Sequence[np.ndarray], batch_size: int, pad_to: int = 16000
                    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(audio, sample_lengths, weights, index): index maps each row to its clip in `waveforms` (-1: filler)."""
    for batch in batch_iterator(waveforms, None, batch_size, num_devices=1, bucket_multiple=pad_to,
                                group_by_length=True):
        yield batch["audio"][0], batch["lengths"][0], batch["weights"][0], batch["index"][0]


def bucketed_batches(waveforms: Sequence[np.ndarray], batch_size: int, pad_to: int = 16000) -> Iterator[Batch]:
    for audio, lengths, weights, _ in indexed_batches(waveforms, batch_size, pad_to):
        yield audio, lengths, weights
