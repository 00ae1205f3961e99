"""Many fine-tunes as one program (`fit_many`): equivalence with solo fits, independent dropout streams,
placements, the shared frozen conv stack, NaN naming the run, SIGKILL resume and two processes."""

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import flax.serialization
import jax
import numpy as np
import pytest

from recovery_jax.train.loop import NonFiniteLossError, fit_many, restore_runs
from recovery_jax.train.runs import split_shared, stack
from recovery_jax.train.step import make_train_step, merge_params, replicate, create_state
from recovery_jax.train.optim import make_optimizer
from recovery_jax.train.tasks import get_task, init_params
from train_helpers import MICRO, run_two_processes, tone_examples, train_config

SER = get_task("ser")
NO_DROPOUT = dataclasses.replace(MICRO, hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
                                 feat_proj_dropout=0.0, final_dropout=0.0)
STEPS = 12
WORKER = [sys.executable, str(Path(__file__).with_name("train_helpers.py")), "many"]
# Joint and solo runs compute the same sums in other orders (batched matmuls over the run axis; time padded to
# the widest run's bucket, masked out), so float32 rounding differs; Adam then turns the few last-bit gradient
# differences into parameter differences of a few 1e-6 after 12 steps, against moves of ~1e-2.
TOL = 5e-5


def _init(seed=0, config=MICRO):
    return jax.device_get(init_params(SER, config, jax.random.PRNGKey(seed)))


def _max_diff(a, b):
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in
               zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _solo(params, data, seed, config, tmp_path, name):
    """The run alone: its own seed in a job of the joint one's settings (whose seed orders the buckets)."""
    return fit_many(SER, config, [params], [data], train_config(STEPS), str(tmp_path / name), seeds=(seed,))[0]


@pytest.mark.parametrize("placement", ["data", "runs"])
def test_each_run_equals_its_solo_fit_without_dropout(tmp_path, placement):
    """Different heads (own inits), different data sizes, different seeds (shuffling), one shared conv stack."""
    backbone = _init(0, NO_DROPOUT)["backbone"]
    params = [{**_init(s, NO_DROPOUT), "backbone": backbone} for s in (1, 2)]
    data = [tone_examples(12, seed=1), tone_examples(20, seed=2)]
    config = train_config(STEPS)
    config.run_placement = placement
    joint = fit_many(SER, NO_DROPOUT, params, data, config, str(tmp_path / "joint"), seeds=(3, 4), names=("a", "b"))
    for r, (p, d, seed) in enumerate(zip(params, data, (3, 4))):
        solo = _solo(p, d, seed, NO_DROPOUT, tmp_path, f"solo{r}")
        assert _max_diff(joint[r], solo) <= TOL
        assert _max_diff(solo, p) > 100 * TOL  # the runs really trained
    for name in ("a", "b"):  # one series per run
        records = [json.loads(line) for line in (tmp_path / "joint" / "runs" / name / "metrics.jsonl").read_text()
                   .splitlines()]
        assert records[-1]["step"] == STEPS
        assert {"loss", "accuracy", "grad_norm", "learning_rate", "steps_per_s"} <= set(records[-1])


def test_a_runs_dropout_stream_does_not_depend_on_the_other_runs(tmp_path):
    params, data = _init(), tone_examples(16)
    config = train_config(STEPS)
    alone = fit_many(SER, MICRO, [params], [data], config, str(tmp_path / "alone"), seeds=[11])[0]
    together = fit_many(SER, MICRO, [params, _init(5)], [data, tone_examples(20, seed=3)], config,
                        str(tmp_path / "together"), seeds=[11, 12])[0]
    other_seed = fit_many(SER, MICRO, [params], [data], config, str(tmp_path / "seed"), seeds=[13])[0]
    assert _max_diff(alone, together) <= TOL
    assert _max_diff(alone, other_seed) > 100 * TOL  # dropout and shuffling really depend on the seed


def test_shared_frozen_conv_stack_gives_the_loss_and_gradients_of_per_run_stacks():
    """One plain conv over all runs' rows (shared) against each run's own (vmapped) copy of the same stack."""
    params = [_init(1), _init(2)]
    params[1]["backbone"]["feature_extractor"] = params[0]["backbone"]["feature_extractor"]
    optim = train_config().optim
    batch = {k: np.stack([v, v], axis=1) for k, v in _first_batch().items() if k != "index"}  # two runs
    outputs = []
    for prefixes in (optim.frozen, ()):  # shared conv stack, then nothing shared
        shared, own = split_shared(params, prefixes)
        tx = make_optimizer(optim, own[0], 10)
        step = make_train_step(SER.loss, SER.make_module(MICRO), tx, True, True, shared_conv=bool(shared))
        rngs = replicate(np.stack([np.asarray(jax.random.PRNGKey(s)) for s in (1, 2)]))
        state, sums = step(replicate(create_state(stack(own), tx)), batch, rngs, replicate(shared))
        outputs.append((jax.device_get(sums), [merge_params(shared, jax.tree.map(lambda x: x[0, r], state.params))
                                               for r in range(2)]))
    (sums_shared, trained_shared), (sums_own, trained_own) = outputs
    np.testing.assert_allclose(sums_shared["loss_sum"], sums_own["loss_sum"], rtol=1e-6)
    np.testing.assert_allclose(sums_shared["grad_norm"], sums_own["grad_norm"], rtol=1e-5)
    assert _max_diff(trained_shared, trained_own) <= 1e-6


def _first_batch():
    from recovery_jax.train.loop import batches
    return next(batches(tone_examples(8), 4, 12000, False, 0, False))


def test_nan_in_one_run_names_the_run_and_step_and_keeps_the_last_good_checkpoint(tmp_path):
    poisoned = tone_examples(16)
    poisoned.waveforms[5][100] = np.nan
    params = [_init(), _init()]
    config = train_config(16)
    with pytest.raises(NonFiniteLossError, match=r"run 'poisoned' at step (\d+)") as err:
        fit_many(SER, MICRO, params, [tone_examples(16), poisoned], config, str(tmp_path), names=("clean", "poisoned"))
    bad_step = int(str(err.value).split("at step ")[1].split()[0])
    step, restored = restore_runs(SER, MICRO, params, config, str(tmp_path))
    assert step is None or step < bad_step
    if step is not None:
        assert all(np.isfinite(x).all() for p in restored for x in jax.tree.leaves(p))


def test_bad_placement_is_refused_naming_the_key(tmp_path):
    config = train_config(4)
    config.run_placement = "runs"  # 3 runs on 2 devices
    with pytest.raises(ValueError, match="run_placement"):
        fit_many(SER, MICRO, [_init()] * 3, [tone_examples(8)] * 3, config, str(tmp_path))


# --- processes: SIGKILL + resume, and runs split over two processes ---

@pytest.fixture(scope="module")
def init_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("init") / "params.msgpack"
    path.write_bytes(flax.serialization.msgpack_serialize(_init()))
    return str(path)


def _worker_runs(workdir, process=0):
    with np.load(Path(workdir) / f"runs.{process}.npz") as f:
        return [f[f"arr_{i}"] for i in range(len(f.files))]


def _committed(workdir):
    folder = Path(workdir) / "checkpoints"
    return [int(p.name) for p in folder.iterdir() if p.name.isdigit()] if folder.is_dir() else []


@pytest.fixture(scope="module")
def uninterrupted_runs(init_file, tmp_path_factory):
    """Every run's params after an uninterrupted 'runs'-placement job in one process with two devices."""
    workdir = tmp_path_factory.mktemp("full")
    subprocess.run(WORKER + [init_file, str(workdir), "20", "runs"], check=True, capture_output=True, timeout=600)
    return _worker_runs(workdir)


@pytest.mark.slow
def test_sigkill_at_a_random_step_then_resume_equals_uninterrupted(tmp_path, init_file, uninterrupted_runs):
    command = WORKER + [init_file, str(tmp_path), "20", "runs"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # kill after 1-2 committed checkpoints (every 4 steps) and a little more: at least 8 of the 20 steps left
    wanted = int(np.random.default_rng().integers(1, 3))
    try:
        while len(_committed(tmp_path)) < wanted and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(float(np.random.default_rng().uniform(0, 0.1)))
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL, f"worker ended before the kill:\n{err[-3000:]}"
    assert max(_committed(tmp_path)) < 20
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    assert all(np.array_equal(x, y) for x, y in zip(_worker_runs(tmp_path), uninterrupted_runs))


@pytest.mark.slow
def test_runs_split_over_two_processes_equal_one_process(tmp_path, init_file, uninterrupted_runs):
    run_two_processes(WORKER + [init_file, str(tmp_path), "20", "runs"], timeout=600)
    for process in range(2):
        assert all(np.array_equal(x, y) for x, y in zip(_worker_runs(tmp_path, process), uninterrupted_runs))
