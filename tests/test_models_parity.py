"""Our Flax wav2vec2 against HF transformers (PyTorch, eager attention), float32."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from recovery_jax.models import (Wav2Vec2ForCTC, Wav2Vec2ForSequenceClassification, Wav2Vec2Model,
                                 feature_lengths, load_hf)
from tiny_hf import make_hf_model, random_audio

TOL = 1e-5


def run_ours(folder, audio, lengths=None, **kw):
    config, params = load_hf(folder)
    out = Wav2Vec2Model(config, **kw).apply(
        {"params": params["backbone"]}, jnp.asarray(audio),
        None if lengths is None else jnp.asarray(lengths),
        output_hidden_states=True, output_attentions=True)
    return config, out


def run_hf(model, audio, mask=None):
    with torch.no_grad():
        return model(torch.from_numpy(audio), attention_mask=None if mask is None else torch.from_numpy(mask),
                     output_hidden_states=True, output_attentions=True)


@pytest.mark.parametrize("variant", ["base", "large"])
@pytest.mark.parametrize("family", ["wav2vec2", "hubert"])
def test_every_hidden_state_and_attention_map_match_hf(tmp_path, variant, family):
    model = make_hf_model(variant, family=family)
    model.save_pretrained(tmp_path)
    audio = random_audio(2, 4000)
    ref = run_hf(model, audio)
    _, ours = run_ours(tmp_path, audio)
    assert ours.hidden_states.shape[1] == len(ref.hidden_states) == 3
    for i, h in enumerate(ref.hidden_states):
        np.testing.assert_allclose(ours.hidden_states[:, i], h.numpy(), atol=TOL, rtol=0)
    for i, a in enumerate(ref.attentions):
        np.testing.assert_allclose(ours.attentions[:, i], a.numpy(), atol=TOL, rtol=0)
    # transformers v5: for stable-LN models last_hidden_state is after the final LN, hidden_states[-1] before.
    np.testing.assert_allclose(ours.last_hidden_state, ref.last_hidden_state.numpy(), atol=TOL, rtol=0)


@pytest.mark.parametrize("variant", ["base", "large"])
def test_padded_batch_matches_hf_with_attention_mask(tmp_path, variant):
    """Exact-HF mode: GroupNorm statistics over padding too, frame mask in the encoder, as HF does."""
    model = make_hf_model(variant)
    model.save_pretrained(tmp_path)
    audio, lengths = random_audio(3, 4000), np.array([4000, 3100, 2333])
    mask = (np.arange(4000)[None] < lengths[:, None]).astype(np.int64)
    audio = (audio * mask).astype(np.float32)
    ref = run_hf(model, audio, mask)
    config, ours = run_ours(tmp_path, audio, lengths, groupnorm_over_padding=True)
    frames = feature_lengths(config, lengths)
    for b, n in enumerate(frames):
        for i, h in enumerate(ref.hidden_states):
            np.testing.assert_allclose(ours.hidden_states[b, i, :n], h[b, :n].numpy(), atol=TOL, rtol=0)
        for i, a in enumerate(ref.attentions):
            np.testing.assert_allclose(ours.attentions[b, i, :, :n], a[b, :, :n].numpy(), atol=TOL, rtol=0)


@pytest.mark.parametrize("variant", ["base", "large"])
def test_padded_batch_equals_single_utterances(tmp_path, variant):
    make_hf_model(variant).save_pretrained(tmp_path)
    audio, lengths = random_audio(3, 4000, seed=1), np.array([4000, 3100, 2333])
    config, batch = run_ours(tmp_path, audio, lengths)
    frames = feature_lengths(config, lengths)
    assert np.array_equal(np.asarray(batch.frame_mask).sum(1), frames)
    for b, (n_samples, n) in enumerate(zip(lengths, frames)):
        _, single = run_ours(tmp_path, audio[b:b + 1, :n_samples])
        np.testing.assert_allclose(batch.hidden_states[b, :, :n], single.hidden_states[0], atol=TOL, rtol=0)
        np.testing.assert_allclose(batch.attentions[b, :, :, :n, :n], single.attentions[0], atol=TOL, rtol=0)
        # padded key columns get exactly zero attention
        assert float(np.abs(np.asarray(batch.attentions[b, :, :, :n, n:])).max(initial=0)) == 0.0


def test_ctc_head_matches_hf(tmp_path):
    model = make_hf_model("base", head="ForCTC")
    model.save_pretrained(tmp_path)
    audio = random_audio(2, 3000)
    with torch.no_grad():
        ref = model(torch.from_numpy(audio)).logits.numpy()
    config, params = load_hf(tmp_path)
    logits, _ = Wav2Vec2ForCTC(config).apply({"params": params}, jnp.asarray(audio))
    np.testing.assert_allclose(logits, ref, atol=TOL, rtol=0)


@pytest.mark.parametrize("variant", ["base", "large"])
def test_sequence_classification_head_matches_hf(tmp_path, variant):
    model = make_hf_model(variant, head="ForSequenceClassification")
    model.save_pretrained(tmp_path)
    audio, lengths = random_audio(2, 3000), np.array([3000, 2200])
    mask = (np.arange(3000)[None] < lengths[:, None]).astype(np.int64)
    with torch.no_grad():
        ref = model(torch.from_numpy((audio * mask).astype(np.float32)), attention_mask=torch.from_numpy(mask)).logits.numpy()
    config, params = load_hf(tmp_path)
    logits, _ = Wav2Vec2ForSequenceClassification(config, groupnorm_over_padding=True).apply(
        {"params": params}, jnp.asarray((audio * mask).astype(np.float32)), jnp.asarray(lengths))
    assert config.num_labels == 4
    np.testing.assert_allclose(logits, ref, atol=TOL, rtol=0)


@pytest.mark.slow
def test_full_size_base_config_matches_hf(tmp_path):
    import transformers

    torch.manual_seed(0)
    model = transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(attn_implementation="eager")).eval()
    model.save_pretrained(tmp_path)
    audio = random_audio(1, 32000)
    ref = run_hf(model, audio)
    _, ours = run_ours(tmp_path, audio)
    # 12 layers of 768/3072-wide float32 sums: GEMM kernels that block differently (AVX2 vs AVX-512 machines)
    # move a few hidden values of magnitude ~0.5 by 1.0-1.05e-5, so the bound there is 1e-5 + 1e-5 |x|.
    for i, h in enumerate(ref.hidden_states):
        np.testing.assert_allclose(ours.hidden_states[:, i], h.numpy(), atol=TOL, rtol=TOL)
    for i, a in enumerate(ref.attentions):
        np.testing.assert_allclose(ours.attentions[:, i], a.numpy(), atol=TOL, rtol=0)


@pytest.mark.parametrize("kernel_size,groups", [(16, 4), (15, 3), (128, 16)])
def test_positional_conv_kernel_gradient_equals_autodiff_of_the_grouped_conv(kernel_size, groups):
    """The hand-written kernel gradient (tap matmuls) against XLA's own derivative of the same conv."""
    import jax

    from recovery_jax.models.wav2vec2 import _grouped_conv, grouped_conv_same

    rng = np.random.RandomState(0)
    channels = 12 * groups
    x = jnp.asarray(rng.randn(2, 37, channels).astype(np.float32))
    kernel = jnp.asarray(rng.randn(kernel_size, channels // groups, channels).astype(np.float32) * 0.1)
    target = jnp.asarray(rng.randn(*_grouped_conv(x, kernel, groups).shape).astype(np.float32))

    def loss(conv):
        return lambda x, kernel: jnp.sum(jnp.tanh(conv(x, kernel, groups)) * target)

    ours = jax.grad(loss(grouped_conv_same), (0, 1))(x, kernel)
    reference = jax.grad(loss(_grouped_conv), (0, 1))(x, kernel)
    np.testing.assert_allclose(loss(grouped_conv_same)(x, kernel), loss(_grouped_conv)(x, kernel), rtol=0, atol=0)
    for got, want in zip(ours, reference):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * float(jnp.abs(want).max()))
