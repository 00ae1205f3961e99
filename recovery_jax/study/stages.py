"""Content-addressed study stages: a stage's folder is named by a hash of everything it depends on.

A stage is done when its folder holds DONE, written last and atomically: a study killed mid-stage reruns
that stage (training stages resume from their own orbax checkpoints inside the folder), and a changed config
or input gives a new folder instead of a stale result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

from absl import logging

T = TypeVar("T")


def key_digest(key: Any) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def safe_name(name: str) -> str:
    """A system name ("ASR100→SER") as a file name ("ASR100-to-SER")."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name.replace("→", "-to-"))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@dataclasses.dataclass
class Stages:
    """Runs named stages under `root`, logging progress and an ETA over `planned` stages."""

    root: Path
    planned: int
    done: int = 0
    started: float = dataclasses.field(default_factory=time.perf_counter)
    work_seconds: float = 0.0  # time spent in stages that really ran (not cache hits)
    worked: int = 0

    def folder(self, name: str, key: Any) -> Path:
        return self.root / f"{safe_name(name)}-{key_digest(key)}"

    def run(self, name: str, key: Any, build: Callable[[Path], None], load: Callable[[Path], T]) -> T:
        """`build(folder)` writes the stage's files; `load(folder)` reads them (also on a cache hit)."""
        folder = self.folder(name, key)
        done = folder / "DONE"
        if done.exists():
            self._log(name, "cached")
            return load(folder)
        folder.mkdir(parents=True, exist_ok=True)
        logging.info("[stage %d/%d] %s: running in %s", self.done + 1, self.planned, name, folder)
        start = time.perf_counter()
        build(folder)
        atomic_write_text(done, json.dumps(key, sort_keys=True, default=str, indent=1))
        self.work_seconds += time.perf_counter() - start
        self.worked += 1
        self._log(name, f"done in {time.perf_counter() - start:.0f} s")
        return load(folder)

    def _log(self, name: str, what: str) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.started
        per_stage = self.work_seconds / max(self.worked, 1)
        eta = per_stage * max(self.planned - self.done, 0)
        logging.info("[stage %d/%d] %s: %s (elapsed %.0f s, ETA ~%.0f s)", self.done, self.planned, name, what,
                     elapsed, eta)
