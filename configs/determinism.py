"""Determinism report: run to run and JAX vs PyTorch, with the settings that govern it.

    python -m launch.determinism --config configs/determinism.py --out reports/determinism \
        [--config.checkpoint=/path/to/hf_folder]
    --config configs/determinism.py:quick   # a micro model, 2 steps, 2 settings: for tests
"""

import ml_collections

from configs import corpus, ser
from recovery_jax.determinism.settings import SETTINGS
from recovery_jax.data.cache import user_cache_dir
from recovery_jax.models.presets import PRESETS

# Two layers of width 32 on wav2vec2-base's conv geometry: compiles and trains in seconds.
MICRO = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, conv_dim=(16,) * 7,
             num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=4, classifier_proj_size=16)


def get_config(arg: str = "") -> ml_collections.ConfigDict:
    quick = arg == "quick"
    c = ml_collections.ConfigDict()
    c.checkpoint = ""  # HF folder; empty: a tiny random one built into --out, labelled as such
    c.random_model = dict(MICRO if quick else PRESETS["tiny"])  # used only when checkpoint is empty
    c.num_labels = 4
    c.seed = 1337
    c.corpus = ml_collections.ConfigDict(dict(name="embedded", root=user_cache_dir("embedded_quick"),
                                              embedded=corpus.get_config("quick")))
    c.batch_size = 4
    c.clip_samples = 8000 if quick else 16000
    c.steps = 2 if quick else 8
    c.optim = ser.get_config().optim  # the paper's Adam (lr 1e-5, clip 1.0, conv stack frozen) ...
    c.optim.accum_steps = 1  # ... compared step by step, without accumulation
    c.settings = ("jax/default", "torch/default") if quick else tuple(SETTINGS)
    c.timing_repeats = 2 if quick else 10  # forward calls per child, their median is kept
    c.timing_rounds = 1 if quick else 3  # passes over all settings, alternating; the lowest median is kept
    return c
