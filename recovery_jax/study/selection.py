"""Choosing the SER recipe without touching a test session: nested leave-one-session-out validation.

Study fold k tests on session k. Its validation twin trains SER on the sessions other than k and v (the next
session, cyclically) and is scored on v: a linear SVM fitted on the fine-tuned network's pooled last layer of
the training sessions' clips, scored on session v's clips, against the same SVM on the initial backbone's. So a
recipe is judged by what the study's Table I measures (the last-layer probe's UAR, its gain over PT) on a
speaker the fine-tune never heard, and session k plays no part.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Mapping, Sequence

import ml_collections
import numpy as np

from recovery_jax.data import Fold, Utterance
from recovery_jax.data.corpora import asr_corpus, emotion_corpus
from recovery_jax.probe import LINEAR_GRID, make_search, uar
from recovery_jax.study.measures import corpus_conv_features, labels_and_sessions, system_embeddings
from recovery_jax.study.stages import Stages, atomic_write_text
from recovery_jax.study.study import pt_draws, seeded, study_corpus_key
from recovery_jax.study.systems import System, checkpoint_system, ser_system
from recovery_jax.train.loop import with_seed


def validation_folds(utts: Sequence[Utterance]) -> list[Fold]:
    """One fold per study fold k: trains on the sessions other than k and v = the session after k (the last
    wraps to the first), "tests" on v. Each fold is named by its `test_session` v, so folds stay distinct."""
    sessions = sorted({u.session for u in utts})
    if len(sessions) < 3:
        raise ValueError(f"nested validation needs at least 3 sessions (test, validation, training), got {sessions}")
    folds = []
    for k, test in enumerate(sessions):
        valid = sessions[(k + 1) % len(sessions)]
        folds.append(Fold(valid, [u for u in utts if u.session not in (test, valid)], [],
                          [u for u in utts if u.session == valid]))
    return folds


def parse_overrides(text: str) -> dict[str, object]:
    """"optim.lr=3e-5;total_steps=200" -> {"optim.lr": 3e-05, "total_steps": 200}; values are Python
    literals (tuples for `optim.frozen`), otherwise strings."""
    overrides = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"recipe override {item!r}: expected key=value (e.g. optim.lr=3e-5)")
        try:
            overrides[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            overrides[key.strip()] = value.strip()
    return overrides


def with_overrides(recipe: ml_collections.ConfigDict, overrides: Mapping[str, object]) -> ml_collections.ConfigDict:
    """A copy of `recipe` with dotted keys set; a key the recipe does not have is an error naming it, except
    under `optim` (optional settings such as `head_lr_scale`)."""
    out = ml_collections.ConfigDict(recipe.to_dict())
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            if part not in node:
                raise KeyError(f"recipe override {key!r}: the SER recipe has no section {part!r}")
            node = node[part]
        if leaf not in node and parents != ["optim"]:
            raise KeyError(f"recipe override {key!r}: the SER recipe has no {leaf!r} (has {sorted(node.keys())})")
        with node.unlocked():
            node[leaf] = tuple(value) if isinstance(value, list) else value
    return out


def validation_uar(embeddings, utts: Sequence[Utterance], folds: Sequence[Fold], probe_cfg) -> list[float]:
    """Per validation fold, UAR (%) of a linear SVM on the pooled last layer: fitted on the fold's training
    clips, scored on its validation session. `embeddings`: (N, L+1, H), or one such table per fold session
    (a fine-tuned system's own network for each fold)."""
    labels, _ = labels_and_sessions(utts)
    row = {u.utt_id: i for i, u in enumerate(utts)}
    scores = []
    for fold in folds:
        table = embeddings[fold.test_session] if isinstance(embeddings, Mapping) else embeddings
        train = np.array([row[u.utt_id] for u in fold.train])
        valid = np.array([row[u.utt_id] for u in fold.test])
        search = make_search(LINEAR_GRID, cv_folds=probe_cfg.cv_folds, n_jobs=probe_cfg.get("n_jobs"))
        search.fit(table[train, -1], labels[train])
        scores.append(100 * uar(labels[valid], search.predict(table[valid, -1]), 4))
    return scores


def validate_recipe(stages: Stages, name: str, init: System, initial, recipe: ml_collections.ConfigDict, utts,
                    cache: Path, probe_cfg, conv=None) -> list[float]:
    """Per validation fold, the probe UAR (%) of SER fine-tuned from `init` (`initial`: its embeddings) with
    `recipe`."""
    folds = validation_folds(utts)
    pooled = {u.utt_id: initial[i, -1] for i, u in enumerate(utts)}
    system = ser_system(stages, name, init, recipe, folds, lambda _: pooled)
    return validation_uar(system_embeddings(system, utts, cache, conv), utts, folds, probe_cfg)


def initial_systems(config: ml_collections.ConfigDict, stages: Stages, utts, pt_seeds: int) -> list[System]:
    """The backbones SER starts from: the study's PT draws (same stages, so a study workdir's are reused), or
    the PT checkpoint."""
    if config.checkpoints.PT:
        return [checkpoint_system("PT", config.checkpoints.PT)]
    unlabelled = list(utts) + list(asr_corpus(config.corpus)["asr960"])
    return pt_draws(config, stages, unlabelled, study_corpus_key(config, utts), pt_seeds)


def select_recipes(config: ml_collections.ConfigDict, workdir: Path, recipes: Mapping[str, str], pt_seeds: int,
                   seeds: int) -> dict:
    """Every recipe ({name: overrides of config.ser}) validated from every PT draw with `seeds` fine-tuning
    seeds; writes results/selection.{json,md} under `workdir` and returns the JSON's content."""
    variants = {name: with_overrides(config.ser, parse_overrides(text)) for name, text in recipes.items()}
    stages = Stages(workdir / "stages", {})
    utts = emotion_corpus(config.corpus)
    folds = validation_folds(utts)
    cache = workdir / "embeddings"
    rows = []
    for p, init in enumerate(initial_systems(config, stages, utts, pt_seeds)):
        conv = corpus_conv_features(init, utts) if config.ser.get("conv_cache") else None
        initial = system_embeddings(init, utts, cache, conv)
        pt = validation_uar(initial, utts, folds, config.probe)  # once per draw: the baseline of every recipe
        for name, recipe in variants.items():
            for k in range(seeds):
                ser = validate_recipe(stages, seeded(f"valid-{name}-PT{p}", k), init, initial,
                                      with_seed(recipe, recipe.seed + k), utts, cache, config.probe, conv)
                rows.append({"recipe": name, "pt_seed": p, "seed": k, "pt": float(np.mean(pt)),
                             "ser": float(np.mean(ser)), "gain": float(np.mean(ser) - np.mean(pt)),
                             "folds": {str(f.test_session): [a, b] for f, a, b in zip(folds, pt, ser)}})
    summary = {"recipes": {n: recipes[n] for n in variants}, "runs": rows,
               "mean": {n: _spread([r["gain"] for r in rows if r["recipe"] == n]) for n in variants}}
    results = workdir / "results"
    results.mkdir(parents=True, exist_ok=True)
    atomic_write_text(results / "selection.json", json.dumps(summary, indent=1))
    atomic_write_text(results / "selection.md", selection_markdown(summary))
    return summary


def _spread(values: Sequence[float]) -> dict:
    return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else
            float("nan"), "runs": len(values), "min": float(np.min(values))}


def selection_markdown(summary: Mapping) -> str:
    lines = ["# SER recipes on nested validation (never a test session)", "",
             "Gain = fine-tuned last-layer probe UAR − PT's, on the held-out training session of each study fold "
             "(mean over folds), in % points.", "",
             "| recipe | overrides | runs | gain mean | gain std | gain min | per run (PT seed/seed: PT → SER) |",
             "|---|---|---|---|---|---|---|"]
    for name, spread in summary["mean"].items():
        runs = [r for r in summary["runs"] if r["recipe"] == name]
        detail = ", ".join(f"{r['pt_seed']}/{r['seed']}: {r['pt']:.1f} → {r['ser']:.1f}" for r in runs)
        lines.append(f"| {name} | `{summary['recipes'][name] or '(the config)'}` | {spread['runs']} | "
                     f"{spread['mean']:+.2f} | {spread['std']:.2f} | {spread['min']:+.2f} | {detail} |")
    return "\n".join(lines) + "\n"
