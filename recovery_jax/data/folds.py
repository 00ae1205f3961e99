"""Leave-one-session-out folds, with a validation split drawn from the training sessions only."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from .utterance import Utterance


@dataclasses.dataclass(frozen=True)
class Fold:
    """Fold testing on `test_session`; `train` and `valid` partition all the other sessions' utterances."""

    test_session: int
    train: list[Utterance]
    valid: list[Utterance]
    test: list[Utterance]


def loso_folds(utts: Sequence[Utterance], valid_fraction: float = 0.1, seed: int = 0) -> list[Fold]:
    """One fold per session, in session order. Validation takes `valid_fraction` of each emotion's training
    utterances (stratified, so small classes stay represented), drawn with a generator seeded by (seed, fold):
    the same seed gives the same split whatever other folds exist. Input order is kept within each list."""
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    sessions = sorted({u.session for u in utts})
    if len(sessions) < 2:
        raise ValueError(f"leave-one-session-out needs at least 2 sessions, got {sessions}")
    folds = []
    for session in sessions:
        rng = np.random.default_rng([seed, session])
        rest = [i for i, u in enumerate(utts) if u.session != session]
        valid = set()
        for emotion in sorted({utts[i].emotion for i in rest}):
            members = [i for i in rest if utts[i].emotion == emotion]
            take = int(round(valid_fraction * len(members)))
            valid.update(rng.permutation(members)[:take].tolist())
        folds.append(Fold(session, [utts[i] for i in rest if i not in valid], [utts[i] for i in rest if i in valid],
                          [u for u in utts if u.session == session]))
    return folds
