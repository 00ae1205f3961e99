"""The frozen conv stack's output cached per clip: equal to the conv over each clip alone, batched in the shape
the padded audio would give, and a fit fed the cache trains as the fit that runs the conv every step."""

import dataclasses
import functools

import jax
import numpy as np
import pytest

from recovery_jax.data.batching import batch_iterator
from recovery_jax.models import feature_lengths
from recovery_jax.embed.extract import layer_embeddings
from recovery_jax.models.conv_cache import CorpusConvFeatures, clip_conv_features
from recovery_jax.models.wav2vec2 import FeatureEncoder
from recovery_jax.train import loop
from recovery_jax.train.loop import fit_many
from recovery_jax.train.tasks import get_task, init_params
from train_helpers import MICRO, tone_examples, train_config

SER = get_task("ser")
CONFIG = dataclasses.replace(MICRO, hidden_dropout=0.0, attention_dropout=0.0, final_dropout=0.0,
                             mask_time_prob=0.3, mask_time_length=2)  # SpecAugment on: masks see the frame count


def _conv_params(seed=0):
    return jax.device_get(init_params(SER, CONFIG, jax.random.PRNGKey(seed)))["backbone"]["feature_extractor"]


def test_features_equal_the_conv_stack_on_each_clip_alone_and_repeats_run_once():
    clips = tone_examples(6).waveforms
    clips = clips + [clips[2].copy()]  # same samples, another array
    conv = _conv_params()
    features = clip_conv_features(CONFIG, conv, clips, batch_size=4, bucket_multiple=16000)
    encoder = FeatureEncoder(CONFIG)
    for clip, got in zip(clips, features):
        alone = np.asarray(encoder.apply({"params": conv}, clip[None], None))[0]
        assert got.shape == (feature_lengths(CONFIG, len(clip)), CONFIG.conv_dim[-1]) == alone.shape
        np.testing.assert_allclose(got, alone, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(features[2], features[-1])


def test_batches_carry_features_padded_to_the_padded_audios_frame_count():
    data = tone_examples(5)
    features = clip_conv_features(CONFIG, _conv_params(), data.waveforms)
    frames_for = functools.partial(feature_lengths, CONFIG)
    with_audio = list(batch_iterator(data.waveforms, data.labels, 4, bucket_multiple=6000))
    with_features = list(batch_iterator(data.waveforms, data.labels, 4, bucket_multiple=6000,
                                        conv_features=features, frames_for=frames_for))
    for a, f in zip(with_audio, with_features, strict=True):
        assert "audio" not in f
        assert f["conv_features"].shape[2] == frames_for(a["audio"].shape[-1])
        for key in ("lengths", "weights", "index", "labels"):
            np.testing.assert_array_equal(a[key], f[key])
        for row, length in enumerate(f["lengths"][0]):
            valid = frames_for(int(length))
            clip = np.resize(f["index"][0][f["index"][0] >= 0], 4)[row]  # filler rows repeat real rows
            np.testing.assert_array_equal(f["conv_features"][0, row, :valid], features[clip])
            assert not f["conv_features"][0, row, valid:].any()
    with pytest.raises(ValueError, match="frames_for missing"):
        next(batch_iterator(data.waveforms, None, 4, conv_features=features))


def test_a_fit_fed_cached_features_trains_as_the_fit_that_runs_the_conv(tmp_path, monkeypatch):
    """Two runs of different data sizes and seeds (their batches pad to the widest), SpecAugment on."""
    calls = []
    monkeypatch.setattr(loop, "clip_conv_features", lambda *a, **k: calls.append(a) or clip_conv_features(*a, **k))
    params = jax.device_get(init_params(SER, CONFIG, jax.random.PRNGKey(0)))
    data = [tone_examples(12, seed=1), tone_examples(20, seed=2)]
    config = train_config(8)
    config.bucket_samples = 2000  # several buckets, so joint batches really pad one run to the other's width
    plain = fit_many(SER, CONFIG, [params] * 2, data, config, str(tmp_path / "plain"), seeds=(3, 4))
    config.conv_cache = True
    cached = fit_many(SER, CONFIG, [params] * 2, data, config, str(tmp_path / "cached"), seeds=(3, 4))
    assert len(calls) == 1 and len(calls[0][2]) == 32  # one pass over both runs' clips
    for p, c in zip(plain, cached):
        moved = max(float(np.abs(np.asarray(x) - np.asarray(y)).max())
                    for x, y in zip(jax.tree.leaves(p), jax.tree.leaves(params)))
        diff = max(float(np.abs(np.asarray(x) - np.asarray(y)).max())
                   for x, y in zip(jax.tree.leaves(p), jax.tree.leaves(c)))
        assert moved > 1e-3 and diff <= 5e-5  # float summation order only (see test_train_many's TOL)


def test_runs_from_different_conv_stacks_each_get_their_own_stacks_features(tmp_path, monkeypatch):
    """ASR(x) seeds started from different PT seeds: one conv pass per run, each with its own frozen stack."""
    calls = []
    monkeypatch.setattr(loop, "clip_conv_features", lambda *a, **k: calls.append(a) or clip_conv_features(*a, **k))
    params = [jax.device_get(init_params(SER, CONFIG, jax.random.PRNGKey(seed))) for seed in (0, 1)]
    data = [tone_examples(12, seed=1), tone_examples(12, seed=2)]
    config = train_config(6)
    plain = fit_many(SER, CONFIG, params, data, config, str(tmp_path / "plain"), seeds=(3, 4))
    config.conv_cache = True
    cached = fit_many(SER, CONFIG, params, data, config, str(tmp_path / "cached"), seeds=(3, 4))
    assert [len(call[2]) for call in calls] == [12, 12]
    for call, start in zip(calls, params):
        assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(call[1]),
                                                        jax.tree.leaves(start["backbone"]["feature_extractor"])))
    for p, c in zip(plain, cached):
        diff = max(float(np.abs(np.asarray(x) - np.asarray(y)).max())
                   for x, y in zip(jax.tree.leaves(p), jax.tree.leaves(c)))
        assert diff <= 5e-5


def test_conv_cache_needs_a_frozen_conv_stack(tmp_path):
    params = jax.device_get(init_params(SER, CONFIG, jax.random.PRNGKey(0)))
    config = train_config(2, frozen=())
    config.conv_cache = True
    with pytest.raises(ValueError, match="conv_cache"):
        fit_many(SER, CONFIG, [params], [tone_examples(8)], config, str(tmp_path))


def test_embeddings_from_cached_features_equal_the_audio_path_and_only_for_their_conv_stack():
    params = jax.device_get(init_params(SER, CONFIG, jax.random.PRNGKey(0)))["backbone"]
    other = jax.device_get(init_params(SER, CONFIG, jax.random.PRNGKey(1)))["backbone"]
    clips = tone_examples(6).waveforms
    corpus = CorpusConvFeatures(params["feature_extractor"], clip_conv_features(CONFIG, params["feature_extractor"],
                                                                                clips))
    assert corpus.for_backbone(other) is None
    from_audio = layer_embeddings(CONFIG, params, clips, batch_size=4)
    from_cache = layer_embeddings(CONFIG, params, clips, batch_size=4, conv_features=corpus.for_backbone(params))
    np.testing.assert_allclose(from_cache, from_audio, rtol=1e-4, atol=1e-5)
