"""wav2vec2-base forward with attentions: jitted JAX vs PyTorch eager, same weights and input.

    .venv/bin/python -m benchmarks.forward [--batch 4 --seconds 4 --repeats 5]

Times are measured side by side in this process (alternating JAX and PyTorch); peak memory of each
side is measured in a child process that runs that side alone.
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import side_by_side


def forward_gflop(config, samples: int, batch: int) -> float:
    from recovery_jax.models import feature_lengths

    flops, length, c_in = 0, samples, 1
    for c_out, k, s in zip(config.conv_dim, config.conv_kernel, config.conv_stride):
        length = (length - k) // s + 1
        flops += 2 * length * c_out * c_in * k
        c_in = c_out
    t, h = feature_lengths(config, samples), config.hidden_size
    flops += 2 * t * c_in * h  # feature projection
    flops += 2 * t * h * (h // config.num_conv_pos_embedding_groups) * config.num_conv_pos_embeddings
    per_layer = 8 * t * h * h + 4 * t * t * h + 4 * t * h * config.intermediate_size
    return batch * (flops + config.num_hidden_layers * per_layer) / 1e9


def build(side: str, folder: str, batch: int, samples: int):
    """Returns a zero-argument forward for one side, with attentions."""
    audio = np.random.RandomState(0).randn(batch, samples).astype(np.float32)
    if side == "jax":
        import jax

        from recovery_jax.models import Wav2Vec2Model, load_hf

        config, params = load_hf(folder)
        model = Wav2Vec2Model(config)
        forward = jax.jit(lambda p, x: model.apply({"params": p}, x, output_attentions=True))
        backbone, x = params["backbone"], jax.numpy.asarray(audio)
        return lambda: jax.block_until_ready(forward(backbone, x))
    import torch
    import transformers

    model = transformers.Wav2Vec2Model.from_pretrained(folder, attn_implementation="eager").eval()
    x = torch.from_numpy(audio)

    def run():
        with torch.no_grad():
            return model(x, output_attentions=True)
    return run


def make_checkpoint(folder: str) -> None:
    import torch
    import transformers

    torch.manual_seed(0)
    transformers.Wav2Vec2Model(transformers.Wav2Vec2Config()).save_pretrained(folder)


def main() -> None:
    from recovery_jax.models import Wav2Vec2Config

    # GFLOP of one 4 s utterance; side_by_side scales it to the requested batch and duration
    side_by_side("benchmarks.forward", build, make_checkpoint, forward_gflop(Wav2Vec2Config(), 64000, 1),
                 "wav2vec2-base forward, attentions returned")


if __name__ == "__main__":
    main()
