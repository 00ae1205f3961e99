"""Leave-one-session-out probing: for each session, fit the classifier on all other sessions, test on it.

Features come in three forms, so that no test session ever informs its own features or classifier:
- one (N, D) matrix for all utterances (a frozen network, ComParE functionals);
- a mapping test_session -> (N, D) matrix from the network fine-tuned without that session: fold k takes both
  its training and its test rows from fold k's network;
- a callable (test_session, train_index) -> (N, D) matrix, for features learnt from the training sessions
  (the BoAW codebook).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator

from recovery_jax.probe.metrics import confusion, uar, war
from recovery_jax.probe.svm import make_search
from recovery_jax.progress import Progress

Session = int | str
FoldFeatures = Callable[[Session, np.ndarray], np.ndarray]
FeatureSource = np.ndarray | Mapping[Session, np.ndarray] | FoldFeatures


@dataclasses.dataclass(frozen=True)
class FoldResult:
    test_session: Session
    uar: float
    war: float
    confusion: np.ndarray
    best_params: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """Per-fold scores plus one prediction per utterance, in the order of the utterance list given."""

    folds: tuple[FoldResult, ...]
    predictions: np.ndarray
    labels: np.ndarray
    sessions: np.ndarray
    utt_ids: tuple[str, ...] | None

    @property
    def uar(self) -> float:
        """UAR averaged over folds (sessions weigh equally, as in the LOSO literature)."""
        return float(np.mean([f.uar for f in self.folds]))

    @property
    def war(self) -> float:
        return float(np.mean([f.war for f in self.folds]))

    @property
    def confusion(self) -> np.ndarray:
        return sum(f.confusion for f in self.folds)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (scores in %, as Table I)."""
        return {
            "uar": 100 * self.uar, "war": 100 * self.war, "confusion": self.confusion.tolist(),
            "folds": [{"test_session": f.test_session, "uar": 100 * f.uar, "war": 100 * f.war,
                       "confusion": f.confusion.tolist(), "best_params": f.best_params} for f in self.folds],
        }


def probe_loso(features: FeatureSource, labels: Sequence[int], sessions: Sequence[Session], *,
               num_classes: int = 4, search: Callable[[], BaseEstimator] = make_search,
               utt_ids: Sequence[str] | None = None, name: str = "features",
               progress: Progress | None = None) -> ProbeResult:
    """Leave-one-session-out classification of `features`; `name` labels them in error messages and
    progress lines (`progress`: a counter of fold fits shared with the caller, default one of its own).

    `search()` makes a fresh unfitted estimator per fold (default: the linear-SVM grid search); pass e.g.
    `lambda: make_search(HANDCRAFTED_GRID)` for handcrafted features.
    """
    labels, sessions = np.asarray(labels), np.asarray(sessions)
    n = len(labels)
    if len(sessions) != n or (utt_ids is not None and len(utt_ids) != n):
        raise ValueError(f"labels ({n}), sessions ({len(sessions)}) and utt_ids "
                         f"({None if utt_ids is None else len(utt_ids)}) must describe the same utterances")
    if n and not (labels.min() >= 0 and labels.max() < num_classes):
        raise ValueError(f"labels must be class indices in [0, {num_classes}), got {labels.min()}..{labels.max()}")
    test_sessions = np.unique(sessions).tolist()  # Python ints or strs, to match mapping keys
    if len(test_sessions) < 2:
        raise ValueError(f"leave-one-session-out needs at least two sessions, got {test_sessions}")
    if isinstance(features, Mapping):
        _check_sessions(features, test_sessions, name)

    predictions = np.full(n, -1, dtype=np.int64)
    folds = []
    progress = progress or Progress(f"probe {name}", len(test_sessions), "fold fits")
    for session in test_sessions:
        test = np.flatnonzero(sessions == session)
        train = np.flatnonzero(sessions != session)
        x = _fold_matrix(features, session, train, n, name)
        estimator = search().fit(x[train], labels[train])
        predictions[test] = estimator.predict(x[test])
        folds.append(FoldResult(
            test_session=session, uar=uar(labels[test], predictions[test], num_classes),
            war=war(labels[test], predictions[test]),
            confusion=confusion(labels[test], predictions[test], num_classes),
            best_params=dict(getattr(estimator, "best_params_", {}))))
        progress.advance()
    return ProbeResult(tuple(folds), predictions, labels, sessions,
                       None if utt_ids is None else tuple(utt_ids))


def _check_sessions(features: Mapping[Session, np.ndarray], sessions: list[Session], name: str) -> None:
    missing = sorted(set(sessions) - set(features))
    extra = sorted(set(features) - set(sessions))
    if missing or extra:
        raise ValueError(f"{name}: per-fold features must have one matrix per test session; missing "
                         f"{missing}, unknown {extra} (sessions in the utterance list: {sessions})")


def _fold_matrix(features: FeatureSource, session: Session, train: np.ndarray, n: int, name: str) -> np.ndarray:
    if isinstance(features, Mapping):
        x, where = features[session], f"{name}[{session!r}]"
    elif callable(features):
        x, where = features(session, train), f"{name} for test session {session!r}"
    else:
        x, where = features, name
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] != n:
        raise ValueError(f"{where}: expected an (utterances={n}, dim) matrix, got shape {x.shape}")
    return x
