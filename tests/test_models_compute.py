"""Compute choices: remat changes neither params nor gradients; bfloat16 stays within its rounding, keeps params
and optimiser state float32; neither choice reaches config.json."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from recovery_jax.models import Wav2Vec2Config, load_hf, save_hf, with_compute
from recovery_jax.train.optim import make_optimizer
from recovery_jax.train.step import create_state, make_train_step, replicate, unreplicate
from recovery_jax.train.tasks import get_task, init_params
from recovery_jax.train.train import model_and_params
from train_helpers import MICRO, train_config

SER = get_task("ser")
# bfloat16 keeps 8 significant bits: rounding to nearest is off by at most 2^-9 relative per rounded value.
BF16_UNIT = 2.0 ** -9


@functools.cache
def _params():
    return jax.device_get(init_params(SER, MICRO, jax.random.PRNGKey(0)))


def _batch(devices: int = 1) -> dict:
    """Two padded utterances (the second shorter), split over `devices` for pmap."""
    audio = np.random.default_rng(0).standard_normal((2, 6000)).astype(np.float32)
    batch = {"audio": audio, "lengths": np.array([6000, 4500], np.int32), "labels": np.array([1, 3]),
             "weights": np.ones(2, np.float32)}
    return {k: v.reshape((devices, -1) + v.shape[1:]) for k, v in batch.items()}


@functools.cache
def _grads(config: Wav2Vec2Config):
    """Gradient of the SER loss in train mode (dropout on, conv stack trained)."""
    module, batch = SER.make_module(config), _batch()
    batch = {k: v[0] for k, v in batch.items()}
    loss = lambda p: SER.loss(p, batch, jax.random.PRNGKey(1), module, False, 2.0)  # noqa: E731
    (value, _), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(_params())
    return value, grads


@functools.cache
def _train(config: Wav2Vec2Config, steps: int = 2):
    """The project's pmapped step on 2 devices, conv stack not frozen: (state, last step's metric sums)."""
    params = _params()
    tx = make_optimizer(train_config(frozen=()).optim, params, 10)
    step = make_train_step(SER.loss, SER.make_module(config), tx, freeze_conv=False)
    state, rng = replicate(create_state(params, tx)), replicate(jax.random.PRNGKey(0))
    for _ in range(steps):
        state, sums = step(state, _batch(jax.local_device_count()), rng)
    return jax.device_get(unreplicate(state)), jax.device_get(unreplicate(sums))


def _paths(tree):
    return [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(tree)]


@pytest.mark.parametrize("remat", ["layers", "layers_and_conv"])
def test_remat_keeps_parameter_names(remat):
    shapes = lambda c: jax.eval_shape(SER.make_module(c).init, jax.random.PRNGKey(0),  # noqa: E731
                                      jnp.zeros((1, 4000)))["params"]
    plain, rematted = shapes(MICRO), shapes(dataclasses.replace(MICRO, remat=remat))
    assert _paths(rematted) == _paths(plain)
    assert jax.tree.map(lambda x: x.shape, rematted) == jax.tree.map(lambda x: x.shape, plain)


def test_remat_gives_the_same_gradients_and_train_steps():
    """Remat recomputes the same float32 ops (dropout masks included: the same rng per layer) in the backward
    pass. XLA may fuse the recomputation differently, so equality is asked to 1e-6 of each leaf's largest
    value: a different dropout mask or a lost gradient path moves gradients by O(1) of that."""
    rematted = dataclasses.replace(MICRO, remat="layers_and_conv")
    (loss, _), grads = _grads(MICRO)
    (loss_r, _), grads_r = _grads(rematted)
    assert float(loss_r) == pytest.approx(float(loss), rel=1e-6)
    for path, (a, b) in zip(_paths(grads), zip(jax.tree.leaves(grads), jax.tree.leaves(grads_r))):
        assert np.max(np.abs(a)) > 0, path  # every leaf gets a gradient: the comparison below means something
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6 * np.max(np.abs(a)), err_msg=path)
    state, sums = _train(MICRO)
    state_r, sums_r = _train(rematted)
    assert float(sums_r["grad_norm"]) == pytest.approx(float(sums["grad_norm"]), rel=1e-6)
    for path, (a, b) in zip(_paths(state.params), zip(jax.tree.leaves(state.params),
                                                       jax.tree.leaves(state_r.params))):
        # Adam's first updates are about lr * sign(gradient): an element whose gradient is ~0 may flip by 2 lr.
        np.testing.assert_allclose(b, a, rtol=0, atol=2.5 * train_config().optim.lr, err_msg=path)


def test_bfloat16_forward_within_rounding_of_float32():
    """Each hidden state, as RMS error relative to its RMS, within 40 bfloat16 roundings (2^-9 each).

    The bound: on the way from audio to the last layer the micro model rounds its activations to bfloat16 about
    40 times (7 conv blocks, projection, positional conv, 2 layers of q/k/v/scores/out/FFN/2 norms); independent
    roundings grow like their square root (about 6.3 x 2^-9 = 1.2e-2), and the normalisations keep gains near 1.
    40 x 2^-9 (7.8e-2) is the worst case of errors that all add up; a wrong cast, a lost mask or a float16-like
    overflow gives errors of order 1. Attention maps (computed from bfloat16 q, k) stay float32.
    """
    module, module_bf16 = SER.make_module(MICRO), SER.make_module(dataclasses.replace(MICRO, compute_dtype="bfloat16"))
    batch = {k: v[0] for k, v in _batch().items()}
    params = {"params": _params()}

    def run(m):
        return jax.jit(lambda p: m.apply(p, batch["audio"], batch["lengths"], output_hidden_states=True,
                                         output_attentions=True))(params)

    (logits, out), (logits_bf, out_bf) = run(module), run(module_bf16)
    assert out_bf.hidden_states.dtype == jnp.bfloat16 and out_bf.last_hidden_state.dtype == jnp.bfloat16
    assert out_bf.attentions.dtype == jnp.float32 and logits_bf.dtype == jnp.float32
    valid = np.asarray(out.frame_mask)[:, None, :, None]
    ref, got = np.asarray(out.hidden_states), np.asarray(out_bf.hidden_states, np.float32)
    rms = lambda x: np.sqrt((np.square(x) * valid).sum(axis=(0, 2, 3)) / (valid.sum() * x.shape[-1]))  # noqa: E731
    relative = rms(got - ref) / rms(ref)
    print("bfloat16 hidden states, RMS error / RMS per state:", relative)
    assert np.all(relative < 40 * BF16_UNIT), relative
    assert np.all(relative > 0)  # bfloat16 really computed
    attention_error = np.abs(np.asarray(out_bf.attentions) - np.asarray(out.attentions)).max()
    assert attention_error < 40 * BF16_UNIT, attention_error


def test_bfloat16_train_step_keeps_params_and_optimiser_float32():
    """Gradients point where float32's do (cosine > 0.99 per leaf group), and the step keeps float32 state."""
    bf16 = dataclasses.replace(MICRO, compute_dtype="bfloat16")
    (_, _), grads = _grads(MICRO)
    (_, _), grads_bf = _grads(bf16)
    flat = lambda t: np.concatenate([np.ravel(x) for x in jax.tree.leaves(t)])  # noqa: E731
    for key in grads:
        a, b = flat(grads[key]), flat(grads_bf[key]).astype(np.float64)
        assert flat(grads_bf[key]).dtype == np.float32
        assert a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.99, key
    state, sums = _train(bf16, steps=1)
    assert {x.dtype for x in jax.tree.leaves(state.params)} == {np.dtype(np.float32)}
    assert {x.dtype for x in jax.tree.leaves(state.opt_state) if np.ndim(x)} == {np.dtype(np.float32)}
    assert np.isfinite(sums["loss_sum"]) and np.isfinite(sums["grad_norm"])
    moved = [not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(_params()), jax.tree.leaves(state.params))]
    assert all(moved)


def test_compute_choices_stay_out_of_config_json(tmp_path):
    config = dataclasses.replace(MICRO, remat="layers", compute_dtype="bfloat16")
    assert "remat" not in config.to_dict() and "compute_dtype" not in config.to_dict()
    save_hf(tmp_path, config, _params())
    text = (tmp_path / "config.json").read_text()
    assert "remat" not in text and "bfloat16" not in text
    loaded, _ = load_hf(tmp_path)
    assert (loaded.remat, loaded.compute_dtype) == ("none", "float32")
    assert loaded == MICRO


def test_training_config_compute_section_reaches_the_model_with_clear_errors():
    c = ml_collections.ConfigDict(dict(task="ser", seed=0, init="", model=MICRO.to_dict(),
                                       compute=dict(remat="layers", compute_dtype="bfloat16")))
    model_config, params = model_and_params(c)
    assert (model_config.remat, model_config.compute_dtype) == ("layers", "bfloat16")
    assert {x.dtype for x in jax.tree.leaves(params)} == {np.dtype(np.float32)}
    with pytest.raises(ValueError, match=r"config.compute: unknown keys \['dtype'\]"):
        with_compute(MICRO, {"dtype": "bfloat16"}, "config.compute")
    with pytest.raises(ValueError, match=r"config.compute: remat must be one of .* got 'all'"):
        with_compute(MICRO, {"remat": "all"}, "config.compute")
    with pytest.raises(ValueError, match=r"config.compute: compute_dtype must be one of .* got 'float16'"):
        with_compute(MICRO, {"compute_dtype": "float16"}, "config.compute")
