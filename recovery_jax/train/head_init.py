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


def _adam_fit(loss: Callable[[Any], jax.Array], head: Any, steps: int, lr: float) -> Any:
    """`steps` full-batch Adam steps on `loss` from `head`, as one compiled scan."""
    tx = optax.adam(lr)

    @jax.jit
    def fit(head):
        def step(carry, _):
            head, state = carry
            updates, state = tx.update(jax.grad(loss)(head), state, head)
            return (optax.apply_updates(head, updates), state), None

        (head, _), _ = jax.lax.scan(step, (head, tx.init(head)), None, length=steps)
        return head

    return jax.tree.map(np.asarray, fit(head))


def fit_ser_head(params: dict[str, Any], pooled: np.ndarray, labels: np.ndarray, steps: int, lr: float
                 ) -> dict[str, Any]:
    """`params` with its SER head fitted by `steps` full-batch Adam steps on the cross-entropy of `labels`
    given (N, H) `pooled` last-layer states; the backbone is untouched. Starts from the head in `params`."""
    x, y = jnp.asarray(pooled, jnp.float32), jnp.asarray(labels, jnp.int32)

    def loss(head):
        return optax.softmax_cross_entropy_with_integer_labels(head_logits(head, x), y).mean()

    return {**params, **_adam_fit(loss, {k: params[k] for k in HEAD_KEYS}, steps, lr)}


def _padded(arrays: Sequence[np.ndarray], dtype) -> tuple[np.ndarray, np.ndarray]:
    """(N, longest, ...) zero-padded arrays and the (N, longest) float32 padding indicator (1 = padding)."""
    width = max(len(a) for a in arrays)
    out = np.zeros((len(arrays), width) + np.shape(arrays[0])[1:], dtype)
    pad = np.ones((len(arrays), width), np.float32)
    for i, a in enumerate(arrays):
        out[i, :len(a)], pad[i, :len(a)] = a, 0.0
    return out, pad


def fit_ctc_head(params: dict[str, Any], frames: Sequence[np.ndarray], targets: Sequence[np.ndarray],
                 blank_id: int, steps: int, lr: float) -> dict[str, Any]:
    """`params` with its lm_head fitted by `steps` full-batch Adam steps on the CTC loss of `targets` (token
    ids), each utterance's loss divided by its target length as in training (train/tasks.py), given each
    clip's (frames, H) last-layer states; the backbone is untouched. Starts from the lm_head in `params`."""
    (x, frame_pad), (y, target_pad) = _padded(frames, np.float32), _padded(targets, np.int32)
    x, frame_pad, y, target_pad = (jnp.asarray(a) for a in (x, frame_pad, y, target_pad))
    target_lengths = jnp.maximum((1.0 - target_pad).sum(axis=1), 1.0)

    def loss(head):
        logits = x @ head["kernel"] + head["bias"]
        per_utt = optax.ctc_loss(logits, frame_pad, y, target_pad, blank_id=blank_id)
        return (per_utt / target_lengths).mean()

    return {**params, "lm_head": _adam_fit(loss, params["lm_head"], steps, lr)}
