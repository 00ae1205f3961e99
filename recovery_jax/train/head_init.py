"""Linear probing before fine-tuning (LP-FT, Kumar et al., ICLR 2022): the SER head is first fitted on the
frozen backbone's pooled last layer, so fine-tuning starts from a head that already separates the classes.

On the embedded study's tiny networks a randomly initialised head learns so slowly (pooled features vary
across utterances ~3x less than their common mean) that 150 fine-tuning steps leave it near chance, and the
backbone then receives little more than noise. The SER head is affine -> mean over frames -> affine, and mean
pooling commutes with the affine projector, so fitting it on cached mean-pooled states fits the head exactly
as the network applies it.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

HEAD_KEYS = ("projector", "classifier")


def head_logits(head: dict, pooled: jax.Array) -> jax.Array:
    """classifier(projector(pooled)): the SER head on (N, H) mean-pooled last-layer states."""
    hidden = pooled @ head["projector"]["kernel"] + head["projector"]["bias"]
    return hidden @ head["classifier"]["kernel"] + head["classifier"]["bias"]


def fit_ser_head(params: dict[str, Any], pooled: np.ndarray, labels: np.ndarray, steps: int, lr: float
                 ) -> dict[str, Any]:
    """`params` with its SER head fitted by `steps` full-batch Adam steps on the cross-entropy of `labels`
    given (N, H) `pooled` last-layer states; the backbone is untouched. Starts from the head in `params`."""
    x, y = jnp.asarray(pooled, jnp.float32), jnp.asarray(labels, jnp.int32)
    tx = optax.adam(lr)

    def loss(head):
        return optax.softmax_cross_entropy_with_integer_labels(head_logits(head, x), y).mean()

    @jax.jit
    def fit(head):
        def step(carry, _):
            head, state = carry
            grads = jax.grad(loss)(head)
            updates, state = tx.update(grads, state, head)
            return (optax.apply_updates(head, updates), state), None

        (head, _), _ = jax.lax.scan(step, (head, tx.init(head)), None, length=steps)
        return head

    head = fit({k: params[k] for k in HEAD_KEYS})
    return {**params, **jax.tree.map(np.asarray, head)}
