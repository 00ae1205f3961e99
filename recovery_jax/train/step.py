"""The jit-compiled `pmap` train step over all local devices, `vmap`ped over a run axis, and the eval step.

One step trains R runs at once: each run has its own params, optimiser state, batch and dropout stream; one
task, model and optimiser for all. Parameters every run shares and nobody trains (the frozen conv stack, when
all runs start from one checkpoint) come in once, unstacked, so the frozen stack runs as one plain conv over all
runs' rows instead of a vmapped (grouped) conv.
"""

from __future__ import annotations

from typing import Any, Callable

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import traverse_util

from recovery_jax.train.tasks import frozen_conv_features

AXIS = "devices"


@flax.struct.dataclass
class TrainState:
    step: jax.Array  # steps done, shared by all runs
    params: Any  # trained params, leading run axis
    opt_state: Any  # leading run axis
    # (runs,) int32: the first step whose loss or gradient was not finite, 0 while all were. Kept on the
    # device and read only when the host logs or checkpoints, so no step waits for the host.
    nonfinite_step: jax.Array


def create_state(stacked_params: Any, tx: optax.GradientTransformation) -> TrainState:
    """State of R runs from params with a leading run axis (R, ...)."""
    runs = jax.tree.leaves(stacked_params)[0].shape[0]
    return TrainState(step=jnp.zeros((), jnp.int32), params=stacked_params,
                      opt_state=jax.vmap(tx.init)(stacked_params), nonfinite_step=jnp.zeros((runs,), jnp.int32))


def merge_params(shared: Any, own: Any) -> Any:
    """One run's full tree: its own (trained) leaves plus the leaves all runs share."""
    flat = traverse_util.flatten_dict(shared or {})
    flat.update(traverse_util.flatten_dict(own))
    return traverse_util.unflatten_dict(flat)


def make_train_step(loss_fn: Callable, module: nn.Module, tx: optax.GradientTransformation, freeze_conv: bool,
                    data_parallel: bool = True, shared_conv: bool = False) -> Callable:
    """pmapped (state, batch, rngs, shared) -> (state, per-run metric sums); state buffers are donated.

    Per device: `state` holds its runs (leading run axis), `batch` leaves are (runs, rows, ...), `rngs` (runs, 2)
    are the runs' base keys and `shared` the unstacked shared params. `data_parallel`: every device holds all runs
    and a slice of each run's batch (gradients summed over devices); otherwise each device trains its own runs
    on whole batches, with no gradient traffic. `shared_conv`: `shared` holds the frozen conv stack, applied once
    to all runs' rows. `loss_fn(params, batch, rng, module, freeze_conv, total_weight)` returns (loss, metric
    sums).
    """
    def run_step(step, shared, params, opt_state, nonfinite, batch, rng):
        # A run's dropout depends on its key, the step and its slice of the batch only: never on which other
        # runs share the program or on the device it lands on.
        shard = jax.lax.axis_index(AXIS) if data_parallel else 0
        rng = jax.random.fold_in(jax.random.fold_in(rng, step), shard)
        weight = batch["weights"].sum()
        total_weight = jnp.maximum(jax.lax.psum(weight, AXIS) if data_parallel else weight, 1.0)

        def loss(own):
            return loss_fn(merge_params(shared, own), batch, rng, module, freeze_conv, total_weight)

        (_, sums), grads = jax.value_and_grad(loss, has_aux=True)(params)
        if data_parallel:  # each device's loss is its share of the global mean: the gradient is their sum
            grads, sums = jax.lax.psum((grads, sums), AXIS)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        sums["grad_norm"] = optax.tree.norm(grads)
        finite = jnp.isfinite(sums["loss_sum"]) & jnp.isfinite(sums["grad_norm"])
        nonfinite = jnp.where((nonfinite == 0) & ~finite, step + 1, nonfinite)
        return params, opt_state, nonfinite, sums

    def step(state: TrainState, batch, rngs, shared):
        if shared_conv and "conv_features" not in batch:  # else the host sent the cached output
            batch = {**batch, "conv_features": frozen_conv_features(module, shared, batch)}
        params, opt_state, nonfinite, sums = jax.vmap(run_step, in_axes=(None, None, 0, 0, 0, 0, 0))(
            state.step, shared, state.params, state.opt_state, state.nonfinite_step, batch, rngs)
        return TrainState(step=state.step + 1, params=params, opt_state=opt_state, nonfinite_step=nonfinite), sums

    return jax.pmap(step, axis_name=AXIS, donate_argnums=(0,))


def make_eval_step(predict_fn: Callable, module: nn.Module) -> Callable:
    """pmapped (params, batch) -> predictions, params replicated."""
    return jax.pmap(lambda params, batch: predict_fn(params, batch, module), axis_name=AXIS)


def to_local_devices(tree: Any) -> Any:
    """Puts host leaves of shape (local devices, ...) on the local devices, one slice each."""
    devices = jax.local_devices()
    sharding = jax.sharding.NamedSharding(jax.sharding.Mesh(devices, (AXIS,)), jax.sharding.PartitionSpec(AXIS))
    return jax.tree.map(lambda x: jax.device_put(x, sharding), tree)


def replicate(tree: Any) -> Any:
    """Copies a host pytree onto every local device along a new leading axis."""
    count = jax.local_device_count()
    return to_local_devices(jax.tree.map(lambda x: np.broadcast_to(x, (count,) + np.shape(x)), tree))


def unreplicate(tree: Any) -> Any:
    return jax.tree.map(lambda x: x[0], tree)
