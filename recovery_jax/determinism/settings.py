"""The knobs that govern determinism and speed, each measured in its own child process.

XLA reads XLA_FLAGS (and its CPU thread pool size) once, when the backend starts, so a setting cannot be
switched inside one process: every setting gets a fresh interpreter (`recovery_jax.determinism.timing`),
which times the forward, checks that two calls agree bitwise, and saves the last hidden state so the parent
can say how far the setting moves the numbers from that framework's defaults.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from recovery_jax.determinism.compare import diff

_REPO_ROOT = str(Path(__file__).resolve().parents[2])


@dataclasses.dataclass(frozen=True)
class Setting:
    key: str
    framework: str  # "jax" | "torch"
    what: str  # as a user would write it
    scope: str = ""  # where it can matter
    xla_flags: str = ""
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)  # jax.config names, or TORCH_KNOBS
    compute: dict[str, str] = dataclasses.field(default_factory=dict)  # our model's compute choices (jax only)


SETTINGS = {s.key: s for s in (
    Setting("jax/default", "jax", "no flags"),
    Setting("jax/xla_gpu_deterministic_ops", "jax", "XLA_FLAGS=--xla_gpu_deterministic_ops=true",
            "GPU only (deterministic scatter/reductions)", xla_flags="--xla_gpu_deterministic_ops=true"),
    Setting("jax/one_thread", "jax",
            "XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1", "CPU",
            xla_flags="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"),
    Setting("jax/matmul_highest", "jax", "jax_default_matmul_precision='highest'",
            "GPU (default float32 matmuls may use TF32); CPU is float32 either way",
            options={"jax_default_matmul_precision": "highest"}),
    Setting("jax/bfloat16", "jax", "compute_dtype='bfloat16' (config.compute; params stay float32)",
            "everywhere; fast where bfloat16 matmuls are native (GPU, TPU, CPUs with avx512_bf16 or AMX)",
            compute={"compute_dtype": "bfloat16"}),
    Setting("torch/default", "torch", "no settings"),
    Setting("torch/deterministic_algorithms", "torch",
            "torch.use_deterministic_algorithms(True), CUBLAS_WORKSPACE_CONFIG=:4096:8", "mostly GPU",
            env={"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}, options={"deterministic_algorithms": True}),
    Setting("torch/one_thread", "torch", "torch.set_num_threads(1)", "CPU", options={"num_threads": 1}),
    Setting("torch/allow_tf32", "torch", "torch.backends.cuda.matmul.allow_tf32=True",
            "GPU only (Ampere and later)", options={"allow_tf32": True}),
)}


def child_env(setting: Setting, base: dict[str, str]) -> dict[str, str]:
    env = {**base, **setting.env}
    flags = " ".join(f for f in (base.get("XLA_FLAGS", ""), setting.xla_flags) if f)
    if flags:
        env["XLA_FLAGS"] = flags
    return env


def apply_in_process(setting: Setting) -> None:
    """The part of a setting that is set after import (in the child, before the first computation)."""
    if setting.framework == "jax":
        import jax

        for name, value in setting.options.items():
            jax.config.update(name, value)
        return
    import torch

    knobs = {"deterministic_algorithms": torch.use_deterministic_algorithms, "num_threads": torch.set_num_threads,
             "allow_tf32": lambda on: setattr(torch.backends.cuda.matmul, "allow_tf32", on)}
    for name, value in setting.options.items():
        knobs[name](value)


def _run_child(setting: Setting, folder: str, audio_path: str, repeats: int, out_path: str) -> dict:
    spec = {"setting": setting.key, "folder": folder, "audio": audio_path, "repeats": repeats, "out": out_path}
    env = child_env(setting, dict(os.environ))
    # The child times with benchmarks.common, which lives at the repository root, outside the package.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_REPO_ROOT, env.get("PYTHONPATH", "")) if p)
    result = subprocess.run([sys.executable, "-m", "recovery_jax.determinism.timing", json.dumps(spec)],
                            capture_output=True, text=True, env=env)
    if result.returncode:
        raise RuntimeError(f"setting {setting.key} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def same_bits_across_processes(outputs: Sequence[np.ndarray]) -> bool | None:
    """Whether every process's output has the same bits; None (not measured) unless two or more were compared."""
    if len(outputs) < 2:
        return None
    return all(diff(out, outputs[0]).bitwise_equal for out in outputs[1:])


def measure(keys: Sequence[str], folder: str, audio: np.ndarray, repeats: int, rounds: int, workdir: str
            ) -> list[dict]:
    """One row per setting (each framework's default included): device, forward time (the lowest of
    `rounds` medians; rounds alternate over the settings so a noisy neighbour hits them all) and its ratio to
    the default's, whether two calls in one process agreed bitwise, whether every round's process gave the
    same bits (None, not measured, with one round), and how far the last hidden state lies from the default's."""
    unknown = sorted(set(keys) - set(SETTINGS))
    if unknown:
        raise ValueError(f"unknown settings {unknown}; known: {sorted(SETTINGS)}")
    defaults = {f"{SETTINGS[k].framework}/default" for k in keys}
    ordered = [k for k in SETTINGS if k in keys or k in defaults]
    workdir, folder = os.path.abspath(workdir), os.path.abspath(folder)
    os.makedirs(workdir, exist_ok=True)
    audio_path = os.path.join(workdir, "audio.npy")
    np.save(audio_path, audio)
    runs: dict[str, list[tuple[dict, np.ndarray]]] = {k: [] for k in ordered}
    for round_ in range(rounds):
        for key in ordered:
            out_path = os.path.join(workdir, f"{key.replace('/', '__')}.{round_}.npy")
            runs[key].append((_run_child(SETTINGS[key], folder, audio_path, repeats, out_path), np.load(out_path)))
    rows = []
    for key in ordered:
        setting, results = SETTINGS[key], runs[key]
        default = runs[f"{setting.framework}/default"]
        rows.append({
            "setting": key, "framework": setting.framework, "what": setting.what, "scope": setting.scope,
            "device": results[0][0]["device"], "first_call_s": min(r["first_call_s"] for r, _ in results),
            "median_s": min(r["median_s"] for r, _ in results),
            "time_vs_default": min(r["median_s"] for r, _ in results) / min(r["median_s"] for r, _ in default),
            "repeatable_in_process": all(r["repeatable"] for r, _ in results),
            "processes": len(results),
            "same_bits_across_processes": same_bits_across_processes([out for _, out in results]),
            "vs_default": dataclasses.asdict(diff(results[0][1], default[0][1]))})
    return rows
