"""The fine-tuning engine on a micro model: learning, frozen encoder, accumulation, NaN stop.

Resume and multi-process exactness: test_train_resume.py."""

import functools
import json

import jax
import numpy as np
import pytest

from recovery_jax.train.loop import NonFiniteLossError, fit, predict, restore_runs
from recovery_jax.train.optim import make_optimizer
from recovery_jax.train.tasks import get_task, init_params
from train_helpers import MICRO, tone_examples, train_config

SER = get_task("ser")


@functools.cache
def _init():
    return jax.device_get(init_params(SER, MICRO, jax.random.PRNGKey(0)))  # read-only by fit and the tests


def _update(tx, grads, state, params):
    return jax.jit(tx.update)(grads, state, params)  # one compile instead of hundreds of eager leaf ops


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_two_local_devices_are_used():
    assert jax.local_device_count() == 2  # conftest: the pmap step really runs on 2 devices


def test_loss_falls_conv_stack_frozen_transformer_moves(tmp_path):
    params = _init()
    data = tone_examples(32)
    trained = fit(SER, MICRO, params, data, train_config(60, lr=3e-3), str(tmp_path))
    for before, after in zip(_leaves(params["backbone"]["feature_extractor"]),
                             _leaves(trained["backbone"]["feature_extractor"])):
        assert np.array_equal(before, after)
    moved = [not np.array_equal(b, a) for b, a in zip(_leaves(params["backbone"]["encoder"]),
                                                       _leaves(trained["backbone"]["encoder"]))]
    assert all(moved)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 60 and records[-1]["loss"] < 0.7 * records[0]["loss"]
    assert {"steps_per_s", "eta_s"} <= set(records[0])
    predictions = np.array(predict(SER, MICRO, trained, tone_examples(16, seed=1), 8, 4000)["prediction"])
    assert (predictions == tone_examples(16, seed=1).labels).mean() >= 0.6


def test_frozen_mask_gives_zero_update_even_with_nonzero_gradient():
    params = _init()
    tx = make_optimizer(train_config().optim, params, 10)
    grads = jax.tree.map(np.ones_like, params)
    updates, _ = _update(tx, grads, jax.jit(tx.init)(params), params)
    assert all(np.all(u == 0) for u in _leaves(updates["backbone"]["feature_extractor"]))
    assert all(np.any(u != 0) for u in _leaves(updates["classifier"]))


def test_head_lr_scale_multiplies_only_the_heads_first_update():
    params = _init()
    grads = jax.tree.map(np.ones_like, params)
    first = {}
    for scale in (1.0, 10.0):
        optim = train_config().optim
        optim.head_lr_scale = scale
        tx = make_optimizer(optim, params, 10)
        first[scale], _ = _update(tx, grads, jax.jit(tx.init)(params), params)
    head = lambda u: np.concatenate([np.ravel(x) for x in _leaves(u["classifier"])])  # noqa: E731
    np.testing.assert_allclose(head(first[10.0]), 10 * head(first[1.0]), rtol=1e-5)
    trained = [k for k in params["backbone"] if k != "feature_extractor"][0]
    for a, b in zip(_leaves(first[10.0]["backbone"][trained]), _leaves(first[1.0]["backbone"][trained])):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert all(np.all(u == 0) for u in _leaves(first[10.0]["backbone"]["feature_extractor"]))


def test_accumulation_applies_one_update_every_k_microbatches():
    params = _init()
    tx = make_optimizer(train_config(accum_steps=4).optim, params, 10)
    state, grads = jax.jit(tx.init)(params), jax.tree.map(np.ones_like, params)
    for micro in range(1, 5):
        updates, state = _update(tx, grads, state, params)
        applied = any(np.any(u != 0) for u in _leaves(updates["classifier"]))
        assert applied == (micro == 4)


def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path):
    data = tone_examples(16)
    data.waveforms[5][100] = np.nan  # one poisoned clip reaches the loss at some step
    with pytest.raises(NonFiniteLossError, match=r"at step (\d+)") as err:
        fit(SER, MICRO, _init(), data, train_config(16), str(tmp_path))
    bad_step = int(err.value.args[0].split("at step ")[1].split()[0])
    step, (params,) = restore_runs(SER, MICRO, [_init()], train_config(16), str(tmp_path))
    assert step is None or step < bad_step
    if step is not None:
        assert all(np.isfinite(x).all() for x in _leaves(params))
