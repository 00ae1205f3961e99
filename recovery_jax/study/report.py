"""report.md: our tables beside the paper's, the figures, and what corpus, models and settings made them."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any, Mapping, Sequence

import ml_collections
import numpy as np
from matplotlib.figure import Figure

from recovery_jax.study.stages import atomic_write_text


def plot_layerwise(uar_by_layer: Mapping[str, Sequence[float]], path: Path) -> None:
    """UAR (%) of a linear probe on each layer, one line per system; numbers beside it as JSON."""
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for name, uars in uar_by_layer.items():
        ax.plot(range(len(uars)), uars, marker="o", label=name)
    ax.set(xlabel="layer (0 = encoder input)", ylabel="UAR %", title="Layer-wise linear-SVM probe (LOSO)")
    ax.legend(fontsize="small")
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    tmp.replace(path)
    atomic_write_text(path.with_suffix(".json"), json.dumps(dict(uar_by_layer), indent=1))


def _settings(config: ml_collections.ConfigDict) -> str:
    lines = []
    for section in ("ser", "ctc", "pretrain"):
        if section not in config:
            continue
        c = config[section]
        lines.append(f"- {section}: {c.total_steps} micro-batches of {c.batch_size}, Adam lr {c.optim.lr}, "
                     f"accumulation {c.optim.accum_steps}, clip {c.optim.clip_norm}, seed {c.seed}, "
                     f"frozen {list(c.optim.frozen) or 'nothing'}")
    return "\n".join(lines)


def _noise_floor(floor: Mapping[str, Mapping[str, float]]) -> str:
    """One line per ASR(x)->SER: each measure beside SER(other seed)'s, and the sign test on the decisions."""
    lines = ["SER trained again with only its seed changed sets the floor: how far two runs of one recipe fall apart."]
    for name, f in floor.items():
        verdict = "exceeds the floor" if f["p_value"] < 0.05 else "does not exceed the floor"
        lines.append(
            f"- {name}: decisions differ from SER on {f['mismatch_percent']:.1f} % of utterances against the floor's "
            f"{f['floor_mismatch_percent']:.1f} % ({verdict}: one-sided sign test over utterances, "
            f"p = {f['p_value']:.2g}); median last-layer cosine distance {f['median_cosine_distance']:.3f} "
            f"(floor {f['floor_median_cosine_distance']:.3f}); mean Eq. 1 attention distance "
            f"{f['mean_attention_distance']:.4f} (floor {f['floor_mean_attention_distance']:.4f}); same-layer CKA "
            f"{f['same_layer_cka']:.3f} (floor {f['floor_same_layer_cka']:.3f}).")
    lines.append("One control seed pair: the floor itself is one draw (spread over more seed pairs is not measured).")
    return "\n".join(lines)


def write_report(results: Path, config: ml_collections.ConfigDict, utts: Sequence, summary: Mapping[str, Any],
                 markdown_tables: Mapping[str, str]) -> None:
    counts = {e: sum(u.emotion == e for u in utts) for e in sorted({u.emotion for u in utts})}
    sessions = sorted({u.session for u in utts})
    own = not config.checkpoints.PT
    models = ("PT, ASR10/100/960 made here: wav2vec2 self-supervised pretraining, then CTC fine-tuning on the "
              "nested ASR subsets; architecture " + json.dumps(config.model.to_dict()) if own else
              "checkpoints: " + ", ".join(f"{k}={config.checkpoints[k]}" for k in ("PT", "ASR10", "ASR100", "ASR960")))
    asr = "\n".join(f"- {name}: WER {100 * info.get('wer', np.nan):.1f} %, CER {100 * info.get('cer', np.nan):.1f} %"
                    for name, info in summary["asr"].items() if info)
    text = f"""# Study report

Reproduction of Purohit & Magimai-Doss, "Emotion information recovery potential of wav2vec2 network fine-tuned
for speech recognition task". Paper numbers are set beside ours ({"IEMOCAP" if config.corpus.name != "msp_improv" else "MSP-IMPROV"} column).

- Corpus: `{config.corpus.name}` ({len(utts)} utterances, sessions {sessions}, classes {counts}); leave-one-session-out.
- Models: {models}
- Fine-tuning settings:
{_settings(config)}
- Probe: linear SVM (C by {config.probe.cv_folds}-fold CV on training sessions), ComParE/BoAW with the handcrafted grid.
- Wall time: {summary["seconds"]:.0f} s on {platform.machine()} ({platform.processor() or "cpu"}), this run (cached stages count as done).

{"ASR systems on held-out speech (the emotion corpus's neutral clips):" if asr else ""}
{asr}

## Against the same-recipe noise floor
{_noise_floor(summary["noise_floor"])}
## Table I: UAR / WAR (%)
{markdown_tables["table1"]}
## Table II: decision mismatch with SER (%)
{markdown_tables["table2"]}
## Table III: data within the cosine-distance threshold and decision match there (%)
{markdown_tables["table3"]}
## Figures
- Figure 3: ![figure3](figure3.png) (numbers: figure3.json)
- Figure 4: ![figure4](figure4.png) (numbers: figure4.csv)
- CKA: {", ".join(f"![{p.stem}]({p.name})" for p in sorted(results.glob("cka_*.png")))}
- Layer-wise probe: ![layerwise](layerwise.png) (numbers: layerwise.json)
"""
    if config.corpus.name == "embedded":
        text += """
## Read with care
The embedded corpus is synthetic (espeak-ng prosody, see README) and the networks are tiny and trained for
minutes, with a learning rate raised from the paper's 1e-5 so that the short runs move at all. The numbers show
the pipeline working end to end and the direction of the effects; they are not a replication of the paper's
magnitudes, which needs IEMOCAP / MSP-IMPROV and the real checkpoints (see README).
"""
    atomic_write_text(results / "report.md", text)
    atomic_write_text(results / "summary.json", json.dumps(summary, indent=1, default=float))
