"""Differences between float32 arrays: bitwise equality, max abs difference, and distance in ulps.

An ulp distance counts how many representable float32 values lie between two numbers, so it says how far
apart two results are relative to the precision available at their magnitude; max abs alone cannot tell a
last-bit difference on a large activation from a real one on a small activation. Elementwise ulps explode
for values near zero (a sign flip of 1e-12 is ~1e9 ulps), so each Diff also gives `ulps_at_scale`: max abs
in ulps of the tensor's largest magnitude, i.e. how many last bits of the big values are affected.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable, Iterator, Mapping

import numpy as np

Named = Mapping[str, np.ndarray]


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise number of float32 steps between `a` and `b` (int64); +0 and -0 are 0 apart.

    Finite inputs only: NaN payloads have no place on the number line.
    """
    def ordinal(x):
        bits = np.asarray(x, np.float32).view(np.int32).astype(np.int64)
        # float32 bits are sign-magnitude; mirror the negatives so the integers grow with the value.
        return np.where(bits < 0, np.int64(-(2 ** 31)) - bits, bits)
    return np.abs(ordinal(a) - ordinal(b))


@dataclasses.dataclass(frozen=True)
class Diff:
    bitwise_equal: bool
    max_abs: float
    mean_abs: float
    max_ulp: int  # elementwise
    ulps_at_scale: float  # max_abs / spacing(max |value|)

    @staticmethod
    def merge(diffs: Iterable["Diff"]) -> "Diff":
        """Over several tensors: bitwise if all are, else the largest of each measure."""
        diffs = list(diffs)
        return Diff(all(d.bitwise_equal for d in diffs), max(d.max_abs for d in diffs),
                    max(d.mean_abs for d in diffs), max(d.max_ulp for d in diffs),
                    max(d.ulps_at_scale for d in diffs))


def diff(a: np.ndarray, b: np.ndarray) -> Diff:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return Diff(True, 0.0, 0.0, 0, 0.0)
    delta = np.abs(a.astype(np.float64) - b)
    scale = np.float32(max(np.abs(a).max(), np.abs(b).max()))
    return Diff(bool(np.array_equal(a.view(np.int32), b.view(np.int32))), float(delta.max()), float(delta.mean()),
                int(ulp_distance(a, b).max()), float(delta.max()) / float(np.spacing(scale)) if scale else 0.0)


def diff_named(a: Named, b: Named, group: Callable[[str], str] = lambda name: name) -> dict[str, Diff]:
    """Per-group differences of two name -> array maps with the same names (grouped by `group(name)`)."""
    if set(a) != set(b):
        raise ValueError(f"names differ: only in first {sorted(set(a) - set(b))[:5]}, "
                         f"only in second {sorted(set(b) - set(a))[:5]}")
    return group_diffs({name: diff(a[name], b[name]) for name in a}, group)


def group_diffs(per_name: Mapping[str, Diff], group: Callable[[str], str]) -> dict[str, Diff]:
    groups: dict[str, list[Diff]] = {}
    for name, d in per_name.items():
        groups.setdefault(group(name), []).append(d)
    return {g: Diff.merge(d) for g, d in groups.items()}


def param_group(name: str) -> str:
    """HF state-dict name -> its layer: "encoder.layers.3", "feature_extractor", "classifier", ..."""
    parts = name.split(".")
    if parts[0] in ("wav2vec2", "hubert"):
        parts = parts[1:]
    if parts[:2] == ["encoder", "layers"]:
        return ".".join(parts[:3])
    return ".".join(parts[:2]) if parts[0] == "encoder" else parts[0]


def forward_named(hidden_states, attentions, last_hidden_state) -> dict[str, np.ndarray]:
    """One forward's outputs by name, hidden states (L+1) and attention maps (L) each (B, ...) per layer."""
    named = {f"hidden_states[{i}]": np.asarray(h) for i, h in enumerate(hidden_states)}
    named.update({f"attentions[{i}]": np.asarray(a) for i, a in enumerate(attentions)})
    named["last_hidden_state"] = np.asarray(last_hidden_state)
    return named


def trajectory_diff(run_a: Iterator[tuple[float, Named]], run_b: Iterator[tuple[float, Named]],
                    worst: int = 5) -> dict:
    """Two training runs advanced in lockstep, each yielding (loss, params) per step: the params' difference
    after every step; after the last, per layer (`param_group`) and the `worst` tensors by ulps at scale."""
    steps, last = [], None
    for step, ((loss_a, a), (loss_b, b)) in enumerate(zip(run_a, run_b, strict=True), 1):
        total = Diff.merge(diff_named(a, b).values())
        steps.append({"step": step, "loss_a": loss_a, "loss_b": loss_b, **dataclasses.asdict(total)})
        last = (a, b)
    if last is None:
        raise ValueError("no training steps")
    per_tensor = diff_named(*last)
    ranked = sorted(per_tensor, key=lambda name: -per_tensor[name].ulps_at_scale)
    return {"steps": steps, "per_layer_at_end": group_diffs(per_tensor, param_group),
            "worst_at_end": {name: per_tensor[name] for name in ranked[:worst]}}
