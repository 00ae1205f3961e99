"""The difference measures: ulps on known float32 pairs, diffs, layer grouping, lockstep trajectories."""

import numpy as np
import pytest

from recovery_jax.determinism.compare import diff, diff_named, param_group, trajectory_diff, ulp_distance

F32 = np.float32
TINY = np.finfo(F32).smallest_subnormal


@pytest.mark.parametrize("a, b, ulps", [
    (1.0, np.nextafter(F32(1), F32(2)), 1),
    (1.0, 1.0 + 3 * 2.0 ** -23, 3),
    (1.0, 1.0 - 2.0 ** -24, 1),  # below 1 the spacing halves
    (0.0, -0.0, 0),
    (TINY, -TINY, 2),  # across zero: -tiny, (-)0, tiny
    (0.0, np.finfo(F32).tiny, 2 ** 23),  # every subnormal lies between
    (-2.0, -2.0 - 2.0 ** -22, 1),
    (np.finfo(F32).max, np.inf, 1),
    (-1.0, 1.0, 2 * 0x3F800000),
])
def test_ulp_distance_on_known_pairs(a, b, ulps):
    assert ulp_distance(np.array([a], F32), np.array([b], F32))[0] == ulps
    assert ulp_distance(np.array([b], F32), np.array([a], F32))[0] == ulps


def test_diff_tells_bits_from_values():
    a = np.array([[1.0, -3.0], [0.5, 0.0]], F32)
    assert diff(a, a.copy()).bitwise_equal
    signed_zero = a.copy()
    signed_zero[1, 1] = -0.0
    d = diff(a, signed_zero)
    assert not d.bitwise_equal and d.max_abs == 0.0 and d.max_ulp == 0
    b = a.copy()
    b[0, 1] = np.nextafter(F32(-3), F32(-4))
    d = diff(a, b)
    assert (d.max_ulp, d.max_abs) == (1, 2.0 ** -22) and d.ulps_at_scale == 1.0
    with pytest.raises(ValueError, match="shapes differ"):
        diff(a, a[0])


def test_diff_named_groups_by_layer():
    names = ["wav2vec2.encoder.layers.0.attention.k_proj.weight", "wav2vec2.encoder.layers.0.final_layer_norm.bias",
             "wav2vec2.encoder.layers.1.feed_forward.output_dense.bias", "wav2vec2.feature_extractor.conv_layers.0.conv"
             ".weight", "wav2vec2.encoder.pos_conv_embed.conv.bias", "classifier.weight"]
    assert [param_group(n) for n in names] == ["encoder.layers.0", "encoder.layers.0", "encoder.layers.1",
                                               "feature_extractor", "encoder.pos_conv_embed", "classifier"]
    a = {n: np.full(3, i, F32) for i, n in enumerate(names)}
    b = dict(a, **{names[1]: a[names[1]] + 0.5})
    groups = diff_named(a, b, group=param_group)
    assert groups["encoder.layers.0"].max_abs == 0.5 and not groups["encoder.layers.0"].bitwise_equal
    assert all(d.bitwise_equal for g, d in groups.items() if g != "encoder.layers.0")
    with pytest.raises(ValueError, match="names differ"):
        diff_named(a, {})


def test_trajectory_diff_steps_in_lockstep():
    def run(drift):
        for step in range(3):
            yield 1.0 / (step + 1), {"encoder.layers.0.w": np.full(2, step + drift * step, F32)}
    t = trajectory_diff(run(0.0), run(0.25))
    assert [s["max_abs"] for s in t["steps"]] == [0.0, 0.25, 0.5]
    assert [s["bitwise_equal"] for s in t["steps"]] == [True, False, False]
    assert t["per_layer_at_end"]["encoder.layers.0"].max_abs == 0.5
    assert list(t["worst_at_end"]) == ["encoder.layers.0.w"]
