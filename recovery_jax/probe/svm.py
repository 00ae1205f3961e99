"""The SVM classifier of the paper: standardise, SVC, hyper-parameters by grid search on training data only.

Neural embeddings keep a linear kernel and search C (the paper also names gamma, which a linear kernel
ignores); handcrafted features search the kernel as well. The grids are small so that one leave-one-session-out
probe of a few hundred utterances takes seconds on two cores; pass your own grid for a wider search.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

Grid = Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]]

LINEAR_GRID: Grid = {"svc__kernel": ["linear"], "svc__C": [1e-4, 1e-3, 1e-2, 1e-1, 1.0]}
HANDCRAFTED_GRID: Grid = [
    {"svc__kernel": ["linear"], "svc__C": [1e-4, 1e-3, 1e-2, 1e-1]},
    {"svc__kernel": ["rbf"], "svc__C": [1.0, 10.0], "svc__gamma": ["scale"]},  # scale = 1 / dims here
]


def make_search(grid: Grid = LINEAR_GRID, *, cv_folds: int = 5, seed: int = 0,
                n_jobs: int | None = None) -> GridSearchCV:
    """StandardScaler + SVC inside a GridSearchCV scored by UAR, refit on all the data it is given.

    The scaler sits inside the pipeline, so every CV split and the final refit standardise with statistics
    of their own training part only.
    """
    pipeline = Pipeline([("scaler", StandardScaler()), ("svc", SVC())])
    return GridSearchCV(pipeline, grid, scoring="balanced_accuracy", n_jobs=n_jobs, refit=True,
                        cv=StratifiedKFold(cv_folds, shuffle=True, random_state=seed))
