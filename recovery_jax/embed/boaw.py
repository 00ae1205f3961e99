"""Bag-of-Audio-Words over ComParE LLDs, the openXBOW way (BOAW(COMPARE_LLD) in Table I).

What openXBOW does (v1.0 source, `java -jar openXBOW.jar -attributes n1[65]2[65] -size 500 -standardizeInput
-a N -log`):
- `-standardizeInput`: z-score every input LLD with the mean and standard deviation of the training frames;
  the statistics are stored in the codebook file and reused on test data.
- `-attributes n1[65]2[65]`: the 65 LLDs and the 65 deltas get a codebook and a sub-bag each; the sub-bags are
  concatenated (500 + 500 = 1000 dims).
- `-c`: the codebook is built from training frames only. Its default (in the code; the help text says
  `random`) is `random++`: the k-means++ seeding -- first word uniform, each next word drawn with probability
  proportional to its squared distance to the nearest word chosen so far -- without any k-means update.
  `-c random` samples distinct training frames uniformly.
- `-a N`: each frame increments the counts of its N nearest words (Euclidean distance); default N = 1.
- `-log`: term frequencies become lg(TF + 1) (base 10).

Where we differ: random draws come from numpy's generator, not Java's `Random(10)`, so the words differ from
openXBOW's for the same data; a constant training LLD gets standard deviation 1 instead of a division by zero;
our default is N = 10 assignments (the paper does not give N; openXBOW's default is 1); no `-norm`, `-idf` or
`-standardizeOutput` (our SVM pipeline standardises the bags on training data anyway).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from recovery_jax.embed.compare import NUM_LLDS


@dataclasses.dataclass(frozen=True)
class BoawConfig:
    codebook_size: int = 500                  # words per sub-bag (-size)
    num_assignments: int = 10                 # -a
    codebook: str = "random++"                # -c: "random++" (openXBOW default) or "random"
    log_tf: bool = True                       # -log
    splits: tuple[int, ...] = (NUM_LLDS, NUM_LLDS)  # column blocks with their own codebook (LLDs, deltas)
    seed: int = 0

    def __post_init__(self):
        if self.codebook not in ("random", "random++"):
            raise ValueError(f"codebook must be 'random' or 'random++', got {self.codebook!r}")
        if not 1 <= self.num_assignments <= self.codebook_size:
            raise ValueError(f"num_assignments must be in [1, {self.codebook_size}], got {self.num_assignments}")


@dataclasses.dataclass(frozen=True)
class Boaw:
    """What is learnt from the training frames: standardisation statistics and one codebook per split."""

    mean: np.ndarray
    std: np.ndarray
    codebooks: tuple[np.ndarray, ...]


def fit_boaw(llds: Sequence[np.ndarray], config: BoawConfig = BoawConfig()) -> Boaw:
    """Learn standardisation and codebooks from the frames of the (training) utterances `llds`."""
    frames = np.concatenate(llds).astype(np.float64)
    if frames.shape[1] != sum(config.splits):
        raise ValueError(f"LLD frames have {frames.shape[1]} columns, config.splits expects {sum(config.splits)}")
    mean, std = frames.mean(axis=0), frames.std(axis=0)
    std[std == 0] = 1.0
    rng = np.random.default_rng(config.seed)
    sample = _random if config.codebook == "random" else _random_plus_plus
    blocks = np.split((frames - mean) / std, np.cumsum(config.splits)[:-1], axis=1)
    return Boaw(mean, std, tuple(sample(b, config.codebook_size, rng) for b in blocks))


def boaw_transform(boaw: Boaw, llds: Sequence[np.ndarray], config: BoawConfig = BoawConfig()) -> np.ndarray:
    """(N, sum of codebook sizes) float32 bags, one per utterance."""
    frames = (np.concatenate(llds).astype(np.float64) - boaw.mean) / boaw.std
    owner = np.repeat(np.arange(len(llds)), [len(x) for x in llds])
    blocks = np.split(frames, np.cumsum(config.splits)[:-1], axis=1)
    bags = np.concatenate([_counts(b, cb, owner, len(llds), config.num_assignments)
                           for b, cb in zip(blocks, boaw.codebooks)], axis=1)
    return (np.log10(bags + 1) if config.log_tf else bags).astype(np.float32)


def boaw_fold_features(llds: Sequence[np.ndarray], config: BoawConfig = BoawConfig()):
    """A fold feature source for `probe_loso`: codebooks learnt on each fold's training utterances only."""
    def features(test_session, train: np.ndarray) -> np.ndarray:
        return boaw_transform(fit_boaw([llds[i] for i in train], config), llds, config)
    return features


def _random(frames: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    distinct = np.unique(frames, axis=0)  # openXBOW skips repeated vectors
    if len(distinct) < size:
        raise ValueError(f"{len(distinct)} distinct training frames, fewer than a codebook of {size}")
    return distinct[rng.choice(len(distinct), size, replace=False)]


def _random_plus_plus(frames: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    if len(frames) < size:
        raise ValueError(f"{len(frames)} training frames, fewer than a codebook of {size}")
    # squared distances as |f|^2 - 2 f.w + |w|^2: one matrix-vector product per word instead of a frames-sized
    # temporary (one fold's codebooks 7.2 s -> 4.5 s on the study's LLDs); clipped at 0 against rounding. The
    # loop reuses one buffer and draws as rng.choice(p=...) does without its checks of p: the same words, 5x
    # faster (300k frames, 200 words: 4.8 s -> 1.0 s), the frames-sized temporaries and checks having dominated.
    sq_frames = (frames ** 2).sum(axis=1)
    words = [frames[rng.integers(len(frames))]]
    nearest = np.maximum(sq_frames - 2 * frames @ words[0] + words[0] @ words[0], 0.0)
    distance = np.empty_like(nearest)
    for _ in range(size - 1):
        total = nearest.sum()
        # every frame coincides with a word already chosen (duplicates): draw uniformly
        word = frames[_draw(nearest / total, rng) if total > 0 else rng.integers(len(frames))]
        words.append(word)
        np.matmul(frames, word, out=distance)
        distance *= -2  # then + |f|^2 + |w|^2: the sum above, rounded the same way
        distance += sq_frames
        distance += word @ word
        np.maximum(distance, 0.0, out=distance)
        np.minimum(nearest, distance, out=nearest)
    return np.stack(words)


def _draw(p: np.ndarray, rng: np.random.Generator) -> int:
    """`rng.choice(len(p), p=p)` by numpy's own inverse-CDF arithmetic (in float64), without its checks of p."""
    cdf = p.astype(np.float64).cumsum()
    cdf /= cdf[-1]
    return int(cdf.searchsorted(rng.random(), side="right"))


def _counts(frames: np.ndarray, codebook: np.ndarray, owner: np.ndarray, num_utts: int,
            num_assignments: int, chunk: int = 8192) -> np.ndarray:
    """Term frequencies: each frame adds 1 to its `num_assignments` nearest words in its utterance's bag."""
    size = len(codebook)
    counts = np.zeros(num_utts * size, dtype=np.int64)
    sq_words = (codebook ** 2).sum(axis=1)
    for start in range(0, len(frames), chunk):
        x = frames[start:start + chunk]
        dist = sq_words[None, :] - 2 * x @ codebook.T  # + |x|^2, which does not change the ranking
        nearest = np.argpartition(dist, num_assignments - 1, axis=1)[:, :num_assignments]
        flat = owner[start:start + chunk, None] * size + nearest
        counts += np.bincount(flat.ravel(), minlength=num_utts * size)
    return counts.reshape(num_utts, size).astype(np.float64)
