"""Exactness against one uninterrupted 2-device run: in-process resume, SIGKILL + resume, two processes."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import flax.serialization
import jax
import numpy as np
import pytest

from recovery_jax.train.loop import fit
from recovery_jax.train.tasks import get_task, init_params
from train_helpers import MICRO, run_two_processes, tone_examples, train_config

STEPS = 20  # checkpoints every 4 (train_config), so a kill after the first one leaves most of the run
WORKER = [sys.executable, str(Path(__file__).with_name("train_helpers.py")), "fit"]


@pytest.fixture(scope="module")
def init(tmp_path_factory):
    """(params, msgpack file of them): every run below starts from these."""
    params = jax.device_get(init_params(get_task("ser"), MICRO, jax.random.PRNGKey(0)))
    path = tmp_path_factory.mktemp("init") / "params.msgpack"
    path.write_bytes(flax.serialization.msgpack_serialize(params))
    return params, str(path)


def _fit(init, workdir, steps):
    return jax.tree.leaves(fit(get_task("ser"), MICRO, init[0], tone_examples(16), train_config(steps), str(workdir)))


@pytest.fixture(scope="module")
def uninterrupted(init, tmp_path_factory):
    """Final params of one run in this process (2 local devices), the same run the workers do."""
    return _fit(init, tmp_path_factory.mktemp("full"), STEPS)


def _assert_identical(leaves, expected):
    assert len(leaves) == len(expected)
    assert all(np.array_equal(x, y) for x, y in zip(leaves, expected))


def _worker_params(workdir, process=0):
    with np.load(workdir / f"params.{process}.npz") as f:
        return [f[f"arr_{i}"] for i in range(len(f.files))]


def test_resume_in_process_equals_uninterrupted(tmp_path, init, uninterrupted):
    """Also run-to-run determinism: two separate fits from one seed end bit-identical."""
    _fit(init, tmp_path, 12)
    _assert_identical(_fit(init, tmp_path, STEPS), uninterrupted)


def _committed_steps(workdir):
    folder = workdir / "checkpoints"
    return [int(p.name) for p in folder.iterdir() if p.name.isdigit()] if folder.is_dir() else []


def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path, init, uninterrupted):
    command = WORKER + [init[1], str(tmp_path), str(STEPS)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while not _committed_steps(tmp_path) and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL, f"worker ended before the kill:\n{err[-3000:]}"
    assert max(_committed_steps(tmp_path)) < STEPS and not (tmp_path / "params.0.npz").exists()
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    _assert_identical(_worker_params(tmp_path), uninterrupted)


def test_two_processes_one_device_each_equal_one_process_two_devices(tmp_path, init, uninterrupted):
    run_two_processes(WORKER + [init[1], str(tmp_path), str(STEPS)], timeout=300)
    for process in range(2):
        _assert_identical(_worker_params(tmp_path, process), uninterrupted)
    assert max(_committed_steps(tmp_path)) == STEPS
