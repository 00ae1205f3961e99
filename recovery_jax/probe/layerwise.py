"""Layer-wise probing (beyond the paper): one leave-one-session-out probe per hidden layer."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from recovery_jax.probe.loso import ProbeResult, probe_loso
from recovery_jax.progress import Progress

LayerFeatures = np.ndarray | Mapping[Any, np.ndarray]


def probe_layers(hidden: LayerFeatures, labels: Sequence[int], sessions: Sequence[Any],
                 **probe_kwargs: Any) -> list[ProbeResult]:
    """Probe each layer of (N, layers, H) pooled states, or of a mapping test_session -> such an array.

    Entry l of the result is layer l (0 = encoder input, as the hidden_states index).
    """
    name = probe_kwargs.pop("name", "hidden states")
    arrays = hidden.values() if isinstance(hidden, Mapping) else [hidden]
    shapes = {np.shape(a) for a in arrays}
    if len(shapes) != 1 or len(next(iter(shapes))) != 3:
        raise ValueError(f"{name}: expected (utterances, layers, dim) arrays of one shape, got {sorted(shapes)}")
    num_layers = next(iter(shapes))[1]
    progress = Progress(f"layer-wise probes {name}", num_layers * len(set(np.asarray(sessions).tolist())),
                        "fold fits")
    return [probe_loso(_layer(hidden, layer), labels, sessions, name=f"{name} layer {layer}", progress=progress,
                       **probe_kwargs) for layer in range(num_layers)]


def _layer(hidden: LayerFeatures, layer: int) -> LayerFeatures:
    if isinstance(hidden, Mapping):
        return {session: np.asarray(h)[:, layer] for session, h in hidden.items()}
    return np.asarray(hidden)[:, layer]
