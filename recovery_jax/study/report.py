"""report.md: our tables beside the paper's, the figures, and what corpus, models and settings made them."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any, Mapping, Sequence

import ml_collections
import numpy as np
from matplotlib.figure import Figure

from recovery_jax import allocator
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
        steps = c.total_steps if "total_steps" in c else ", ".join(f"{k} {v}" for k, v in c.steps_per_subset.items())
        extra = f", LP-FT head fit {c.linear_probe_steps} steps" if c.get("linear_probe_steps") else ""
        masks = c.get("augment", {})
        if masks.get("apply_spec_augment"):
            extra += (f", SpecAugment time masks p {masks.get('mask_time_prob')} length {masks.get('mask_time_length')}"
                      f", channel masks p {masks.get('mask_feature_prob') or 0}")
        lines.append(f"- {section}: {steps} micro-batches of {c.batch_size}, Adam lr {c.optim.lr}{extra}, "
                     f"accumulation {c.optim.accum_steps}, clip {c.optim.clip_norm}, seed {c.seed}, "
                     f"frozen {list(c.optim.frozen) or 'nothing'}")
    return "\n".join(lines)


def _verdicts(items: Sequence[Mapping[str, str]]) -> str:
    return "\n".join(f"- **{v['claim']}**: {v['verdict']}. {v['evidence']}." for v in items)


def _asr(asr: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """CER/WER of each ASR system, mean and range over seeds."""
    lines = []
    for name, runs in asr.items():
        runs = [r for r in runs if r]
        if not runs:
            continue
        cer, wer = (100 * np.array([r[k] for r in runs]) for k in ("cer", "wer"))
        reference, hypothesis = runs[0]["examples"][0]
        lines.append(f"- {name}: CER {cer.mean():.1f} % (seeds {', '.join(f'{c:.1f}' for c in cer)}), "
                     f"WER {wer.mean():.1f} %; e.g. \"{reference}\" → \"{hypothesis}\"")
    return "\n".join(lines)


def _stage_times(times: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| stage | started at (s) | seconds |", "|---|---|---|"]
    for t in times:
        lines.append(f"| {t['stage']} | {round(t['start'])} | "
                     f"{'cached' if t['cached'] else round(t['seconds'])} |")
    lines.append(f"| sum of the stages run here (training jobs overlap) | | "
                 f"{round(sum(t['seconds'] for t in times if not t['cached']))} |")
    return "\n".join(lines)


HELDOUT = ("ASR systems on held-out speech (the emotion corpus's neutral clips: voices never in CTC training, "
           "sentences from the same 40-sentence list the ASR corpus reads):")


def _pretraining_draws(own: bool, pt_seeds: int) -> str:
    """What the spreads and floors cover of the pretraining draw, which the study itself makes here."""
    if not own:
        return ""
    if pt_seeds == 1:
        return ("\nThey are fine-tuning seeds from one pretraining draw: PT's own draw is in no spread and no floor "
                "here (a machine with another\nCPU can pretrain another PT from the same code). "
                "`--config.seeds.pt=3` puts it in.")
    return (f"\nSER seed k starts from PT seed k mod {pt_seeds}, so SER's spread and its floor include pretraining "
            "draws as well as\nfine-tuning seeds.")


def write_report(results: Path, config: ml_collections.ConfigDict, utts: Sequence, summary: Mapping[str, Any],
                 markdown_tables: Mapping[str, str]) -> None:
    counts = {e: sum(u.emotion == e for u in utts) for e in sorted({u.emotion for u in utts})}
    sessions = sorted({u.session for u in utts})
    own = not config.checkpoints.PT
    models = ("PT, ASR10/100/960 made here: wav2vec2 self-supervised pretraining, then CTC fine-tuning on the "
              "nested ASR subsets; architecture " + json.dumps(config.model.to_dict()) if own else
              "checkpoints: " + ", ".join(f"{k}={config.checkpoints[k]}" for k in ("PT", "ASR10", "ASR100", "ASR960")))
    seeds = summary["seeds"]
    text = f"""# Study report

Reproduction of Purohit & Magimai-Doss, "Emotion information recovery potential of wav2vec2 network fine-tuned
for speech recognition task". SER and every ASR(x)→SER were trained with {seeds["finetune"]} seeds, ASR(x) with
{seeds["asr"]}, PT with {seeds["pt"]};
numbers are means over seeds ± standard deviation, comparisons with SER are made on every seed pair and set
against the same-recipe noise floor (SER against SER with another seed).{_pretraining_draws(own, seeds["pt"])}

## Verdicts on the paper's claims
{_verdicts(summary["verdicts"])}

## Setup
Paper numbers are set beside ours ({"IEMOCAP" if config.corpus.name != "msp_improv" else "MSP-IMPROV"} column).
- Corpus: `{config.corpus.name}` ({len(utts)} utterances, sessions {sessions}, classes {counts}); leave-one-session-out.
- Models: {models}
- Fine-tuning settings (seed k uses seed + k):
{_settings(config)}
- Probe: linear SVM (C by {config.probe.cv_folds}-fold CV on training sessions), ComParE/BoAW with the handcrafted grid.
- Intervals: 95 % percentile bootstrap over utterances (2000 resamples) of the seed-mean UAR. Tests against the
  floor: one-sided paired bootstrap over utterances of (mean over system-vs-SER seed pairs) − (mean over SER's own
  seed pairs), per-utterance values (mismatch 0/1, cosine distance, Eq. 1 distance); "exceeds" means p < 0.05.
- Wall time: {summary["seconds"]:.0f} s on {platform.machine()} ({platform.processor() or "cpu"}, {os.cpu_count()} cores, {allocator.in_use()}), this run
  (cached stages count as done).

{HELDOUT if own else ""}
{_asr(summary["asr"]) if own else ""}

## Table I: UAR / WAR (%)
{markdown_tables["table1"]}
SER heads' own UAR (%), mean over folds: validation (held out from the training sessions) and test session
{markdown_tables["heads"]}
## Table II: decision mismatch with SER (%)
{markdown_tables["table2"]}
## Table III: data within the cosine-distance threshold and decision match there (%)
{markdown_tables["table3"]}
## Against the same-recipe noise floor (every measure)
{markdown_tables["noise_floor"]}
## Figures
- Figure 3: ![figure3](figure3.png) (numbers: figure3.json)
- Figure 4: ![figure4](figure4.png) (numbers: figure4.csv)
- CKA: {", ".join(f"![{p.stem}]({p.name})" for p in sorted(results.glob("cka_*.png")))}
- Layer-wise probe (mean over seeds): ![layerwise](layerwise.png) (numbers: layerwise.json)

## Stage times
{_stage_times(summary["stage_times"])}
"""
    if config.corpus.name == "embedded":
        text += """
## Read with care
The embedded corpus is synthetic (espeak-ng prosody and a voice-quality filter, see README) and the networks are
tiny and trained for minutes, with a learning rate raised from the paper's 1e-5 so that the short runs move at
all. The numbers show the pipeline working end to end and the direction of the effects; they are not a
replication of the paper's magnitudes, which needs IEMOCAP / MSP-IMPROV and the real checkpoints (see README).
"""
    atomic_write_text(results / "report.md", text)
    atomic_write_text(results / "summary.json", json.dumps(summary, indent=1, default=float))
