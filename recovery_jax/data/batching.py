"""Padded batches in a bounded set of shapes, laid out (devices, per-device batch, time) for `jax.pmap`.

Every batch has the same leading shape (num_devices, batch_size // num_devices) and its time axis padded up to
a bucket, so a jitted/pmapped step compiles once per bucket, however many utterances and lengths the corpus has.
A short final batch is filled with weight-0 rows (index -1) rather than dropped. Filler rows repeat real rows,
so every row is a valid input: an all-padding row would make masked means divide by zero, and NaN * 0 is NaN.
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np


def bucket_length(length: int, buckets: int | Sequence[int]) -> int:
    """Padded length for a batch whose longest clip has `length` samples: the next multiple of `buckets` (an
    int), or the smallest entry of `buckets` (a list) that holds it."""
    if isinstance(buckets, (int, np.integer)):
        return int(-(-max(length, 1) // buckets) * buckets)
    fitting = [b for b in buckets if b >= length]
    if not fitting:
        raise ValueError(f"a {length}-sample clip is longer than the largest bucket {max(buckets)}")
    return int(min(fitting))


def _batch_order(lengths: np.ndarray, batch_size: int, buckets, shuffle: bool, seed: int,
                 group_by_length: bool, drop_remainder: bool, schedule_seed: int | None) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(len(lengths)) if shuffle else np.arange(len(lengths))
    if group_by_length:  # batches of similar length pad less; the stable sort keeps the shuffle within a bucket
        order = order[np.argsort([bucket_length(n, buckets) for n in lengths[order]], kind="stable")]
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if drop_remainder and batches and len(batches[-1]) < batch_size:
        batches.pop()
    if group_by_length and shuffle:
        schedule = seed if schedule_seed is None else schedule_seed
        batches = [batches[i] for i in np.random.default_rng([schedule, 1]).permutation(len(batches))]
    return batches


def batch_iterator(waveforms: Sequence[np.ndarray], labels: np.ndarray | None, batch_size: int,
                   num_devices: int = 1, bucket_multiple: int | Sequence[int] = 16000, shuffle: bool = False,
                   seed: int = 0, drop_remainder: bool = False, group_by_length: bool = False,
                   conv_features: Sequence[np.ndarray] | None = None,
                   frames_for: Callable[[int], int] | None = None,
                   schedule_seed: int | None = None) -> Iterator[dict[str, np.ndarray]]:
    """Yield dicts of numpy arrays, each (D, B/D, ...) with D = num_devices and B = batch_size:
    audio (D, B/D, T) float32 zero-padded, lengths (D, B/D) int32 valid samples, labels (D, B/D) int32 (absent
    when `labels` is None), weights (D, B/D) float32 1 for real rows and 0 for filler, index (D, B/D) int32
    position in `waveforms`, -1 for filler. T is `bucket_length(longest clip, bucket_multiple)`.

    `shuffle` permutes with `seed` (pass a new seed per epoch); `group_by_length` batches clips of the same
    bucket together; `drop_remainder` drops a short final batch instead of filling it. With `group_by_length`,
    `schedule_seed` (default `seed`) alone orders the batches, so it fixes which bucket each batch comes from
    while `seed` still picks its clips: runs trained as one program (train/loop.py pads their batches of a step
    to the widest) that share it and their clip lengths pad each step to the same bucket.

    With `conv_features` (per clip, the frozen conv stack's (valid frames, channels) output; see
    models/conv_cache.py) and `frames_for` (samples -> frames), a batch carries conv_features
    (D, B/D, frames_for(T), channels) zero-padded instead of audio: the shape the padded audio would give."""
    if batch_size % num_devices:
        raise ValueError(f"batch_size {batch_size} is not divisible by num_devices {num_devices}")
    lengths = np.array([len(w) for w in waveforms], dtype=np.int64)
    if labels is not None and len(labels) != len(waveforms):
        raise ValueError(f"{len(labels)} labels for {len(waveforms)} waveforms")
    if conv_features is not None and (len(conv_features) != len(waveforms) or frames_for is None):
        raise ValueError(f"{len(conv_features)} conv feature arrays for {len(waveforms)} waveforms "
                         f"(frames_for {'missing' if frames_for is None else 'given'})")
    shape = (num_devices, batch_size // num_devices)
    for rows in _batch_order(lengths, batch_size, bucket_multiple, shuffle, seed, group_by_length, drop_remainder,
                             schedule_seed):
        real = len(rows)
        filled = np.resize(rows, batch_size)  # repeats real rows cyclically as filler
        width = bucket_length(int(lengths[rows].max()), bucket_multiple)
        batch = {
            "lengths": lengths[filled].astype(np.int32).reshape(shape),
            "weights": (np.arange(batch_size) < real).astype(np.float32).reshape(shape),
            "index": np.where(np.arange(batch_size) < real, filled, -1).astype(np.int32).reshape(shape),
        }
        if conv_features is None:
            batch["audio"] = _padded([waveforms[i] for i in filled], width).reshape(*shape, width)
        else:
            features = _padded([conv_features[i] for i in filled], frames_for(width))
            batch["conv_features"] = features.reshape(shape + features.shape[1:])
        if labels is not None:
            batch["labels"] = np.asarray(labels)[filled].astype(np.int32).reshape(shape)
        yield batch


def _padded(arrays: Sequence[np.ndarray], width: int) -> np.ndarray:
    """(len(arrays), width, ...) float32, each array's leading axis zero-padded to `width`."""
    out = np.zeros((len(arrays), width) + arrays[0].shape[1:], np.float32)
    for row, array in enumerate(arrays):
        out[row, :len(array)] = array
    return out
