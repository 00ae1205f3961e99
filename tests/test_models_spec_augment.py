"""Fine-tuning's SpecAugment masks and LayerDrop: HF's distribution, train mode only, a pure function of the rng."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices

from recovery_jax.models import Wav2Vec2Model, feature_lengths
from recovery_jax.models.spec_augment import span_mask, with_augment
from recovery_jax.train.loop import fit
from recovery_jax.train.tasks import get_task, init_params
from train_helpers import MICRO, tone_examples, train_config

DRAWS = 2000


def _ours(frames, width, prob, length, min_masks):
    draw = jax.jit(jax.vmap(lambda key: span_mask(key, jnp.asarray(frames), width, prob, length, min_masks)))
    return np.asarray(draw(jax.random.split(jax.random.PRNGKey(0), DRAWS)))


def _hf(frames, width, prob, length, min_masks, attention):
    np.random.seed(0)
    mask = torch.from_numpy((np.arange(width)[None] < np.asarray(frames)[:, None]).astype(np.int64))
    return np.stack([_compute_mask_indices((len(frames), width), prob, length, mask if attention else None, min_masks)
                     for _ in range(DRAWS)])


def _runs(mask):
    """Lengths of the runs of consecutive masked entries, over all draws and rows."""
    edges = np.diff(np.pad(mask.reshape(-1, mask.shape[-1]).astype(np.int8), ((0, 0), (1, 1))), axis=-1)
    starts = np.nonzero(edges == 1)[1]
    ends = np.nonzero(edges == -1)[1]
    return ends - starts


@pytest.mark.parametrize("frames, width, prob, length, min_masks, attention", [
    ([149, 120, 60, 31], 149, 0.3, 10, 2, True),  # time axis, padded batch: wav2vec2-base's fine-tuning shape
    ([49, 49, 49], 49, 0.65, 4, 2, True),  # dense masking: spans overlap a lot
    ([64, 64], 64, 0.2, 8, 0, False),  # feature axis: no padding, no minimum, zero spans happen
    ([40, 25], 40, 0.0, 5, 2, True),  # only the minimum: exactly two spans per row
])
def test_masks_follow_hf_compute_mask_indices(frames, width, prob, length, min_masks, attention):
    ours, hf = _ours(frames, width, prob, length, min_masks), _hf(frames, width, prob, length, min_masks, attention)
    assert ours.shape == hf.shape == (DRAWS, len(frames), width)
    for b, n in enumerate(frames):
        assert not ours[:, b, n:].any()  # padding never masked
    # every masked run is a union of whole spans; a row with a minimum has at least one
    assert _runs(ours).min() >= length
    assert (ours.sum(-1) >= min(min_masks, 1) * length).all()
    np.testing.assert_allclose(ours.sum(-1).mean(0), hf.sum(-1).mean(0), rtol=0.03)  # masked frames per row
    np.testing.assert_allclose(ours.sum(-1).std(0), hf.sum(-1).std(0), rtol=0.1, atol=0.5)
    np.testing.assert_allclose(ours.mean(0), hf.mean(0), atol=0.06)  # where: each frame's masking rate
    ours_runs, hf_runs = _runs(ours), _runs(hf)
    assert abs(ours_runs.mean() - hf_runs.mean()) < 0.05 * hf_runs.mean()  # span lengths: overlap statistics
    for k in (1, 2):  # share of runs made of exactly one and of (up to) two spans
        within = lambda runs: np.mean(runs <= k * length)
        assert abs(within(ours_runs) - within(hf_runs)) < 0.03


def _tiny(**overrides):
    return dataclasses.replace(MICRO, **overrides)  # MICRO masks nothing


AUDIO = np.random.default_rng(0).standard_normal((2, 8000)).astype(np.float32)
LENGTHS = np.array([8000, 5000])


@pytest.fixture(scope="module")
def params():
    return jax.jit(Wav2Vec2Model(MICRO).init)(jax.random.PRNGKey(0), jnp.asarray(AUDIO))["params"]


@functools.lru_cache(maxsize=None)
def _apply(config, train):
    def apply(params, key):
        out, state = Wav2Vec2Model(config).apply(
            {"params": params}, AUDIO, LENGTHS, deterministic=not train, output_hidden_states=True,
            rngs={"dropout": key} if train else {}, mutable=["intermediates"])
        return out, state.get("intermediates", {})
    return jax.jit(apply)


def _run(params, config, train=True, key=jax.random.PRNGKey(3)):
    """(backbone output, what it drew: masks and layer skips) in train or eval mode."""
    return _apply(config, train)(params, key)


ALL_ON = dict(mask_time_prob=0.5, mask_time_length=3, mask_feature_prob=0.3, mask_feature_length=4, layerdrop=0.5)


def test_time_masks_replace_valid_frames_and_feature_masks_zero_channels(params):
    """HF `_mask_hidden_states` order: masked_spec_embed at masked frames, then whole channels zeroed."""
    config = _tiny(mask_time_prob=0.5, mask_time_length=3, mask_feature_prob=0.3, mask_feature_length=4)
    frame_mask = np.arange(24)[None] < feature_lengths(MICRO, LENGTHS)[:, None]
    hidden = np.random.default_rng(1).standard_normal((2, 24, MICRO.hidden_size)).astype(np.float32)
    out, state = Wav2Vec2Model(config).apply(
        {"params": params}, hidden, frame_mask, None, False, rngs={"dropout": jax.random.PRNGKey(2)},
        method=lambda m, *args: m._mask_hidden_states(*args), mutable=["intermediates"])
    time = np.asarray(state["intermediates"]["mask_time_indices"][0])
    channels = np.asarray(state["intermediates"]["mask_feature_indices"][0])
    assert time[0].any() and time[1].any() and not (time & ~frame_mask).any()
    assert channels.any(-1).all() and not channels.all()
    expected = np.where(time[:, :, None], np.asarray(params["masked_spec_embed"]), hidden)
    np.testing.assert_array_equal(out, np.where(channels[:, None, :], 0.0, expected))


def test_eval_mode_never_masks_nor_drops_layers(params):
    out, drawn = _run(params, _tiny(**ALL_ON), train=False)
    ref, _ = _run(params, _tiny(), train=False)
    assert drawn == {}
    np.testing.assert_array_equal(out.hidden_states, ref.hidden_states)


def test_off_switches_are_off_and_masking_takes_its_own_draws(params):
    """apply_spec_augment=False and layerdrop=0 give exactly the unmasked train step; masks that cannot fit
    (3 frames < length 30) leave it unchanged too, so drawing them does not shift the dropout streams."""
    ref, _ = _run(params, _tiny())
    switched, drawn = _run(params, _tiny(**{**ALL_ON, "layerdrop": 0.0}, apply_spec_augment=False))
    assert drawn == {}
    np.testing.assert_array_equal(switched.last_hidden_state, ref.last_hidden_state)
    unfit, drawn = _run(params, _tiny(mask_time_prob=0.5, mask_time_length=30))
    assert not drawn["mask_time_indices"][0].any()
    np.testing.assert_array_equal(unfit.last_hidden_state, ref.last_hidden_state)


def test_same_rng_same_masks_other_step_other_masks(params):
    config = _tiny(**ALL_ON)
    keys = [jax.random.fold_in(jax.random.PRNGKey(1337), step) for step in (7, 7, 8)]
    runs = [_run(params, config, key=k)[1] for k in keys]
    leaves = [[np.asarray(x) for x in jax.tree.leaves(r)] for r in runs]
    assert len(leaves[0]) == 3  # time mask, feature mask, layer skips
    assert all(np.array_equal(x, y) for x, y in zip(leaves[0], leaves[1]))
    assert not all(np.array_equal(x, y) for x, y in zip(leaves[0], leaves[2]))


def test_layerdrop_one_skips_every_layer_and_half_skips_half(params):
    out, drawn = _run(params, _tiny(layerdrop=1.0))
    assert np.asarray(drawn["encoder"]["layerdrop_skip"][0]).all()
    for i in range(1, MICRO.num_hidden_layers + 1):
        np.testing.assert_array_equal(out.hidden_states[:, i], out.hidden_states[:, 0])
    np.testing.assert_array_equal(out.last_hidden_state, out.hidden_states[:, 0])  # post-LN: no final LN
    draw = jax.jit(jax.vmap(lambda key: _apply(_tiny(layerdrop=0.5), True)(params, key)[1]["encoder"]))
    skips = np.asarray(draw(jax.random.split(jax.random.PRNGKey(4), 200))["layerdrop_skip"][0])
    assert abs(skips.mean() - 0.5) < 0.06
    assert not skips.all(1).all()  # one draw per layer, not one per step


def _gradient(config, key=5):
    task = get_task("ser")
    params = init_params(task, config, jax.random.PRNGKey(0))
    batch = {"audio": AUDIO, "lengths": LENGTHS, "labels": np.array([0, 1]), "weights": np.ones(2, np.float32)}
    grads = jax.jit(jax.grad(lambda p: task.loss(p, batch, jax.random.PRNGKey(key), task.make_module(config), True,
                                                 2.0)[0]))
    return grads(params)["backbone"]


def test_masked_spec_embed_learns_only_when_masking_and_skipped_layers_not_at_all():
    grads = _gradient(_tiny(mask_time_prob=0.5, mask_time_length=3, layerdrop=1.0))
    assert np.abs(grads["masked_spec_embed"]).max() > 0
    assert not any(np.asarray(g).any() for g in jax.tree.leaves(grads["encoder"]["layers_1"]))
    assert not np.asarray(_gradient(_tiny())["masked_spec_embed"]).any()


def test_resume_with_masks_and_layerdrop_equals_uninterrupted(tmp_path):
    params = jax.device_get(init_params(get_task("ser"), MICRO, jax.random.PRNGKey(0)))

    def run(steps, workdir, augment=True):
        config = train_config(steps)
        if augment:
            config.augment = dict(mask_time_prob=0.3, mask_time_length=3, layerdrop=0.3)
        trained = fit(get_task("ser"), MICRO, params, tone_examples(16), config, str(tmp_path / workdir))
        return [np.asarray(x) for x in jax.tree.leaves(trained)]

    full = run(8, "full")
    run(4, "resumed")
    assert all(np.array_equal(x, y) for x, y in zip(run(8, "resumed"), full))
    assert not all(np.array_equal(x, y) for x, y in zip(run(8, "plain", augment=False), full))


def test_augment_section_overrides_by_name():
    config = with_augment(MICRO, {"layerdrop": 0.2, "mask_time_prob": None})
    assert config.layerdrop == 0.2 and config.mask_time_prob == MICRO.mask_time_prob
    with pytest.raises(ValueError, match="config.augment.mask_prob"):
        with_augment(MICRO, {"mask_prob": 0.1})
    with pytest.raises(ValueError, match="config.augment: layerdrop"):
        with_augment(MICRO, {"layerdrop": 1.5})
