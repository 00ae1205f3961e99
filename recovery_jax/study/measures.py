"""What the study measures on its systems: Table I probes, layer-wise probes, attention distances, CKA.

Probes are stages (a handcrafted probe takes tens of seconds); embeddings are cached by `embed`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from recovery_jax.analysis import attention_distances_per_utterance, stack_params
from recovery_jax.data import EMOTIONS, Fold, Utterance, emotion_index
from recovery_jax.data.corpora import load_waveforms
from recovery_jax.embed import (BoawConfig, boaw_fold_features, embeddings_for, fold_embeddings_for,
                                functionals_for, llds_for)
from recovery_jax.models import receptive_field
from recovery_jax.models.conv_cache import CorpusConvFeatures, clip_conv_features
from recovery_jax.probe import HANDCRAFTED_GRID, LINEAR_GRID, make_search, probe_layers, probe_loso, uar, war
from recovery_jax.probe.svm import Grid, SvmGridSearch
from recovery_jax.progress import Progress
from recovery_jax.study.stages import Stages, key_digest, safe_name
from recovery_jax.study.systems import System
from recovery_jax.train.head_init import head_logits

Embeddings = np.ndarray | dict[int, np.ndarray]  # (N, L+1, H), or per test session


def labels_and_sessions(utts: Sequence[Utterance]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([emotion_index(u.emotion) for u in utts]), np.array([u.session for u in utts])


def system_embeddings(system: System, utts: Sequence[Utterance], cache_dir: Path,
                      conv: Optional[CorpusConvFeatures] = None) -> Embeddings:
    """Pooled hidden states of every layer; per-fold systems give one array per test session. `conv`: the
    clips through a conv stack, used by every backbone that has it (all of them, when it is PT's)."""
    name = safe_name(system.name)
    if system.per_fold:
        return fold_embeddings_for(utts, cache_dir, name, system.config, system.backbones, conv=conv)
    return embeddings_for(utts, cache_dir, name, system.config, system.backbones[None], conv=conv)


def corpus_conv_features(system: System, utts: Sequence[Utterance]) -> CorpusConvFeatures:
    """`system`'s conv stack over every clip, once for all the systems that froze it."""
    conv = system.backbones[next(iter(system.backbones))]["feature_extractor"]
    waveforms = load_waveforms(utts, receptive_field(system.config))
    return CorpusConvFeatures(conv, clip_conv_features(system.config, conv, waveforms))


def own_fold_view(embeddings: Embeddings, sessions: np.ndarray) -> np.ndarray:
    """Each utterance's embedding from the network that did not see its session (per-fold systems)."""
    if not isinstance(embeddings, Mapping):
        return embeddings
    out = np.empty_like(next(iter(embeddings.values())))
    for session, table in embeddings.items():
        out[sessions == session] = table[sessions == session]
    return out


def head_scores(system: System, embeddings: Mapping[Any, np.ndarray], utts: Sequence[Utterance],
                folds: Sequence[Fold]) -> dict:
    """The fine-tuned SER heads' own UAR/WAR (%) on each fold's validation (training sessions) and test clips,
    averaged over folds as the probes are; per fold beside it. The head is affine -> mean over frames -> affine
    (train/head_init.py), so it is applied to the cached mean-pooled last layer of the fold's network: the
    network's own logits up to float rounding, without another pass over the audio."""
    row = {u.utt_id: i for i, u in enumerate(utts)}
    per_fold = {}
    for fold in folds:
        head, table = system.heads[fold.test_session], embeddings[fold.test_session]
        per_fold[fold.test_session] = {}
        for split, clips in (("valid", fold.valid), ("test", fold.test)):
            if clips:
                logits = head_logits(head, table[[row[u.utt_id] for u in clips], -1])
                truth, guess = (np.array([emotion_index(u.emotion) for u in clips]),
                                np.argmax(np.asarray(logits), axis=-1))
                per_fold[fold.test_session][split] = {"uar": uar(truth, guess, len(EMOTIONS)),
                                                      "war": war(truth, guess)}
    summary = {}
    for split in ("valid", "test"):
        scores = [f[split] for f in per_fold.values() if split in f]
        if scores:
            summary[f"head_{split}_uar"] = 100 * float(np.mean([s["uar"] for s in scores]))
            summary[f"head_{split}_war"] = 100 * float(np.mean([s["war"] for s in scores]))
    summary["folds"] = {str(k): v for k, v in per_fold.items()}
    return summary


def _last_layer(embeddings: Embeddings) -> Embeddings:
    if isinstance(embeddings, Mapping):
        return {k: v[:, -1] for k, v in embeddings.items()}
    return embeddings[:, -1]


def _probe_stage(stages: Stages, name: str, key: Any, run, kind: str = "probe") -> dict:
    def build(folder: Path) -> None:
        result = run()
        record = {**result.as_dict(), "predictions": result.predictions.tolist()}
        (folder / "probe.json").write_text(json.dumps(record))

    return stages.run(f"probe-{name}", key, build, lambda folder: json.loads((folder / "probe.json").read_text()),
                      kind, 1.0)


def _search(probe_cfg, grid: Grid = LINEAR_GRID) -> Callable[[], SvmGridSearch]:
    """The probes' SVM grid search; `probe.n_jobs` runs its cross-validation fits in parallel (same results)."""
    return lambda: make_search(grid, cv_folds=probe_cfg.cv_folds, n_jobs=probe_cfg.get("n_jobs"))


def probe_system(stages: Stages, system: System, embeddings: Embeddings, utts, probe_cfg) -> dict:
    """Table I row of a neural system: linear SVM on the last layer, leave-one-session-out."""
    labels, sessions = labels_and_sessions(utts)
    key = [system.key, probe_cfg.to_dict(), [u.utt_id for u in utts]]
    return _probe_stage(stages, system.name, key, lambda: probe_loso(
        _last_layer(embeddings), labels, sessions, search=_search(probe_cfg), name=system.name))


def probe_handcrafted(stages: Stages, utts, cache_dir: Path, probe_cfg, corpus_key: str) -> dict[str, dict]:
    """Table I group G-1: ComParE functionals and BoAW over ComParE LLDs."""
    labels, sessions = labels_and_sessions(utts)
    search = _search(probe_cfg, HANDCRAFTED_GRID)
    boaw = BoawConfig(codebook_size=probe_cfg.boaw_codebook_size)
    rows = {
        "ComParE_LLDxF": lambda: probe_loso(functionals_for(utts, cache_dir), labels, sessions, search=search,
                                            name="ComParE functionals"),
        "BoAW(ComParE_LLD)": lambda: probe_loso(boaw_fold_features(llds_for(utts, cache_dir), boaw), labels,
                                                sessions, search=search, name="BoAW"),
    }
    return {name: _probe_stage(stages, name.split("(")[0], [name, corpus_key, probe_cfg.to_dict()], run, "handcrafted")
            for name, run in rows.items()}


def probe_every_layer(stages: Stages, system: System, embeddings: Embeddings, utts, probe_cfg) -> list[float]:
    """UAR (%) of each layer (0 = encoder input): beyond the paper."""
    labels, sessions = labels_and_sessions(utts)
    key = [system.key, probe_cfg.to_dict(), [u.utt_id for u in utts]]

    def build(folder: Path) -> None:
        results = probe_layers(embeddings, labels, sessions, search=_search(probe_cfg),
                               name=system.name)
        (folder / "layers.json").write_text(json.dumps([100 * r.uar for r in results]))

    return stages.run(f"layerwise-{system.name}", key, build,
                      lambda folder: json.loads((folder / "layers.json").read_text()),
                      "probe", system.config.num_hidden_layers + 1)


def _fold_backbone(system: System, session: int):
    return system.backbones[session if system.per_fold else None]


def attention_pairs(stages: Stages, systems: Sequence[System], pairs: Sequence[tuple[int, int]], utts,
                    batch_size: int) -> np.ndarray:
    """(P, N, L, H) Eq. 1 distance between systems i and j of each pair on each utterance, all systems in one
    stacked pass.

    Per-fold systems are compared fold by fold on that fold's test utterances (the only data neither
    network was tuned on), so each utterance is seen by the networks that did not train on it.
    """
    pairs = [tuple(map(int, pair)) for pair in pairs]
    key = [[s.key for s in systems], pairs, [u.utt_id for u in utts], batch_size]
    _, sessions = labels_and_sessions(utts)
    config = systems[0].config
    work = len(systems) * sum(u.duration for u in utts)

    def build(folder: Path) -> None:
        waveforms = load_waveforms(utts, receptive_field(config))
        out = np.zeros((len(pairs), len(utts), config.num_hidden_layers, config.num_attention_heads), np.float32)
        progress = Progress(f"attention maps of {len(systems)} systems, {len(pairs)} pairs", len(waveforms),
                            "utterances")
        for session in sorted(set(sessions.tolist())):
            test = np.flatnonzero(sessions == session)
            stacked = stack_params(*[_fold_backbone(s, session) for s in systems])
            out[:, test] = attention_distances_per_utterance(config, stacked, [waveforms[i] for i in test],
                                                             batch_size, pairs, progress=progress)
        np.save(folder / "attention.npy", out)

    return stages.run(f"attention-{len(systems)}-systems", key, build,
                      lambda folder: np.load(folder / "attention.npy"), "attention", work)


def corpus_key(utts: Sequence[Utterance], extra: Optional[Any] = None) -> str:
    return key_digest([[u.utt_id, u.session, u.emotion] for u in utts] + [extra])
