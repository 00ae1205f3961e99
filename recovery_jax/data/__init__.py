"""Corpora (synthetic emotional/ASR speech, IEMOCAP, MSP-IMPROV), validated audio, LOSO folds and batches."""

from .audio import AudioError, load_audio
from .batching import batch_iterator, bucket_length
from .folds import Fold, loso_folds
from .iemocap import read_iemocap
from .labels import EMOTIONS, emotion_index
from .missing import MissingAudioError
from .msp_improv import read_msp_improv
from .s3prl import export_s3prl_folds
from .synthetic import synthesize_asr_corpus, synthesize_emotion_corpus
from .texts import normalize_transcript
from .utterance import Utterance, read_manifest, write_manifest

__all__ = [
    "EMOTIONS", "AudioError", "Fold", "MissingAudioError", "Utterance", "batch_iterator", "bucket_length",
    "emotion_index", "export_s3prl_folds", "load_audio", "loso_folds", "normalize_transcript", "read_iemocap",
    "read_manifest", "read_msp_improv", "synthesize_asr_corpus", "synthesize_emotion_corpus", "write_manifest",
]
