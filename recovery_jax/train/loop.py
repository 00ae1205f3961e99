"""The fine-tuning loop: batches -> pmapped steps -> checkpoints, resumable and NaN-guarded."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from typing import Any, Iterator, Optional, Sequence

import jax
import ml_collections
import numpy as np
from absl import logging

from recovery_jax.data import batch_iterator
from recovery_jax.models import Wav2Vec2Config
from recovery_jax.models.spec_augment import with_augment
from recovery_jax.train import checkpoint
from recovery_jax.train.optim import make_optimizer
from recovery_jax.train.step import create_state, make_eval_step, make_train_step, replicate
from recovery_jax.train.tasks import Task


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN/Inf loss or gradient; the last checkpoint in the workdir is still good."""


@dataclasses.dataclass(frozen=True)
class Examples:
    """Host-side training or evaluation data: waveforms plus class ids (SER) or token ids (CTC)."""

    waveforms: Sequence[np.ndarray]
    labels: Optional[np.ndarray] = None
    targets: Optional[Sequence[np.ndarray]] = None

    def __len__(self) -> int:
        return len(self.waveforms)


def _with_targets(batch: dict, targets: Sequence[np.ndarray], multiple: int = 32) -> dict:
    index = np.where(batch["index"] >= 0, batch["index"], 0)
    lengths = np.vectorize(lambda i: len(targets[i]))(index).astype(np.int32)
    width = int(-(-max(int(lengths.max()), 1) // multiple) * multiple)
    padded = np.zeros(index.shape + (width,), np.int32)
    for pos in np.ndindex(index.shape):
        padded[pos][:lengths[pos]] = targets[index[pos]]
    return {**batch, "targets": padded, "target_lengths": lengths}


def batches(data: Examples, batch_size: int, bucket: int, shuffle: bool, seed: int,
            drop_remainder: bool) -> Iterator[dict]:
    """Global batches (all devices of all processes), cut to this process's devices."""
    devices, local = jax.device_count(), jax.local_device_count()
    start = jax.process_index() * local
    for batch in batch_iterator(data.waveforms, data.labels, batch_size, num_devices=devices,
                                bucket_multiple=bucket, shuffle=shuffle, seed=seed,
                                drop_remainder=drop_remainder, group_by_length=shuffle):
        if data.targets is not None:
            batch = _with_targets(batch, data.targets)
        yield {k: v[start:start + local] for k, v in batch.items()}


def _training_batches(data: Examples, config: ml_collections.ConfigDict, first_step: int) -> Iterator[dict]:
    """Endless epochs, each shuffled from (seed, epoch), positioned at `first_step` for exact resume."""
    drop = len(data) >= config.batch_size
    per_epoch = len(data) // config.batch_size if drop else 1
    epoch, skip = divmod(first_step, per_epoch)
    while True:
        for i, batch in enumerate(batches(data, config.batch_size, config.bucket_samples, True,
                                          config.seed * 100003 + epoch, drop)):
            if i >= skip:
                yield batch
        epoch, skip = epoch + 1, 0


class _Progress:
    """Logs steps/s, loss and ETA; appends metrics as JSON lines to the workdir."""

    def __init__(self, workdir: str, total: int, first: int, every: int, metrics=None):
        self.path, self.total, self.every = os.path.join(workdir, "metrics.jsonl"), total, every
        self.metrics = metrics
        self.start, self.first, self.sums = time.perf_counter(), first, {}

    def update(self, step: int, sums: dict) -> None:
        for k, v in sums.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
        if step % self.every and step != self.total:
            return
        rate = (step - self.first) / max(time.perf_counter() - self.start, 1e-9)
        record = {"step": step, "loss": self.sums["loss_sum"] / max(self.sums["weight"], 1.0),
                  "steps_per_s": rate, "eta_s": (self.total - step) / max(rate, 1e-9)}
        if "correct" in self.sums:
            record["accuracy"] = self.sums["correct"] / max(self.sums["weight"], 1.0)
        if self.metrics is not None:
            record.update(self.metrics(self.sums))
        logging.info("step %d/%d loss %.4f  %.2f steps/s  ETA %.0f s", step, self.total, record["loss"],
                     rate, record["eta_s"])
        if jax.process_index() == 0:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")
        self.sums = {}


def fit(task: Task, model_config: Wav2Vec2Config, params: Any, data: Examples,
        config: ml_collections.ConfigDict, workdir: str) -> Any:
    """Trains `config.total_steps` micro-batches (resuming from `workdir` if it holds a checkpoint).

    Returns the final params (host numpy tree). `config.augment`, if present, overrides the model config's
    SpecAugment / LayerDrop fields for training (models/spec_augment.py).
    """
    model_config = with_augment(model_config, config.augment.to_dict() if "augment" in config else {})
    os.makedirs(workdir, exist_ok=True)
    tx, train_step = _optimizer_and_step(task, model_config, config.optim.to_json(),
                                         config.total_steps // config.optim.accum_steps, jax.tree.structure(params))
    mgr = checkpoint.manager(workdir, config.checkpoint_every, config.keep_checkpoints)
    first, host_state = checkpoint.restore_latest(mgr, jax.device_get(create_state(params, tx)))
    first = first or 0
    if first:
        logging.info("resuming %s from step %d", workdir, first)
    state = replicate(host_state)
    rng = replicate(jax.random.PRNGKey(config.seed))
    progress = _Progress(workdir, config.total_steps, first, config.log_every, task.metrics)
    data_iter = _training_batches(data, config, first)
    for step in range(first + 1, config.total_steps + 1):
        batch = next(data_iter)
        if task.prepare_batch is not None:
            batch = task.prepare_batch(batch, step, model_config, config)
        state, sums = train_step(state, batch, rng)
        sums = _first_replica(sums)
        loss = sums["loss_sum"] / max(sums["weight"], 1.0)
        if not (np.isfinite(loss) and np.isfinite(sums["grad_norm"])):
            raise NonFiniteLossError(
                f"non-finite loss {loss} / grad norm {sums['grad_norm']} at step {step} in {workdir}; "
                f"the last good checkpoint is step {mgr.latest_step()}")
        progress.update(step, sums)
        last = step == config.total_steps
        if last or mgr.should_save(step):  # the host copy of a base model's state costs as much as a step
            checkpoint.save(mgr, step, _first_replica(state), force=last)
    mgr.wait_until_finished()
    mgr.close()
    return _first_replica(state).params


@functools.lru_cache(maxsize=32)
def _optimizer_and_step(task: Task, model_config: Wav2Vec2Config, optim_json: str, total_updates: int,
                        params_structure: Any) -> tuple[Any, Any]:
    """One optimiser and pmapped step per setting, so the study's many same-shaped fits trace and compile once."""
    optim = ml_collections.ConfigDict(json.loads(optim_json))
    params_like = jax.tree.unflatten(params_structure, [0] * params_structure.num_leaves)
    tx = make_optimizer(optim, params_like, total_updates)
    freeze_conv = any(p.startswith("backbone/feature_extractor") for p in optim.frozen)
    return tx, make_train_step(task.loss, task.make_module(model_config), tx, freeze_conv)


@functools.lru_cache(maxsize=32)
def _eval_step(task: Task, model_config: Wav2Vec2Config) -> Any:
    return make_eval_step(task.predict, task.make_module(model_config))


def _first_replica(tree: Any) -> Any:
    """Host copy of the first local device's replica, without one slicing op per leaf.

    A copy, not a zero-copy view: the next step donates these buffers while orbax may still be writing.
    """
    return jax.tree.map(lambda x: np.array(x.addressable_data(0)).reshape(x.shape[1:]), tree)


def predict(task: Task, model_config: Wav2Vec2Config, params: Any, data: Examples, batch_size: int,
            bucket: int) -> dict[str, list[np.ndarray]]:
    """The task's predictions for every example in order, on this process's devices."""
    step = _eval_step(task, model_config)
    replicated = replicate(params)
    devices = jax.local_device_count()
    batch_size = -(-batch_size // devices) * devices
    results: dict[str, list] = {}
    for batch in batch_iterator(data.waveforms, None, batch_size, num_devices=devices, bucket_multiple=bucket):
        out = jax.device_get(step(replicated, {k: v for k, v in batch.items() if k != "index"}))
        keep = batch["index"].reshape(-1) >= 0
        for k, v in out.items():
            results.setdefault(k, []).extend(np.asarray(v).reshape((-1,) + v.shape[2:])[keep])
    return results
