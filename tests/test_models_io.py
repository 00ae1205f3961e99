"""HF checkpoint folders: both weight-norm spellings, .bin and safetensors, write-back, clear errors."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers
from safetensors.numpy import load_file, save_file

from recovery_jax.models import (CheckpointError, Wav2Vec2ForCTC, Wav2Vec2ForSequenceClassification,
                                 Wav2Vec2Model, load_hf, read_config_dict, save_hf)
from tiny_hf import make_hf_model, random_audio


def _leaves_equal(a, b):
    la, lb = jax.tree_util.tree_leaves_with_path(a), jax.tree_util.tree_leaves_with_path(b)
    assert [p for p, _ in la] == [p for p, _ in lb]
    return all(np.array_equal(x, y) for (_, x), (_, y) in zip(la, lb))


@pytest.mark.parametrize("head", ["Model", "ForCTC", "ForSequenceClassification", "ForPreTraining"])
def test_round_trip_is_bit_exact_and_loads_in_transformers(tmp_path, head):
    model = make_hf_model("base", head=head)
    model.save_pretrained(tmp_path / "src")
    config, params = load_hf(tmp_path / "src")
    save_hf(tmp_path / "out", config, params, base_config=read_config_dict(tmp_path / "src"))
    config2, params2 = load_hf(tmp_path / "out")
    assert config2 == config
    assert _leaves_equal(params, params2)

    cls = getattr(transformers, "Wav2Vec2" + head)
    reloaded, info = cls.from_pretrained(tmp_path / "out", attn_implementation="eager",
                                         output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    for (name, a), (_, b) in zip(model.state_dict().items(), reloaded.state_dict().items()):
        assert torch.equal(a, b), name


def test_model_tuned_here_runs_in_transformers_with_same_outputs(tmp_path):
    make_hf_model("large", head="ForCTC").save_pretrained(tmp_path / "src")
    config, params = load_hf(tmp_path / "src")
    params = jax.tree.map(lambda p: p + 0.01 * jnp.sign(p), params)  # stands in for a fine-tune
    save_hf(tmp_path / "out", config, params)
    audio = random_audio(2, 3000)
    ours, _ = Wav2Vec2ForCTC(config).apply({"params": params}, jnp.asarray(audio))
    hf = transformers.Wav2Vec2ForCTC.from_pretrained(tmp_path / "out").eval()
    with torch.no_grad():
        ref = hf(torch.from_numpy(audio)).logits.numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)


def test_legacy_weight_norm_spelling_and_pytorch_bin(tmp_path):
    model = make_hf_model("base", head="ForCTC")
    model.save_pretrained(tmp_path / "new")
    state = load_file(str(tmp_path / "new" / "model.safetensors"))
    legacy = {k.replace("parametrizations.weight.original0", "weight_g")
               .replace("parametrizations.weight.original1", "weight_v"): v for k, v in state.items()}
    assert any(k.endswith("weight_g") for k in legacy)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "config.json").write_text((tmp_path / "new" / "config.json").read_text())
    torch.save({k: torch.from_numpy(v) for k, v in legacy.items()}, tmp_path / "bin" / "pytorch_model.bin")
    _, from_new = load_hf(tmp_path / "new")
    _, from_bin = load_hf(tmp_path / "bin")
    assert _leaves_equal(from_new, from_bin)


def test_bare_state_dict_without_prefix_loads(tmp_path):
    model = make_hf_model("large")
    model.save_pretrained(tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    assert not any(k.startswith("wav2vec2.") for k in state)
    config, params = load_hf(tmp_path)
    out = Wav2Vec2Model(config).apply({"params": params["backbone"]}, jnp.asarray(random_audio(1, 2000)))
    assert np.isfinite(np.asarray(out.last_hidden_state)).all()


def _break(tmp_path, edit):
    make_hf_model("base", head="ForCTC").save_pretrained(tmp_path)
    path = tmp_path / "model.safetensors"
    state = load_file(str(path))
    edit(state)
    save_file(state, str(path))


def test_wrong_shape_names_key_and_both_shapes(tmp_path):
    _break(tmp_path, lambda s: s.__setitem__("lm_head.weight", np.zeros((5, 32), np.float32)))
    with pytest.raises(CheckpointError, match=r"wrong shape.*lm_head\.weight: expected \(12, 32\), found \(5, 32\)"):
        load_hf(tmp_path)


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    def edit(state):
        del state["wav2vec2.encoder.layers.1.attention.k_proj.bias"]
        state["wav2vec2.encoder.adapter.weight"] = np.zeros(3, np.float32)
    _break(tmp_path, edit)
    with pytest.raises(CheckpointError) as err:
        load_hf(tmp_path)
    assert "missing (1): backbone.encoder.layers.1.attention.k_proj.bias" in str(err.value)
    assert "unexpected (1): backbone.encoder.adapter.weight" in str(err.value)


def test_folder_errors_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="no config.json"):
        load_hf(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json: not valid JSON"):
        load_hf(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "wav2vec2"}))
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_hf(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="model.safetensors: unreadable"):
        load_hf(tmp_path)


def _bin_folder(tmp_path, **extra):
    """A CTC checkpoint saved as pytorch_model.bin with `extra` entries beside its tensors."""
    make_hf_model("base", head="ForCTC").save_pretrained(tmp_path / "src")
    state = {k: torch.from_numpy(v) for k, v in load_file(str(tmp_path / "src" / "model.safetensors")).items()}
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "config.json").write_text((tmp_path / "src" / "config.json").read_text())
    torch.save({**state, **extra}, folder / "pytorch_model.bin")
    return folder


def test_bin_metadata_values_are_skipped_with_a_warning(tmp_path, caplog):
    folder = _bin_folder(tmp_path, version=3, note="converted")
    with caplog.at_level("WARNING"):
        _, params = load_hf(folder)
    assert _leaves_equal(params, load_hf(tmp_path / "src")[1])
    assert "pytorch_model.bin: skipped non-tensor metadata entries version=3, note='converted'" in caplog.text


@pytest.mark.parametrize("value, kind", [({"weight": torch.zeros(2)}, "dict"), ([torch.zeros(2), 1], "list")])
def test_bin_nested_entry_is_one_error_naming_key_and_file(tmp_path, value, kind):
    folder = _bin_folder(tmp_path, extra=value)
    with pytest.raises(CheckpointError, match=rf"bin/pytorch_model\.bin: entry 'extra' is a {kind}, expected a tensor"):
        load_hf(folder)


@pytest.mark.parametrize("edit, message", [
    (lambda c: [], r"config\.json: expected a JSON object of config fields, found array"),
    (lambda c: {**c, "hidden_size": "48"},
     r"config\.json: field 'hidden_size': expected an integer, found string '48'"),
    (lambda c: {**c, "conv_dim": [16, 16.5, 16]}, r"config\.json: field 'conv_dim': expected a list of integers"),
    (lambda c: {**c, "do_stable_layer_norm": "false"},
     r"field 'do_stable_layer_norm': expected a boolean, found string"),
    (lambda c: {**c, "layer_norm_eps": None, "num_hidden_layers": True},
     r"field 'num_hidden_layers': expected an integer, found boolean True"),
])
def test_config_json_of_wrong_shape_names_field_and_types(tmp_path, edit, message):
    make_hf_model("base", head="ForCTC").save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(edit(config)))
    with pytest.raises(CheckpointError, match=message):
        load_hf(tmp_path)


def test_unsupported_architecture_option_is_refused(tmp_path):
    make_hf_model("base", head="ForSequenceClassification", use_weighted_layer_sum=True).save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="use_weighted_layer_sum"):
        load_hf(tmp_path)


def test_classifier_export_keeps_label_count(tmp_path):
    make_hf_model("base", head="ForSequenceClassification", num_labels=3).save_pretrained(tmp_path / "src")
    config, params = load_hf(tmp_path / "src")
    assert config.num_labels == 3
    save_hf(tmp_path / "out", config, params)
    assert transformers.AutoConfig.from_pretrained(tmp_path / "out").num_labels == 3
    logits, _ = Wav2Vec2ForSequenceClassification(config).apply({"params": params}, jnp.zeros((1, 800)))
    assert logits.shape == (1, 3)
