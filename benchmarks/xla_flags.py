"""XLA:CPU routing flags against the package's default: wav2vec2-base forward and SER train step, JAX only.

    .venv/bin/python -m benchmarks.xla_flags [--batch 4 --seconds 4 --repeats 5]

Each setting runs in its own process (XLA reads its flags once, when the backend starts), on the same
checkpoint and input; PyTorch's time does not depend on XLA's flags, so `benchmarks.forward` and
`benchmarks.train_step` give the ratio for the setting chosen here. Parity under a setting is the parity tests'
job: run them with the same XLA_FLAGS before adopting it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

SETTINGS = {
    "default": "",
    "no-xnnpack": "--xla_cpu_use_xnnpack=false",
    "onednn-dot": "--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_fusion_type=dot",
    "onednn-dot-eltwise": "--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_fusion_type=dot,eltwise",
    "vector-512": "--xla_cpu_prefer_vector_width=512",
    "ynn-dot": "--xla_cpu_experimental_ynn_fusion_type=dot",
    "ynn-dot-eltwise": "--xla_cpu_experimental_ynn_fusion_type=dot,eltwise",
}


def _child(args) -> None:
    from benchmarks import forward, train_step
    from benchmarks.common import median_seconds

    samples = int(args.seconds * 16000)
    times = {}
    for name, module in (("forward", forward), ("train_step", train_step)):
        run = module.build("jax", os.path.join(args.folder, name), args.batch, samples)
        times[name] = median_seconds(run, args.repeats)
    print(json.dumps(times))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--folder", help="child mode: checkpoints made by the parent")
    args = parser.parse_args(argv)
    if args.folder:
        return _child(args)
    from benchmarks import forward, train_step

    with tempfile.TemporaryDirectory() as folder:
        forward.make_checkpoint(os.path.join(folder, "forward"))
        train_step.make_checkpoint(os.path.join(folder, "train_step"))
        print(f"JAX wav2vec2-base, batch {args.batch} x {args.seconds:g} s; median of {args.repeats}, ms")
        print(f"{'setting':20s} {'forward':>9s} {'train step':>11s}  XLA_FLAGS")
        for name in args.settings.split(","):
            env = {**os.environ, "XLA_FLAGS": SETTINGS[name], "JAX_PLATFORMS": "cpu"}
            out = subprocess.run([sys.executable, "-m", "benchmarks.xla_flags", "--folder", folder, "--batch",
                                  str(args.batch), "--seconds", str(args.seconds), "--repeats", str(args.repeats)],
                                 env=env, capture_output=True, text=True)
            if out.returncode:
                print(f"{name:20s} failed (exit {out.returncode}): {out.stderr.strip().splitlines()[-1:]}")
                continue
            times = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{name:20s} {times['forward'] * 1e3:9.1f} {times['train_step'] * 1e3:11.1f}  {SETTINGS[name]}")


if __name__ == "__main__":
    main()
