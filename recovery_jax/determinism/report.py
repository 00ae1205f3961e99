"""The determinism report: run every check from one config, then write it as JSON and Markdown."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from typing import Any, Sequence

import ml_collections

from recovery_jax.determinism import frameworks, jax_side, runs, settings, torch_side
from recovery_jax.determinism.compare import Diff
from recovery_jax.determinism.inputs import check_optim, corpus_batches, prepare_checkpoint

DROPOUT_NOTE = ("every dropout, SpecAugment and LayerDrop off, so the two frameworks differ only in numerics "
                "(kernels, summation order)")


def _diffs(named: dict[str, Diff]) -> dict[str, dict]:
    return {k: dataclasses.asdict(v) for k, v in named.items()}


def _trajectory(t: dict) -> dict:
    return {"steps": t["steps"], "per_layer_at_end": _diffs(t["per_layer_at_end"]),
            "worst_at_end": _diffs(t["worst_at_end"])}


def _versions() -> dict[str, str]:
    import jax
    import jaxlib
    import torch
    import transformers

    return {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": jaxlib.__version__,
            "torch": torch.__version__, "transformers": transformers.__version__}


def collect(config: ml_collections.ConfigDict, out_dir: str) -> dict[str, Any]:
    """Runs every check of `config` (configs/determinism.py); returns the report as plain JSON types."""
    start = time.perf_counter()
    check_optim(config.optim)
    folder, label = prepare_checkpoint(config.checkpoint, out_dir, config.random_model.to_dict(),
                                       config.num_labels, config.seed)
    batches = corpus_batches(config.corpus, config.batch_size, config.steps, config.clip_samples)
    audio = batches[0][0]
    report = {
        "checkpoint": {"folder": folder, "label": label},
        "devices": {"jax": jax_side.device(), "torch": torch_side.device()},
        "host": {"cpus": os.cpu_count(), **_versions()},
        "input": {"corpus": config.corpus.name, "batch_size": config.batch_size, "samples": config.clip_samples,
                  "steps": config.steps, "seed": config.seed, "optim": config.optim.to_dict()},
        "run_to_run": {
            "forward": {s.NAME: _diffs(runs.forward_twice(s, folder, audio)) for s in (jax_side, torch_side)},
            "training": {s.NAME: _trajectory(runs.train_twice(s, folder, batches, config.optim, config.seed))
                         for s in (jax_side, torch_side)},
        },
        "across_frameworks": {
            "forward": _diffs(frameworks.forward_difference(folder, audio)),
            "training": {"note": DROPOUT_NOTE,
                         **_trajectory(frameworks.training_drift(folder, batches, config.optim, config.seed))},
        },
        "settings": settings.measure(list(config.settings), folder, audio, config.timing_repeats,
                                     config.timing_rounds, os.path.join(out_dir, "settings")),
    }
    report["wall_s"] = time.perf_counter() - start
    return report


def _cell(x: Any) -> str:
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.3g}"
    return str(x)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(_cell(x) for x in row) + " |" for row in rows])


def _diff_cells(d: dict) -> list:
    return [d["bitwise_equal"], d["max_abs"], d["mean_abs"], d["max_ulp"], d["ulps_at_scale"]]


DIFF_HEADERS = ("bitwise", "max abs", "mean abs", "max ulp", "ulps at scale")


def _side_by_side(by_side: dict[str, dict[str, dict]], first: str) -> str:
    headers = [first] + [f"{side} {h}" for side in by_side for h in DIFF_HEADERS]
    names = next(iter(by_side.values()))
    return _table(headers, [[n] + sum((_diff_cells(d[n]) for d in by_side.values()), []) for n in names])


def settings_table(rows: Sequence[dict]) -> str:
    """The settings rows of `settings.measure` as a Markdown table."""
    def across(row):  # one round runs each setting in one process: nothing to compare it with
        same, n = row["same_bits_across_processes"], row["processes"]
        return f"not measured ({n} process)" if same is None else f"{_cell(same)} ({n} processes)"
    return _table(["setting", "device", "first call s", "median ms", "x default", "two calls bitwise",
                   "same bits across processes", "max abs vs default", "where it matters"],
                  [[s["setting"] if s["setting"].endswith("/default") else f"`{s['what']}`", s["device"],
                    s["first_call_s"], 1e3 * s["median_s"], s["time_vs_default"], s["repeatable_in_process"],
                    across(s), s["vs_default"]["max_abs"], s["scope"]] for s in rows])


def to_markdown(report: dict[str, Any]) -> str:
    r2r, cross, inp = report["run_to_run"], report["across_frameworks"], report["input"]
    training = r2r["training"]
    out = [
        "# Determinism report: JAX vs PyTorch, run to run and across frameworks", "",
        f"- checkpoint: {report['checkpoint']['label']}",
        f"- devices: JAX `{report['devices']['jax']}`, PyTorch `{report['devices']['torch']}`; "
        + ", ".join(f"{k} {v}" for k, v in report["host"].items()),
        f"- input: {inp['corpus']} corpus, batches of {inp['batch_size']} x {inp['samples']} samples (no padding); "
        f"{inp['steps']} Adam steps, lr {inp['optim']['lr']}, clip {inp['optim']['clip_norm']}, conv stack "
        f"frozen, seed {inp['seed']}",
        f"- wall time {report['wall_s']:.0f} s", "",
        "`max ulp` is elementwise (huge where a value near 0 changes sign); `ulps at scale` is max abs in ulps "
        "of the tensor's largest magnitude.", "",
        "## Run to run", "", "### The same forward twice (one process)", "",
        _side_by_side(r2r["forward"], "tensor"), "",
        f"### The same {inp['steps']} training steps twice from seed {inp['seed']} (dropout on, seeded)", "",
        _table(["step"] + [f"{s} {h}" for s in training for h in ("loss equal", "params bitwise", "max abs")],
               [[i + 1] + sum(([t["steps"][i]["loss_a"] == t["steps"][i]["loss_b"],
                                t["steps"][i]["bitwise_equal"], t["steps"][i]["max_abs"]]
                               for t in training.values()), [])
                for i in range(inp["steps"])]), "",
        "Per layer after the last step:", "",
        _side_by_side({s: t["per_layer_at_end"] for s, t in training.items()}, "layer"), "",
        "## JAX vs PyTorch", "", "### Forward, same weights and input", "",
        _table(["tensor"] + list(DIFF_HEADERS), [[n] + _diff_cells(d) for n, d in cross["forward"].items()]), "",
        f"### Parameter drift over identical optimiser steps ({cross['training']['note']})", "",
        _table(["step", "loss JAX", "loss PyTorch"] + list(DIFF_HEADERS),
               [[s["step"], s["loss_a"], s["loss_b"]] + _diff_cells(s) for s in cross["training"]["steps"]]), "",
        "Per layer after the last step:", "",
        _table(["layer"] + list(DIFF_HEADERS),
               [[n] + _diff_cells(d) for n, d in cross["training"]["per_layer_at_end"].items()]), "",
        "The tensors that drifted most, relative to their own magnitude:", "",
        _table(["tensor"] + list(DIFF_HEADERS),
               [[n] + _diff_cells(d) for n, d in cross["training"]["worst_at_end"].items()]), "",
        "## Settings (one child process each; forward with all hidden states and attention maps, "
        "copied to the host)", "",
        settings_table(report["settings"]), "",
        "Times are the lowest of the rounds' medians on a possibly shared machine: compare within a framework "
        "(x default), not across.",
    ]
    return "\n".join(out) + "\n"


def write(report: dict[str, Any], out_dir: str) -> tuple[str, str]:
    """report.json and report.md in `out_dir`; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = os.path.join(out_dir, "report.json"), os.path.join(out_dir, "report.md")
    with open(paths[0], "w") as f:
        json.dump(report, f, indent=1)
    with open(paths[1], "w") as f:
        f.write(to_markdown(report))
    return paths
