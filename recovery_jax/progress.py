"""Progress lines with an ETA for long loops that are not training (embeddings, probes, attention passes).

    progress = Progress("embeddings SER", total=len(waveforms), unit="utterances")
    for batch in batches:
        ...
        progress.advance(real_utterances_in_batch)
logs e.g. `embeddings SER: 512/1200 utterances, 8.1 utterances/s, ETA 85 s` at most every `every_s` seconds
and once at the end. The ETA is the remaining work at the rate measured so far, so it includes the first
batch's compile and settles as the loop runs.
"""

from __future__ import annotations

import time
from typing import Callable

from absl import logging


def eta_seconds(done: float, total: float, elapsed: float) -> float:
    """Seconds left if the remaining `total - done` items go at the measured `done / elapsed` rate."""
    if done <= 0:
        return float("inf")
    return max(total - done, 0) * elapsed / done


class Progress:
    """Counts work done out of `total` and logs rate and ETA; one instance per loop."""

    def __init__(self, what: str, total: int, unit: str = "items", every_s: float = 10.0,
                 clock: Callable[[], float] = time.perf_counter):
        self.what, self.total, self.unit, self.every_s, self.clock = what, total, unit, every_s, clock
        self.done = 0
        self.start = self.last_log = clock()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        if self.done >= self.total or now - self.last_log >= self.every_s:
            self.last_log = now
            elapsed = now - self.start
            logging.info("%s: %d/%d %s, %.3g %s/s, ETA %.0f s", self.what, self.done, self.total, self.unit,
                         self.done / max(elapsed, 1e-9), self.unit, eta_seconds(self.done, self.total, elapsed))
