"""Small configs and learnable in-memory data for the training tests."""

import ml_collections
import numpy as np

from recovery_jax.models import Wav2Vec2Config
from recovery_jax.train.loop import Examples

MICRO = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                       conv_dim=(16,) * 7, num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=4,
                       classifier_proj_size=16, vocab_size=32, mask_time_prob=0.0)


def tone_examples(n: int = 32, seed: int = 0) -> Examples:
    """Four classes told apart by pitch, with random lengths: learnable in a few dozen steps."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 4
    waves = []
    for label in labels:
        length = int(rng.integers(4000, 9000))
        t = np.arange(length) / 16000
        freq = (150, 300, 600, 1200)[label] * rng.uniform(0.95, 1.05)
        waves.append((0.5 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(length)).astype(np.float32))
    return Examples(waves, labels=labels)


def train_config(total_steps: int = 12, **optim) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 1337
    c.batch_size = 4
    c.total_steps = total_steps
    c.bucket_samples = 4000
    c.optim = ml_collections.ConfigDict(dict(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, clip_norm=1.0, accum_steps=1,
                                             warmup_steps=0, schedule="constant",
                                             frozen=("backbone/feature_extractor",)))
    c.optim.update(optim)
    c.checkpoint_every = 4
    c.keep_checkpoints = 2
    c.log_every = 4
    c.eval_batch_size = 8
    return c
