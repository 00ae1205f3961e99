"""SER fine-tuning, the paper's setting (S3PRL emotion defaults with the paper's changes).

    python -m launch.train --config configs/ser.py --workdir /tmp/ser \
        --config.init=/path/to/hf_folder --config.corpus.test_session=1
    --config configs/ser.py:quick   # a tiny model, 16 steps: for tests (about a minute, mostly compiling)
"""

import ml_collections
from ml_collections.config_dict import placeholder

from configs import corpus
from recovery_jax.data.cache import user_cache_dir
from recovery_jax.models import Wav2Vec2Config
from recovery_jax.models.presets import PRESETS
from recovery_jax.models.spec_augment import AUGMENT_FIELDS


def augment(**values) -> ml_collections.ConfigDict:
    """Every SpecAugment / LayerDrop field, typed so the command line can set it; unset ones are None."""
    types = {name: type(getattr(Wav2Vec2Config(), name)) for name in AUGMENT_FIELDS}
    return ml_collections.ConfigDict({name: values.get(name, placeholder(types[name])) for name in AUGMENT_FIELDS})


def get_config(arg: str = "") -> ml_collections.ConfigDict:
    quick = arg == "quick"
    c = ml_collections.ConfigDict()
    c.task = "ser"
    c.seed = 1337
    c.init = ""  # HF folder (or a previous workdir's hf/ export); empty: random init from `model`
    c.model = ml_collections.ConfigDict(dict(PRESETS["tiny_quick" if quick else "tiny"]))
    # How to compute, whatever the weights' source: remat "none" | "layers" | "layers_and_conv" (less memory,
    # more time, same numbers); compute_dtype "float32" | "bfloat16" (params and optimiser state stay float32).
    c.compute = ml_collections.ConfigDict(dict(remat="none", compute_dtype="float32"))
    c.corpus = ml_collections.ConfigDict(dict(
        name="embedded",  # embedded | iemocap | msp_improv
        root=user_cache_dir("embedded_quick" if quick else "embedded"),  # shared by runs
        embedded=corpus.get_config("quick" if quick else "default"),
        test_session=1, valid_fraction=0.1, seed=0))
    c.batch_size = 4
    c.total_steps = 16 if quick else 2400  # micro-batches; 2400 / accum 8 = 300 updates
    c.bucket_samples = 16000
    c.optim = ml_collections.ConfigDict(dict(
        lr=1e-5, b1=0.9, b2=0.999, eps=1e-8, clip_norm=1.0, accum_steps=8, warmup_steps=0,
        schedule="constant", frozen=("backbone/feature_extractor",)))
    # SpecAugment masks and LayerDrop, applied in training as HF does (README "Fine-tuning"). A field left unset
    # takes the model's value (the checkpoint's config.json, or `model` above). Both off: the paper's recipe does
    # not mention them, and our runs so far had neither.
    c.augment = augment(apply_spec_augment=False, layerdrop=0.0)
    c.checkpoint_every = 8 if quick else 200
    c.keep_checkpoints = 2
    c.log_every = 4 if quick else 50
    c.eval_batch_size = 8
    c.export_hf = True
    # Several runs in one job (fit_many): "data" splits each run's batch over the devices; "runs" gives each
    # device whole runs (the run count must be a multiple of the device count).
    c.run_placement = "data"
    return c
