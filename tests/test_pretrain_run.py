"""Pretraining through the engine: a short run learns without collapsing; launch end to end; the probe claim."""

import json
import math

import jax
import numpy as np
import pytest
import transformers

from configs.pretrain import get_config
from recovery_jax.models import Wav2Vec2Config, receptive_field
from recovery_jax.train.pretrain import pretrain, pretraining_waveforms
from recovery_jax.train.train import train_and_evaluate
from recovery_jax.models.presets import preset

SMALL = preset("tiny", num_hidden_layers=2)


def _records(workdir):
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def _quick(tmp_path, **overrides):
    config = get_config("quick")
    config.corpus.root = str(tmp_path / "corpus")
    config.update(overrides)
    return config


def test_short_run_beats_chance_without_codebook_collapse(tmp_path):
    config = _quick(tmp_path, total_steps=60, log_every=10, checkpoint_every=60, bucket_samples=16000)
    config.optim.update(lr=2e-3, warmup_steps=0, schedule="constant")
    # One second of each of 8 clips: one shape to compile, and a batch a small model learns to predict in seconds.
    waveforms = [w[:16000] for w in pretraining_waveforms(config.corpus, receptive_field(SMALL))
                 if len(w) >= 16000][:8]
    params = pretrain(SMALL, waveforms, config, str(tmp_path / "run"))
    records = _records(tmp_path / "run")
    chance = math.log(1 + SMALL.num_negatives)  # a predictor that cannot tell target from distractors
    assert records[-1]["loss"] < records[0]["loss"]
    assert records[-1]["contrastive"] < 0.8 * chance
    codebook = SMALL.num_codevector_groups * SMALL.num_codevectors_per_group
    assert min(r["perplexity"] for r in records) > codebook / 4  # far from the collapse to ~2
    temperatures = [r["gumbel_temperature"] for r in records]
    assert temperatures == sorted(temperatures, reverse=True) and temperatures[0] < 2.0
    assert set(params) == {"backbone", "quantizer", "project_q", "project_hid"}


def test_launch_config_pretrains_and_exports_an_hf_pretraining_checkpoint(tmp_path):
    config = _quick(tmp_path, total_steps=4, checkpoint_every=2, bucket_samples=48000)  # one compiled shape
    config.model.update(num_hidden_layers=1, conv_dim=(32,) * 7)
    results = train_and_evaluate(config, str(tmp_path / "run"))
    assert results["pretrain"]["step"] == 4 and results["pretrain"]["perplexity"] > 2
    assert json.loads((tmp_path / "run" / "results.json").read_text()) == results
    _, info = transformers.Wav2Vec2ForPreTraining.from_pretrained(tmp_path / "run" / "hf",
                                                                   output_loading_info=True)
    assert not any(info.values())


@pytest.mark.slow
def test_pretrained_tiny_model_beats_random_init_on_the_emotion_probe(tmp_path):
    """The evidence that pretraining learnt something: layer-wise SVM probe UAR, PT vs the same random init."""
    from recovery_jax.data import emotion_index
    from recovery_jax.data.corpora import emotion_corpus, load_waveforms
    from recovery_jax.embed import layer_embeddings
    from recovery_jax.probe import probe_layers
    from recovery_jax.probe.svm import make_search
    from recovery_jax.train.tasks import get_task, init_params

    config = get_config()
    model_config = Wav2Vec2Config.from_dict(config.model.to_dict())
    min_samples = receptive_field(model_config)
    initial = jax.device_get(init_params(get_task("pretrain"), model_config, jax.random.PRNGKey(config.seed)))
    trained = pretrain(model_config, pretraining_waveforms(config.corpus, min_samples), config, str(tmp_path),
                       initial)
    records = _records(tmp_path)
    assert records[-1]["loss"] < records[0]["loss"] and min(r["perplexity"] for r in records) > 8
    utts = emotion_corpus(config.corpus)
    waveforms = load_waveforms(utts, min_samples)
    labels, sessions = [emotion_index(u.emotion) for u in utts], [u.session for u in utts]
    # a 3-value C grid on 3 CV folds: 10 SVM fits per fold instead of 26, the same search for both inits
    search = lambda: make_search({"svc__kernel": ["linear"], "svc__C": [1e-3, 1e-2, 1e-1]}, cv_folds=3)
    uar = {name: np.array([r.uar for r in probe_layers(layer_embeddings(model_config, p["backbone"], waveforms),
                                                        labels, sessions, search=search)])
           for name, p in (("random", initial), ("pretrained", trained))}
    print({name: np.round(u, 3).tolist() for name, u in uar.items()})
    assert uar["pretrained"].max() > uar["random"].max()
    assert uar["pretrained"].mean() > uar["random"].mean()
