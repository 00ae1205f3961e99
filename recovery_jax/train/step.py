"""The jit-compiled `pmap` train step and evaluation step over all local devices."""

from __future__ import annotations

from typing import Any, Callable

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

AXIS = "devices"


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any
    opt_state: Any


def create_state(params: Any, tx: optax.GradientTransformation) -> TrainState:
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))


def make_train_step(loss_fn: Callable, module: nn.Module, tx: optax.GradientTransformation,
                    freeze_conv: bool) -> Callable:
    """pmapped (state, batch, rng) -> (state, metrics); state buffers are donated.

    `loss_fn(params, batch, rng, module, freeze_conv, total_weight)` returns (loss, metric sums).
    """
    def step(state: TrainState, batch, rng):
        # Same dropout on every run from the seed; different per step and per device.
        rng = jax.random.fold_in(jax.random.fold_in(rng, state.step), jax.lax.axis_index(AXIS))
        total_weight = jnp.maximum(jax.lax.psum(batch["weights"].sum(), AXIS), 1.0)
        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        (_, sums), grads = grad_fn(state.params, batch, rng, module, freeze_conv, total_weight)
        # Each device's loss is its share of the global mean, so the global gradient is their sum.
        grads = jax.lax.psum(grads, AXIS)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        sums = jax.lax.psum(sums, AXIS)
        sums["grad_norm"] = optax.tree.norm(grads)
        return TrainState(step=state.step + 1, params=params, opt_state=opt_state), sums

    return jax.pmap(step, axis_name=AXIS, donate_argnums=(0,))


def make_eval_step(predict_fn: Callable, module: nn.Module) -> Callable:
    """pmapped (params, batch) -> predictions, params replicated."""
    return jax.pmap(lambda params, batch: predict_fn(params, batch, module), axis_name=AXIS)


def replicate(tree: Any) -> Any:
    """Copies a host pytree onto every local device along a new leading axis."""
    devices = jax.local_devices()
    sharding = jax.sharding.NamedSharding(jax.sharding.Mesh(devices, (AXIS,)), jax.sharding.PartitionSpec(AXIS))
    return jax.tree.map(lambda x: jax.device_put(np.broadcast_to(x, (len(devices),) + np.shape(x)), sharding),
                        tree)


def unreplicate(tree: Any) -> Any:
    return jax.tree.map(lambda x: x[0], tree)
