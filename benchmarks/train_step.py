"""SER fine-tuning step on wav2vec2-base, conv encoder frozen: our pmapped step (1 device) vs PyTorch.

    .venv/bin/python -m benchmarks.train_step [--batch 4 --seconds 4 --repeats 5] [--remat layers]
                                               [--compute_dtype bfloat16]

Both sides: same random weights and batch, train mode (dropout 0.1), Adam lr 1e-5 after global-norm clipping
at 1.0, the conv feature encoder frozen (HF `freeze_feature_encoder()`; ours: stop_gradient + optax masking).
HF's layerdrop and SpecAugment are off: our SER fine-tuning uses neither, and both change the work done.
Times alternate sides in this process; each side's peak memory is measured alone in a child process.
`--remat layers` and `--compute_dtype bfloat16` set our side's compute choices (PyTorch stays float32, no
checkpointing), so the ratio then compares those against PyTorch's defaults.
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import side_by_side

LR, CLIP = 1e-5, 1.0


def _jax_step(folder: str, audio: np.ndarray, labels: np.ndarray, remat: str, compute_dtype: str):
    import jax
    import ml_collections

    from recovery_jax.data import batch_iterator
    from recovery_jax.models import load_hf, with_compute
    from recovery_jax.train.loop import single_run
    from recovery_jax.train.tasks import get_task, init_params

    task = get_task("ser")
    config, pretrained = load_hf(folder)
    config = with_compute(config, {"remat": remat, "compute_dtype": compute_dtype}, "--remat/--compute_dtype")
    params = init_params(task, config, jax.random.PRNGKey(0), pretrained)
    optim = ml_collections.ConfigDict(dict(lr=LR, b1=0.9, b2=0.999, eps=1e-8, clip_norm=CLIP, accum_steps=1,
                                           frozen=("backbone/feature_extractor",)))
    batch = next(batch_iterator(list(audio), labels, len(audio), num_devices=1, bucket_multiple=audio.shape[1]))
    batch = {k: v for k, v in batch.items() if k != "index"}
    state, step, _ = single_run(task, config, optim, 1000, params, 0)
    holder = [state]

    def run():
        holder[0], sums = step(holder[0], batch)  # the old state is donated
        return jax.block_until_ready(sums)
    return run


def _torch_step(folder: str, audio: np.ndarray, labels: np.ndarray, **_):
    import torch
    import transformers

    model = transformers.Wav2Vec2ForSequenceClassification.from_pretrained(folder).train()
    model.freeze_feature_encoder()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(trainable, lr=LR)
    x, y = torch.from_numpy(audio), torch.from_numpy(labels)

    def run():
        opt.zero_grad(set_to_none=True)
        loss = model(x, labels=y).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, CLIP)
        opt.step()
        return loss.item()
    return run


def build(side: str, folder: str, batch: int, samples: int, remat: str = "none", compute_dtype: str = "float32"):
    """A zero-argument train step for one side (its first call compiles / warms up)."""
    rng = np.random.RandomState(0)
    audio, labels = rng.randn(batch, samples).astype(np.float32), (np.arange(batch) % 4).astype(np.int64)
    return (_jax_step if side == "jax" else _torch_step)(folder, audio, labels, remat=remat,
                                                         compute_dtype=compute_dtype)


def make_checkpoint(folder: str) -> None:
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.Wav2Vec2Config(num_labels=4, layerdrop=0.0, mask_time_prob=0.0)
    transformers.Wav2Vec2ForSequenceClassification(config).save_pretrained(folder)


def step_gflop(samples: int, batch: int) -> float:
    """About: the layers below the transformer forward only, the 12 layers forward + backward (3x forward).

    (The projection and positional conv do get gradients; they are about 3% of the step.)
    """
    from benchmarks.forward import forward_gflop
    from recovery_jax.models import Wav2Vec2Config

    below = forward_gflop(Wav2Vec2Config(num_hidden_layers=0), samples, batch)
    return below + 3 * (forward_gflop(Wav2Vec2Config(), samples, batch) - below)


def main() -> None:
    side_by_side("benchmarks.train_step", build, make_checkpoint, step_gflop(64000, 1),
                 "wav2vec2-base SER train step, conv encoder frozen",
                 options={"remat": ("none", "ours: none | layers | layers_and_conv"),
                          "compute_dtype": ("float32", "ours: float32 | bfloat16")})


if __name__ == "__main__":
    main()
