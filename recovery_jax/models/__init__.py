"""wav2vec2-family models in Flax linen, with HF checkpoint I/O."""

from recovery_jax.models.config import (Wav2Vec2Config, feature_lengths, frame_mask, receptive_field,
                                        with_compute)
from recovery_jax.models.heads import Wav2Vec2ForCTC, Wav2Vec2ForSequenceClassification, masked_mean
from recovery_jax.models.hf_io import CheckpointError, load_hf, read_config_dict, save_hf
from recovery_jax.models.pretraining import (GumbelVectorQuantizer, PreTrainingOutput, Wav2Vec2ForPreTraining,
                                            pretraining_losses)
from recovery_jax.models.wav2vec2 import Wav2Vec2Model, Wav2Vec2Output
