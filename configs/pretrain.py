"""wav2vec2 self-supervised pretraining of the tiny model on the embedded corpus's audio (unlabelled).

    python -m launch.train --config configs/pretrain.py --workdir /tmp/pt
    --config configs/pretrain.py:quick   # seconds, for tests
Negatives come from the utterance's masked frames as in fairseq/HF; the Gumbel temperature decays per update
from 2 to 0.5 as in HF's script, but fast enough (0.993 per update) to reach 0.5 after about 200 of the 300
updates. Three departures from the wav2vec2-base recipe make a tiny model learn within a few CPU minutes
(measured 2026-11, 2 shared CPU cores; with base's settings the contrastive loss sits at chance, ln 21 = 3.04,
for all 300 steps and the probe is worse than random init):
- a 20x lighter diversity loss (diversity_loss_weight 0.005; base: 0.1). At 0.1 or 0.02 it holds the codebook
  perplexity near 100/128 with codes that change every frame (unpredictable targets) and the loss at chance;
  at 0.005 the codebook consolidates (perplexity 54 -> 15, far from the collapse to 2), the contrastive loss
  leaves chance after ~120 updates (3.04 -> 2.48 at 300) and the probe UAR is 0.58-0.60 per layer vs
  0.43-0.45 at random init (without any diversity loss: 2.3, perplexity ~9, probe 0.55).
- lighter masking for ~50-frame crops: 40 % of frames in 4-frame spans (base: 65 % in 10-frame spans);
- one 1 s window per clip (crop_samples) and peak lr 1e-3: 300 steps of batch 8 take about 2 minutes.
"""

import ml_collections

from configs import corpus
from recovery_jax.data.cache import user_cache_dir
from recovery_jax.models.presets import PRESETS


def get_config(arg: str = "") -> ml_collections.ConfigDict:
    quick = arg == "quick"
    c = ml_collections.ConfigDict()
    c.task = "pretrain"
    c.seed = 1337
    c.init = ""  # HF Wav2Vec2ForPreTraining folder to continue from; empty: random init from `model`
    c.model = ml_collections.ConfigDict(dict(PRESETS["tiny_quick" if quick else "tiny"]))
    c.model.diversity_loss_weight = 0.005  # see the module doc
    # How to compute, whatever the weights' source: remat "none" | "layers" | "layers_and_conv" (less memory,
    # more time, same numbers); compute_dtype "float32" | "bfloat16" (params and optimiser state stay float32).
    c.compute = ml_collections.ConfigDict(dict(remat="none", compute_dtype="float32"))
    c.corpus = ml_collections.ConfigDict(dict(
        name="embedded",
        root=user_cache_dir("embedded_quick" if quick else "embedded"),
        embedded=corpus.get_config("quick" if quick else "default")))
    c.pretrain = ml_collections.ConfigDict(dict(
        mask_time_prob=0.4, mask_time_length=4, crop_samples=16000,
        max_gumbel_temperature=2.0, min_gumbel_temperature=0.5, gumbel_temperature_decay=0.993))
    c.batch_size = 8
    c.total_steps = 12 if quick else 300
    c.bucket_samples = 16000
    c.optim = ml_collections.ConfigDict(dict(
        lr=1e-3, b1=0.9, b2=0.98, eps=1e-6, clip_norm=1.0, accum_steps=1, warmup_steps=2 if quick else 30,
        schedule="cosine", frozen=()))
    c.checkpoint_every = 6 if quick else 100
    c.keep_checkpoints = 2
    c.log_every = 4 if quick else 25
    c.eval_batch_size = 8
    c.export_hf = True
    return c
