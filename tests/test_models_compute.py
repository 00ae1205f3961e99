"""Compute choices: remat changes neither params nor gradients; bfloat16 stays within its rounding, keeps params
and optimiser state float32; neither choice reaches config.json."""

import dataclasses
import functools
import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from recovery_jax.models import Wav2Vec2Config, load_hf, save_hf, with_compute
from recovery_jax.train.loop import fit
from recovery_jax.train.tasks import get_task, init_params
from recovery_jax.train.train import model_and_params
from train_helpers import MICRO, tone_examples, train_config

SER = get_task("ser")
# bfloat16 keeps 8 significant bits: rounding to nearest is off by at most 2^-9 relative per rounded value.
BF16_UNIT = 2.0 ** -9


@functools.cache
def _params():
    return jax.device_get(init_params(SER, MICRO, jax.random.PRNGKey(0)))


def _batch() -> dict:
    """Two utterances, the second padded."""
    audio = np.random.default_rng(0).standard_normal((2, 6000)).astype(np.float32)
    return {"audio": audio, "lengths": np.array([6000, 4500], np.int32), "labels": np.array([1, 3]),
            "weights": np.ones(2, np.float32)}


@functools.cache
def _grads(config: Wav2Vec2Config):
    """Gradient of the SER loss in train mode (dropout on, conv stack trained)."""
    module, batch = SER.make_module(config), _batch()
    loss = lambda p: SER.loss(p, batch, jax.random.PRNGKey(1), module, False, 2.0)  # noqa: E731
    (value, _), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(_params())
    return value, grads


def _train(config: Wav2Vec2Config, workdir, steps: int = 2):
    """`fit` on 2 devices, conv stack trained, dropout on: (final params, metrics.jsonl's last record)."""
    params = fit(SER, config, _params(), tone_examples(8), train_config(steps, frozen=()), str(workdir))
    return params, json.loads((workdir / "metrics.jsonl").read_text().splitlines()[-1])


def _paths(tree):
    return [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(tree)]


@pytest.mark.parametrize("remat", ["layers", "layers_and_conv"])
def test_remat_keeps_parameter_names(remat):
    shapes = lambda c: jax.eval_shape(SER.make_module(c).init, jax.random.PRNGKey(0),  # noqa: E731
                                      jnp.zeros((1, 4000)))["params"]
    plain, rematted = shapes(MICRO), shapes(dataclasses.replace(MICRO, remat=remat))
    assert _paths(rematted) == _paths(plain)
    assert jax.tree.map(lambda x: x.shape, rematted) == jax.tree.map(lambda x: x.shape, plain)


def test_remat_gives_the_same_gradients_and_train_steps(tmp_path):
    """Remat recomputes the same float32 ops (dropout masks included: the same rng per layer) in the backward
    pass, but XLA fuses and orders the recomputed program differently: not bitwise (measured here: up to 6.6e-7
    of a tensor's largest gradient, about 6 float32 eps). Asked: 1e-5 of each tensor's largest value, plus 1e-9
    of the largest gradient overall for tensors whose exact gradient is zero (attention k_proj biases: softmax
    ignores them; they hold rounding noise ~1e-12 of the largest gradient). A different dropout mask or a lost
    gradient path moves gradients by O(1) of their size. The loss too is only equal to float32 rounding: the
    hashed dropout masks (models/dropout.py) fuse into the ops that use them, and remat fuses those differently
    (measured: 1 ulp)."""
    rematted = dataclasses.replace(MICRO, remat="layers_and_conv")
    loss, grads = _grads(MICRO)
    loss_r, grads_r = _grads(rematted)
    assert float(loss_r) == pytest.approx(float(loss), rel=4 * float(np.finfo(np.float32).eps))
    largest = max(np.max(np.abs(g)) for g in jax.tree.leaves(grads))
    for path, (a, b) in zip(_paths(grads), zip(jax.tree.leaves(grads), jax.tree.leaves(grads_r))):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-5 * np.max(np.abs(a)) + 1e-9 * largest, err_msg=path)
    steps, lr = 2, train_config().optim.lr
    params, record = _train(MICRO, tmp_path / "plain", steps)
    params_r, record_r = _train(rematted, tmp_path / "remat", steps)
    assert record_r["loss"] == pytest.approx(record["loss"], rel=1e-6)
    for path, (a, b) in zip(_paths(params), zip(jax.tree.leaves(params), jax.tree.leaves(params_r))):
        # Adam moves each element by about lr per step whatever the gradient's size, so a 1e-6 relative gradient
        # difference moves params by ~1e-6 lr; noise-only gradients (k_proj biases) may flip sign: 2 lr a step.
        noise_only = "k_proj" in path and "bias" in path
        np.testing.assert_allclose(b, a, rtol=0, atol=2 * lr * steps if noise_only else 1e-3 * lr, err_msg=path)


def test_bfloat16_forward_within_rounding_of_float32():
    """Each hidden state, as RMS error relative to its RMS, within 40 bfloat16 roundings (2^-9 each).

    The bound: on the way from audio to the last layer the micro model rounds its activations to bfloat16 about
    40 times (7 conv blocks, projection, positional conv, 2 layers of q/k/v/scores/out/FFN/2 norms); independent
    roundings grow like their square root (about 6.3 x 2^-9 = 1.2e-2), and the normalisations keep gains near 1.
    40 x 2^-9 (7.8e-2) is the worst case of errors that all add up; a wrong cast, a lost mask or a float16-like
    overflow gives errors of order 1. Attention maps (computed from bfloat16 q, k) stay float32.
    """
    module, module_bf16 = SER.make_module(MICRO), SER.make_module(dataclasses.replace(MICRO, compute_dtype="bfloat16"))
    batch = _batch()
    params = {"params": _params()}

    def run(m):
        return jax.jit(lambda p: m.apply(p, batch["audio"], batch["lengths"], output_hidden_states=True,
                                         output_attentions=True))(params)

    (_, out), (logits_bf, out_bf) = run(module), run(module_bf16)
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


def test_bfloat16_training_keeps_params_float32(tmp_path):
    """Gradients (hence Adam's moments) are float32 and point where float32's do (cosine > 0.999 per top-level
    group); `fit` trains every parameter and returns float32 params."""
    bf16 = dataclasses.replace(MICRO, compute_dtype="bfloat16")
    _, grads = _grads(MICRO)
    _, grads_bf = _grads(bf16)
    flat = lambda t: np.concatenate([np.ravel(x) for x in jax.tree.leaves(t)])  # noqa: E731
    for key in grads:
        a, b = flat(grads[key]), flat(grads_bf[key]).astype(np.float64)
        assert flat(grads_bf[key]).dtype == np.float32
        assert a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.999, key
    params, record = _train(bf16, tmp_path)
    assert {x.dtype for x in jax.tree.leaves(params)} == {np.dtype(np.float32)}
    assert np.isfinite(record["loss"])
    before = _params()
    for path in (("classifier", "kernel"),
                 ("backbone", "encoder", "layers_0", "feed_forward", "output_dense", "kernel"),
                 ("backbone", "feature_extractor", "conv_layers_0", "conv", "kernel")):
        a, b = functools.reduce(lambda t, k: t[k], path, before), functools.reduce(lambda t, k: t[k], path, params)
        assert not np.array_equal(a, b), path


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
