import jax
import jax.numpy as jnp
import numpy as np
import pytest
import soundfile as sf

from recovery_jax.data import Utterance
from recovery_jax.embed import corpus
from recovery_jax.embed.extract import layer_embeddings, params_digest
from recovery_jax.models import Wav2Vec2Config, Wav2Vec2Model

CONFIG = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        conv_dim=(32, 32), conv_kernel=(10, 3), conv_stride=(5, 2), num_conv_pos_embeddings=16,
                        num_conv_pos_embedding_groups=2)
BATCHING = dict(batch_size=2, bucket_multiple=2000)  # batch 1 pads both clips, batch 2 is filled


@pytest.fixture(scope="module")
def params():
    init = jax.jit(Wav2Vec2Model(CONFIG).init)  # jitted: eager init is three times slower
    return init(jax.random.PRNGKey(0), jnp.zeros((1, 800)), jnp.array([800]))["params"]


@pytest.fixture(scope="module")
def waves():
    rng = np.random.default_rng(0)
    return [(0.1 * rng.normal(size=n)).astype(np.float32) for n in (1500, 700, 2600)]


@jax.jit
def _hidden_states(params, audio):
    return Wav2Vec2Model(CONFIG).apply({"params": params}, audio, jnp.array([audio.shape[1]]),
                                       output_hidden_states=True).hidden_states


def _single(params, wave):
    """Hidden states of one unpadded utterance (every frame valid), mean-pooled in numpy."""
    return np.asarray(_hidden_states(params, jnp.asarray(wave)[None])[0]).mean(axis=1)  # (layers, H)


def test_padded_batches_equal_single_utterance_means(params, waves):
    pooled = layer_embeddings(CONFIG, params, waves, **BATCHING)
    assert pooled.shape == (3, 3, 32)
    for wave, row in zip(waves, pooled):
        np.testing.assert_allclose(row, _single(params, wave), rtol=1e-4, atol=1e-5)
    picked = layer_embeddings(CONFIG, params, waves, layers=[2, 0], batch_size=3, bucket_multiple=4000)
    np.testing.assert_allclose(picked, pooled[:, [2, 0]], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"layers \[3\]: expected indices in \[0, 2\]"):
        layer_embeddings(CONFIG, params, waves, layers=[3])


@pytest.fixture
def utts(tmp_path, waves):
    out = []
    for i, w in enumerate(waves):
        path = tmp_path / "audio" / f"u{i}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, w, 16000, subtype="FLOAT")
        out.append(Utterance(f"u{i}", str(path), f"spk{i % 2}", 1 + i % 2, "angry", "", len(w) / 16000))
    return out


def test_cache_reuses_and_invalidates(tmp_path, utts, params, waves, monkeypatch):
    calls = []
    real = corpus.layer_embeddings
    monkeypatch.setattr(corpus, "layer_embeddings", lambda *a, **k: calls.append(k["layers"]) or real(*a, **k))
    cache = tmp_path / "cache"
    first = corpus.embeddings_for(utts, cache, "pt", CONFIG, params, **BATCHING)
    again = corpus.embeddings_for(utts, cache, "pt", CONFIG, params, **BATCHING)
    np.testing.assert_array_equal(first, again)
    assert len(calls) == 1
    corpus.embeddings_for(utts, cache, "pt", CONFIG, params, layers=[1], **BATCHING)  # other layers
    nudged = jax.tree_util.tree_map(lambda x: x, params)
    nudged["encoder"]["layers_1"]["attention"]["q_proj"]["bias"] = (
        nudged["encoder"]["layers_1"]["attention"]["q_proj"]["bias"] + 1.0)
    assert params_digest(nudged) != params_digest(params)
    moved = corpus.embeddings_for(utts, cache, "pt", CONFIG, nudged, **BATCHING)  # other weights
    assert not np.allclose(moved[:, 2], first[:, 2])
    sf.write(utts[0].path, 0.5 * waves[0], 16000, subtype="FLOAT")  # re-synthesised clip, same utt_id
    corpus.embeddings_for(utts, cache, "pt", CONFIG, params, **BATCHING)
    assert len(calls) == 4 and len(list(cache.glob("pt-*.npz"))) == 4


def test_killed_extraction_leaves_no_table(tmp_path, utts, params, monkeypatch):
    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    cache = tmp_path / "cache"
    monkeypatch.setattr(corpus, "layer_embeddings", killed)
    with pytest.raises(KeyboardInterrupt):
        corpus.embeddings_for(utts, cache, "pt", CONFIG, params, **BATCHING)
    assert not list(cache.glob("*.npz"))
    monkeypatch.undo()
    assert corpus.embeddings_for(utts, cache, "pt", CONFIG, params, **BATCHING).shape == (3, 3, 32)


def test_per_fold_embeddings_come_from_each_folds_network(tmp_path, utts, params):
    other = jax.tree_util.tree_map(lambda x: 1.01 * x, params)
    per_fold = corpus.fold_embeddings_for(utts, tmp_path, "ser", CONFIG, {1: params, 2: other}, **BATCHING)
    assert sorted(per_fold) == [1, 2]
    np.testing.assert_allclose(per_fold[1], corpus.embeddings_for(utts, tmp_path, "x", CONFIG, params,
                                                                   **BATCHING))
    assert not np.allclose(per_fold[1], per_fold[2])
