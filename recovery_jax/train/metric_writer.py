"""Scalar metrics of a run, written twice: `metrics.jsonl` (one JSON object a line) and TensorBoard event files.

    writer = MetricWriter(workdir)          # only process 0 writes; the others' calls do nothing
    writer.write_scalars(step, {"loss": 0.3, "learning_rate": 1e-5})
    writer.close()
    tensorboard --logdir workdir            # loss curves; one run per folder holding event files

tensorboardX writes the events: it needs only numpy and protobuf, while clu's writers import TensorFlow
(or torch.utils.tensorboard) and pull jax/flax as dependencies of their own.
"""

from __future__ import annotations

import json
import os
from typing import Mapping, Optional

import jax


class MetricWriter:
    """Appends scalars to `logdir/metrics.jsonl` and to event files in `logdir`, on process 0 only."""

    def __init__(self, logdir: str):
        self.path = os.path.join(logdir, "metrics.jsonl")
        self._events: Optional[object] = None
        if jax.process_index() == 0:
            from tensorboardX import SummaryWriter

            os.makedirs(logdir, exist_ok=True)
            self._events = SummaryWriter(logdir, flush_secs=30)

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """One JSON line {"step": step, **scalars} and one event per scalar."""
        if self._events is None:
            return
        values = {k: float(v) for k, v in scalars.items()}
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": int(step), **values}) + "\n")
        for name, value in values.items():
            self._events.add_scalar(name, value, int(step))

    def flush(self) -> None:
        if self._events is not None:
            self._events.flush()

    def close(self) -> None:
        if self._events is not None:
            self._events.close()
            self._events = None
