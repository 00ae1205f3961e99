"""Training metrics reach TensorBoard: the event files written beside metrics.jsonl open with TensorBoard's reader."""

import json

import jax
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from recovery_jax.train.loop import fit
from recovery_jax.train.metric_writer import MetricWriter
from recovery_jax.train.tasks import get_task, init_params
from train_helpers import MICRO, tone_examples, train_config


def _scalars(logdir) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(logdir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_writer_round_trips_scalars_through_events_and_jsonl(tmp_path):
    writer = MetricWriter(str(tmp_path))
    writer.write_scalars(1, {"loss": 2.5, "learning_rate": 1e-3})
    writer.write_scalars(7, {"loss": 0.5})
    writer.close()
    scalars = _scalars(tmp_path)
    assert scalars["loss"] == [(1, 2.5), (7, 0.5)]
    assert scalars["learning_rate"] == [(1, pytest.approx(1e-3))]
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines == [{"step": 1, "loss": 2.5, "learning_rate": 1e-3}, {"step": 7, "loss": 0.5}]


def test_fit_writes_loss_accuracy_lr_grad_norm_and_rate(tmp_path):
    task = get_task("ser")
    params = jax.device_get(init_params(task, MICRO, jax.random.PRNGKey(0)))
    # warm-up over 4 updates: the logged learning rate must follow the schedule, not the config's peak
    fit(task, MICRO, params, tone_examples(16), train_config(8, lr=1e-3, warmup_steps=4), str(tmp_path))
    scalars = _scalars(tmp_path)
    assert {"loss", "accuracy", "learning_rate", "grad_norm", "steps_per_s"} <= set(scalars)
    assert [step for step, _ in scalars["loss"]] == [4, 8]
    lr = dict(scalars["learning_rate"])
    assert lr[4] == pytest.approx(3 * 1e-3 / 4) and lr[8] == pytest.approx(1e-3)  # updates 3 and 7 (0-based)
    assert all(np.isfinite(v) and v > 0 for _, v in scalars["grad_norm"])
    jsonl = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in jsonl] == pytest.approx([v for _, v in scalars["loss"]])
