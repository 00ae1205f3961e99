"""`run_study(config, workdir)`: corpus -> systems (Fig. 2) -> Tables I-III, Figures 3-4, CKA, report.md."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np
from absl import logging

from recovery_jax.analysis import (cosine_distances, mismatch_beyond_floor, mismatch_percent, plot_attention_distances,
                                   plot_cka, plot_cosine_histograms, pooled_cka, threshold_agreement)
from recovery_jax.data import loso_folds
from recovery_jax.data.corpora import CORPORA, asr_corpus, check_root, emotion_corpus
from recovery_jax.study import report, tables
from recovery_jax.study.measures import (attention_to_reference, corpus_key, labels_and_sessions, own_fold_view,
                                         probe_every_layer, probe_handcrafted, probe_system, system_embeddings)
from recovery_jax.study.stages import Stages, safe_name
from recovery_jax.study.systems import asr_systems, checkpoint_system, pretrained_system, ser_system

ASR_SUBSETS = {"ASR10": "asr10", "ASR100": "asr100", "ASR960": "asr960"}
SYSTEMS = ("PT", *ASR_SUBSETS)
# The same-recipe noise floor (beyond the paper): SER again, only its seed changed. Every comparison with SER is
# also made with it, so a difference between SER and ASR(x)->SER can be read against two SER runs' difference.
CONTROL = "SER(other seed)"


class StudyConfigError(ValueError):
    """A flag that cannot work, found before any long stage starts."""


def validate(config: ml_collections.ConfigDict) -> None:
    """Checks the flags a user is most likely to get wrong, naming each."""
    corpus = config.corpus
    if corpus.name not in CORPORA:
        raise StudyConfigError(f"--config.corpus.name={corpus.name!r}: unknown corpus; expected one of {CORPORA}")
    try:
        check_root(corpus)
    except ValueError as e:
        raise StudyConfigError(str(e)) from None
    given = {name: config.checkpoints[name] for name in SYSTEMS if config.checkpoints[name]}
    if given and len(given) != len(SYSTEMS) or (corpus.name != "embedded" and not given):
        raise StudyConfigError(
            f"--config.checkpoints.{{{','.join(SYSTEMS)}}}: give all four HF folders (real checkpoints) or, on the "
            f"embedded corpus only, none (the study then trains its own); got {sorted(given) or 'none'}")
    for name, folder in given.items():
        if not os.path.isfile(os.path.join(folder, "config.json")):
            raise StudyConfigError(f"--config.checkpoints.{name}={folder!r}: no config.json there "
                                   f"(expected a local HF model folder)")


def planned_stages(config: ml_collections.ConfigDict) -> int:
    own = 0 if config.checkpoints.PT else 2  # pretraining, one CTC job for all ASR subsets
    return own + 5 + 2 + 9 + 1 + len(config.analysis.layerwise)  # one SER job (all folds) per system + control


def _systems(config, stages: Stages, utts, folds, ckey: str) -> tuple[Any, dict, Any, Any, dict]:
    if config.checkpoints.PT:
        pt = checkpoint_system("PT", config.checkpoints.PT)
        asr = {name: checkpoint_system(name, config.checkpoints[name]) for name in ASR_SUBSETS}
    else:
        subsets = asr_corpus(config.corpus)
        unlabelled = list(utts) + list(subsets["asr960"])
        pt = pretrained_system(stages, config.model, config.pretrain, unlabelled, ckey)
        neutral = [u for u in utts if u.emotion == "neutral"]  # held-out speech for WER
        asr = asr_systems(stages, pt, config.ctc, {name: subsets[subset] for name, subset in ASR_SUBSETS.items()},
                          neutral)
    ser = ser_system(stages, "SER", pt, config.ser, folds)
    other_seed = config.ser.copy_and_resolve_references()
    other_seed.seed = config.ser.seed + 1
    control = ser_system(stages, CONTROL, pt, other_seed, folds)
    two_step = {f"{name}→SER": ser_system(stages, f"{name}→SER", asr[name], config.ser, folds) for name in asr}
    return pt, asr, ser, control, two_step


def _cosine_threshold(config, distances: dict[str, np.ndarray]) -> float:
    """The configured threshold, or the paper's rule: the smallest multiple of 0.05 holding >= 70 % of the
    data for every compared pair."""
    if config.analysis.cosine_threshold:
        return float(config.analysis.cosine_threshold)
    needed = max(float(np.quantile(d, 0.7)) for d in distances.values())
    return float(np.ceil(needed / 0.05 - 1e-9) * 0.05)


def run_study(config: ml_collections.ConfigDict, workdir: str | os.PathLike) -> dict[str, Any]:
    validate(config)
    start = time.perf_counter()
    workdir = Path(workdir)
    results = workdir / "results"
    results.mkdir(parents=True, exist_ok=True)
    utts = emotion_corpus(config.corpus)
    folds = loso_folds(utts, config.corpus.valid_fraction, config.corpus.seed)
    ckey = corpus_key(utts, [config.corpus.name, config.corpus.get("embedded", ml_collections.ConfigDict()).to_dict()])
    stages = Stages(workdir / "stages", planned_stages(config))
    labels, sessions = labels_and_sessions(utts)

    pt, asr, ser, control, two_step = _systems(config, stages, utts, folds, ckey)
    systems = {s.name: s for s in (pt, ser, *asr.values(), *two_step.values(), control)}
    cache = workdir / "embeddings"
    embeddings = {name: system_embeddings(s, utts, cache) for name, s in systems.items()}

    # Table I
    probes = probe_handcrafted(stages, utts, cache, config.probe, ckey)
    for name in ("PT", "SER", *asr, *two_step, CONTROL):
        probes[name] = probe_system(stages, systems[name], embeddings[name], utts, config.probe)
    groups = {"ComParE_LLDxF": "G-1", "BoAW(ComParE_LLD)": "G-1", "PT": "G-2", "SER": "G-3",
              **{n: "G-3" for n in asr}, **{n: "G-4" for n in two_step}, CONTROL: "control"}
    dims = {"ComParE_LLDxF": 6373, "BoAW(ComParE_LLD)": f"{config.probe.boaw_codebook_size}/"
            f"{config.probe.boaw_codebook_size}", **{n: s.config.hidden_size for n, s in systems.items()}}
    column = tables.paper_column(config.corpus.name)
    table1 = tables.write_table(results, "table1", tables.TABLE1_HEADER,
                                tables.table1_rows(probes, dims, groups, config.corpus.name))

    # Table II: decisions of SER vs ASR(x)->SER (the probes' per-utterance predictions), each against the floor
    predictions = {name: probes[name]["predictions"] for name in ("SER", *two_step, CONTROL)}
    mismatch = {name: mismatch_percent(predictions["SER"], predictions[name]) for name in (CONTROL, *two_step)}
    beyond = {name: mismatch_beyond_floor(predictions["SER"], predictions[name], predictions[CONTROL])
              for name in two_step}
    table2_rows = [[CONTROL, mismatch[CONTROL], float("nan"), float("nan"), float("nan")]]
    table2_rows += [[name, mismatch[name], tables.PAPER_TABLE2[name][column], beyond[name]["excess_percent"],
                     beyond[name]["p_value"]] for name in two_step]
    table2 = tables.write_table(results, "table2", tables.TABLE2_HEADER, table2_rows)

    # Table III and Figure 3: last-layer cosine distances, each utterance seen by its own fold's networks
    last = {name: own_fold_view(embeddings[name], sessions)[:, -1] for name in ("SER", *two_step, CONTROL)}
    distances = {name: cosine_distances(last["SER"], last[name]) for name in (*two_step, CONTROL)}
    threshold = _cosine_threshold(config, {name: distances[name] for name in two_step})  # the paper's pairs
    table3_rows = []
    for name, d in distances.items():
        agreement = threshold_agreement(d, predictions["SER"], predictions[name], threshold)
        paper = tables.PAPER_TABLE3.get(name, ((float("nan"),) * 2,) * 2)[column]
        table3_rows.append([name, threshold, agreement.data_percent, agreement.match_percent,
                            agreement.over_one_percent, *paper])
    table3 = tables.write_table(results, "table3", tables.TABLE3_HEADER, table3_rows)
    plot_cosine_histograms({config.corpus.name: {f"SER vs {n}": d for n, d in distances.items()}},
                           {config.corpus.name: threshold}, results / "figure3.png")

    # Figure 4: every ASR(x) and ASR(x)->SER network against SER, fold by fold
    others = [s for name in asr for s in (asr[name], two_step[f"{name}→SER"])] + [control]
    attention = attention_to_reference(stages, ser, others, utts, config.analysis.batch_size)
    plot_attention_distances({f"SER vs {n}": m for n, m in attention.items()}, results / "figure4.png",
                             normalise=config.analysis.normalise_attention)
    # CKA (beyond the paper) on the cached pooled states, each utterance seen by its own fold's networks
    cka = {s.name: pooled_cka(own_fold_view(embeddings["SER"], sessions), own_fold_view(embeddings[s.name], sessions))
           for s in others}
    for name, matrix in cka.items():
        plot_cka(matrix, results / f"cka_SER_vs_{safe_name(name)}.png", "SER", name)

    noise_floor = {name: {
        "mismatch_percent": mismatch[name], "floor_mismatch_percent": mismatch[CONTROL],
        "p_value": beyond[name]["p_value"],
        "median_cosine_distance": float(np.median(distances[name])),
        "floor_median_cosine_distance": float(np.median(distances[CONTROL])),
        "mean_attention_distance": float(attention[name].mean()),
        "floor_mean_attention_distance": float(attention[CONTROL].mean()),
        "same_layer_cka": float(np.mean(np.diag(cka[name]))),
        "floor_same_layer_cka": float(np.mean(np.diag(cka[CONTROL])))} for name in two_step}

    # Layer-wise probing (beyond the paper)
    layerwise = {name: probe_every_layer(stages, systems[name], embeddings[name], utts, config.probe)
                 for name in config.analysis.layerwise}
    report.plot_layerwise(layerwise, results / "layerwise.png")

    summary = {
        "table1": probes, "table2": table2_rows, "table3": table3_rows, "threshold": threshold,
        "attention": {k: v.tolist() for k, v in attention.items()},
        "cka": {k: v.tolist() for k, v in cka.items()}, "layerwise": layerwise,
        "noise_floor": noise_floor, "asr": {name: s.info for name, s in asr.items()}, "pt": pt.info,
        "seconds": time.perf_counter() - start,
    }
    report.write_report(results, config, utts, summary, {"table1": table1, "table2": table2, "table3": table3})
    logging.info("study finished in %.0f s; results in %s", summary["seconds"], results)
    return summary
