"""Compare HF checkpoints with a reference (`launch/compare.py`): the corpus and the pass's batch size.

    python -m launch.compare --systems=SER=/m/ser,ASR100=/m/asr100,ASR100_SER=/m/asr100_ser \
        --config configs/compare.py --config.corpus.name=iemocap --config.corpus.root=/data/IEMOCAP_full_release
The corpus section is the study's (configs/study_embedded.py): embedded by default, "quick" for tests.
"""

import ml_collections

from configs import study_embedded


def get_config(arg: str = "") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.corpus = study_embedded.get_config(arg).corpus
    c.max_utterances = 0  # 0: the whole corpus
    # Long real utterances: each batch holds one layer's (heads, T, T) maps per system and row, three times over.
    c.batch_size = 4
    c.cka = True  # also layer x layer linear CKA of each pair (needs batches of >= 4 utterances)
    return c
