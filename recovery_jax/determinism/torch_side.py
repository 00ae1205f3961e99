"""The PyTorch side: transformers' wav2vec2 (eager attention, so attention maps exist) and a hand-written
Adam loop matching `recovery_jax.train.optim` (global-norm clipping as optax does it, conv stack frozen)."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Sequence

import ml_collections
import numpy as np
import torch
import transformers

from recovery_jax.determinism.compare import forward_named
from recovery_jax.determinism.inputs import Batch, train_overrides

NAME = "torch"
transformers.logging.set_verbosity_error()  # a sequence-classification checkpoint loaded as a bare model warns
transformers.logging.disable_progress_bar()


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _to_host(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy()


def forward_runner(folder: str, audio: np.ndarray) -> Callable[[], dict[str, np.ndarray]]:
    """A zero-argument forward returning every hidden state and attention map, copied to the host."""
    model = transformers.Wav2Vec2Model.from_pretrained(folder, attn_implementation="eager").eval().to(device())
    x = torch.from_numpy(audio).to(device())

    def run():
        with torch.no_grad():
            out = model(x, output_hidden_states=True, output_attentions=True)
        return forward_named([_to_host(h) for h in out.hidden_states], [_to_host(a) for a in out.attentions],
                             _to_host(out.last_hidden_state))
    return run


def _clip_like_optax(params: Sequence[torch.Tensor], max_norm: float) -> None:
    # optax.clip_by_global_norm: g / norm * max_norm once norm >= max_norm (clip_grad_norm_ adds 1e-6 instead).
    grads = [p.grad for p in params if p.grad is not None]
    norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
    if norm >= max_norm:
        for g in grads:
            g.div_(norm).mul_(max_norm)


class _PrivateRng:
    """One run's own RNG stream (CPU and CUDA), so two runs can advance step by step in turn and each still
    draws the dropout masks it would draw alone."""

    def __init__(self, seed: int):
        with self._forked():
            torch.manual_seed(seed)
            self._state = self._get()

    @staticmethod
    def _forked():
        return torch.random.fork_rng(devices=range(torch.cuda.device_count()))

    @staticmethod
    def _get():
        return torch.get_rng_state(), [torch.cuda.get_rng_state(i) for i in range(torch.cuda.device_count())]

    @contextlib.contextmanager
    def active(self):
        with self._forked():
            cpu, cuda = self._state
            torch.set_rng_state(cpu)
            for i, state in enumerate(cuda):
                torch.cuda.set_rng_state(state, i)
            yield
            self._state = self._get()


def train(folder: str, batches: Sequence[Batch], optim: ml_collections.ConfigDict, dropout: bool, seed: int
          ) -> Iterator[tuple[float, dict[str, np.ndarray]]]:
    """After each step: (loss, the model's state dict). Dropout draws come from torch.manual_seed(seed)."""
    rng = _PrivateRng(seed)
    with rng.active():
        model = transformers.Wav2Vec2ForSequenceClassification.from_pretrained(
            folder, attn_implementation="eager", **train_overrides(dropout)).to(device()).train()
    model.freeze_feature_encoder()
    trainable = [p for p in model.parameters() if p.requires_grad]
    adam = torch.optim.Adam(trainable, lr=optim.lr, betas=(optim.b1, optim.b2), eps=optim.eps)
    for audio, labels in batches:
        with rng.active():
            loss = model(torch.from_numpy(audio).to(device()),
                         labels=torch.from_numpy(labels).long().to(device())).loss
            adam.zero_grad()
            loss.backward()
        if optim.clip_norm:
            _clip_like_optax(trainable, optim.clip_norm)
        adam.step()
        yield loss.item(), {k: _to_host(v) for k, v in model.state_dict().items()}
