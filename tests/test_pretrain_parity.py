"""Our pretraining model and loss against HF `Wav2Vec2ForPreTraining`, same mask, negatives and Gumbel noise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from recovery_jax.models import Wav2Vec2ForPreTraining, feature_lengths, load_hf, pretraining_losses
from recovery_jax.train.pretrain_task import mask_spans, sample_negatives
from tiny_hf import make_hf_model, random_audio

TOL = 1e-5
# No dropout or LayerDrop, so HF's train mode differs from eval mode only by the Gumbel quantizer.
NO_DROPOUT = dict(hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
                  layerdrop=0.0, num_codevectors_per_group=8, num_codevector_groups=2, codevector_dim=16,
                  proj_codevector_dim=12, num_negatives=6)


def _setup(tmp_path, variant, lengths):
    model = make_hf_model(variant, head="ForPreTraining", **NO_DROPOUT)
    model.save_pretrained(tmp_path)
    config, params = load_hf(tmp_path)
    audio = random_audio(len(lengths), max(lengths)) * (np.arange(max(lengths)) < np.array(lengths)[:, None])
    frames = feature_lengths(config, np.array(lengths))
    width = int(feature_lengths(config, max(lengths)))
    rng = np.random.default_rng(0)
    mask = mask_spans(rng, frames, width, 0.5, 3, 2)
    negatives = sample_negatives(rng, mask, config.num_negatives)
    return model, config, params, audio.astype(np.float32), mask, negatives


def _hf_inputs(audio, lengths, mask, negatives):
    width = mask.shape[1]
    flat = negatives + width * np.arange(len(mask))[:, None, None]  # HF indexes the flattened batch
    return dict(input_values=torch.from_numpy(audio),
                attention_mask=torch.from_numpy((np.arange(audio.shape[1]) < np.array(lengths)[:, None]
                                                 ).astype(np.int64)),
                mask_time_indices=torch.from_numpy(mask), sampled_negative_indices=torch.from_numpy(flat))


def _assert_terms_match(ours, ref, terms):
    np.testing.assert_allclose(ours.projected_states, ref.projected_states.numpy(), atol=TOL, rtol=0)
    np.testing.assert_allclose(ours.projected_quantized_states, ref.projected_quantized_states.numpy(),
                               atol=TOL, rtol=0)
    for name, hf_name in (("perplexity", "codevector_perplexity"), ("contrastive", "contrastive_loss"),
                          ("diversity", "diversity_loss"), ("loss", "loss")):
        np.testing.assert_allclose(terms[name], getattr(ref, hf_name).item(), atol=TOL, rtol=TOL, err_msg=name)


@pytest.mark.parametrize("variant", ["base", "large"])
def test_training_mode_loss_terms_match_hf_with_replayed_gumbel_noise(tmp_path, variant, monkeypatch):
    lengths = [4000, 3300]
    model, config, params, audio, mask, negatives = _setup(tmp_path, variant, lengths)
    temperature = 0.7
    (ours, state) = Wav2Vec2ForPreTraining(config, groupnorm_over_padding=True).apply(
        {"params": params}, jnp.asarray(audio), jnp.asarray(lengths), mask_time_indices=jnp.asarray(mask),
        gumbel_temperature=temperature, deterministic=False, rngs={"dropout": jax.random.key(3)},
        mutable=["intermediates"])
    terms = pretraining_losses(ours, jnp.asarray(mask), jnp.asarray(negatives), config)
    noise = torch.from_numpy(np.array(state["intermediates"]["quantizer"]["gumbel_noise"][0]))

    def replayed_gumbel_softmax(logits, tau, hard):  # torch's hard straight-through with our noise
        soft = torch.softmax((logits + noise.reshape(logits.shape)) / tau, -1)
        one_hot = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1.0)
        return one_hot - soft.detach() + soft

    monkeypatch.setattr(torch.nn.functional, "gumbel_softmax", replayed_gumbel_softmax)
    model.train()
    model.set_gumbel_temperature(temperature)
    with torch.no_grad():
        ref = model(**_hf_inputs(audio, lengths, mask, negatives))
    _assert_terms_match(ours, ref, terms)
    assert terms["perplexity"] > 2


def test_eval_mode_argmax_codes_and_losses_match_hf(tmp_path):
    lengths = [4000, 4000, 2500]
    model, config, params, audio, mask, negatives = _setup(tmp_path, "base", lengths)
    ours = Wav2Vec2ForPreTraining(config, groupnorm_over_padding=True).apply(
        {"params": params}, jnp.asarray(audio), jnp.asarray(lengths), mask_time_indices=jnp.asarray(mask))
    terms = pretraining_losses(ours, jnp.asarray(mask), jnp.asarray(negatives), config)
    with torch.no_grad():
        ref = model.eval()(**_hf_inputs(audio, lengths, mask, negatives))
    _assert_terms_match(ours, ref, terms)


def test_collapsed_codebook_negatives_are_masked_as_in_hf(tmp_path):
    """A negative equal to its positive gets logit -inf (HF masks it): the loss stays finite."""
    lengths = [4000]
    model, config, params, audio, mask, negatives = _setup(tmp_path, "base", lengths)
    # One code for every frame: every negative equals its positive.
    params["quantizer"]["weight_proj"]["kernel"] = np.zeros_like(params["quantizer"]["weight_proj"]["kernel"])
    with torch.no_grad():
        model.quantizer.weight_proj.weight.zero_()
        ref = model.eval()(**_hf_inputs(audio, lengths, mask, negatives))
    ours = Wav2Vec2ForPreTraining(config).apply({"params": params}, jnp.asarray(audio), jnp.asarray(lengths),
                                                mask_time_indices=jnp.asarray(mask))
    terms = pretraining_losses(ours, jnp.asarray(mask), jnp.asarray(negatives), config)
    assert np.isfinite(terms["loss"])
    _assert_terms_match(ours, ref, terms)
