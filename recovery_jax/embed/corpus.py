"""Features of a whole corpus, cached on disk per feature set, checkpoint, layer selection and audio content.

Each table's meta records the SHA-256 of every clip's bytes and of the weights, and its file name hashes the
meta with the utterance list, so a re-synthesised corpus, another checkpoint or other layers never read a
stale table. Per-fold networks (fine-tuned without session k) get one table each.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np
import opensmile

from recovery_jax.data import Utterance
from recovery_jax.data.corpora import load_waveforms
from recovery_jax.embed.compare import compare_functionals, compare_llds
from recovery_jax.embed.extract import Params, all_layers, layer_embeddings, params_digest
from recovery_jax.embed.store import cached_table, files_digest
from recovery_jax.models import Wav2Vec2Config, receptive_field
from recovery_jax.models.conv_cache import CorpusConvFeatures

Dir = str | os.PathLike


def _ids(utts: Sequence[Utterance]) -> list[str]:
    return [u.utt_id for u in utts]


def _meta(utts: Sequence[Utterance], **extra: Any) -> dict[str, Any]:
    return {"audio_sha256": files_digest([u.path for u in utts]), **extra}


def functionals_for(utts: Sequence[Utterance], cache_dir: Dir) -> np.ndarray:
    """(N, 6373) ComParE_2016 functionals of `utts`, cached."""
    meta = _meta(utts, features="ComParE_2016 Functionals", opensmile=opensmile.__version__)
    return cached_table(cache_dir, "compare-functionals", _ids(utts), meta,
                        lambda: compare_functionals(load_waveforms(utts, 400)))


def llds_for(utts: Sequence[Utterance], cache_dir: Dir) -> list[np.ndarray]:
    """Per utterance (T, 130) ComParE_2016 LLDs + deltas, cached."""
    meta = _meta(utts, features="ComParE_2016 LLDs+deltas", opensmile=opensmile.__version__)
    return cached_table(cache_dir, "compare-llds", _ids(utts), meta, lambda: compare_llds(load_waveforms(utts, 400)))


def embeddings_for(utts: Sequence[Utterance], cache_dir: Dir, name: str, config: Wav2Vec2Config,
                   params: Params, *, layers: Sequence[int] | None = None,
                   conv: CorpusConvFeatures | None = None, **batching: int) -> np.ndarray:
    """(N, len(layers), H) pooled hidden states of backbone `params` (default all layers), cached as `name`.

    `batching` (batch_size, bucket_multiple) goes to `layer_embeddings`; it does not change the result, nor
    does `conv` (the corpus's clips through a conv stack, used when it is this backbone's).
    """
    layers = list(all_layers(config) if layers is None else layers)
    meta = _meta(utts, features="wav2vec2 hidden states, mean over valid frames", layers=layers,
                 config=config.to_dict(), params_sha256=params_digest(params))
    return cached_table(cache_dir, name, _ids(utts), meta, lambda: layer_embeddings(
        config, params, load_waveforms(utts, receptive_field(config)), layers=layers, what=f"embeddings {name}",
        conv_features=conv.for_backbone(params) if conv is not None else None, **batching))


def fold_embeddings_for(utts: Sequence[Utterance], cache_dir: Dir, name: str, config: Wav2Vec2Config,
                        fold_params: Mapping[Any, Params], **kwargs: Any) -> dict[Any, np.ndarray]:
    """test_session -> embeddings of every utterance from the network that never saw that session.

    The mapping is what `probe_loso` / `probe_layers` take for per-fold systems (SER, ASR(x) -> SER).
    """
    return {session: embeddings_for(utts, cache_dir, f"{name}-fold{session}", config, params, **kwargs)
            for session, params in fold_params.items()}
