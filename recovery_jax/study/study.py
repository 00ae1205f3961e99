"""`run_study(config, workdir)`: corpus -> systems (Fig. 2) -> Tables I-III, Figures 3-4, CKA, report.md."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, TypeVar

import ml_collections
import numpy as np
from absl import logging

from recovery_jax.analysis import (cosine_distances, plot_attention_distances, plot_cka, plot_cosine_histograms,
                                   pooled_cka, threshold_agreement)
from recovery_jax.data import loso_folds
from recovery_jax.data.corpora import CORPORA, asr_corpus, check_root, emotion_corpus
from recovery_jax.models.conv_cache import CorpusConvFeatures
from recovery_jax.study import report, tables, verdicts
from recovery_jax.study.floor import against_floor, pair_values
from recovery_jax.study.measures import (attention_pairs, corpus_conv_features, corpus_key, head_scores,
                                         labels_and_sessions, own_fold_view, probe_every_layer, probe_handcrafted,
                                         probe_system, system_embeddings)
from recovery_jax.study.stages import Stages, safe_name
from recovery_jax.study.systems import (System, asr_systems, checkpoint_system, pretrained_system, ser_system,
                                        train_work)
from recovery_jax.train.loop import with_seed

ASR_SUBSETS = {"ASR10": "asr10", "ASR100": "asr100", "ASR960": "asr960"}
SYSTEMS = ("PT", *ASR_SUBSETS)
TWO_STEP = tuple(f"{name}→SER" for name in ASR_SUBSETS)
T = TypeVar("T")


def seeded(name: str, seed: int) -> str:
    """One seed's system name ("SER#1"): names stage folders and embedding caches."""
    return f"{name}#{seed}"


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
    for flag in ("pt", "asr", "finetune"):
        if int(config.seeds[flag]) < 1:
            raise StudyConfigError(f"--config.seeds.{flag}={config.seeds[flag]}: expected at least 1 seed")
    given = {name: config.checkpoints[name] for name in SYSTEMS if config.checkpoints[name]}
    if given and len(given) != len(SYSTEMS) or (corpus.name != "embedded" and not given):
        raise StudyConfigError(
            f"--config.checkpoints.{{{','.join(SYSTEMS)}}}: give all four HF folders (real checkpoints) or, on the "
            f"embedded corpus only, none (the study then trains its own); got {sorted(given) or 'none'}")
    for name, folder in given.items():
        if not os.path.isfile(os.path.join(folder, "config.json")):
            raise StudyConfigError(f"--config.checkpoints.{name}={folder!r}: no config.json there "
                                   f"(expected a local HF model folder)")


def seeds(config: ml_collections.ConfigDict) -> tuple[int, int]:
    """(PT seeds, SER fine-tuning seeds); real checkpoints are one PT."""
    return (1 if config.checkpoints.PT else config.seeds.pt), config.seeds.finetune


def ctc_recipe(ctc: ml_collections.ConfigDict, subset: str) -> ml_collections.ConfigDict:
    """The CTC recipe with the subset's own step count (`ctc.steps_per_subset`): more data, more updates."""
    recipe = ctc.copy_and_resolve_references()
    with recipe.unlocked():
        recipe.total_steps = int(ctc.steps_per_subset[subset])
    return recipe


def study_corpus_key(config: ml_collections.ConfigDict, utts) -> str:
    """The emotion corpus's part of every stage key."""
    return corpus_key(utts, [config.corpus.name, config.corpus.get("embedded", ml_collections.ConfigDict()).to_dict()])


def pt_draws(config: ml_collections.ConfigDict, stages: Stages, unlabelled, ckey: str, pt_seeds: int) -> list[System]:
    """PT seed p: self-supervised pretraining on `unlabelled` with the pretraining seed + p."""
    return [pretrained_system(stages, seeded("PT", p), config.model,
                              with_seed(config.pretrain, config.pretrain.seed + p), unlabelled, ckey)
            for p in range(pt_seeds)]


def planned_work(config: ml_collections.ConfigDict, utts, folds, asr_subsets: dict | None) -> dict[str, float]:
    """The whole study's work per stage kind (Stages' units), for an ETA from measured rates."""
    pt_seeds, s = seeds(config)
    asr_seeds = config.seeds.asr if asr_subsets is not None else 1
    count = {"PT": pt_seeds, "SER": s, **{n: asr_seeds for n in ASR_SUBSETS}, **{n: s for n in TWO_STEP}}
    train = s * 4 * sum(train_work(config.ser, 1, fold.train) for fold in folds)  # SER and three ASR(x)->SER
    pretrain = 0.0
    if asr_subsets is not None:
        pretrain = pt_seeds * train_work(config.pretrain, 1, list(utts) + list(asr_subsets["asr960"]))
        train += sum(train_work(ctc_recipe(config.ctc, subset), asr_seeds, asr_subsets[subset])
                     for subset in ASR_SUBSETS.values())
    layers = 1 + (json.loads((Path(config.checkpoints.PT) / "config.json").read_text())["num_hidden_layers"]
                  if config.checkpoints.PT else config.model.num_hidden_layers)
    return {"train": train, "pretrain": pretrain, "handcrafted": 2.0,
            "probe": sum(count.values()) + layers * sum(count[n] for n in config.analysis.layerwise),
            "attention": (sum(count.values()) - pt_seeds) * sum(u.duration for u in utts)}


def _systems(config, stages: Stages, utts, folds, ckey: str, asr_subsets: dict | None,
             embed: Callable[[System], Any]) -> dict[str, list[System]]:
    """Every system, one per seed: {"PT": [...], "ASR10": [...], "SER": [...], "ASR10→SER": [...], ...}.
    Fine-tuning seed k starts from PT seed k mod (PT seeds); ASR(x)->SER seed k from ASR(x) seed k mod (ASR seeds).

    The fine-tunes after PT run on `config.train_workers` threads (JAX releases the GIL while a step runs): two
    200-step CTC jobs side by side took 72 s, one alone 46 s; in the default study, where SER's jobs take most of
    both cores, the threads save ~5 % of the training time. Jobs start in the order submitted and each waits only
    for jobs submitted before it, so the pool cannot deadlock; each job's result is the one it gives alone (own
    seeds, data order and stage folder; the quick study's tables are byte-identical with 1 and 2 workers). Each
    SER job also embeds its fold networks on its thread, beside the other thread's training."""
    pt_seeds, s = seeds(config)

    def last_layer(system: System) -> dict[str, np.ndarray]:  # the LP-FT head's input: the init's embeddings
        table = embed(system)
        return {u.utt_id: table[i, -1] for i, u in enumerate(utts)}

    pool = ThreadPoolExecutor(config.get("train_workers", 1), thread_name_prefix="train")
    failures: list[BaseException] = []

    def submit(fn: Callable[..., T], *args) -> Future:
        def job() -> T:
            if failures:  # a job failed: the study stops, so no queued job starts (its dependents fail at once)
                raise RuntimeError("not started: another training job failed")
            try:
                return fn(*args)
            except BaseException as error:
                failures.append(error)
                raise
        return pool.submit(job)

    try:
        if asr_subsets is None:
            ready = {name: [checkpoint_system(name, config.checkpoints[name])] for name in SYSTEMS}
            by_length = []
        else:
            ready = {"PT": pt_draws(config, stages, list(utts) + list(asr_subsets["asr960"]), ckey, pt_seeds)}
            heldout = [u for u in utts if u.emotion == "neutral"]  # voices never in CTC training; WER/CER
            inits = [ready["PT"][k % pt_seeds] for k in range(config.seeds.asr)]
            # Two jobs compiling the same program at once both compile it, so the longest CTC job goes first
            # beside SER's jobs (other programs), and the shorter CTC jobs follow once their programs are cached,
            # shortest first: ASR10->SER, the first two-step job in the queue, then waits least for its init
            # (longest first, a thread sat idle 14 s for ASR10 after ASR100 finished; 2026-12-07).
            by_length = sorted(ASR_SUBSETS, key=lambda n: config.ctc.steps_per_subset[ASR_SUBSETS[n]])

        def ctc(name: str) -> Future:
            subset = ASR_SUBSETS[name]
            return submit(asr_systems, stages, name, inits, ctc_recipe(config.ctc, subset), asr_subsets[subset],
                          heldout)

        def fine_tune(name: str, init: str, k: int) -> System:
            starts = ready[init] if init in ready else asr_jobs[init].result()
            system = ser_system(stages, seeded(name, k), starts[k % len(starts)],
                                with_seed(config.ser, config.ser.seed + k), folds, last_layer)
            embed(system)  # here, beside the other thread's training, not in the study's serial tail
            return system

        asr_jobs = {name: ctc(name) for name in by_length[-1:]}
        ser_jobs = {"SER": [submit(fine_tune, "SER", "PT", k) for k in range(s)]}
        asr_jobs.update({name: ctc(name) for name in by_length[:-1]})
        ser_jobs.update({name: [submit(fine_tune, name, init, k) for k in range(s)]
                         for name, init in zip(TWO_STEP, ASR_SUBSETS)})
        wait([*asr_jobs.values(), *(job for jobs in ser_jobs.values() for job in jobs)], return_when=FIRST_EXCEPTION)
        if failures:  # the first failure, now: not after the jobs submitted before it
            raise failures[0]
        systems = {**ready, **{name: job.result() for name, job in asr_jobs.items()},
                   **{name: [job.result() for job in jobs] for name, jobs in ser_jobs.items()}}
    except BaseException as error:
        # No queued job starts. After a failure the running ones finish their stage, so a rerun loses nothing;
        # Ctrl-C returns at once (threads cannot be interrupted: launch/study.py then exits the process, and a
        # rerun resumes each interrupted job from its last orbax checkpoint).
        pool.shutdown(wait=not isinstance(error, KeyboardInterrupt), cancel_futures=True)
        raise
    pool.shutdown()
    return {name: systems[name] for name in ("PT", *ASR_SUBSETS, "SER", *TWO_STEP)}


def _cosine_threshold(config, distances: list[np.ndarray]) -> float:
    """The configured threshold, or the paper's rule: the smallest multiple of 0.05 holding >= 70 % of the
    data for every compared pair."""
    if config.analysis.cosine_threshold:
        return float(config.analysis.cosine_threshold)
    needed = max(float(np.quantile(d, 0.7)) for d in distances)
    return float(np.ceil(needed / 0.05 - 1e-9) * 0.05)


def _timed(stages: Stages, name: str, make: Callable[[], T]) -> T:
    start = time.perf_counter()
    out = make()
    stages.record(name, time.perf_counter() - start)
    return out


def run_study(config: ml_collections.ConfigDict, workdir: str | os.PathLike) -> dict[str, Any]:
    validate(config)
    start = time.perf_counter()
    workdir = Path(workdir)
    results = workdir / "results"
    results.mkdir(parents=True, exist_ok=True)
    stages = Stages(workdir / "stages", {})
    utts = _timed(stages, "emotion corpus", lambda: emotion_corpus(config.corpus))
    cache = workdir / "embeddings"
    ckey = study_corpus_key(config, utts)
    # The handcrafted baselines need no network: their openSMILE passes and SVMs run on a background thread
    # from the start (beside the ASR corpus's synthesis, then the training threads), filling the cores those
    # leave idle; later the thread takes Figure 4's attention pass.
    background = ThreadPoolExecutor(1, thread_name_prefix="background")
    handcrafted = background.submit(probe_handcrafted, stages, utts, cache, config.probe, ckey)
    try:
        asr_subsets = (None if config.checkpoints.PT
                       else _timed(stages, "ASR corpus", lambda: asr_corpus(config.corpus)))
        folds = loso_folds(utts, config.corpus.valid_fraction, config.corpus.seed)
        stages.plan = planned_work(config, utts, folds, asr_subsets)
        stages.parallel = {"train": config.get("train_workers", 1)}
        embed = _embedder(config, utts, cache)
        systems = _systems(config, stages, utts, folds, ckey, asr_subsets, embed)
        embeddings = _timed(stages, "embeddings", lambda: {name: [embed(s) for s in runs]
                                                           for name, runs in systems.items()})
        return _analyse(config, stages, utts, folds, systems, embeddings, handcrafted, background, results, start)
    finally:  # a failure or Ctrl-C elsewhere does not wait for the background thread
        background.shutdown(wait=False, cancel_futures=True)


def _embedder(config, utts, cache: Path) -> Callable[[System], Any]:
    """`embed(system)`: its embeddings table, computed once (training workers ask for their inits' too)."""
    convs: list[CorpusConvFeatures] = []
    embedding = threading.Lock()

    def embed(system: System) -> Any:
        # With the fine-tunes' conv cache on, each distinct conv stack's output per clip (host memory: frames x
        # conv channels per clip) serves every system that has it: on the embedded default, PT's serves all
        with embedding:
            conv = None
            if config.ser.get("conv_cache", False):
                backbone = next(iter(system.backbones.values()))
                conv = next((c for c in convs if c.for_backbone(backbone) is not None), None)
                if conv is None:
                    conv = corpus_conv_features(system, utts)
                    convs.append(conv)
            return system_embeddings(system, utts, cache, conv)
    return embed


def _analyse(config, stages: Stages, utts, folds, systems: dict[str, list[System]], embeddings: dict[str, list],
             handcrafted: Future, background: ThreadPoolExecutor, results: Path, start: float) -> dict[str, Any]:
    """Every table, figure and floor from the trained systems and their embeddings; writes report.md."""
    labels, sessions = labels_and_sessions(utts)
    # Figure 4's attention pass (XLA threads) runs on the background thread beside the probes' SVMs (joblib
    # worker processes) on this one: each alone left ~20 % of the 2 cores idle in the study's tail.
    compared = (*ASR_SUBSETS, *TWO_STEP)
    flat = [s for name in ("SER", *compared) for s in systems[name]]
    index = {id(s): i for i, s in enumerate(flat)}
    layout = pair_values({n: [index[id(s)] for s in systems[n]] for n in ("SER", *compared)}, compared,
                         lambda a, b: np.array([a, b]))
    attention_job = background.submit(attention_pairs, stages, flat, np.concatenate(list(layout.values())), utts,
                                      config.analysis.batch_size)
    handcrafted_probes = handcrafted.result()

    # Table I: every seed probed; mean +- std over seeds, 95 % bootstrap interval over utterances
    probes = {name: [result] for name, result in handcrafted_probes.items()}
    for name, runs in systems.items():
        probes[name] = [probe_system(stages, s, e, utts, config.probe) for s, e in zip(runs, embeddings[name])]
    groups = {"ComParE_LLDxF": "G-1", "BoAW(ComParE_LLD)": "G-1", "PT": "G-2", "SER": "G-3",
              **{n: "G-3" for n in ASR_SUBSETS}, **{n: "G-4" for n in TWO_STEP}}
    dims = {"ComParE_LLDxF": 6373, "BoAW(ComParE_LLD)": f"{config.probe.boaw_codebook_size}/"
            f"{config.probe.boaw_codebook_size}", **{n: runs[0].config.hidden_size for n, runs in systems.items()}}
    column = tables.paper_column(config.corpus.name)
    order = ["ComParE_LLDxF", "BoAW(ComParE_LLD)", "PT", "SER", *ASR_SUBSETS, *TWO_STEP]
    table1_rows = tables.table1_rows({n: probes[n] for n in order}, labels, sessions, dims, groups, config.corpus.name)
    head_info = {n: [head_scores(s, e, utts, folds) for s, e in zip(systems[n], embeddings[n])]
                 for n in ("SER", *TWO_STEP)}
    heads = tables.head_rows(head_info)

    # Table II: decisions of every ASR(x)->SER seed against every SER seed, beside SER's own seed pairs
    predictions = {name: [np.asarray(p["predictions"]) for p in probes[name]] for name in ("SER", *TWO_STEP)}
    mismatch = pair_values(predictions, TWO_STEP, lambda a, b: (a != b).astype(np.float64))
    mismatch_floor = against_floor(mismatch, TWO_STEP)
    table2_rows = tables.table2_rows(mismatch, mismatch_floor, column)

    # Table III and Figure 3: last-layer cosine distances, each utterance seen by its own fold's networks
    last = {name: [own_fold_view(e, sessions)[:, -1] for e in embeddings[name]] for name in ("SER", *TWO_STEP)}
    distances = pair_values(last, TWO_STEP, cosine_distances)
    threshold = _cosine_threshold(config, [d for name in TWO_STEP for d in distances[name]])  # the paper's pairs
    pair_predictions = pair_values(predictions, TWO_STEP, lambda a, b: np.stack([a, b]))
    agreement = {name: [threshold_agreement(d, p[0], p[1], threshold)
                        for d, p in zip(distances[name], pair_predictions[name])] for name in distances}
    table3_rows = tables.table3_rows(agreement, threshold, column)
    plot_cosine_histograms({config.corpus.name: {f"SER vs {n} ({len(d)} seed pairs)": d.ravel()
                                                 for n, d in distances.items()}},
                           {config.corpus.name: threshold}, results / "figure3.png")

    # Layer-wise probing (beyond the paper), every seed
    layerwise = {name: np.mean([probe_every_layer(stages, s, e, utts, config.probe)
                                for s, e in zip(systems[name], embeddings[name])], axis=0).tolist()
                 for name in config.analysis.layerwise}
    report.plot_layerwise(layerwise, results / "layerwise.png")

    # Figure 4: every ASR(x) and ASR(x)->SER network against SER, fold by fold, seed pair by seed pair
    per_utterance = attention_job.result()
    bounds = np.cumsum([0] + [len(v) for v in layout.values()])
    attention = {name: per_utterance[lo:hi] for name, lo, hi in zip(layout, bounds[:-1], bounds[1:])}  # (P, N, L, H)
    plot_attention_distances({f"SER vs {n}": a.mean(axis=(0, 1)) for n, a in attention.items()},
                             results / "figure4.png", normalise=config.analysis.normalise_attention)
    attention_floor = {
        "all layers": against_floor({n: a.mean(axis=(2, 3)) for n, a in attention.items()}, compared),
        "per layer": against_floor({n: a.mean(axis=3) for n, a in attention.items()}, compared)}

    # CKA (beyond the paper) on the cached pooled states, each utterance seen by its own fold's networks
    pooled = {name: [own_fold_view(e, sessions) for e in embeddings[name]] for name in ("SER", *compared)}
    cka_pairs = _timed(stages, "CKA", lambda: pair_values(pooled, compared, pooled_cka))
    cka = {name: m.mean(axis=0) for name, m in cka_pairs.items()}
    for name, matrix in cka.items():
        plot_cka(matrix, results / f"cka_SER_vs_{safe_name(name)}.png", "SER",
                 f"{name} (mean of {len(cka_pairs[name])} seed pairs)")

    floor_rows = tables.floor_rows(mismatch_floor, against_floor(distances, TWO_STEP), attention_floor, cka_pairs)
    floor_table = tables.write_table(results, "noise_floor", tables.FLOOR_HEADER, floor_rows)

    written = {"table1": tables.write_table(results, "table1", tables.TABLE1_HEADER, table1_rows),
               "heads": tables.write_table(results, "heads", tables.HEADS_HEADER, heads),
               "table2": tables.write_table(results, "table2", tables.TABLE2_HEADER, table2_rows),
               "table3": tables.write_table(results, "table3", tables.TABLE3_HEADER, table3_rows),
               "noise_floor": floor_table}
    summary = {
        "seeds": {name: len(systems[key]) for name, key in (("pt", "PT"), ("asr", "ASR10"), ("finetune", "SER"))},
        "table1": {name: {"uar": [p["uar"] for p in runs], "war": [p["war"] for p in runs],
                          "predictions": [p["predictions"] for p in runs]} for name, runs in probes.items()},
        "table1_rows": table1_rows, "heads": heads, "head_scores": head_info, "table2": table2_rows,
        "table3": table3_rows,
        "threshold": threshold, "noise_floor": {"mismatch": mismatch_floor, "attention": attention_floor,
                                                "rows": floor_rows},
        "attention": {k: v.mean(axis=(0, 1)).tolist() for k, v in attention.items()},
        "cka": {k: v.tolist() for k, v in cka.items()}, "layerwise": layerwise,
        "asr": {name: [s.info for s in systems[name]] for name in ASR_SUBSETS},
        "pt": [s.info for s in systems["PT"]], "stage_times": stages.times,
        "seconds": time.perf_counter() - start,
    }
    summary["verdicts"] = verdicts.verdicts(summary, systems["SER"][0].config.num_hidden_layers)
    report.write_report(results, config, utts, summary, written)
    logging.info("study finished in %.0f s; results in %s", summary["seconds"], results)
    return summary
