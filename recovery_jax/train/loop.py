"""The fine-tuning loop: R runs' batches -> one pmapped, run-vmapped step -> checkpoints; resumable, NaN-guarded."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from typing import Any, Callable, Iterator, Optional, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from recovery_jax.data import batch_iterator
from recovery_jax.models import Wav2Vec2Config, feature_lengths
from recovery_jax.models.conv_cache import clip_conv_features
from recovery_jax.models.spec_augment import with_augment
from recovery_jax.train import checkpoint
from recovery_jax.train.metric_writer import MetricWriter
from recovery_jax.train.optim import learning_rate, make_optimizer
from recovery_jax.train.runs import Layout, split_shared, stack, unstack
from recovery_jax.train.step import (AXIS, TrainState, create_state, make_eval_step, make_train_step, merge_params,
                                     replicate)
from recovery_jax.train.tasks import Task


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN/Inf loss or gradient; the last checkpoint in the workdir is still good."""


@dataclasses.dataclass(frozen=True)
class Examples:
    """Host-side training or evaluation data: waveforms plus class ids (SER) or token ids (CTC)."""

    waveforms: Sequence[np.ndarray]
    labels: Optional[np.ndarray] = None
    targets: Optional[Sequence[np.ndarray]] = None
    # per clip, the frozen conv stack's output (models/conv_cache.py): batches then carry it instead of audio
    conv_features: Optional[Sequence[np.ndarray]] = None
    frames_for: Optional[Callable[[int], int]] = None

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
            drop_remainder: bool, split: bool = True, schedule_seed: Optional[int] = None) -> Iterator[dict]:
    """Global batches cut to this process's devices (`split`), or whole batches with a leading axis of 1.
    `schedule_seed`: the bucket order (data/batching.py), shared by a job's runs."""
    devices, local = (jax.device_count(), jax.local_device_count()) if split else (1, 1)
    start = jax.process_index() * local if split else 0
    for batch in batch_iterator(data.waveforms, data.labels, batch_size, num_devices=devices,
                                bucket_multiple=bucket, shuffle=shuffle, seed=seed,
                                drop_remainder=drop_remainder, group_by_length=shuffle,
                                conv_features=data.conv_features, frames_for=data.frames_for,
                                schedule_seed=schedule_seed):
        if data.targets is not None:
            batch = _with_targets(batch, data.targets)
        yield {k: v[start:start + local] for k, v in batch.items()}


def _training_batches(data: Examples, config: ml_collections.ConfigDict, seed: int, first_step: int,
                      split: bool) -> Iterator[dict]:
    """Endless epochs, each shuffled from (seed, epoch), positioned at `first_step` for exact resume.

    A run's epochs follow its own data size: a smaller training set is cycled more often, never re-weighted.
    The order of buckets follows the job's seed (`config.seed`), not the run's: the seeds of one system train on
    the same clip lengths, so each step's joint batch pads to one bucket, not to the widest of R random ones
    (ASR960's three seeds: 75 % of the padded frames were speech, 85 % when aligned).
    """
    drop = len(data) >= config.batch_size
    per_epoch = len(data) // config.batch_size if drop else 1
    epoch, skip = divmod(first_step, per_epoch)
    while True:
        for i, batch in enumerate(batches(data, config.batch_size, config.bucket_samples, True,
                                          seed * 100003 + epoch, drop, split, config.seed * 100003 + epoch)):
            if i >= skip:
                yield batch
        epoch, skip = epoch + 1, 0


# The padded axis of each batch entry that varies in length from batch to batch.
_PADDED_AXIS = {"audio": -1, "targets": -1, "conv_features": -2}


def _pad_to(x: np.ndarray, width: int, axis: int) -> np.ndarray:
    pad = [(0, 0)] * x.ndim
    pad[axis] = (0, width - x.shape[axis])
    return np.pad(x, pad)


def _joint_batch(per_run: Sequence[dict], layout: Layout) -> dict:
    """All runs' batches of one step in one padded shape (the widest run's bucket), laid out on the devices."""
    padded = list(per_run)
    for key, axis in _PADDED_AXIS.items():
        if key in per_run[0]:
            width = max(b[key].shape[axis] for b in per_run)
            padded = [{**b, key: _pad_to(b[key], width, axis)} for b in padded]
    if layout.data_parallel:  # (local devices, rows, ...) each -> (local devices, runs, rows, ...)
        return {k: np.stack([b[k] for b in padded], axis=1) for k in padded[0]}
    slots = layout.local_runs()  # whole batches (1, rows, ...) -> (local devices, runs per device, rows, ...)
    return {k: np.stack([padded[r][k][0] for r in slots.reshape(-1)]).reshape(slots.shape + padded[0][k].shape[1:])
            for k in padded[0]}


class _Progress:
    """Logs steps/s, loss and ETA; writes each run's metrics (jsonl + TensorBoard events) to its own folder:
    the workdir for a single run, `workdir/runs/<name>` for each of several."""

    def __init__(self, workdir: str, names: Sequence[str], total: int, first: int, metrics=None,
                 lr: Optional[Callable[[int], Any]] = None, accum_steps: int = 1):
        folders = [workdir] if len(names) == 1 else [os.path.join(workdir, "runs", n) for n in names]
        self.writers = [MetricWriter(f) for f in folders]
        self.total, self.metrics, self.lr, self.accum = total, metrics, lr, accum_steps
        self.start, self.first = time.perf_counter(), first

    def log(self, step: int, sums: dict[str, np.ndarray], steps: int) -> None:
        """`sums`: each metric summed over the `steps` steps since the last log, one value per run."""
        rate = (step - self.first) / max(time.perf_counter() - self.start, 1e-9)
        losses = []
        for r, writer in enumerate(self.writers):
            run = {k: float(v[r]) for k, v in sums.items()}
            record = {"loss": run["loss_sum"] / max(run["weight"], 1.0), "grad_norm": run["grad_norm"] / steps,
                      "steps_per_s": rate, "eta_s": (self.total - step) / max(rate, 1e-9)}
            if self.lr is not None:  # the rate of the last optimiser update (one per `accum` micro-batches)
                record["learning_rate"] = float(self.lr(max(step // self.accum - 1, 0)))
            if "correct" in run:
                record["accuracy"] = run["correct"] / max(run["weight"], 1.0)
            if self.metrics is not None:
                record.update(self.metrics(run))
            writer.write_scalars(step, record)
            losses.append(record["loss"])
        logging.info("step %d/%d loss %.4f%s  %.2f steps/s  ETA %.0f s", step, self.total, np.mean(losses),
                     f" (mean of {len(losses)} runs, {min(losses):.4f}-{max(losses):.4f})" if len(losses) > 1 else "",
                     rate, (self.total - step) / max(rate, 1e-9))

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


# Metric sums are added up on the devices, so no step waits for the host. Every pmap here names its axis AXIS:
# outputs of an unnamed pmap carry a different sharding, and feeding them to the train step compiled it twice.
_accumulate = jax.pmap(lambda total, sums: jax.tree.map(jnp.add, total, sums), axis_name=AXIS)


def fit_many(task: Task, model_config: Wav2Vec2Config, params: Sequence[Any], data: Sequence[Examples],
             config: ml_collections.ConfigDict, workdir: str, seeds: Optional[Sequence[int]] = None,
             names: Optional[Sequence[str]] = None) -> list[Any]:
    """Trains R runs as one program: run r starts from `params[r]`, trains on `data[r]` with seed `seeds[r]`
    (dropout stream and which clips make each batch; default `config.seed` for all; the order of length
    buckets follows `config.seed`, so a run equals its own one-run job of this config) for `config.total_steps`
    micro-batches, with one task, model and optimiser setting for all. Resumes from `workdir` if it holds a
    checkpoint (one orbax checkpoint holds all runs). `config.run_placement` ("data" or "runs") places runs on
    devices (runs.py).

    Frozen leaves (`config.optim.frozen`) equal in every run go in once; the frozen conv stack then runs as one
    conv over all runs' rows. `config.augment`, if present, overrides the model config's SpecAugment / LayerDrop
    fields for training (models/spec_augment.py). Returns each run's final params (host numpy trees).
    """
    runs = len(params)
    seeds = list(seeds) if seeds is not None else [config.seed] * runs
    names = list(names) if names is not None else [f"run{r}" for r in range(runs)]
    if not (len(data) == len(seeds) == len(names) == runs):
        raise ValueError(f"fit_many: {runs} params, {len(data)} data sets, {len(seeds)} seeds, {len(names)} names")
    model_config = with_augment(model_config, config.augment.to_dict() if "augment" in config else {})
    layout = Layout(runs, config.get("run_placement", "data"))
    os.makedirs(workdir, exist_ok=True)
    shared, own, tx, train_step = _program(task, model_config, config.optim, config.total_steps, params,
                                           layout.data_parallel)
    if config.get("conv_cache", False):
        data = _with_conv_features(model_config, config, shared, own, data)
    mgr = checkpoint.manager(workdir, config.checkpoint_every, config.keep_checkpoints)
    first, state = _initial_state(mgr, own, tx, layout)
    if first:
        logging.info("resuming %s from step %d", workdir, first)
    shared_on_devices = replicate(shared)
    rngs = layout.to_devices(np.stack([np.asarray(jax.random.PRNGKey(s)) for s in seeds]))
    run_configs = [with_seed(config, s) for s in seeds]
    streams = [_training_batches(d, config, s, first, layout.data_parallel) for d, s in zip(data, seeds)]
    accum = config.optim.get("accum_steps", 1)
    progress = _Progress(workdir, names, config.total_steps, first, task.metrics,
                         learning_rate(config.optim, config.total_steps // accum), accum)
    sums, logged = None, first
    for step in range(first + 1, config.total_steps + 1):
        per_run = [next(stream) for stream in streams]
        if task.prepare_batch is not None:
            per_run = [task.prepare_batch(b, step, model_config, c) for b, c in zip(per_run, run_configs)]
        state, step_sums = train_step(state, _joint_batch(per_run, layout), rngs, shared_on_devices)
        sums = step_sums if sums is None else _accumulate(sums, step_sums)
        last = step == config.total_steps
        if step % config.log_every == 0 or last:
            _raise_if_nonfinite(state, layout, names, mgr, workdir)
            progress.log(step, layout.to_host(sums), step - logged)
            logged = step
            sums = None
        if last or mgr.should_save(step):  # the host copy of a base model's state costs as much as a step
            _raise_if_nonfinite(state, layout, names, mgr, workdir)
            checkpoint.save(mgr, step, _state_to_host(state, layout), force=last)
    progress.close()
    mgr.close()
    return [merge_params(shared, p) for p in unstack(layout.to_host(state.params), runs)]


def fit(task: Task, model_config: Wav2Vec2Config, params: Any, data: Examples,
        config: ml_collections.ConfigDict, workdir: str) -> Any:
    """One fine-tune (`fit_many` with one run, seed `config.seed`). Returns the final params (host numpy tree)."""
    return fit_many(task, model_config, [params], [data], config, workdir)[0]


def restore_runs(task: Task, model_config: Wav2Vec2Config, params: Sequence[Any], config: ml_collections.ConfigDict,
                 workdir: str) -> tuple[Optional[int], list[Any]]:
    """(step, each run's params) of the newest checkpoint a `fit_many` job with these arguments left in
    `workdir`; (None, `params`) when there is none."""
    shared, own, tx, _ = _program(task, model_config, config.optim, config.total_steps, params, True)
    mgr = checkpoint.manager(workdir, config.checkpoint_every, config.keep_checkpoints)
    step, state = checkpoint.restore_latest(mgr, jax.device_get(create_state(stack(own), tx)))
    mgr.close()
    return step, [merge_params(shared, p) for p in unstack(state.params, len(params))]


def with_seed(config: ml_collections.ConfigDict, seed: int) -> ml_collections.ConfigDict:
    """The same run config with `seed` (initialisation, dropout and mask streams, shuffling)."""
    run = ml_collections.ConfigDict(config.to_dict())
    run.seed = seed
    return run


def _initial_state(mgr, own: Sequence[Any], tx, layout: Layout) -> tuple[int, TrainState]:
    """(step, device state) of the newest checkpoint in `mgr`, or (0, a fresh state)."""
    if mgr.latest_step() is None:
        return 0, _fresh_state(own, tx, layout)
    step, host = checkpoint.restore_latest(mgr, jax.device_get(create_state(stack(own), tx)))
    return step, _state_to_devices(host, layout)


def _fresh_state(own: Sequence[Any], tx, layout: Layout) -> TrainState:
    """A new state built where it lives: the params go to the devices once and the optimiser state is created
    there, so a base model's Adam moments never exist as host copies (they cost 1.1 GiB of the base SER step's
    peak RSS, measured by benchmarks/train_step.py)."""
    params = layout.to_devices(stack(own))
    return TrainState(step=replicate(np.zeros((), np.int32)), params=params,
                      opt_state=_init_on_devices(tx)(params),
                      nonfinite_step=layout.to_devices(np.zeros((len(own),), np.int32)))


@functools.lru_cache(maxsize=32)
def _init_on_devices(tx) -> Callable:
    return jax.pmap(jax.vmap(tx.init), axis_name=AXIS)


def _state_to_devices(host: TrainState, layout: Layout) -> TrainState:
    return TrainState(step=replicate(np.asarray(host.step)), params=layout.to_devices(host.params),
                      opt_state=layout.to_devices(host.opt_state),
                      nonfinite_step=layout.to_devices(host.nonfinite_step))


def _state_to_host(state: TrainState, layout: Layout) -> TrainState:
    return TrainState(step=np.array(state.step.addressable_data(0)).reshape(()),
                      params=layout.to_host(state.params), opt_state=layout.to_host(state.opt_state),
                      nonfinite_step=layout.to_host(state.nonfinite_step))


def _raise_if_nonfinite(state: TrainState, layout: Layout, names: Sequence[str], mgr, workdir: str) -> None:
    """Stops the job at the first run whose loss or gradient went non-finite, before anything is saved."""
    bad = layout.to_host(state.nonfinite_step)
    if bad.any():
        run = int(np.argmin(np.where(bad > 0, bad, np.iinfo(bad.dtype).max)))
        raise NonFiniteLossError(
            f"non-finite loss or gradient in run {names[run]!r} at step {int(bad[run])} in {workdir}; "
            f"the last good checkpoint is step {mgr.latest_step()}")


def _program(task: Task, model_config: Wav2Vec2Config, optim: ml_collections.ConfigDict, total_steps: int,
             params: Sequence[Any], data_parallel: bool) -> tuple[dict, list[Any], Any, Any]:
    """(shared params, each run's own params, optimiser, pmapped step) for these runs."""
    shared, own = split_shared(params, optim.frozen)
    tx, train_step = _optimizer_and_step(task, model_config, optim.to_json(), total_steps // optim.get("accum_steps", 1),
                                         jax.tree.structure(own[0]), data_parallel,
                                         _shares_conv(optim.frozen, shared, own))
    return shared, own, tx, train_step


def _shares_conv(frozen: Sequence[str], shared: dict, own: Sequence[Any]) -> bool:
    """Whether the whole conv stack is frozen and the same in every run (then it sits in `shared`)."""
    return _freezes_conv(frozen) and "feature_extractor" in shared.get("backbone", {}) and \
        "feature_extractor" not in own[0].get("backbone", {})


def _with_conv_features(model_config: Wav2Vec2Config, config: ml_collections.ConfigDict, shared: dict,
                        own: Sequence[Any], data: Sequence[Examples]) -> list[Examples]:
    """`config.conv_cache`: each run's data with its frozen conv stack's output per clip, so no step runs the
    conv stack again (models/conv_cache.py). Runs sharing one stack get one pass over all their clips; runs
    started from different checkpoints (ASR(x) seeds from different PT seeds) each get their own stack's."""
    if not _freezes_conv(config.optim.frozen):
        raise ValueError("config.conv_cache=True needs the conv stack frozen (config.optim.frozen holds "
                         "'backbone/feature_extractor')")
    if _shares_conv(config.optim.frozen, shared, own):
        groups = [(shared["backbone"]["feature_extractor"], list(data))]
    else:
        groups = [(merge_params(shared, o)["backbone"]["feature_extractor"], [d]) for o, d in zip(own, data)]
    frames_for = functools.partial(feature_lengths, model_config)
    out = []
    for conv, group in groups:
        features = iter(clip_conv_features(model_config, conv, [w for d in group for w in d.waveforms],
                                           bucket_multiple=config.bucket_samples))
        out += [dataclasses.replace(d, conv_features=[next(features) for _ in range(len(d))], frames_for=frames_for)
                for d in group]
    return out


def single_run(task: Task, model_config: Wav2Vec2Config, optim: ml_collections.ConfigDict, total_steps: int,
               params: Any, seed: int) -> tuple[TrainState, Callable, Callable]:
    """The step `fit` runs, for callers that drive one run themselves (benchmarks, determinism reports):
    (device state, step(state, batch) -> (state, sums), params_of(state) -> host params). Batches are plain
    (devices, rows, ...); the run axis is added here."""
    shared, own, tx, train_step = _program(task, model_config, optim, total_steps, [params], True)
    state = _fresh_state(own, tx, Layout(1))
    rngs, shared_on_devices = replicate(np.asarray(jax.random.PRNGKey(seed))[None]), replicate(shared)

    def step(state: TrainState, batch: dict) -> tuple[TrainState, Any]:
        return train_step(state, {k: v[:, None] for k, v in batch.items()}, rngs, shared_on_devices)

    def params_of(state: TrainState) -> Any:
        return merge_params(shared, jax.device_get(jax.tree.map(lambda x: x[0, 0], state.params)))
    return state, step, params_of


def _freezes_conv(frozen: Sequence[str]) -> bool:
    return any(p.startswith("backbone/feature_extractor") for p in frozen)


@functools.lru_cache(maxsize=32)
def _optimizer_and_step(task: Task, model_config: Wav2Vec2Config, optim_json: str, total_updates: int,
                        params_structure: Any, data_parallel: bool, shared_conv: bool) -> tuple[Any, Any]:
    """One optimiser and pmapped step per setting, so the study's many same-shaped fits trace and compile once."""
    optim = ml_collections.ConfigDict(json.loads(optim_json))
    params_like = jax.tree.unflatten(params_structure, [0] * params_structure.num_leaves)
    tx = make_optimizer(optim, params_like, total_updates)
    return tx, make_train_step(task.loss, task.make_module(model_config), tx, _freezes_conv(optim.frozen),
                               data_parallel, shared_conv)


@functools.lru_cache(maxsize=32)
def _eval_step(task: Task, model_config: Wav2Vec2Config) -> Any:
    return make_eval_step(task.predict, task.make_module(model_config))


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
