"""The whole study on the embedded (synthesised) corpus: the README's main command.

    python -m launch.study                                   # this file, default size
    python -m launch.study --config configs/study_embedded.py:quick --workdir /tmp/quick   # tests
No checkpoint can be downloaded here, so the study makes its own PT (self-supervised pretraining) and
ASR10/100/960 (CTC fine-tuning on nested 1 : 10 : 100 subsets) before the paper's SER fine-tunes.
"""

import ml_collections

from configs import corpus, ctc, pretrain, ser
from recovery_jax.data.cache import user_cache_dir


def _fit_section(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    keep = ("seed", "batch_size", "total_steps", "bucket_samples", "optim", "checkpoint_every", "keep_checkpoints",
            "log_every", "eval_batch_size", "pretrain", "augment", "run_placement")
    return ml_collections.ConfigDict({k: c[k] for k in keep if k in c})


def get_config(arg: str = "") -> ml_collections.ConfigDict:
    quick = arg == "quick"
    size = "quick" if quick else "default"
    c = ml_collections.ConfigDict()
    # the tiny architecture with the pretraining objective's settings (configs/pretrain.py says why)
    c.model = pretrain.get_config(arg).model
    c.corpus = ml_collections.ConfigDict(dict(
        name="embedded", root=user_cache_dir(f"study_{size}"), embedded=corpus.get_config(size),
        valid_fraction=0.1, seed=0))
    if quick:  # 2 sessions -> 2 folds: every stage runs, in a couple of minutes
        c.corpus.embedded.emotion.sessions = 2
        c.corpus.embedded.emotion.per_speaker = dict(angry=2, happy=2, neutral=2, sad=2)
    # Empty: the study trains its own; set all four (HF folders) to use real checkpoints instead.
    c.checkpoints = ml_collections.ConfigDict(dict(PT="", ASR10="", ASR100="", ASR960=""))
    # Seeds: fine-tuning seed k of every system (ASR(x), SER, ASR(x)->SER) uses each recipe's seed + k; PT seed p
    # the pretraining seed + p. Two SER seeds are the least that gives a noise floor (quick config).
    c.seeds = ml_collections.ConfigDict(dict(pt=1, finetune=2 if quick else 3))

    c.pretrain = _fit_section(pretrain.get_config(arg))
    c.ctc = _fit_section(ctc.get_config(arg))
    c.ctc.update(total_steps=12 if quick else 150, batch_size=8, checkpoint_every=50)
    c.ctc.optim.update(lr=5e-4, warmup_steps=0 if quick else 30)
    # The paper's SER recipe (Adam, clip 1, seed 1337, frozen conv stack) with a larger learning rate and
    # no accumulation: the tiny networks get minutes, not epochs, to move.
    c.ser = _fit_section(ser.get_config(arg))
    c.ser.update(total_steps=8 if quick else 150, batch_size=8, checkpoint_every=50)
    c.ser.optim.update(lr=1e-3, accum_steps=1)

    for section in (c.ctc, c.ser):
        section.bucket_samples = 8000  # clips are 0.8-2.6 s: half-second buckets waste less padding
    c.probe = ml_collections.ConfigDict(dict(cv_folds=3 if quick else 5, boaw_codebook_size=50 if quick else 500))
    c.analysis = ml_collections.ConfigDict(dict(
        batch_size=8,
        cosine_threshold=0.0,  # 0: the paper's rule (smallest threshold holding >= 70 % of the data)
        normalise_attention=False,
        layerwise=("PT", "ASR10", "ASR100", "ASR960") if not quick else ("PT",)))
    return c
