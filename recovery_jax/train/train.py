"""`train_and_evaluate(config, workdir)`: corpus -> init -> fit -> evaluate -> HF export."""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from recovery_jax.data import EMOTIONS, emotion_index, loso_folds
from recovery_jax.data.corpora import asr_corpus, emotion_corpus, load_waveforms
from recovery_jax.models import Wav2Vec2Config, load_hf, receptive_field, save_hf, with_compute
from recovery_jax.probe.metrics import uar, war
from recovery_jax.train.ctc import CharVocab, error_rate
from recovery_jax.train.loop import Examples, fit, predict
from recovery_jax.train.metric_writer import MetricWriter
from recovery_jax.train.pretrain import final_metrics, pretrain, pretraining_waveforms
from recovery_jax.train.tasks import get_task, init_params


def model_and_params(config: ml_collections.ConfigDict) -> tuple[Wav2Vec2Config, Any]:
    """From `config.init` (an HF folder) or, when empty, random weights of `config.model`; computed as
    `config.compute` says (remat, compute_dtype), whichever the source."""
    task = get_task(config.task)
    rng = jax.random.PRNGKey(config.seed)
    if config.init:
        if not os.path.isdir(config.init):
            raise ValueError(f"no such folder (--config.init={config.init}): expected an HF model folder "
                             f"(config.json + weights) or a previous run's hf/ export")
        model_config, pretrained = load_hf(config.init)
    else:
        model_config, pretrained = Wav2Vec2Config.from_dict(config.model.to_dict()), None
    compute = config.compute.to_dict() if "compute" in config else {}
    model_config = with_compute(model_config, compute, "config.compute")
    return model_config, init_params(task, model_config, rng, pretrained)


def ser_examples(utts, min_samples: int) -> Examples:
    return Examples(load_waveforms(utts, min_samples), labels=np.array([emotion_index(u.emotion) for u in utts]))


def ctc_examples(utts, vocab: CharVocab, min_samples: int) -> Examples:
    return Examples(load_waveforms(utts, min_samples), targets=[vocab.encode(u.transcript) for u in utts])


def evaluate_ser(model_config, params, examples: Examples, config) -> dict[str, Any]:
    out = predict(get_task("ser"), model_config, params, examples, config.eval_batch_size, config.bucket_samples)
    predictions = np.array(out["prediction"])
    return {"uar": uar(examples.labels, predictions, len(EMOTIONS)), "war": war(examples.labels, predictions),
            "predictions": predictions.tolist()}


def evaluate_ctc(model_config, params, utts, vocab: CharVocab, config) -> dict[str, Any]:
    examples = ctc_examples(utts, vocab, receptive_field(model_config))
    out = predict(get_task("ctc"), model_config, params, examples, config.eval_batch_size, config.bucket_samples)
    hypotheses = [vocab.decode_greedy(ids[:n]) for ids, n in zip(out["frame_ids"], out["frames"])]
    references = [" ".join(u.transcript.upper().split()) for u in utts]
    return {"wer": error_rate(references, hypotheses, "word"), "cer": error_rate(references, hypotheses, "char"),
            "examples": list(zip(references[:3], hypotheses[:3]))}


def _write_eval_scalars(logdir: str, step: int, results: dict[str, dict[str, Any]]) -> None:
    """The held-out UAR/WAR/CER/WER as TensorBoard's "eval" run beside the training curves."""
    scalars = {f"{split}/{name}": value for split, r in results.items() for name, value in r.items()
               if name in ("uar", "war", "wer", "cer")}
    if scalars:
        writer = MetricWriter(logdir)
        writer.write_scalars(step, scalars)
        writer.close()


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """Fine-tunes per `config` (task "ser" on one LOSO fold, "ctc" on an ASR subset, or "pretrain"
    self-supervised on the corpus audio) in `workdir`,
    resuming from its checkpoints; writes results.json and, if asked, an HF folder `workdir/hf`."""
    task = get_task(config.task)
    model_config, params = model_and_params(config)
    min_samples = receptive_field(model_config)
    emotion = emotion_corpus(config.corpus)
    if config.task == "ser":
        fold = {f.test_session: f for f in loso_folds(emotion, config.corpus.valid_fraction, config.corpus.seed)}
        if config.corpus.test_session not in fold:
            raise ValueError(f"--config.corpus.test_session={config.corpus.test_session}: no such session; "
                             f"the corpus has {sorted(fold)}")
        fold = fold[config.corpus.test_session]
        params = fit(task, model_config, params, ser_examples(fold.train, min_samples), config, workdir)
        results = {split: evaluate_ser(model_config, params, ser_examples(utts, min_samples), config)
                   for split, utts in (("valid", fold.valid), ("test", fold.test))}
    elif config.task == "pretrain":
        params = pretrain(model_config, pretraining_waveforms(config.corpus, min_samples), config, workdir, params)
        results = {"pretrain": final_metrics(workdir)}
    else:
        vocab = CharVocab.letters()
        if model_config.vocab_size != len(vocab):
            raise ValueError(f"model vocab_size {model_config.vocab_size} != {len(vocab)} characters")
        train_utts = asr_corpus(config.corpus)[config.corpus.subset]
        params = fit(task, model_config, params, ctc_examples(train_utts, vocab, min_samples), config, workdir)
        # Held-out speech: the emotion corpus's neutral clips (other voices, same sentence list).
        neutral = [u for u in emotion if u.emotion == "neutral"]
        results = {"neutral_emotion_corpus": evaluate_ctc(model_config, params, neutral, vocab, config)}
    logging.info("results: %s", {k: {m: v for m, v in r.items() if m in ("uar", "war", "wer", "cer")}
                                 for k, r in results.items()})
    _write_eval_scalars(os.path.join(workdir, "eval"), config.total_steps, results)
    # Every process holds the same params and results; one writes them (the workdir may be shared).
    if jax.process_index() == 0:
        if config.task == "ctc":
            vocab.save(os.path.join(workdir, "vocab.json"))
        if config.export_hf:
            save_hf(os.path.join(workdir, "hf"), model_config, params)
        with open(os.path.join(workdir, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
    return results
