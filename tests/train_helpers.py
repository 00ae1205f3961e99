"""Small configs and learnable in-memory data for the training tests; run as a script, one training process."""

import os
import sys

import ml_collections
import numpy as np

from recovery_jax.models import Wav2Vec2Config
from recovery_jax.train.loop import Examples

MICRO = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                       conv_dim=(16,) * 7, num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=4,
                       classifier_proj_size=16, vocab_size=32, mask_time_prob=0.0)


def tone_examples(n: int = 32, seed: int = 0) -> Examples:
    """Four classes told apart by pitch, with random lengths: learnable in a few dozen steps."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 4
    waves = []
    for label in labels:
        length = int(rng.integers(4000, 9000))
        t = np.arange(length) / 16000
        freq = (150, 300, 600, 1200)[label] * rng.uniform(0.95, 1.05)
        waves.append((0.5 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(length)).astype(np.float32))
    return Examples(waves, labels=labels)


def train_config(total_steps: int = 12, **optim) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 1337
    c.batch_size = 4
    c.total_steps = total_steps
    c.bucket_samples = 12000  # one padded length for all tone clips: one compile per train step program
    c.optim = ml_collections.ConfigDict(dict(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, clip_norm=1.0, accum_steps=1,
                                             warmup_steps=0, schedule="constant",
                                             frozen=("backbone/feature_extractor",)))
    c.optim.update(optim)
    c.checkpoint_every = 4
    c.keep_checkpoints = 2
    c.log_every = 4
    c.eval_batch_size = 8
    return c


def fit_worker(init: str, workdir: str, total_steps: int, distributed: tuple = ()) -> None:
    """One training process of the subprocess tests: fits `total_steps` from the params in the msgpack file
    `init` on `tone_examples(16)`, then writes its final params as `params.<process>.npz`.
    `distributed` = (coordinator, num_processes, process_id)."""
    import flax.serialization
    import jax

    from recovery_jax.train import distributed as dist
    from recovery_jax.train.loop import fit
    from recovery_jax.train.tasks import get_task

    if distributed:
        dist.initialize(distributed[0], int(distributed[1]), int(distributed[2]))
    # Read, not initialised: a second process cannot reuse process 0's compile cache entries.
    with open(init, "rb") as f:
        params = flax.serialization.msgpack_restore(f.read())
    trained = fit(get_task("ser"), MICRO, params, tone_examples(16), train_config(total_steps), workdir)
    np.savez(os.path.join(workdir, f"params.{jax.process_index()}.npz"), *jax.tree.leaves(trained))


def run_two_processes(command: list, timeout: float) -> None:
    """`command + [coordinator, "2", process id]` as two one-device CPU processes joined on 127.0.0.1; both
    must succeed."""
    import socket
    import subprocess

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        coordinator = f"127.0.0.1:{s.getsockname()[1]}"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1", "JAX_PLATFORMS": "cpu"}
    procs = [subprocess.Popen(command + [coordinator, "2", str(i)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    try:
        errors = [p.communicate(timeout=timeout)[1] for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, err in zip(procs, errors):
        assert p.returncode == 0, err[-3000:]


MANY_SEEDS = (3, 5, 7, 9)  # four runs: two folds' data x two seeds


def many_runs_data() -> list[Examples]:
    """Four runs' training sets of different sizes (12 and 20 clips), as LOSO folds differ."""
    return [tone_examples(12, seed=1), tone_examples(12, seed=1), tone_examples(20, seed=2), tone_examples(20, seed=2)]


def many_worker(init: str, workdir: str, total_steps: int, placement: str, distributed: tuple = ()) -> None:
    """One process of the many-runs subprocess tests: `fit_many` of four runs from the params in `init` (all
    runs share them), then writes every run's final params as `runs.<process>.npz`."""
    import flax.serialization
    import jax

    from recovery_jax.train import distributed as dist
    from recovery_jax.train.loop import fit_many
    from recovery_jax.train.tasks import get_task

    if distributed:
        dist.initialize(distributed[0], int(distributed[1]), int(distributed[2]))
    with open(init, "rb") as f:
        params = flax.serialization.msgpack_restore(f.read())
    config = train_config(total_steps)
    config.run_placement = placement
    trained = fit_many(get_task("ser"), MICRO, [params] * 4, many_runs_data(), config, workdir, seeds=MANY_SEEDS)
    np.savez(os.path.join(workdir, f"runs.{jax.process_index()}.npz"), *jax.tree.leaves(trained))


if __name__ == "__main__":
    # python tests/train_helpers.py fit INIT WORKDIR STEPS [COORDINATOR NUM_PROCESSES PROCESS_ID]
    # python tests/train_helpers.py many INIT WORKDIR STEPS PLACEMENT [COORDINATOR NUM_PROCESSES PROCESS_ID]
    from recovery_jax import compile_cache

    compile_cache.enable(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".jax_cache"))
    if sys.argv[1] == "many":
        many_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], tuple(sys.argv[6:]))
    else:
        fit_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), tuple(sys.argv[5:]))
