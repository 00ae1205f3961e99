"""Linear probing before fine-tuning (LP-FT, Kumar et al., ICLR 2022): a task's head is first fitted on the
frozen backbone's last layer, so fine-tuning starts from a head that already does the task a little.

SER: on the embedded study's tiny networks a randomly initialised head learns so slowly (pooled features vary
across utterances ~3x less than their common mean) that 150 fine-tuning steps leave it near chance, and the
backbone then receives little more than noise. The SER head is affine -> mean over frames -> affine, and mean
pooling commutes with the affine projector, so fitting it on cached mean-pooled states fits the head exactly
as the network applies it.

CTC: a random lm_head sits on the blank plateau (every frame blank, loss ~2.9) for the first ~400 of ASR960's
updates. Fitted first on the frozen PT's frame states it already emits letters (validation CER 0.68 on its own),
and after 500 fine-tuning updates the validation CER is 0.55 instead of 0.63 (3 seeds each, 100 ASR clips
outside the training subsets, 2026-12-04).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

HEAD_KEYS = ("projector", "classifier")


def head_logits(head: dict, pooled: jax.Array) -> jax.Array:
    """classifier(projector(pooled)): the SER head on (N, H) mean-pooled last-layer states."""
    hidden = pooled @ head["projector"]["kernel"] + head["projector"]["bias"]
    return hidden @ head["classifier"]["kernel"] + head["classifier"]["bias"]


@functools.partial(jax.jit, static_argnames=("loss", "steps", "lr"))
def _adam_fit(loss: Callable[[Any, tuple], jax.Array], head: Any, data: tuple, steps: int, lr: float) -> Any:
    """`steps` full-batch Adam steps on `loss(head, data)` from `head`, as one compiled scan. The data are
    arguments, not constants of the program: one compile serves every fold and job of one shape."""
    tx = optax.adam(lr)

    def step(carry, _):
        head, state = carry
        updates, state = tx.update(jax.grad(loss)(head, data), state, head)
        return (optax.apply_updates(head, updates), state), None

    (head, _), _ = jax.lax.scan(step, (head, tx.init(head)), None, length=steps)
    return head


def _ser_loss(head: dict, data: tuple, l2: float = 0.0) -> jax.Array:
    pooled, labels = data
    ce = optax.softmax_cross_entropy_with_integer_labels(head_logits(head, pooled), labels).mean()
    # no penalty term at all for l2 = 0: a term times 0 still changes the compiled program's rounding, and 300
    # Adam steps amplify that to a 6 % different head (measured), i.e. another fine-tuning draw
    return ce + l2 * sum(jnp.square(head[k]["kernel"]).sum() for k in HEAD_KEYS) if l2 else ce


@functools.cache
def _ser_loss_for(l2: float) -> Callable[[dict, tuple], jax.Array]:
    return functools.partial(_ser_loss, l2=l2) if l2 else _ser_loss  # one object per value: a static jit argument


def fit_ser_head(params: dict[str, Any], pooled: np.ndarray, labels: np.ndarray, steps: int, lr: float,
                 l2: float = 0.0) -> dict[str, Any]:
    """`params` with its SER head fitted by `steps` full-batch Adam steps on the cross-entropy of `labels`
    given (N, H) `pooled` last-layer states, plus `l2` x the kernels' squared norm (a head that uses only
    directions the training clips agree on, as the probe's SVM does with its small C, hands the backbone smaller
    and less clip-specific gradients); the backbone is untouched. Starts from the head in `params`."""
    data = (jnp.asarray(pooled, jnp.float32), jnp.asarray(labels, jnp.int32))
    head = _adam_fit(_ser_loss_for(float(l2)), {k: params[k] for k in HEAD_KEYS}, data, steps, lr)
    return {**params, **jax.tree.map(np.asarray, head)}


def _padded(arrays: Sequence[np.ndarray], dtype) -> tuple[np.ndarray, np.ndarray]:
    """(N, longest, ...) zero-padded arrays and the (N, longest) float32 padding indicator (1 = padding)."""
    width = max(len(a) for a in arrays)
    out = np.zeros((len(arrays), width) + np.shape(arrays[0])[1:], dtype)
    pad = np.ones((len(arrays), width), np.float32)
    for i, a in enumerate(arrays):
        out[i, :len(a)], pad[i, :len(a)] = a, 0.0
    return out, pad


def _ctc_loss(head: dict, data: tuple, blank_id: int) -> jax.Array:
    frames, frame_pad, targets, target_pad = data
    logits = frames @ head["kernel"] + head["bias"]
    per_utt = optax.ctc_loss(logits, frame_pad, targets, target_pad, blank_id=blank_id)
    return (per_utt / jnp.maximum((1.0 - target_pad).sum(axis=1), 1.0)).mean()


@functools.cache
def _ctc_loss_for(blank_id: int) -> Callable[[dict, tuple], jax.Array]:
    return functools.partial(_ctc_loss, blank_id=blank_id)  # one object per blank id: a static jit argument


def fit_ctc_head(params: dict[str, Any], frames: Sequence[np.ndarray], targets: Sequence[np.ndarray],
                 blank_id: int, steps: int, lr: float) -> dict[str, Any]:
    """`params` with its lm_head fitted by `steps` full-batch Adam steps on the CTC loss of `targets` (token
    ids), each utterance's loss divided by its target length as in training (train/tasks.py), given each
    clip's (frames, H) last-layer states; the backbone is untouched. Starts from the lm_head in `params`."""
    (x, frame_pad), (y, target_pad) = _padded(frames, np.float32), _padded(targets, np.int32)
    data = tuple(jnp.asarray(a) for a in (x, frame_pad, y, target_pad))
    head = _adam_fit(_ctc_loss_for(blank_id), params["lm_head"], data, steps, lr)
    return {**params, "lm_head": jax.tree.map(np.asarray, head)}
