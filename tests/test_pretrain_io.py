"""HF `Wav2Vec2ForPreTraining` checkpoints through our module: load -> same projections; ours -> loads in HF."""

import jax
import jax.numpy as jnp
import numpy as np
import torch
import transformers

from recovery_jax.models import Wav2Vec2ForPreTraining, load_hf, save_hf
from recovery_jax.models.presets import preset
from recovery_jax.train.tasks import get_task, init_params
from tiny_hf import make_hf_model, random_audio

TOL = 1e-5


def _assert_match(ours, ref):
    for a, b in zip(ours[:2], ref[:2]):
        np.testing.assert_allclose(a, b, atol=TOL, rtol=0)
    np.testing.assert_allclose(ours[2], ref[2], rtol=1e-6)  # perplexity is O(G * V): relative


def _projections(module, params, audio):
    out = module.apply({"params": params}, jnp.asarray(audio))
    return np.asarray(out.projected_states), np.asarray(out.projected_quantized_states), out.codevector_perplexity


def _hf_projections(model, audio):
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(audio))
    return ref.projected_states.numpy(), ref.projected_quantized_states.numpy(), ref.codevector_perplexity.item()


def test_loaded_hf_checkpoint_gives_hf_projected_states(tmp_path):
    model = make_hf_model("large", head="ForPreTraining")
    model.save_pretrained(tmp_path)
    config, params = load_hf(tmp_path)
    audio = random_audio(2, 3600)
    _assert_match(_projections(Wav2Vec2ForPreTraining(config), params, audio), _hf_projections(model, audio))


def test_our_initialised_model_exports_to_hf_and_back(tmp_path):
    config = preset("tiny", num_hidden_layers=2)
    task = get_task("pretrain")
    params = jax.device_get(init_params(task, config, jax.random.PRNGKey(0)))
    assert set(params) == {"backbone", *task.head_keys}
    save_hf(tmp_path, config, params)
    hf, info = transformers.Wav2Vec2ForPreTraining.from_pretrained(tmp_path, attn_implementation="eager",
                                                                    output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    audio = random_audio(2, 8000)
    _assert_match(_projections(Wav2Vec2ForPreTraining(config), params, audio), _hf_projections(hf, audio))
    _, reloaded = load_hf(tmp_path)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(reloaded)))
