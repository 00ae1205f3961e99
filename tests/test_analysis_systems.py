"""The fused stacked-params pass against `transformers` PyTorch attention maps and hidden states."""

import jax
import numpy as np
import pytest
import torch

from recovery_jax.analysis.batches import bucketed_batches
from recovery_jax.analysis.systems import attention_distances, layer_cka, shares_conv_stack, stack_params
from recovery_jax.models import load_hf
from test_analysis_attention import numpy_corpus_distance
from test_analysis_cka import numpy_hsic_unbiased
from tiny_hf import make_hf_model

LENGTHS = [3000, 1700, 2400, 900, 2900]


def checkpoints(tmp_path, variant, share_conv=False):
    """Two random HF checkpoints written with save_pretrained; loaded back with our load_hf."""
    models = [make_hf_model(variant, seed=seed) for seed in (0, 1)]
    if share_conv:
        models[1].feature_extractor.load_state_dict(models[0].feature_extractor.state_dict())
    loaded = []
    for k, model in enumerate(models):
        model.save_pretrained(tmp_path / f"sys{k}")
        loaded.append(load_hf(tmp_path / f"sys{k}"))
    return models, loaded[0][0], stack_params(*[params["backbone"] for _, params in loaded])


def waveforms():
    rng = np.random.default_rng(0)
    return [rng.normal(size=n).astype(np.float32) for n in LENGTHS]


def torch_outputs(model, wave):
    """One utterance alone (no padding), eager attention."""
    with torch.no_grad():
        out = model(torch.from_numpy(wave)[None], output_attentions=True, output_hidden_states=True)
    maps = np.stack([a[0].numpy() for a in out.attentions])  # (L, H, T, T)
    return maps, np.stack([h[0].numpy() for h in out.hidden_states])  # (L+1, T, D)


def reference_distances(models, waves):
    """Eq. 1 from the PyTorch maps, each utterance run alone, by the slow numpy loop."""
    total = 0.0
    for wave in waves:
        maps_a, maps_b = torch_outputs(models[0], wave)[0], torch_outputs(models[1], wave)[0]
        total = total + numpy_corpus_distance(maps_a[None], maps_b[None], [maps_a.shape[-1]])
    return total / len(waves)


@pytest.mark.parametrize("variant,share_conv", [("base", False), ("base", True), ("large", False)])
def test_fused_distances_match_pytorch_maps(tmp_path, variant, share_conv):
    models, config, stacked = checkpoints(tmp_path, variant, share_conv)
    assert shares_conv_stack(stacked) == share_conv
    waves = waveforms()
    expected = reference_distances(models, waves)
    # Padded, bucketed batches with a zero-weight filler row must give the per-utterance answer.
    got = attention_distances(config, stacked, bucketed_batches(waves, batch_size=3, pad_to=1000),
                              pairs=((0, 1), (1, 0), (0, 0)))
    assert got.shape == (3, config.num_hidden_layers, config.num_attention_heads)
    assert expected.min() > 1e-3  # the check below would pass vacuously on all-zero distances
    print(f"{variant} shared_conv={share_conv}: max |ours - torch| = {np.abs(got[0] - expected).max():.2e}, "
          f"distances {expected.min():.3g}..{expected.max():.3g}")
    np.testing.assert_allclose(got[0], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got[1], got[0], atol=1e-6)  # symmetric
    np.testing.assert_allclose(got[2], 0.0, atol=1e-6)


def test_per_utterance_distances_match_pytorch_in_input_order(tmp_path):
    from recovery_jax.analysis.systems import attention_distances_per_utterance

    models, config, stacked = checkpoints(tmp_path, "base", share_conv=True)
    waves = waveforms()
    got = attention_distances_per_utterance(config, stacked, waves, batch_size=2, pairs=((0, 1), (1, 1)))
    assert got.shape == (2, len(waves), config.num_hidden_layers, config.num_attention_heads)
    for n, wave in enumerate(waves):  # bucketing reorders the clips; the result must not
        maps_a, maps_b = torch_outputs(models[0], wave)[0], torch_outputs(models[1], wave)[0]
        expected = numpy_corpus_distance(maps_a[None], maps_b[None], [maps_a.shape[-1]])
        np.testing.assert_allclose(got[0, n], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got[1], 0.0, atol=1e-6)


def test_fused_cka_matches_pytorch_hidden_states(tmp_path):
    models, config, stacked = checkpoints(tmp_path, "base")
    waves = waveforms() + [np.random.default_rng(1).normal(size=2000).astype(np.float32) for _ in range(3)]
    pooled = [np.stack([torch_outputs(model, w)[1].mean(1) for w in waves], 1) for model in models]  # (L+1, N, D)
    batches = list(bucketed_batches(waves, batch_size=4, pad_to=1000))
    # The minibatches are the batches' real rows, in the bucketing's (length-sorted) order.
    order = np.argsort([len(w) for w in waves], kind="stable")
    minibatches = [order[k:k + 4] for k in range(0, len(waves), 4)]
    hsic = lambda x, y: np.mean([numpy_hsic_unbiased(x[m].astype(np.float64), y[m].astype(np.float64))
                                 for m in minibatches])
    expected = np.array([[hsic(a, b) / np.sqrt(hsic(a, a) * hsic(b, b)) for b in pooled[1]] for a in pooled[0]])
    got = layer_cka(config, stacked, batches)
    assert got.shape == (config.num_hidden_layers + 1,) * 2
    np.testing.assert_allclose(got, expected, atol=2e-4)
    same = jax.tree.map(lambda leaf: leaf[:1].repeat(2, 0), stacked)
    np.testing.assert_allclose(np.diag(layer_cka(config, same, batches)), 1.0, atol=1e-4)
    with pytest.raises(ValueError, match="2 stacked systems"):
        layer_cka(config, jax.tree.map(lambda leaf: leaf.repeat(2, 0), stacked), batches)


def test_distance_pass_holds_one_layers_maps_not_all_layers():
    """XLA's buffer plan for a long utterance: well under the size of every layer's maps."""
    import jax.numpy as jnp

    from recovery_jax.analysis.systems import make_attention_distance_fn
    from recovery_jax.models import Wav2Vec2Model
    from recovery_jax.models.presets import preset

    config = preset("tiny", num_hidden_layers=8)
    params = Wav2Vec2Model(config).init(jax.random.key(0), jnp.zeros((1, 16000)))["params"]
    stacked = jax.tree.map(lambda a: jax.ShapeDtypeStruct((3,) + a.shape, a.dtype), params)
    samples = 30 * 16000
    fn = make_attention_distance_fn(config, ((0, 1), (0, 2)))
    plan = fn.lower(stacked, jax.ShapeDtypeStruct((1, samples), jnp.float32),
                    jax.ShapeDtypeStruct((1,), jnp.int32), jax.ShapeDtypeStruct((1,), jnp.float32)
                    ).compile().memory_analysis()
    frames = (samples - 400) // 320 + 1
    one_layer_maps = 3 * config.num_attention_heads * frames ** 2 * 4  # bytes, all 3 systems
    # scores, softmax and the pairs' overlaps of one layer; holding every layer's maps would be >= 8 layers' worth.
    assert plan.temp_size_in_bytes < 4 * one_layer_maps < config.num_hidden_layers * one_layer_maps


def test_load_stacked_equals_stacking_loaded_backbones_and_drops_heads(tmp_path):
    from recovery_jax.analysis.systems import load_stacked

    _, config, expected = checkpoints(tmp_path, "base")
    make_hf_model("base", head="ForSequenceClassification", seed=1).save_pretrained(tmp_path / "ser")
    _, with_head = load_stacked([tmp_path / "sys0", tmp_path / "ser"])
    assert set(with_head) == set(expected)  # no classifier/projector: backbones only
    loaded_config, stacked = load_stacked([tmp_path / "sys0", tmp_path / "sys1"])
    assert loaded_config == config
    jax.tree.map(np.testing.assert_array_equal, stacked, expected)


def test_load_stacked_refuses_systems_of_different_architectures(tmp_path):
    from recovery_jax.analysis.systems import load_stacked
    from recovery_jax.models import CheckpointError

    make_hf_model("base").save_pretrained(tmp_path / "base")
    make_hf_model("large").save_pretrained(tmp_path / "large")
    with pytest.raises(CheckpointError, match=r"large.*feat_extract_norm"):
        load_stacked([tmp_path / "base", tmp_path / "large"])
