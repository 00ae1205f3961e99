"""Many fine-tunes as one program (`fit_many`) vs the same runs one after another (`fit`), same process.

    .venv/bin/python -m benchmarks.many_runs                                  # study's SER: 5 folds x 3 seeds
    .venv/bin/python -m benchmarks.many_runs --preset base --runs 2 --steps 3 # wav2vec2-base, R = 2

Runs are the embedded study's SER fine-tunes (its corpus, LOSO folds, step count, batch and optimiser; all
runs start from one backbone, heads drawn per seed). Wall times include compilation, checkpoints and host
batching, as a job pays them. Peak memory (VmHWM) of the joint job and of one solo run is measured in child
processes, each doing a few steps of its side alone. Last: where a joint step spends its time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import numpy as np

from benchmarks.common import median_seconds, peak_rss_mib, run_child


def _setup(args):
    import jax

    from configs import study_embedded
    from recovery_jax.data import loso_folds
    from recovery_jax.data.corpora import emotion_corpus
    from recovery_jax.models import Wav2Vec2Config, receptive_field
    from recovery_jax.models.presets import preset
    from recovery_jax.train.tasks import get_task, init_params
    from recovery_jax.train.train import ser_examples

    study = study_embedded.get_config()
    config = study.ser
    config.total_steps = args.steps or config.total_steps
    config.checkpoint_every = max(config.total_steps // 3, 1)
    model = (Wav2Vec2Config.from_dict(study.model.to_dict()) if args.preset == "tiny" else preset("base"))
    task = get_task("ser")
    folds = loso_folds(emotion_corpus(study.corpus), study.corpus.valid_fraction, study.corpus.seed)
    backbone = jax.device_get(init_params(task, model, jax.random.PRNGKey(0)))["backbone"]
    runs = [(fold, config.seed + s) for s in range(args.seeds) for fold in folds][:args.runs or None]
    params = [jax.device_get(init_params(task, model, jax.random.PRNGKey(seed), {"backbone": backbone}))
              for _, seed in runs]
    data = [ser_examples(fold.train, receptive_field(model)) for fold, _ in runs]
    return task, model, config, params, data, [seed for _, seed in runs]


def _joint(task, model, config, params, data, seeds):
    from recovery_jax.train.loop import fit_many
    with tempfile.TemporaryDirectory() as workdir:
        fit_many(task, model, params, data, config, workdir, seeds=seeds)


def _sequential(task, model, config, params, data, seeds, runs=None):
    from recovery_jax.train.loop import fit
    for p, d, seed in list(zip(params, data, seeds))[:runs]:
        with tempfile.TemporaryDirectory() as workdir:
            config.seed = seed
            fit(task, model, p, d, config, workdir)


def _profile(task, model, config, params, data, seeds) -> dict:
    """Seconds per joint step: host batching, the whole device step, and the frozen conv stack alone."""
    import jax

    from recovery_jax.train.loop import _fresh_state, _joint_batch, _program, _training_batches
    from recovery_jax.train.runs import Layout
    from recovery_jax.train.step import replicate
    from recovery_jax.train.tasks import frozen_conv_features

    layout = Layout(len(params))
    shared, own, tx, train_step = _program(task, model, config.optim, config.total_steps, params, True)
    streams = [_training_batches(d, config, s, 0, True) for d, s in zip(data, seeds)]
    host = median_seconds(lambda: _joint_batch([next(s) for s in streams], layout), 5)
    batch = _joint_batch([next(s) for s in streams], layout)
    holder = [_fresh_state(own, tx, layout)]
    rngs = layout.to_devices(np.stack([np.asarray(jax.random.PRNGKey(s)) for s in seeds]))
    shared_on_devices = replicate(shared)

    def step():
        holder[0], sums = train_step(holder[0], batch, rngs, shared_on_devices)
        jax.block_until_ready(sums)
    conv = jax.pmap(lambda shared, batch: frozen_conv_features(task.make_module(model), shared, batch))
    return {"host_batching_s": host, "device_step_s": median_seconds(step, 5),
            "frozen_conv_s": median_seconds(lambda: jax.block_until_ready(conv(shared_on_devices, batch)), 5),
            "padded_audio_samples": int(batch["audio"].shape[-1]), "rows_per_step": int(np.prod(batch["audio"].shape[:-1]))}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="tiny", choices=["tiny", "base"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=0, help="keep the first R runs (0: folds x seeds)")
    parser.add_argument("--steps", type=int, default=0, help="steps per run (0: the study's)")
    parser.add_argument("--side", choices=["joint", "one"], help="child mode: peak memory of one side")
    args = parser.parse_args(argv)
    task, model, config, params, data, seeds = _setup(args)
    if args.side:
        before = peak_rss_mib()
        (_joint if args.side == "joint" else lambda *a: _sequential(*a, runs=1))(task, model, config, params, data,
                                                                                  seeds)
        print(json.dumps({"peak_rss_mib": peak_rss_mib(), "before_mib": before}))
        return
    start = time.perf_counter()
    _joint(task, model, config, params, data, seeds)
    joint = time.perf_counter() - start
    print(f"  joint fit_many: {joint:.1f} s", flush=True)
    start = time.perf_counter()
    _sequential(task, model, config, params, data, list(seeds))
    sequential = time.perf_counter() - start
    child = ["--preset", args.preset, "--seeds", str(args.seeds), "--runs", str(len(params)), "--steps", "2"]
    memory = {side: run_child("benchmarks.many_runs", side, child) for side in ("joint", "one")}
    profile = _profile(task, model, config, params, data, seeds)
    print(f"{len(params)} SER fine-tunes of the {args.preset} preset, {config.total_steps} steps each, batch "
          f"{config.batch_size}, {__import__('jax').local_device_count()} local devices")
    print(f"  sequential fit: {sequential:8.1f} s   joint fit_many: {joint:8.1f} s   ratio sequential/joint: "
          f"{sequential / joint:.2f}")
    print(f"  peak RSS: joint {memory['joint']['peak_rss_mib']:.0f} MiB, one solo run "
          f"{memory['one']['peak_rss_mib']:.0f} MiB (ratio {memory['joint']['peak_rss_mib'] / memory['one']['peak_rss_mib']:.2f}; "
          f"after imports {memory['one']['before_mib']:.0f} MiB)")
    print(f"  joint step profile: {json.dumps({k: round(v, 4) for k, v in profile.items()})}")


if __name__ == "__main__":
    sys.exit(main())
