"""Inputs both frameworks share: one checkpoint with an SER head, unpadded corpus batches, a supported Adam."""

import ml_collections
import numpy as np
import pytest
import torch
import transformers

from configs import corpus
from configs.determinism import MICRO, get_config
from recovery_jax.determinism.inputs import check_optim, corpus_batches, prepare_checkpoint
from recovery_jax.models import load_hf


def test_default_checkpoint_is_built_and_labelled_random(tmp_path):
    folder, label = prepare_checkpoint("", str(tmp_path), MICRO, 4, seed=0)
    assert "random" in label and "not a pretrained model" in label and folder.startswith(str(tmp_path))
    config, params = load_hf(folder)
    assert {"projector", "classifier"} <= set(params) and config.num_labels == 4


def test_a_headless_checkpoint_gets_one_head_that_both_frameworks_load(tmp_path):
    torch.manual_seed(0)
    transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(**MICRO)).save_pretrained(tmp_path / "bare")
    folder, label = prepare_checkpoint(str(tmp_path / "bare"), str(tmp_path / "out"), MICRO, 4, seed=0)
    assert "SER head initialised by JAX" in label
    _, params = load_hf(folder)
    model, info = transformers.Wav2Vec2ForSequenceClassification.from_pretrained(folder, output_loading_info=True)
    assert not info["missing_keys"]
    np.testing.assert_array_equal(model.classifier.weight.detach().numpy(), params["classifier"]["kernel"].T)
    assert prepare_checkpoint(folder, str(tmp_path / "again"), MICRO, 4, seed=0)[0] == folder  # has a head now


def test_corpus_batches_are_unpadded_and_labelled(tmp_path):
    section = ml_collections.ConfigDict(dict(name="embedded", root=str(tmp_path / "corpus"),
                                             embedded=corpus.get_config("quick")))
    batches = corpus_batches(section, 4, 3, 5000)
    assert len(batches) == 3
    for audio, labels in batches:
        assert audio.shape == (4, 5000) and audio.dtype == np.float32 and labels.shape == (4,)
        assert np.all(np.abs(audio).max(axis=1) > 0)


def test_optimiser_the_torch_side_cannot_mirror_is_refused():
    optim = get_config("quick").optim
    check_optim(optim)
    optim.accum_steps = 8
    with pytest.raises(ValueError, match="accum_steps=1"):
        check_optim(optim)
