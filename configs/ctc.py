"""CTC (ASR) fine-tuning on one of the nested ASR subsets (asr10 / asr100 / asr960).

    python -m launch.train --config configs/ctc.py --workdir /tmp/asr100 --config.corpus.subset=asr100
"""

import ml_collections

from configs import ser


def get_config(arg: str = "") -> ml_collections.ConfigDict:
    c = ser.get_config(arg)
    c.task = "ctc"
    c.corpus.subset = "asr960"
    c.optim.lr = 1e-4
    c.optim.accum_steps = 1
    c.optim.warmup_steps = 0 if arg == "quick" else 50
    c.batch_size = 8
    return c
