"""The study's networks (paper Fig. 2): PT, ASR(x), SER and ASR(x)->SER, trained or loaded as stages.

A system is one backbone (PT, ASR(x)) or one backbone per leave-one-session-out fold (SER and
ASR(x)->SER, fine-tuned without the fold's test session).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import jax
import ml_collections
import numpy as np

from recovery_jax.data import Fold
from recovery_jax.data.corpora import load_waveforms
from recovery_jax.embed.extract import last_layer_frames
from recovery_jax.models import Wav2Vec2Config, load_hf, receptive_field, save_hf
from recovery_jax.study.stages import Stages, key_digest
from recovery_jax.train.ctc import CharVocab
from recovery_jax.train.head_init import HEAD_KEYS, fit_ctc_head, fit_ser_head
from recovery_jax.train.loop import fit_many
from recovery_jax.train.tasks import get_task, init_params
from recovery_jax.train.train import ctc_examples, evaluate_ctc, ser_examples

Params = Any


@dataclasses.dataclass(frozen=True)
class System:
    name: str
    config: Wav2Vec2Config
    backbones: dict[Optional[int], Params]  # {None: params} or {test_session: params}
    key: str  # digest of everything it was made from; downstream stage keys build on it
    info: dict = dataclasses.field(default_factory=dict)  # e.g. WER of an ASR system
    heads: dict[Optional[int], Params] = dataclasses.field(default_factory=dict)  # SER head per fold (HEAD_KEYS)

    @property
    def per_fold(self) -> bool:
        return None not in self.backbones


def _load_backbone(folder: Path) -> tuple[Wav2Vec2Config, Params]:
    config, params = load_hf(folder / "hf")
    return config, params["backbone"]


def _load_fold(folder: Path) -> tuple[Params, Params]:
    """(backbone, SER head) of one fold's fine-tuned network."""
    params = load_hf(folder / "hf")[1]
    return params["backbone"], {k: params[k] for k in HEAD_KEYS}


def _read_info(folder: Path) -> dict:
    path = folder / "info.json"
    return json.loads(path.read_text()) if path.exists() else {}


def checkpoint_system(name: str, folder: str) -> System:
    """A system from a local HF folder (real checkpoints: wav2vec2-base, -base-100h, ...)."""
    config, params = load_hf(folder)
    weights = sorted(p for p in Path(folder).iterdir() if p.suffix in (".safetensors", ".bin", ".json"))
    key = key_digest([name, os.path.abspath(folder), [(p.name, p.stat().st_size, p.stat().st_mtime) for p in weights]])
    return System(name, config, {None: params["backbone"]}, key)


def train_work(settings: ml_collections.ConfigDict, runs: int, utts: Sequence) -> float:
    """A training stage's size in the ETA's "train" / "pretrain" units: audio-seconds through the step."""
    seconds = np.mean([u.duration for u in utts]) if len(utts) else 0.0
    if "pretrain" in settings:  # one crop per clip
        seconds = min(seconds, settings.pretrain.crop_samples / 16000)
    return float(runs * settings.total_steps * settings.batch_size * seconds)


def pretrained_system(stages: Stages, name: str, model: ml_collections.ConfigDict,
                      settings: ml_collections.ConfigDict, audio_utts: Sequence, corpus_key: str) -> System:
    """PT: self-supervised wav2vec2 pretraining of `model` on unlabelled `audio_utts`."""
    from recovery_jax.train.pretrain import final_metrics, pretrain

    config = Wav2Vec2Config.from_dict(model.to_dict())
    key = ["PT", model.to_dict(), settings.to_dict(), corpus_key]

    def build(folder: Path) -> None:
        waveforms = load_waveforms(audio_utts, receptive_field(config))
        params = pretrain(config, waveforms, settings, str(folder))
        save_hf(folder / "hf", config, params)
        (folder / "info.json").write_text(json.dumps(final_metrics(str(folder))))

    def load(folder: Path) -> System:
        loaded_config, backbone = _load_backbone(folder)
        return System(name, loaded_config, {None: backbone}, key_digest(key), _read_info(folder))

    return stages.run(f"pretrain-{name}", key, build, load, "pretrain", train_work(settings, 1, audio_utts))


def asr_systems(stages: Stages, name: str, inits: Sequence[System], settings: ml_collections.ConfigDict,
                train_utts: Sequence, test_utts: Sequence) -> list[System]:
    """ASR(x) seeds: CTC fine-tuning of `inits[k]` on one ASR subset with seed `settings.seed + k`, all seeds as
    one job (`fit_many`); WER and CER of each measured on `test_utts`."""
    names = [f"{name}#{k}" for k in range(len(inits))]
    seeds = [settings.seed + k for k in range(len(inits))]
    key = ["ASR", name, [i.key for i in inits], settings.to_dict(), [u.utt_id for u in train_utts]]
    vocab = CharVocab.letters()
    config = dataclasses.replace(inits[0].config, vocab_size=len(vocab), pad_token_id=vocab.blank_id)

    def build(folder: Path) -> None:
        task = get_task("ctc")
        params = [init_params(task, config, jax.random.PRNGKey(seed), {"backbone": init.backbones[None]})
                  for seed, init in zip(seeds, inits)]
        examples = ctc_examples(train_utts, vocab, receptive_field(config))
        if settings.get("linear_probe_steps"):
            params = _linear_probe_lm_heads(params, inits, examples, config, settings)
        trained = fit_many(task, config, params, [examples] * len(inits), settings, str(folder), seeds=seeds,
                           names=names)
        for run, params in zip(names, trained):
            info = evaluate_ctc(config, params, test_utts, vocab, settings)
            save_hf(folder / run / "hf", config, params)
            vocab.save(folder / run / "hf" / "vocab.json")
            (folder / run / "info.json").write_text(json.dumps(info, indent=1))

    def load(folder: Path) -> list[System]:
        systems = []
        for run in names:
            loaded_config, backbone = _load_backbone(folder / run)
            systems.append(System(run, loaded_config, {None: backbone}, key_digest([key, run]),
                                  _read_info(folder / run)))
        return systems

    return stages.run(f"ctc-{name}", key, build, load, "train", train_work(settings, len(inits), train_utts))


def _linear_probe_lm_heads(params: Sequence[Params], inits: Sequence[System], examples, config: Wav2Vec2Config,
                           settings: ml_collections.ConfigDict) -> list[Params]:
    """LP-FT (train/head_init.py): each run's lm_head fitted on its frozen init's last-layer frames of the first
    `settings.linear_probe_clips` training clips. The fit starts from the first run's head and is the same for
    every run of one init, so it is done once per init; runs still differ in dropout and data order."""
    clips = slice(0, settings.linear_probe_clips)
    fitted: dict[str, Params] = {}
    for init in inits:
        if init.key not in fitted:
            frames = last_layer_frames(init.config, init.backbones[None], examples.waveforms[clips],
                                       bucket_multiple=settings.bucket_samples)
            fitted[init.key] = fit_ctc_head(params[0], frames, examples.targets[clips], config.pad_token_id,
                                            settings.linear_probe_steps, settings.linear_probe_lr)["lm_head"]
    return [{**p, "lm_head": fitted[init.key]} for p, init in zip(params, inits)]


def ser_system(stages: Stages, name: str, init: System, settings: ml_collections.ConfigDict,
               folds: Sequence[Fold], last_layer: Callable[[System], Mapping[str, np.ndarray]]) -> System:
    """SER fine-tuning of `init`'s backbone once per fold, each without its test session: all folds trained
    together as one job (`fit_many`). `last_layer(system)`: utterance id -> the system's pooled last layer
    (the study's cached embeddings), for the LP-FT head fit. The heads' own held-out scores come from the
    study's embeddings of the fine-tuned networks (`measures.head_scores`), not from another pass here."""
    task = get_task("ser")
    sessions = [fold.test_session for fold in folds]
    key = [name, init.key, settings.to_dict(), {f.test_session: [u.utt_id for u in f.train] for f in folds}]

    def build(folder: Path) -> None:
        params = init_params(task, init.config, jax.random.PRNGKey(settings.seed), {"backbone": init.backbones[None]})
        data = [ser_examples(fold.train, receptive_field(init.config)) for fold in folds]
        starts = _linear_probe_heads(last_layer(init), params, folds, data, settings) \
            if settings.get("linear_probe_steps") else [params] * len(folds)
        trained = fit_many(task, init.config, starts, data, settings, str(folder),
                           names=[f"fold{s}" for s in sessions])
        for session, params in zip(sessions, trained):
            save_hf(folder / f"fold{session}" / "hf", init.config, params)

    def load(folder: Path) -> System:
        loaded = {s: _load_fold(folder / f"fold{s}") for s in sessions}
        return System(name, init.config, {s: b for s, (b, _) in loaded.items()}, key_digest(key),
                      heads={s: h for s, (_, h) in loaded.items()})

    work = sum(train_work(settings, 1, fold.train) for fold in folds)
    return stages.run(f"ser-{name}", key, build, load, "train", work)


def _linear_probe_heads(pooled: Mapping[str, np.ndarray], params: Params, folds: Sequence[Fold], data: Sequence,
                        settings) -> list[Params]:
    """LP-FT (train/head_init.py): per fold, `params` with the SER head fitted on the frozen initial backbone's
    pooled last layer (`pooled`: utterance id -> vector) of that fold's training clips."""
    return [fit_ser_head(params, np.stack([pooled[u.utt_id] for u in fold.train]), examples.labels,
                         settings.linear_probe_steps, settings.linear_probe_lr,
                         settings.get("linear_probe_l2", 0.0))
            for fold, examples in zip(folds, data)]
