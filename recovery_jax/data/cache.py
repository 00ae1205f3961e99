"""Build a corpus tree once: reuse a finished tree made from the same key, never read a half-written one.

Synthesised corpora default to a user cache folder (`user_cache_dir`), shared by every run and never written
into the directory a command is started from.

The tree is built in a hidden sibling folder and renamed into place only when complete, with `corpus.json`
(the key) written last, so a killed synthesis leaves at most a stray temp folder, never a tree that looks done.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable

from .utterance import Utterance, read_manifest, write_manifest

MARKER = "corpus.json"
_GENERATOR = "recovery_jax.data"


def user_cache_dir(*parts: str) -> str:
    """`$XDG_CACHE_HOME/recovery-jax/<parts>`, or `~/.cache/recovery-jax/<parts>` when that is unset or relative
    (the XDG spec ignores relative values): the configs' default corpus roots."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "recovery-jax", *parts)


def _finished_key(root: Path) -> Any:
    try:
        with open(root / MARKER, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    return meta.get("key") if meta.get("generator") == _GENERATOR else None


def _read(root: Path) -> dict[str, list[Utterance]]:
    with open(root / MARKER, encoding="utf-8") as f:
        names = json.load(f)["manifests"]
    return {name: read_manifest(root / f"{name}.tsv") for name in names}


def _remove_stale(root: Path) -> None:
    """Clear `root` for a new build, but only if it is empty or one of our own finished corpora."""
    if not root.exists():
        return
    if root.is_dir() and not any(root.iterdir()):
        root.rmdir()
        return
    if _finished_key(root) is None:
        raise FileExistsError(f"{root} exists and is not a corpus written by {_GENERATOR}; refusing to replace it")
    trash = root.with_name(f".{root.name}.old-{uuid.uuid4().hex}")
    os.rename(root, trash)
    shutil.rmtree(trash)


def build_once(root: str | os.PathLike, key: Any,
               build: Callable[[Path], dict[str, list[Utterance]]]) -> dict[str, list[Utterance]]:
    """Return the manifests of the corpus at `root`, calling `build(tmp_dir)` first unless one built from `key`
    is already there. `build` writes audio under tmp_dir and returns {manifest name: utterances}."""
    root = Path(root).resolve()
    key = json.loads(json.dumps(key))  # tuples -> lists, as they come back from disk
    if _finished_key(root) == key:
        return _read(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.with_name(f".{root.name}.tmp-{os.getpid()}-{uuid.uuid4().hex}")
    tmp.mkdir()
    try:
        manifests = build(tmp)
        for name, utts in manifests.items():
            write_manifest(tmp / f"{name}.tsv", utts)
        with open(tmp / MARKER, "w", encoding="utf-8") as f:
            json.dump({"generator": _GENERATOR, "key": key, "manifests": list(manifests)}, f, indent=1)
        if _finished_key(root) != key:  # else a concurrent build of the same corpus finished first
            _remove_stale(root)
            try:
                os.rename(tmp, root)
            except OSError:
                if _finished_key(root) != key:
                    raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _read(root)
