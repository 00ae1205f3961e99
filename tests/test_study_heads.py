"""measures.head_scores: each fold's head on its own network's pooled last layer, per split, averaged over folds."""

import numpy as np

from recovery_jax.data import EMOTIONS, Utterance, loso_folds
from recovery_jax.models import Wav2Vec2Config
from recovery_jax.study.measures import head_scores
from recovery_jax.study.systems import System


def _head(sign: float) -> dict:
    """Logits = sign * (the first 4 pooled dims): the class is the argmax (or argmin) of those dims."""
    eye = np.eye(6, 4, dtype=np.float32)
    return {"projector": {"kernel": np.eye(6, dtype=np.float32), "bias": np.zeros(6, np.float32)},
            "classifier": {"kernel": sign * eye, "bias": np.zeros(4, np.float32)}}


def test_head_scores_use_each_folds_own_network_and_split():
    utts = [Utterance(f"u{i}", "", f"s{i % 2}", 1 + i % 2, EMOTIONS[i % 4], "", 1.0) for i in range(40)]
    folds = loso_folds(utts, valid_fraction=0.25, seed=0)
    labels = np.array([i % 4 for i in range(40)])
    right = np.zeros((40, 3, 6), np.float32)  # (N, layers, H): only the last layer counts
    right[np.arange(40), -1, labels] = 1.0
    wrong = right.copy()
    wrong[:, -1] = np.roll(right[:, -1], 1, axis=-1)  # every clip pooled as the next class
    # fold 1's network sees the truth; fold 2's network is shifted by one class
    embeddings = {1: right, 2: wrong}
    system = System("SER#0", Wav2Vec2Config(), {1: {}, 2: {}}, "k", heads={1: _head(1.0), 2: _head(1.0)})
    scores = head_scores(system, embeddings, utts, folds)
    assert scores["folds"]["1"]["test"] == {"uar": 1.0, "war": 1.0}
    assert scores["folds"]["2"]["test"] == {"uar": 0.0, "war": 0.0}
    assert scores["folds"]["1"]["valid"]["war"] == 1.0 and scores["folds"]["2"]["valid"]["war"] == 0.0
    assert scores["head_test_uar"] == scores["head_valid_uar"] == 50.0
    # a head that ranks the other way round is wrong on the first fold's clips too
    flipped = System("SER#1", Wav2Vec2Config(), {1: {}, 2: {}}, "k", heads={1: _head(-1.0), 2: _head(1.0)})
    assert head_scores(flipped, embeddings, utts, folds)["folds"]["1"]["test"]["war"] == 0.0
