"""The study on IEMOCAP or MSP-IMPROV with real HF checkpoints (nothing is downloaded).

    python -m launch.study --config configs/study_real.py --workdir workdirs/iemocap \
        --config.corpus.root=/data/IEMOCAP_full_release \
        --config.checkpoints.PT=/models/wav2vec2-base --config.checkpoints.ASR10=/models/w2v2-libri-10min \
        --config.checkpoints.ASR100=/models/wav2vec2-base-100h --config.checkpoints.ASR960=/models/wav2vec2-base-960h
SER fine-tuning follows the paper (S3PRL emotion defaults: Adam 1e-5, batch 4, accumulation 8, clip 1,
seed 1337, 30k steps, conv stack frozen): an accelerator job, not a CPU one. For MSP-IMPROV use
`--config configs/study_real.py:msp_improv` (its cosine threshold is the paper's 0.65).
Seeds, intervals and noise floors are the embedded study's: SER and every ASR(x)->SER are fine-tuned with
`seeds.finetune` seeds (default 3, i.e. 3 x 4 x 5 fine-tunes of 30k steps); each checkpoint is one PT / ASR(x).
"""

import ml_collections

from configs import ser, study_embedded
from recovery_jax.analysis.cosine import PAPER_THRESHOLDS


def get_config(arg: str = "iemocap") -> ml_collections.ConfigDict:
    c = study_embedded.get_config()
    c.corpus = ml_collections.ConfigDict(dict(name=arg, root="", valid_fraction=0.1, seed=0))
    c.checkpoints = ml_collections.ConfigDict(dict(PT="", ASR10="", ASR100="", ASR960=""))
    for section in ("pretrain", "ctc"):
        del c[section]  # the systems come from the checkpoints
    c.ser = study_embedded._fit_section(ser.get_config())
    c.ser.total_steps = 30000
    c.train_workers = 1  # one accelerator: jobs one after another
    c.xla_flags = ""  # XLA's defaults: the single-threaded Eigen gain was measured on the tiny model only
    c.probe.update(cv_folds=5, boaw_codebook_size=500)
    c.analysis.cosine_threshold = PAPER_THRESHOLDS["MSP-IMPROV" if arg == "msp_improv" else "IEMOCAP"]
    c.analysis.layerwise = ("PT", "ASR10", "ASR100", "ASR960")
    # the attention pass holds one layer's (H, T, T) maps per system and utterance, three times over (scores,
    # softmax, overlaps): ~2 GB for the 7 systems and a 30 s utterance, so one utterance at a time
    c.analysis.batch_size = 1
    return c
