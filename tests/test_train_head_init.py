"""LP-FT's first stage: the SER head fitted on pooled states is the head the network applies; the CTC head
fitted on frame states decodes them."""

import jax
import numpy as np

from recovery_jax.embed.extract import last_layer_frames, layer_embeddings
from recovery_jax.models import Wav2Vec2Model
from recovery_jax.train.ctc import CharVocab, error_rate
from recovery_jax.train.head_init import fit_ctc_head, fit_ser_head, head_logits
from recovery_jax.train.loop import predict
from recovery_jax.train.tasks import get_task, init_params
from train_helpers import MICRO, tone_examples

SER = get_task("ser")


def test_fitted_head_is_the_networks_head_and_separates_the_classes():
    params = jax.device_get(init_params(SER, MICRO, jax.random.PRNGKey(0)))
    data = tone_examples(32)
    pooled = layer_embeddings(MICRO, params["backbone"], data.waveforms, layers=(MICRO.num_hidden_layers,))[:, 0]
    fitted = fit_ser_head(params, pooled, data.labels, steps=500, lr=1e-2)
    for key in ("backbone",):  # only the head moves
        for a, b in zip(jax.tree.leaves(fitted[key]), jax.tree.leaves(params[key])):
            np.testing.assert_array_equal(a, b)
    # the network's own logits on audio equal the head on the pooled states (pooling commutes with the projector)
    logits = np.asarray(predict(SER, MICRO, fitted, data, 8, 12000)["logits"])
    np.testing.assert_allclose(logits, np.asarray(head_logits(fitted, pooled)), rtol=1e-4, atol=1e-4)
    before = (np.argmax(np.asarray(head_logits(params, pooled)), -1) == data.labels).mean()
    after = (np.argmax(logits, -1) == data.labels).mean()
    assert after >= 0.9 > before



def test_l2_head_fit_shrinks_the_head_and_still_separates():
    params = jax.device_get(init_params(SER, MICRO, jax.random.PRNGKey(0)))
    data = tone_examples(32)
    pooled = layer_embeddings(MICRO, params["backbone"], data.waveforms, layers=(MICRO.num_hidden_layers,))[:, 0]
    norms = {}
    for l2 in (0.0, 1e-2):
        fitted = fit_ser_head(params, pooled, data.labels, steps=500, lr=1e-2, l2=l2)
        norms[l2] = sum(float(np.square(fitted[k]["kernel"]).sum()) for k in ("projector", "classifier"))
        accuracy = (np.argmax(np.asarray(head_logits(fitted, pooled)), -1) == data.labels).mean()
        assert accuracy >= 0.75, (l2, accuracy)
    assert norms[1e-2] < 0.5 * norms[0.0], norms


def test_last_layer_frames_are_each_clips_own_unpadded_states():
    params = jax.device_get(init_params(SER, MICRO, jax.random.PRNGKey(0)))["backbone"]
    waves = tone_examples(5).waveforms
    frames = last_layer_frames(MICRO, params, waves, batch_size=4, bucket_multiple=12000)
    for wave, got in zip(waves, frames):
        alone = Wav2Vec2Model(MICRO).apply({"params": params}, wave[None], deterministic=True).last_hidden_state[0]
        assert got.shape == alone.shape
        np.testing.assert_allclose(got, np.asarray(alone), rtol=1e-4, atol=1e-4)


def test_fitted_ctc_head_decodes_frame_states():
    """Letters spoken as two frames of their own direction in state space, a blank-like frame between them,
    clips of different lengths: a fitted lm_head recovers the transcripts, a random one does not."""
    vocab, rng, dim = CharVocab.letters(), np.random.default_rng(0), 16
    letters = "ETAONIHS"
    directions = {c: rng.standard_normal(dim) for c in letters}
    silence = rng.standard_normal(dim)
    texts, frames = [], []
    for _ in range(48):
        text = "".join(rng.choice(list(letters), int(rng.integers(2, 7))))
        states = [silence]
        for c in text:
            states += [directions[c], directions[c], silence]
        texts.append(text)
        frames.append((np.stack(states) + 0.1 * rng.standard_normal((len(states), dim))).astype(np.float32))
    params = {"backbone": {"marker": np.ones(3, np.float32)},
              "lm_head": {"kernel": 0.01 * rng.standard_normal((dim, len(vocab))).astype(np.float32),
                          "bias": np.zeros(len(vocab), np.float32)}}

    def cer(p):
        hyps = [vocab.decode_greedy(np.argmax(f @ p["lm_head"]["kernel"] + p["lm_head"]["bias"], -1))
                for f in frames]
        return error_rate(texts, hyps, "char")

    fitted = fit_ctc_head(params, frames, [vocab.encode(t) for t in texts], vocab.blank_id, steps=300, lr=3e-2)
    np.testing.assert_array_equal(fitted["backbone"]["marker"], params["backbone"]["marker"])
    assert cer(fitted) < 0.05 < 0.5 < cer(params)
