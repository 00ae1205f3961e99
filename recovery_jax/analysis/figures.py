"""The paper's Figure 3 (cosine-distance curves) and Figure 4 (per-head attention distances), plus a CKA
heat map. Each PNG gets the numbers behind it written next to it (same stem, .json or .csv).

Figures are drawn on a bare `matplotlib.figure.Figure` (Agg canvas), so no pyplot state or display
backend is touched, and every file is written atomically (temp file in the same folder + os.replace),
so an interrupted run never leaves a half-written figure that looks complete.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from typing import Callable, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from recovery_jax.analysis.cosine import histogram_curve

MARKERS = ("o", "x", "D", "s", "^", "v", "*", "P")
THRESHOLD_COLOUR = "magenta"


def _atomic_write(path: str | os.PathLike, write: Callable[[io.IOBase], None], mode: str = "w") -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"newline": ""})) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _save_png(fig: Figure, path: str | os.PathLike) -> None:
    _atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=150, bbox_inches="tight"), "wb")


def _save_json(data: object, path: str | os.PathLike) -> None:
    _atomic_write(path, lambda f: json.dump(data, f, indent=1))


def _save_csv(header: Sequence[str], rows: Sequence[Sequence[object]], path: str | os.PathLike) -> None:
    def write(f):
        out = csv.writer(f)
        out.writerow(header)
        out.writerows(rows)
    _atomic_write(path, write)


def _sidecar(path: str | os.PathLike, suffix: str) -> str:
    return os.path.splitext(os.fspath(path))[0] + suffix


def plot_cosine_histograms(panels: Mapping[str, Mapping[str, np.ndarray]], thresholds: Mapping[str, float],
                           path: str | os.PathLike, bins: int = 10) -> dict:
    """Figure 3: per corpus, one line-joined 10-bin histogram per compared pair, markers at bin centres.

    panels: corpus -> {pair label -> per-utterance cosine distances}; thresholds: corpus -> threshold
    (the dashed magenta line). Writes `path` and `<stem>.json`; returns the JSON data.
    """
    fig = Figure(figsize=(5 * len(panels), 4))
    data = {}
    for k, (corpus, curves) in enumerate(panels.items()):
        ax = fig.add_subplot(1, len(panels), k + 1)
        data[corpus] = {"threshold": float(thresholds[corpus]), "curves": {}}
        for marker, (label, distances) in zip(MARKERS, curves.items()):
            centres, percent = histogram_curve(distances, bins)
            ax.plot(centres, percent, marker=marker, label=label)
            data[corpus]["curves"][label] = {"bin_centres": centres.tolist(), "percent": percent.tolist(),
                                             "count": int(np.size(distances))}
        ax.axvline(thresholds[corpus], color=THRESHOLD_COLOUR, linestyle="--", label=f"threshold {thresholds[corpus]}")
        ax.set(title=corpus, xlabel="cosine distance", ylabel="% of utterances")
        ax.legend(fontsize="small")
    _save_png(fig, path)
    _save_json(data, _sidecar(path, ".json"))
    return data


def plot_attention_distances(matrices: Mapping[str, np.ndarray], path: str | os.PathLike,
                             normalise: bool = False, title: str = "Bhattacharyya distance (Eq. 1)") -> float:
    """Figure 4: one layers x heads heat map per compared pair, on one shared colour scale.

    Values are the corpus-mean row Bhattacharyya distance (Eq. 1). With `normalise`, every map is divided
    by the largest value over all pairs (so 1 is the most dissimilar head anywhere in the figure); the
    title says which. Writes `path` and `<stem>.csv` (pair, layer, head, distance, shown value, both
    1-based); returns the divisor (1.0 when raw).
    """
    raw = {label: np.asarray(m, np.float64) for label, m in matrices.items()}
    scale = max(float(m.max()) for m in raw.values()) if normalise else 1.0
    scale = scale if scale > 0 else 1.0
    shown = {label: m / scale for label, m in raw.items()}
    vmax = max(float(m.max()) for m in shown.values())
    fig = Figure(figsize=(4.2 * len(shown) + 1, 4))
    axes = fig.subplots(1, len(shown), squeeze=False)[0]
    for ax, (label, m) in zip(axes, shown.items()):
        image = ax.imshow(m, origin="lower", aspect="auto", vmin=0.0, vmax=vmax, cmap="viridis",
                          extent=(0.5, m.shape[1] + 0.5, 0.5, m.shape[0] + 0.5))
        ax.set(title=label, xlabel="head", ylabel="layer")
    fig.colorbar(image, ax=list(axes))
    how = f"divided by the max over all pairs ({scale:.4g})" if normalise else "raw corpus-mean distance"
    fig.suptitle(f"{title}: {how}")
    _save_png(fig, path)
    rows = [(label, l + 1, h + 1, raw[label][l, h], shown[label][l, h])
            for label in raw for l in range(raw[label].shape[0]) for h in range(raw[label].shape[1])]
    _save_csv(("pair", "layer", "head", "distance", "shown"), rows, _sidecar(path, ".csv"))
    return scale


def plot_cka(matrix: np.ndarray, path: str | os.PathLike, label_a: str, label_b: str) -> None:
    """Layer x layer linear CKA heat map (layer 0 = encoder input); writes `path` and `<stem>.csv`."""
    m = np.asarray(matrix, np.float64)
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.add_subplot()
    image = ax.imshow(m, origin="lower", vmin=0.0, vmax=1.0, cmap="magma")
    ax.set(xlabel=f"{label_b} layer", ylabel=f"{label_a} layer",
           title=f"linear CKA (minibatch unbiased HSIC): {label_a} vs {label_b}")
    fig.colorbar(image, ax=ax)
    _save_png(fig, path)
    rows = [(i, j, m[i, j]) for i in range(m.shape[0]) for j in range(m.shape[1])]
    _save_csv((f"{label_a}_layer", f"{label_b}_layer", "cka"), rows, _sidecar(path, ".csv"))
