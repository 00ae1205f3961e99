"""Eq. 1 attention distances for two systems: our fused JAX pass against the obvious PyTorch path.

    .venv/bin/python -m benchmarks.attention_analysis [--quick]

Both systems are random wav2vec2-base models (HF init, two seeds) written with `save_pretrained`; the
corpus is N utterances of S seconds of noise, all one length (no padding, so both sides see the same
batches and their answers must agree).

* ours: `recovery_jax.analysis.systems.attention_distances` - params of both systems stacked, one jit
  that vmaps the forward over the system axis and reduces the maps to (L, H) on the device.
* torch: `transformers` eager attention with `output_attentions=True`, each system in turn, the maps
  copied to numpy, then a loop over utterances, layers and heads (vectorised over rows).

Time: both sides run in this process, alternately, `--repeats` times; the best of each is kept (the
machine is shared and noisy). Ours is reported without compilation (steady state) and with it.
Memory: tracemalloc does not see XLA's or torch's allocators, so each side is run once more in its own
subprocess and reports its peak RSS during the analysis (VmHWM from /proc/self/status, reset through
/proc/self/clear_refs once the weights are loaded; getrusage's ru_maxrss would not do, as it survives
fork + exec and cannot be reset) and its RSS just before the analysis (imports and weights loaded): the
difference is what the analysis itself costs. The load-time peak is reported apart. XLA's own plan for one
batch (memory_analysis of the compiled pass: temporaries + outputs) is printed too.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
            conv_dim=(32,) * 3, conv_kernel=(10, 3, 3), conv_stride=(5, 2, 2),
            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)


def status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


def make_checkpoints(folder: str, quick: bool, shared_conv: bool) -> None:
    import torch
    import transformers

    config = transformers.Wav2Vec2Config(**(TINY if quick else {}), attn_implementation="eager")
    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        models.append(transformers.Wav2Vec2Model(config))
    if shared_conv:  # as when both systems were fine-tuned from one model with the conv stack frozen
        models[1].feature_extractor.load_state_dict(models[0].feature_extractor.state_dict())
    for seed, model in enumerate(models):
        model.save_pretrained(os.path.join(folder, f"sys{seed}"))


def corpus(args) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.normal(size=int(args.seconds * 16000)).astype(np.float32) for _ in range(args.utterances)]


class Ours:
    def __init__(self, folder: str, args):
        from recovery_jax.analysis.batches import bucketed_batches
        from recovery_jax.analysis.systems import attention_distances, load_stacked

        self.config, self.stacked = load_stacked([os.path.join(folder, f"sys{k}") for k in (0, 1)])
        self.batches = list(bucketed_batches(corpus(args), args.batch_size, pad_to=16000))
        self.attention_distances = attention_distances

    def plan(self):
        """XLA's memory plan of our pass on one batch."""
        from recovery_jax.analysis.systems import make_attention_distance_fn, shares_conv_stack

        fn = make_attention_distance_fn(self.config, shared_conv=shares_conv_stack(self.stacked))
        return fn.lower(self.stacked, *self.batches[0]).compile().memory_analysis()

    def flops(self) -> tuple[float, float]:
        """(ours, the obvious path's) FLOPs per batch, from XLA's cost analysis of one system's functions.

        Counted per system, as the cost analysis counts a loop body (our `lax.map` over systems) once. The
        obvious path runs two full forwards; ours runs what the maps need (XLA drops the last layer's values,
        output projection and feed-forward) and the conv stack once when the systems share it.
        """
        import jax

        from recovery_jax.analysis.systems import shares_conv_stack
        from recovery_jax.models import Wav2Vec2Model

        model, (audio, lengths, _) = Wav2Vec2Model(self.config), self.batches[0]
        one = jax.tree.map(lambda leaf: leaf[0], self.stacked)

        def cost(fn):
            return jax.jit(fn).lower(one).compile().cost_analysis()["flops"]

        full = cost(lambda p: model.apply({"params": p}, audio, lengths, output_attentions=True))
        maps = cost(lambda p: model.apply({"params": p}, audio, lengths, output_attentions=True).attentions)
        conv = cost(lambda p: model.apply({"params": p}, audio, lengths, method=Wav2Vec2Model.extract_conv_features))
        return 2 * maps - (conv if shares_conv_stack(self.stacked) else 0.0), 2 * full

    def __call__(self) -> np.ndarray:
        return self.attention_distances(self.config, self.stacked, self.batches)[0]


class Torch:
    def __init__(self, folder: str, args):
        import torch
        import transformers

        self.torch = torch
        self.models = [transformers.Wav2Vec2Model.from_pretrained(os.path.join(folder, f"sys{k}"),
                                                                  attn_implementation="eager").eval()
                       for k in (0, 1)]
        waves = np.stack(corpus(args))
        self.batches = [waves[k:k + args.batch_size] for k in range(0, len(waves), args.batch_size)]

    def __call__(self) -> np.ndarray:
        total, count = 0.0, 0
        for batch in self.batches:
            with self.torch.no_grad():
                maps = [np.stack([a.numpy() for a in m(self.torch.from_numpy(batch), output_attentions=True).attentions],
                                 1) for m in self.models]  # (B, L, H, T, T) per system
            per_utterance = np.zeros(maps[0].shape[:3])
            for b, l, h in np.ndindex(*per_utterance.shape):
                overlap = np.sqrt(maps[0][b, l, h] * maps[1][b, l, h]).sum(-1)
                per_utterance[b, l, h] = np.mean(-np.log(np.clip(overlap, 1e-30, 1.0)))
            total, count = total + per_utterance.sum(0), count + len(batch)
        return total / count


SIDES = {"ours": Ours, "torch": Torch}


def timed(fn) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def child(args) -> None:
    """One side alone in this process: its RSS before and after the analysis."""
    side = SIDES[args.side](args.checkpoints, args)
    # Loading frees large host buffers that glibc keeps in its heap; hand them back so that "RSS before
    # the analysis" is what stays alive (weights and runtime), on both sides alike.
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    load_peak, before = status_mib("VmHWM"), status_mib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:  # "5" resets VmHWM to the current RSS (Linux >= 4.0)
        f.write("5")
    seconds, _ = timed(side)
    print(json.dumps({"load_peak_mib": load_peak, "rss_before_mib": before, "peak_rss_mib": status_mib("VmHWM"),
                      "seconds": seconds}))


def measure_memory(side: str, folder: str, args) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.attention_analysis", "--side", side, "--checkpoints", folder,
           "--utterances", str(args.utterances), "--seconds", str(args.seconds),
           "--batch-size", str(args.batch_size)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny models, 4 utterances of 1 s (smoke run)")
    parser.add_argument("--utterances", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--shared-conv", action="store_true",
                        help="give both systems one conv stack (the paper's frozen-conv fine-tuning); ours then "
                             "runs it once per batch, the obvious path still twice")
    parser.add_argument("--side", choices=sorted(SIDES), help=argparse.SUPPRESS)
    parser.add_argument("--checkpoints", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        return child(args)
    if args.quick:
        args.utterances, args.seconds, args.repeats = 4, 1.0, 1

    with tempfile.TemporaryDirectory() as folder:
        make_checkpoints(folder, args.quick, args.shared_conv)
        ours, reference = Ours(folder, args), Torch(folder, args)
        first_ours, _ = timed(ours)  # includes compilation
        best, results = {"ours": float("inf"), "torch": float("inf")}, {}
        for _ in range(args.repeats):
            for name, side in (("torch", reference), ("ours", ours)):
                seconds, results[name] = timed(side)
                best[name] = min(best[name], seconds)
        plan, (flops, obvious_flops), batches = ours.plan(), ours.flops(), len(ours.batches)
        memory = {name: measure_memory(name, folder, args) for name in SIDES}

    print(f"{args.utterances} utterances x {args.seconds:g} s, 2 systems"
          f"{' sharing one conv stack' if args.shared_conv else ''}, batch {args.batch_size}, "
          f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}")
    expected = results["torch"]
    print(f"max |ours - torch| distance: {np.abs(results['ours'] - expected).max():.2e} (distances "
          f"{expected.min():.3g}..{expected.max():.3g})")
    print(f"time  ours {best['ours']:.2f} s (first call with compile {first_ours:.2f} s), "
          f"torch {best['torch']:.2f} s")
    print(f"speed-up torch / ours: {best['torch'] / best['ours']:.2f}x steady state, "
          f"{best['torch'] / first_ours:.2f}x including compile")
    for name, m in memory.items():
        print(f"peak RSS {name:5s} {m['peak_rss_mib']:7.0f} MiB during the analysis (RSS before it "
              f"{m['rss_before_mib']:.0f} MiB, so it adds {m['peak_rss_mib'] - m['rss_before_mib']:.0f} MiB; "
              f"peak while loading {m['load_peak_mib']:.0f} MiB)")
    print(f"peak RSS ratio torch / ours: {memory['torch']['peak_rss_mib'] / memory['ours']['peak_rss_mib']:.2f}x")
    print(f"FLOPs per batch (XLA cost analysis): ours {flops / 1e9:.0f} G, the obvious path's two full forwards "
          f"{obvious_flops / 1e9:.0f} G, so at equal FLOP rates the speed-up would be {obvious_flops / flops:.2f}x; "
          f"rates here: ours {flops * batches / best['ours'] / 1e9:.0f} GFLOP/s, torch "
          f"{obvious_flops * batches / best['torch'] / 1e9:.0f} GFLOP/s (its numpy loop included)")
    if plan is not None:
        print(f"XLA plan per batch: temporaries {plan.temp_size_in_bytes / 2**20:.0f} MiB, "
              f"arguments {plan.argument_size_in_bytes / 2**20:.0f} MiB, outputs {plan.output_size_in_bytes} B")


if __name__ == "__main__":
    main()
