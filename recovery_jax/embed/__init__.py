"""Utterance-level features: wav2vec2 layer embeddings, ComParE functionals/LLDs, BoAW; on-disk tables."""

from recovery_jax.embed.boaw import Boaw, BoawConfig, boaw_fold_features, boaw_transform, fit_boaw
from recovery_jax.embed.compare import compare_functionals, compare_llds
from recovery_jax.embed.corpus import embeddings_for, fold_embeddings_for, functionals_for, llds_for
from recovery_jax.embed.extract import all_layers, layer_embeddings, params_digest
from recovery_jax.embed.store import cached_table, digest, files_digest, read_table, write_table
