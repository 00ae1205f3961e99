"""wav2vec2 self-supervised pretraining of the tiny model on the embedded corpus's audio (unlabelled).

    python -m launch.train --config configs/pretrain.py --workdir /tmp/pt
    --config configs/pretrain.py:quick   # seconds, for tests
Masking and negatives follow fairseq/HF wav2vec2-base (65 % of frames in 10-frame spans, negatives from the
utterance's masked frames); the Gumbel temperature decays per update from 2 to 0.5 as in HF's script, but
fast enough (0.993 per update) to reach 0.5 after about 200 of the 300 updates.
The default budget, 300 steps of 8 clips (4 epochs of the 600-clip corpus), is about 2-3 minutes on 2 idle
CPU cores; on it the contrastive loss only reaches chance, ln(1 + num_negatives) (see README).
"""

import ml_collections

from configs import corpus
from recovery_jax.models.presets import PRESETS


def get_config(arg: str = "") -> ml_collections.ConfigDict:
    quick = arg == "quick"
    c = ml_collections.ConfigDict()
    c.task = "pretrain"
    c.seed = 1337
    c.init = ""  # HF Wav2Vec2ForPreTraining folder to continue from; empty: random init from `model`
    c.model = ml_collections.ConfigDict(dict(PRESETS["tiny"]))
    c.corpus = ml_collections.ConfigDict(dict(
        name="embedded",
        root="data_cache/embedded_quick" if quick else "data_cache/embedded",
        embedded=corpus.get_config("quick" if quick else "default")))
    c.pretrain = ml_collections.ConfigDict(dict(
        mask_time_prob=0.65, mask_time_length=10,
        max_gumbel_temperature=2.0, min_gumbel_temperature=0.5, gumbel_temperature_decay=0.993))
    c.batch_size = 8
    c.total_steps = 12 if quick else 300
    c.bucket_samples = 16000
    c.optim = ml_collections.ConfigDict(dict(
        lr=2e-3, b1=0.9, b2=0.98, eps=1e-6, clip_norm=1.0, accum_steps=1, warmup_steps=2 if quick else 30,
        schedule="cosine", frozen=()))
    c.checkpoint_every = 6 if quick else 100
    c.keep_checkpoints = 2
    c.log_every = 4 if quick else 25
    c.eval_batch_size = 8
    c.export_hf = True
    return c
