"""Run-to-run determinism: JAX CPU training from a seed is bitwise reproducible, dropout included."""

import numpy as np

from configs.determinism import MICRO, get_config
from recovery_jax.determinism import jax_side, runs
from recovery_jax.determinism.inputs import build_random_checkpoint


def _batches(steps=2, batch=4, samples=4000):
    rng = np.random.default_rng(0)
    return [(rng.standard_normal((batch, samples)).astype(np.float32), np.arange(batch, dtype=np.int32) % 4)
            for _ in range(steps)]


def test_jax_cpu_training_is_bitwise_reproducible_from_a_seed(tmp_path):
    folder = build_random_checkpoint(str(tmp_path / "ckpt"), {**MICRO, "num_labels": 4, "hidden_dropout": 0.1},
                                     seed=0)
    optim = get_config("quick").optim
    optim.lr = 1e-3  # large enough that a step visibly moves every trained layer
    result = runs.train_twice(jax_side, folder, _batches(), optim, seed=3)
    assert all(s["bitwise_equal"] and s["loss_a"] == s["loss_b"] for s in result["steps"])
    assert all(d.bitwise_equal for d in result["per_layer_at_end"].values())
