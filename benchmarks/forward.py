"""wav2vec2-base forward with attentions: jitted JAX vs PyTorch eager, same weights and input.

    .venv/bin/python -m benchmarks.forward [--batch 4 --seconds 4 --repeats 5]

Times are measured side by side in this process (alternating JAX and PyTorch); peak memory of each
side is measured in a child process that runs that side alone.
"""

from __future__ import annotations

import argparse
import json
import tempfile

import numpy as np

from benchmarks.common import matmul_peak_gflops, median_seconds, peak_rss_mib, run_child


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
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--side", choices=["jax", "torch"], help="child mode: measure one side's memory")
    parser.add_argument("--folder")
    args = parser.parse_args()
    samples = int(args.seconds * 16000)

    if args.side:
        baseline = peak_rss_mib()
        run = build(args.side, args.folder, args.batch, samples)
        run()
        run()
        print(json.dumps({"peak_rss_mib": peak_rss_mib(), "before_mib": baseline}))
        return

    from recovery_jax.models import Wav2Vec2Config

    with tempfile.TemporaryDirectory() as folder:
        make_checkpoint(folder)
        jax_run, torch_run = build("jax", folder, args.batch, samples), build("torch", folder, args.batch, samples)
        jax_run()  # compile
        peak = matmul_peak_gflops()
        t_jax = t_torch = float("inf")
        for _ in range(2):  # alternate sides so a noisy neighbour hits both
            t_jax = min(t_jax, median_seconds(jax_run, args.repeats))
            t_torch = min(t_torch, median_seconds(torch_run, args.repeats))
        memory = {side: run_child("benchmarks.forward", side, [
            "--folder", folder, "--batch", str(args.batch), "--seconds", str(args.seconds)])
            for side in ("jax", "torch")}
    gflop = forward_gflop(Wav2Vec2Config(), samples, args.batch)
    print(f"wav2vec2-base forward, batch {args.batch} x {args.seconds:g} s, attentions returned, "
          f"{gflop:.1f} GFLOP; matmul peak {peak:.0f} GFLOP/s")
    for name, t in (("jax", t_jax), ("torch", t_torch)):
        print(f"  {name:5s} median {t * 1e3:8.1f} ms  {gflop / t:6.1f} GFLOP/s ({100 * gflop / t / peak:4.1f}% "
              f"of peak)  peak RSS {memory[name]['peak_rss_mib']:.0f} MiB "
              f"(after imports {memory[name]['before_mib']:.0f} MiB)")
    print(f"ratio JAX/PyTorch: {t_jax / t_torch:.3f}")


if __name__ == "__main__":
    main()
