"""On-disk feature tables: one row (or one frame sequence) per utterance, keyed by utt_id, written atomically.

A table is an .npz holding the utt_ids, the features and a JSON `meta` record of what produced them
(checkpoint digest, corpus digest, layers, feature set). Writes go to a temporary file in the same folder and
are renamed into place with os.replace, so a killed extraction leaves at most a stray `.tmp` file, never a
table that reads as complete. Reading checks the meta and the utterance list and names the file on mismatch.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

Features = np.ndarray | list[np.ndarray]  # (N, ...) dense, or N variable-length (T_i, D) sequences


def digest(*parts: Any) -> str:
    """Hex SHA-256 of JSON-serialisable parts (order matters)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def files_digest(paths: Sequence[str | os.PathLike]) -> str:
    """Hex SHA-256 over the bytes of the files, in order: the identity of a corpus's audio."""
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def write_table(path: str | os.PathLike, utt_ids: Sequence[str], features: Features,
                meta: Mapping[str, Any]) -> None:
    """Atomically write `features` for `utt_ids` with its provenance `meta`."""
    path = Path(path)
    if len(features) != len(utt_ids):
        raise ValueError(f"{path}: {len(features)} feature rows for {len(utt_ids)} utterances")
    if isinstance(features, np.ndarray):
        arrays = {"data": features}
    else:
        lengths = [len(f) for f in features]
        arrays = {"data": np.concatenate(features), "offsets": np.concatenate([[0], np.cumsum(lengths)])}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, utt_ids=np.asarray(utt_ids, dtype=str), meta=np.asarray(json.dumps(dict(meta))),
                     **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_table(path: str | os.PathLike, utt_ids: Sequence[str],
               meta: Mapping[str, Any] | None = None) -> Features:
    """Features of `utt_ids`, in that order, from the table at `path`.

    Raises ValueError naming the file when it is unreadable, when `meta` is given and differs from what the
    table was written with, or when an utterance is missing from it.
    """
    path = Path(path)
    try:
        with np.load(path) as z:
            stored_ids, stored_meta = z["utt_ids"].tolist(), json.loads(str(z["meta"]))
            data, offsets = z["data"], (z["offsets"] if "offsets" in z.files else None)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable feature table ({e})") from e
    meta = None if meta is None else json.loads(json.dumps(dict(meta)))  # tuples read back as lists
    if meta is not None and stored_meta != meta:
        changed = sorted(k for k in set(stored_meta) | set(meta) if stored_meta.get(k) != meta.get(k))
        raise ValueError(f"{path}: written for other inputs (differs in {changed}); delete it or pick another file")
    row = {u: i for i, u in enumerate(stored_ids)}
    missing = [u for u in utt_ids if u not in row]
    if missing:
        raise ValueError(f"{path}: {len(missing)} of {len(utt_ids)} utterances missing, e.g. {missing[:3]}")
    index = [row[u] for u in utt_ids]
    if offsets is None:
        return data[index]
    return [data[offsets[i]:offsets[i + 1]] for i in index]


def cached_table(cache_dir: str | os.PathLike, name: str, utt_ids: Sequence[str], meta: Mapping[str, Any],
                 compute: Callable[[], Features]) -> Features:
    """Read `name`'s table for (meta, utt_ids) from `cache_dir`, or compute and write it first.

    The file name carries a digest of meta and the utterance list, so other inputs get another file.
    """
    path = Path(cache_dir) / f"{name}-{digest(dict(meta), list(utt_ids))[:16]}.npz"
    if not path.exists():
        write_table(path, utt_ids, compute(), meta)
    return read_table(path, utt_ids, meta)
