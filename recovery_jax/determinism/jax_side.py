"""The JAX side: our Flax wav2vec2 forward (jitted) and the project's pmapped SER train step."""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterator, Mapping, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from recovery_jax.determinism.compare import forward_named
from recovery_jax.determinism.inputs import Batch, train_overrides
from recovery_jax.models import Wav2Vec2Model, load_hf, with_compute
from recovery_jax.models.hf_io import state_dict_from_params
from recovery_jax.train.loop import single_run
from recovery_jax.train.tasks import get_task

NAME = "jax"


def device() -> str:
    return str(jax.devices()[0])


def forward_runner(folder: str, audio: np.ndarray, compute: Mapping[str, str] | None = None
                   ) -> Callable[[], dict[str, np.ndarray]]:
    """A zero-argument forward (compiled on first call) returning every hidden state and attention map,
    copied to the host as float32; `compute` sets the model's compute choices (e.g. compute_dtype)."""
    config, params = load_hf(folder)
    model = Wav2Vec2Model(with_compute(config, compute or {}, "setting compute"))
    apply = jax.jit(lambda p, x: model.apply({"params": p}, x, output_hidden_states=True,
                                             output_attentions=True))
    backbone, x = jax.device_put(params["backbone"]), jnp.asarray(audio)

    def run():
        out = jax.device_get(apply(backbone, x))
        as32 = lambda y: np.asarray(y, np.float32)  # noqa: E731  (bfloat16 hidden states under that setting)
        return forward_named(np.moveaxis(as32(out.hidden_states), 1, 0), np.moveaxis(out.attentions, 1, 0),
                             as32(out.last_hidden_state))
    return run


def _device_batch(batch: Batch, devices: int) -> dict[str, np.ndarray]:
    audio, labels = batch
    if len(labels) % devices:
        raise ValueError(f"batch size {len(labels)} is not divisible by {devices} local devices")
    split = lambda x: x.reshape((devices, -1) + x.shape[1:])  # noqa: E731
    return {"audio": split(audio), "labels": split(labels), "weights": split(np.ones(len(labels), np.float32)),
            "lengths": split(np.full(len(labels), audio.shape[1], np.int32))}


def train(folder: str, batches: Sequence[Batch], optim: ml_collections.ConfigDict, dropout: bool, seed: int
          ) -> Iterator[tuple[float, dict[str, np.ndarray]]]:
    """After each step: (loss, params as an HF state dict). Each call compiles its own step, as a fresh run
    would."""
    task = get_task("ser")
    config, params = load_hf(folder)
    if not set(task.head_keys) <= set(params):
        raise ValueError(f"{folder} has no SER head ({task.head_keys}): PyTorch would initialise it otherwise; "
                         "use inputs.prepare_checkpoint")
    config = dataclasses.replace(config, **train_overrides(dropout))
    state, step, params_of = single_run(task, config, optim, len(batches), params, seed)
    for batch in batches:
        state, sums = step(state, _device_batch(batch, jax.local_device_count()))
        sums = jax.device_get(jax.tree.map(lambda x: x[0, 0], sums))
        yield float(sums["loss_sum"] / sums["weight"]), state_dict_from_params(config, params_of(state))
