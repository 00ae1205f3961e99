"""Read and write HF wav2vec2/HuBERT checkpoint folders (config.json + safetensors or .bin).

Our parameter tree mirrors the HF state dict: `params["backbone"]` is HF's `wav2vec2.`/`hubert.`
prefix, heads keep their HF names (`lm_head`, `projector`, `classifier`, `quantizer`, `project_q`,
`project_hid`). A key maps by renaming (`layers_3` <-> `layers.3`, `kernel`/`scale` <-> `weight`)
plus a transpose to torch layout.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Mapping

import jax
import numpy as np

from recovery_jax.models.config import Wav2Vec2Config, json_type, receptive_field
from recovery_jax.models.wav2vec2 import Wav2Vec2Model

Params = dict[str, Any]

_POS_CONV_G = "parametrizations.weight.original0"
_POS_CONV_V = "parametrizations.weight.original1"
_LEGACY = {"weight_g": _POS_CONV_G, "weight_v": _POS_CONV_V}
_BACKBONE_PREFIXES = ("wav2vec2.", "hubert.")
# Plain values some older .bin state dicts carry next to the tensors (e.g. {"version": 3}): metadata, not weights.
_METADATA = (bool, int, float, str, type(None))
_log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A checkpoint folder or state dict that does not fit the expected model."""


def _hf_leaf(name: str) -> str:
    return {"kernel": "weight", "scale": "weight", "weight_g": _POS_CONV_G,
            "weight_v": _POS_CONV_V}.get(name, name)


def _hf_name(path: tuple[str, ...], model_type: str) -> str:
    head, *middle, leaf = path
    prefix = [model_type] if head == "backbone" else [head]
    middle = [re.sub(r"^(.*)_(\d+)$", r"\1.\2", part) for part in middle]
    return ".".join(prefix + middle + [_hf_leaf(leaf)])


def _to_torch_layout(leaf: str, value: np.ndarray) -> np.ndarray:
    if leaf == "weight_g":
        return value.reshape(1, 1, -1)
    if leaf in ("kernel", "weight_v") and value.ndim == 3:  # conv (K, in, out) -> (out, in, K)
        return value.transpose(2, 1, 0)
    if leaf == "kernel" and value.ndim == 2:
        return value.T
    return value


def _from_torch_layout(leaf: str, value: np.ndarray) -> np.ndarray:
    if leaf == "weight_g":
        return value.reshape(-1)
    if leaf in ("kernel", "weight_v") and value.ndim == 3:
        return value.transpose(2, 1, 0)
    if leaf == "kernel" and value.ndim == 2:
        return value.T
    return value


def _flatten(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, prefix + (key,)))
        else:
            flat[prefix + (key,)] = value
    return flat


def _unflatten(flat: Mapping[tuple[str, ...], Any]) -> Params:
    tree: Params = {}
    for path, value in flat.items():
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return tree


def head_shapes(config: Wav2Vec2Config, head: str) -> dict[tuple[str, ...], tuple[int, ...]]:
    """Parameter shapes (our layout) of one head, by its HF name."""
    h, c = config.hidden_size, config.conv_dim[-1]
    g, v = config.num_codevector_groups, config.num_codevectors_per_group

    def dense(name, n_in, n_out):
        return {(name, "kernel"): (n_in, n_out), (name, "bias"): (n_out,)}

    shapes = {
        "lm_head": lambda: dense("lm_head", h, config.vocab_size),
        "projector": lambda: dense("projector", h, config.classifier_proj_size),
        "classifier": lambda: dense("classifier", config.classifier_proj_size, config.num_labels),
        "quantizer": lambda: {("quantizer", "codevectors"): (1, g * v, config.codevector_dim // g),
                              **{("quantizer",) + k: s for k, s in dense("weight_proj", c, g * v).items()}},
        "project_q": lambda: dense("project_q", config.codevector_dim, config.proj_codevector_dim),
        "project_hid": lambda: dense("project_hid", h, config.proj_codevector_dim),
    }
    if head not in shapes:
        raise KeyError(f"unknown head {head!r}; known: {sorted(shapes)}")
    return shapes[head]()


HEADS = ("lm_head", "projector", "classifier", "quantizer", "project_q", "project_hid")


def backbone_shapes(config: Wav2Vec2Config) -> dict[tuple[str, ...], tuple[int, ...]]:
    audio = np.zeros((1, receptive_field(config)), np.float32)
    shapes = jax.eval_shape(Wav2Vec2Model(config).init, jax.random.key(0), audio)["params"]
    flat = {("backbone",) + k: v.shape for k, v in _flatten(shapes).items()}
    if not _uses_masked_spec_embed(config):
        del flat[("backbone", "masked_spec_embed")]
    return flat


def _uses_masked_spec_embed(config: Wav2Vec2Config) -> bool:
    # HF creates this parameter only when some masking is configured.
    return config.mask_time_prob > 0 or config.mask_feature_prob > 0


def read_state_dict(folder: str | os.PathLike) -> dict[str, np.ndarray]:
    """The raw tensors of an HF folder: model.safetensors (possibly sharded) or pytorch_model.bin."""
    folder = Path(folder)
    single, index = folder / "model.safetensors", folder / "model.safetensors.index.json"
    if single.exists() or index.exists():
        from safetensors.numpy import load_file

        files = [single] if single.exists() else sorted(
            {folder / f for f in json.loads(index.read_text())["weight_map"].values()})
        state = {}
        for f in files:
            try:
                state.update(load_file(str(f)))
            except Exception as e:  # safetensors raises its own error types for corrupt headers
                raise CheckpointError(f"{f}: unreadable safetensors file ({e})") from e
        return state
    binary = folder / "pytorch_model.bin"
    if binary.exists():
        import torch

        try:
            # weights_only: never unpickle arbitrary code from a downloaded checkpoint.
            tensors = torch.load(binary, map_location="cpu", weights_only=True)
        except Exception as e:
            raise CheckpointError(f"{binary}: not a loadable tensor-only PyTorch checkpoint ({e})") from e
        return _tensors_only(tensors, binary)
    raise CheckpointError(f"{folder}: no model.safetensors, model.safetensors.index.json or "
                          f"pytorch_model.bin")


def _tensors_only(state: Any, source: Path) -> dict[str, np.ndarray]:
    """The tensors of a loaded .bin as float32/int arrays; plain metadata values are skipped with a warning,
    anything else (a nested dict or list, e.g. a training checkpoint wrapping the weights) is an error."""
    import torch

    if not isinstance(state, Mapping):
        raise CheckpointError(f"{source}: expected a state dict (names -> tensors), found a {type(state).__name__}")
    tensors, skipped = {}, []
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            tensors[key] = value.float().numpy() if value.is_floating_point() else value.numpy()
        elif isinstance(value, _METADATA):
            skipped.append(f"{key}={value!r}")
        else:
            raise CheckpointError(f"{source}: entry {key!r} is a {type(value).__name__}, expected a tensor "
                                  f"(a flat state dict of names -> tensors)")
    if skipped:
        _log.warning("%s: skipped non-tensor metadata entries %s", source, ", ".join(skipped))
    return tensors


def _canonical_key(key: str) -> str:
    for prefix in _BACKBONE_PREFIXES:
        if key.startswith(prefix):
            key = "backbone." + key[len(prefix):]
            break
    else:
        if key.split(".")[0] not in HEADS:
            key = "backbone." + key  # a bare Wav2Vec2Model state dict
    parts = key.split(".")
    if parts[-1] in _LEGACY:
        parts = parts[:-1] + _LEGACY[parts[-1]].split(".")
    return ".".join(parts)


def params_from_state_dict(config: Wav2Vec2Config, state: Mapping[str, np.ndarray],
                           source: str = "state dict") -> Params:
    """Converts an HF state dict to our tree; any missing, unexpected or misshapen key is an error."""
    state = {_canonical_key(k): np.asarray(v) for k, v in state.items()}
    heads = sorted({k.split(".")[0] for k in state} & set(HEADS))
    expected = backbone_shapes(config)
    for head in heads:
        expected.update(head_shapes(config, head))
    by_name = {_hf_name(path, "backbone"): path for path in expected}
    missing = sorted(set(by_name) - set(state))
    unexpected = sorted(set(state) - set(by_name))
    misshapen = []
    flat = {}
    for name, path in by_name.items():
        if name not in state:
            continue
        value = _from_torch_layout(path[-1], state[name]).astype(np.float32)
        if value.shape != tuple(expected[path]):
            misshapen.append(f"{name}: expected {_to_torch_layout(path[-1], np.empty(expected[path])).shape}"
                             f", found {state[name].shape}")
        flat[path] = value
    if missing or unexpected or misshapen:
        lines = [f"{source} does not fit the wav2vec2 config (heads found: {heads or 'none'}):"]
        for title, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", misshapen)):
            if items:
                lines.append(f"  {title} ({len(items)}): " + "; ".join(items[:20])
                             + (" ..." if len(items) > 20 else ""))
        raise CheckpointError("\n".join(lines))
    if not _uses_masked_spec_embed(config):
        flat[("backbone", "masked_spec_embed")] = np.zeros((config.hidden_size,), np.float32)
    return _unflatten(flat)


def read_config_dict(folder: str | os.PathLike) -> dict[str, Any]:
    path = Path(folder) / "config.json"
    if not path.exists():
        raise CheckpointError(f"{folder}: no config.json (expected an HF model folder)")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: expected a JSON object of config fields, found {json_type(raw)}")
    return raw


def load_hf(folder: str | os.PathLike) -> tuple[Wav2Vec2Config, Params]:
    """Loads an HF wav2vec2/HuBERT folder into (config, params); params["backbone"] is the backbone."""
    raw = read_config_dict(folder)
    try:
        config = Wav2Vec2Config.from_dict(raw)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{Path(folder) / 'config.json'}: {e}") from e
    return config, params_from_state_dict(config, read_state_dict(folder), source=str(folder))


def state_dict_from_params(config: Wav2Vec2Config, params: Params) -> dict[str, np.ndarray]:
    prefix = "hubert" if config.model_type == "hubert" else "wav2vec2"
    state = {}
    for path, value in _flatten(params).items():
        if path == ("backbone", "masked_spec_embed") and not _uses_masked_spec_embed(config):
            continue
        state[_hf_name(path, prefix)] = np.ascontiguousarray(
            _to_torch_layout(path[-1], np.asarray(value, np.float32)))
    return state


def _architecture(config: Wav2Vec2Config, params: Params) -> str:
    family = "Hubert" if config.model_type == "hubert" else "Wav2Vec2"
    if "lm_head" in params:
        return f"{family}ForCTC"
    if "classifier" in params:
        return f"{family}ForSequenceClassification"
    if "quantizer" in params:
        return f"{family}ForPreTraining"
    return f"{family}Model"


def save_hf(folder: str | os.PathLike, config: Wav2Vec2Config, params: Params,
            base_config: Mapping[str, Any] | None = None) -> None:
    """Writes an HF folder that `transformers` loads with no missing or unexpected keys.

    `base_config` (e.g. `read_config_dict` of the source checkpoint) keeps fields we do not model.
    Files are written to temporaries and renamed, so a killed save never leaves a half file.
    """
    from safetensors.numpy import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    raw = dict(base_config or {})
    raw.update(config.to_dict())
    raw.update(architectures=[_architecture(config, params)], num_feat_extract_layers=len(config.conv_dim))
    if "classifier" in params:
        raw["id2label"] = {str(i): f"LABEL_{i}" for i in range(config.num_labels)} | {
            k: v for k, v in (base_config or {}).get("id2label", {}).items()}
        raw["label2id"] = {v: int(k) for k, v in raw["id2label"].items()}
    raw.pop("num_labels", None)
    state = state_dict_from_params(config, params)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        save_file(state, os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
        Path(tmp, "config.json").write_text(json.dumps(raw, indent=2, sort_keys=True))
        os.replace(os.path.join(tmp, "model.safetensors"), folder / "model.safetensors")
        os.replace(os.path.join(tmp, "config.json"), folder / "config.json")
