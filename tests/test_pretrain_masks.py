"""Host-side pretraining inputs: span masks and negatives as HF draws them, per-step batches, temperature."""

import numpy as np
import pytest
import torch
from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices

from configs.pretrain import get_config
from recovery_jax.models import feature_lengths
from recovery_jax.models.presets import preset
from recovery_jax.train.pretrain_task import gumbel_temperature, mask_spans, prepare_batch, sample_negatives


def test_spans_stay_in_valid_frames_and_mask_as_much_as_hf():
    rng = np.random.default_rng(0)
    frames, width = np.array([149, 120, 60, 31]), 149
    ours = np.stack([mask_spans(rng, frames, width, 0.65, 10, 2) for _ in range(300)])
    assert not any(ours[:, b, n:].any() for b, n in enumerate(frames))
    np.random.seed(0)
    attention = (np.arange(width)[None] < frames[:, None]).astype(np.int64)
    hf = np.stack([_compute_mask_indices((4, width), 0.65, 10, torch.from_numpy(attention), 2)
                   for _ in range(300)])
    np.testing.assert_allclose(ours.mean(0).sum(1), hf.mean(0).sum(1), rtol=0.03)
    assert (ours.sum(2) >= 10).all()  # min_masks 2: at least one full span even for 31 frames


def test_negatives_are_other_masked_frames_of_the_same_utterance():
    rng = np.random.default_rng(1)
    mask = mask_spans(rng, np.array([100, 70]), 100, 0.5, 5, 2)
    negatives = sample_negatives(rng, mask, 8)
    for b in range(2):
        masked = np.flatnonzero(mask[b])
        assert set(negatives[b, masked].ravel()) <= set(masked)
        assert (negatives[b, masked] != masked[:, None]).all()
        assert (negatives[b, ~mask[b]] == 0).all()
    counts = np.bincount(negatives[0, mask[0]].ravel(), minlength=100)[mask[0]]
    assert counts.min() > 0  # uniform over the utterance's masked frames, not a few of them


def _batch(widths=(8000, 6000, 5000, 8000)):
    lengths = np.array(widths, np.int32).reshape(2, 2)
    return {"audio": np.zeros((2, 2, 8000), np.float32), "lengths": lengths,
            "weights": np.array([[1, 1], [1, 0]], np.float32), "index": np.array([[0, 1], [2, -1]], np.int32)}


def test_prepared_batch_is_a_function_of_seed_and_step():
    config, model = get_config("quick"), preset("tiny")
    a, b, c = (prepare_batch(_batch(), step, model, config) for step in (5, 5, 6))
    for key in ("mask_time_indices", "negative_indices"):
        assert np.array_equal(a[key], b[key]) and not np.array_equal(a[key], c[key])
    width = feature_lengths(model, 8000)
    assert a["mask_time_indices"].shape == (2, 2, width)
    assert a["negative_indices"].shape == (2, 2, width, model.num_negatives)
    # the engine's weight is the masked-frame count; the filler row takes no part
    np.testing.assert_array_equal(a["weights"], a["mask_time_indices"].sum(-1))
    assert a["weights"][1, 1] == 0 and (a["weights"][a["index"] >= 0] > 0).all()
    assert a["gumbel_temperature"].shape == (2,)


def test_gumbel_temperature_decays_per_update_to_its_floor():
    p = get_config().pretrain
    assert gumbel_temperature(p, 0) == p.max_gumbel_temperature
    assert gumbel_temperature(p, 1) == pytest.approx(p.max_gumbel_temperature * p.gumbel_temperature_decay)
    assert gumbel_temperature(p, 10 ** 6) == p.min_gumbel_temperature


def test_crop_waveforms_takes_one_seeded_window_per_clip():
    from recovery_jax.train.pretrain import crop_waveforms

    clips = [np.arange(n, dtype=np.float32) for n in (500, 1000, 3000)]
    a, b = crop_waveforms(clips, 1000, seed=3), crop_waveforms(clips, 1000, seed=3)
    assert [len(w) for w in a] == [500, 1000, 1000]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert np.array_equal(a[2], np.arange(a[2][0], a[2][0] + 1000, dtype=np.float32))  # contiguous window
    assert all(np.array_equal(x, w) for x, w in zip(crop_waveforms(clips, 0, seed=3), clips))
