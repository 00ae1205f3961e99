"""Compare any HF checkpoints with a reference: Eq. 1 attention distances (Fig. 4) and layer CKA.

The systems need not come from the study: any wav2vec2-family folders of one architecture, e.g. the
paper's SER, ASR100 and ASR100->SER models, on any corpus the study reads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from recovery_jax.analysis import (attention_distances, bucketed_batches, layer_cka, load_stacked,
                                   plot_attention_distances, plot_cka)
from recovery_jax.data.corpora import emotion_corpus, load_waveforms
from recovery_jax.models import Wav2Vec2Config, receptive_field
from recovery_jax.study.stages import atomic_write_text, safe_name


def parse_systems(entries: Sequence[str], flag: str = "--systems") -> list[tuple[str, str]]:
    """["NAME=FOLDER", ...] -> [(name, folder)]; the first is the reference the others are compared with."""
    systems = []
    for entry in entries:
        name, sep, folder = entry.partition("=")
        if not sep or not name or not folder:
            raise ValueError(f"{flag}: {entry!r} is not NAME=FOLDER (an HF checkpoint folder)")
        if not os.path.isdir(folder):
            raise ValueError(f"{flag}: {name}'s folder {folder!r} does not exist")
        systems.append((name, folder))
    names = [name for name, _ in systems]
    if len(systems) < 2 or len(set(names)) != len(names):
        raise ValueError(f"{flag}: expected a reference and at least one other system, with distinct names; "
                         f"got {names}")
    return systems


def compare_systems(names: Sequence[str], config: Wav2Vec2Config, stacked: Any, waveforms: Sequence[np.ndarray],
                    out_dir: str | os.PathLike, batch_size: int = 4, cka: bool = True) -> dict[str, Any]:
    """System 0 of `stacked` (see `load_stacked`) against each other one: writes figure4.png/.csv, one
    cka_<ref>_vs_<other>.png/.csv per pair and, last, summary.json into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pairs = [(0, i) for i in range(1, len(names))]
    distances = attention_distances(config, stacked, bucketed_batches(waveforms, batch_size), pairs)
    labels = [f"{names[0]} vs {names[i]}" for _, i in pairs]
    plot_attention_distances(dict(zip(labels, distances)), out / "figure4.png")
    summary = {"systems": list(names), "utterances": len(waveforms),
               "attention_distance_mean": {label: float(d.mean()) for label, d in zip(labels, distances)}}
    if cka:
        summary["cka_diagonal"] = {}
        for (_, i), label in zip(pairs, labels):
            pair = jax.tree.map(lambda leaf: leaf[jnp.array([0, i])], stacked)
            matrix = layer_cka(config, pair, bucketed_batches(waveforms, batch_size))
            plot_cka(matrix, out / f"cka_{safe_name(names[0])}_vs_{safe_name(names[i])}.png", names[0], names[i])
            summary["cka_diagonal"][label] = np.diag(matrix).tolist()
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1))  # written last: the run is whole
    return summary


def compare_on_corpus(config: Any, systems: Sequence[tuple[str, str]], workdir: str | os.PathLike) -> dict[str, Any]:
    """`compare_systems` on the corpus of `config.corpus` (configs/compare.py), results in workdir/results.

    The checkpoints are loaded (and refused if they do not fit together) before the corpus is read.
    """
    model_config, stacked = load_stacked([folder for _, folder in systems])
    utts = emotion_corpus(config.corpus)
    if config.max_utterances:
        utts = utts[:config.max_utterances]
    waveforms = load_waveforms(utts, receptive_field(model_config))
    return compare_systems([name for name, _ in systems], model_config, stacked, waveforms,
                           Path(workdir) / "results", config.batch_size, config.cka)
