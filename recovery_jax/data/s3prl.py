"""Export folds as S3PRL emotion meta-data (s3prl/downstream/emotion), to cross-check a run against S3PRL.

S3PRL reads `<meta_data>/SessionK/{train,test}_meta_data.json` for `test_fold: foldK` and splits its own
validation set off the training file (`valid_ratio`), so our train and valid lists both go into the train file.
Labels use S3PRL's own codes and indices, so files are comparable with the ones S3PRL ships for IEMOCAP.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from .folds import Fold
from .utterance import Utterance

S3PRL_LABELS = {"neu": 0, "hap": 1, "ang": 2, "sad": 3}
_CODE = {"neutral": "neu", "happy": "hap", "angry": "ang", "sad": "sad"}


def _entries(utts: Sequence[Utterance], data_root: Path) -> list[dict]:
    entries = []
    for u in utts:
        rel = os.path.relpath(os.path.abspath(u.path), data_root)
        if rel.startswith(os.pardir):
            raise ValueError(f"{u.path} is not under the S3PRL data root {data_root}")
        entries.append({"path": rel, "label": _CODE[u.emotion], "speaker": u.speaker})
    return entries


def export_s3prl_folds(folds: Sequence[Fold], out_dir: str | os.PathLike,
                       data_root: str | os.PathLike) -> list[Path]:
    """Write `out_dir/SessionK/{train,test}_meta_data.json` per fold, paths relative to `data_root` (S3PRL's
    `downstream_expert.datarc.root`); returns the files written."""
    out_dir, data_root = Path(out_dir), Path(data_root).resolve()
    written = []
    for fold in folds:
        fold_dir = out_dir / f"Session{fold.test_session}"
        fold_dir.mkdir(parents=True, exist_ok=True)
        for name, utts in (("train", [*fold.train, *fold.valid]), ("test", fold.test)):
            path = fold_dir / f"{name}_meta_data.json"
            with open(path, "w", encoding="utf-8") as f:
                json.dump({"labels": S3PRL_LABELS, "meta_data": _entries(utts, data_root)}, f)
            written.append(path)
    return written
