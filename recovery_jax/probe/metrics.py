"""Emotion-recognition scores: UAR (macro recall), WAR (accuracy) and confusion matrices."""

from __future__ import annotations

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) counts; rows are true classes, columns predictions."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}")
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def uar(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    """Unweighted average recall over the classes present in y_true.

    Classes absent from y_true are skipped (as scikit-learn's balanced_accuracy_score does): a test session
    without any 'sad' utterance has no 'sad' recall to average.
    """
    counts = confusion(y_true, y_pred, num_classes)
    support = counts.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(counts)[present] / support[present]))


def war(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Weighted average recall, i.e. accuracy (recalls weighted by class support)."""
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))
