"""wav2vec2-family models in Flax linen, with HF checkpoint I/O."""

from recovery_jax.models.config import Wav2Vec2Config, feature_lengths, frame_mask, receptive_field
