"""JAX vs PyTorch: the report's differences are computed from the weights, not constants."""

import shutil

import numpy as np
from safetensors.numpy import load_file, save_file

from configs.determinism import MICRO
from recovery_jax.determinism.frameworks import forward_difference
from recovery_jax.determinism.inputs import build_random_checkpoint

WEIGHT = "wav2vec2.encoder.layers.0.attention.q_proj.weight"


def _perturbed_copy(folder, target):
    shutil.copytree(folder, target)
    state = load_file(f"{target}/model.safetensors")
    state[WEIGHT][0, 0] += 0.5
    save_file(state, f"{target}/model.safetensors", metadata={"format": "pt"})
    return str(target)


def test_perturbing_one_weight_changes_the_cross_framework_difference(tmp_path):
    folder = build_random_checkpoint(str(tmp_path / "a"), {**MICRO, "num_labels": 4}, seed=0)
    audio = np.random.default_rng(0).standard_normal((2, 4000)).astype(np.float32)
    before = forward_difference(folder, audio)
    after = forward_difference(_perturbed_copy(folder, tmp_path / "b"), audio)
    assert set(before) == {"hidden_states[0]", "hidden_states[1]", "hidden_states[2]", "attentions[0]",
                           "attentions[1]", "last_hidden_state"}
    for diffs in (before, after):  # the frameworks agree to float32 parity, but not bit for bit
        assert all(d.max_abs < 1e-4 for d in diffs.values())
        assert not all(d.bitwise_equal for d in diffs.values())
    # the conv stack is upstream of the weight and untouched; layer 0's attention onwards must move
    assert before["hidden_states[0]"] == after["hidden_states[0]"]
    for name in ("attentions[0]", "hidden_states[1]", "attentions[1]", "last_hidden_state"):
        assert before[name].mean_abs != after[name].mean_abs
