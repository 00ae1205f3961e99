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
import statistics
import threading
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


# Seconds per unit of work of each stage kind on this project's 2-core x86 machine with the tiny model (measured
# 2026-12-04 under tcmalloc; "train" summed over stages that ran side by side), used for the ETA until this run
# has measured a kind itself. Units: "train" (fine-tuning) and "pretrain" audio-seconds through a training step
# (runs x steps x batch x clip seconds); "probe" layers probed; "handcrafted" feature sets; "attention"
# system-utterance audio-seconds through the stacked attention pass. Pretraining is a kind of its own: its
# step costs ~3x a fine-tuning step's per audio-second and it runs beside the handcrafted baselines' thread, so
# its rate set for fine-tuning made the early ETA twice the time left (2303 s at 95 s into a 1080 s run).
PRIOR_SECONDS_PER_UNIT = {"train": 0.01, "pretrain": 0.034, "probe": 1.0, "handcrafted": 30.0, "attention": 0.004}


@dataclasses.dataclass
class Stages:
    """Runs named stages under `root`, logging progress and an ETA from the work still planned (`plan`: units
    per kind) at the seconds per unit measured so far in this run; records every stage's time."""

    root: Path
    plan: dict[str, float]
    started: float = dataclasses.field(default_factory=time.perf_counter)
    done_units: dict[str, float] = dataclasses.field(default_factory=dict)
    # kind -> seconds per unit of each stage run here. The median, not the pooled rate: a kind's first stage
    # also compiles its programs (the default study's first SER job took 124 s, the next ones 38-49 s), which
    # had the ETA at 1396 s with 630 s to go.
    measured: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    times: list[dict] = dataclasses.field(default_factory=list)
    # kind -> stages of that kind running at once (the study's training threads). Each one's wall time then
    # includes its neighbours' share of the cores, so a kind's work left takes its summed rate / this.
    parallel: dict[str, int] = dataclasses.field(default_factory=dict)
    # stages may run on several threads (study._systems); the bookkeeping above is shared
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False, compare=False)

    def folder(self, name: str, key: Any) -> Path:
        return self.root / f"{safe_name(name)}-{key_digest(key)}"

    def run(self, name: str, key: Any, build: Callable[[Path], None], load: Callable[[Path], T],
            kind: str = "other", work: float = 0.0) -> T:
        """`build(folder)` writes the stage's files; `load(folder)` reads them (also on a cache hit). `work`
        is the stage's size in `kind`'s units (see PRIOR_SECONDS_PER_UNIT)."""
        folder = self.folder(name, key)
        done = folder / "DONE"
        start = time.perf_counter()
        cached = done.exists()
        if not cached:
            folder.mkdir(parents=True, exist_ok=True)
            logging.info("[stage %d] %s: running in %s", len(self.times) + 1, name, folder)
            build(folder)
            atomic_write_text(done, json.dumps(key, sort_keys=True, default=str, indent=1))
        seconds = time.perf_counter() - start
        with self.lock:
            if not cached and work > 0:
                self.measured.setdefault(kind, []).append(seconds / work)
            self.record(name, seconds, cached)
            self.done_units[kind] = self.done_units.get(kind, 0.0) + work
            logging.info("[stage %d] %s: %s (elapsed %.0f s, ETA ~%.0f s)", len(self.times), name,
                         "cached" if cached else f"done in {seconds:.0f} s", time.perf_counter() - self.started,
                         self.eta())
        return load(folder)

    def record(self, name: str, seconds: float, cached: bool = False) -> None:
        """A stage's (or an uncached step's, e.g. embedding extraction) wall time and its start (seconds into
        the study: training stages on several threads overlap), for report.md."""
        start = time.perf_counter() - seconds - self.started
        self.times.append({"stage": name, "start": round(start, 1), "seconds": round(seconds, 1), "cached": cached})

    def eta(self) -> float:
        """Seconds of planned work left: per kind, units left x seconds per unit (the median of this run's
        stages, else the prior) / stages of the kind that run at once."""
        total = 0.0
        for kind, units in self.plan.items():
            left = max(units - self.done_units.get(kind, 0.0), 0.0)
            rates = self.measured.get(kind)
            rate = statistics.median(rates) if rates else PRIOR_SECONDS_PER_UNIT.get(kind, 0.0)
            total += left * rate / max(self.parallel.get(kind, 1), 1)
        return total
