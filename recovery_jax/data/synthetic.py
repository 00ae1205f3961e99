"""The two synthetic corpora: IEMOCAP-shaped emotional speech, and neutral read speech for ASR.

Both are deterministic functions of their config (same seed -> byte-identical wavs) and are cached on disk
(see cache.py). Utterance paths are absolute; the manifests store them relative to the corpus root.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from .cache import build_once
from .espeak import SAMPLE_RATE, Prosody, synthesize
from .labels import EMOTIONS
from .prosody import draw_prosody, draw_speaker, draw_speaker_tilt, draw_tilt
from .texts import SENTENCES, normalize_transcript
from .utterance import Utterance

# Bump when the recipe changes, so cached corpora made by an older recipe are rebuilt.
RECIPE_VERSION = 2  # 2: the emotion corpus's spectral tilt
_HEADROOM = 0.5  # espeak's loudest settings reach full scale; leave room for gain jitter and noise
_GENDERS = ("F", "M")
# Voices of the ASR corpus: none is an emotion-corpus voice (those are en-us+f1..f5 and en-us+m1..m5).
ASR_VOICES = ("en+m6", "en-gb-x-rp+f2", "en-029+m7", "en-gb-scotland+f1", "en-us-nyc+m8", "en+f4",
              "en-gb-x-rp+m6", "en-029+f5")


def _record(rng: np.random.Generator, clean: np.ndarray, snr_db: tuple[float, float], gain_db: float) -> np.ndarray:
    """Recording-level jitter plus white noise at a random SNR; the result fits 16-bit PCM."""
    gain = _HEADROOM * 10.0 ** (rng.uniform(-gain_db, gain_db) / 20.0)
    signal = clean * gain
    snr = rng.uniform(*snr_db)
    noise_rms = np.sqrt(np.mean(signal ** 2)) / 10.0 ** (snr / 20.0)
    noisy = signal + rng.standard_normal(signal.size).astype(np.float32) * noise_rms
    return np.clip(noisy, -1.0, 1.0).astype(np.float32)


def _tilted(clean: np.ndarray, tilt: float) -> np.ndarray:
    """y[n] = x[n] - tilt x[n-1] (prosody.py: voice quality), at the clean clip's RMS so loudness stays as set."""
    if tilt == 0.0:
        return clean
    tilted = clean - tilt * np.concatenate([[0.0], clean[:-1]])
    rms_in, rms_out = np.sqrt(np.mean(clean ** 2)), np.sqrt(np.mean(tilted ** 2))
    return (tilted * (rms_in / rms_out if rms_out > 0 else 1.0)).astype(np.float32)


def _speak(rng: np.random.Generator, path: Path, text: str, voice: str, prosody: Prosody, section: Any,
           tilt: float = 0.0) -> float:
    clean = _tilted(synthesize(text, voice, prosody, seed=int(rng.integers(2 ** 31))), tilt)
    audio = _record(rng, clean, tuple(section.snr_db), float(section.gain_db))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
    return audio.size / SAMPLE_RATE


def _key(kind: str, section: Any) -> dict:
    return {"kind": kind, "recipe": RECIPE_VERSION, "config": section.to_dict() if hasattr(section, "to_dict")
            else dict(section)}


def synthesize_emotion_corpus(root: str | os.PathLike, config: Any) -> list[Utterance]:
    """IEMOCAP-shaped corpus under `root` from `config.emotion` (configs/corpus.py): `sessions` sessions of
    one female (en-us+fK) and one male (en-us+mK) voice, `per_speaker[emotion]` utterances per speaker and
    emotion, emotion carried by prosody (prosody.py), noisy. Speakers are named like IEMOCAP's (Ses01F)."""
    section = config.emotion
    if section.sessions > 5:
        raise ValueError(f"at most 5 sessions (espeak-ng has 5 female voice variants), got {section.sessions}")
    unknown = set(section.per_speaker) - set(EMOTIONS)
    if unknown:
        raise ValueError(f"per_speaker has unknown emotions {sorted(unknown)}, expected {EMOTIONS}")

    def build(tmp: Path) -> dict[str, list[Utterance]]:
        rng = np.random.default_rng(section.seed)
        utts = []
        for session in range(1, section.sessions + 1):
            for gender in _GENDERS:
                speaker = f"Ses{session:02d}{gender}"
                voice = f"en-us+{gender.lower()}{session}"
                base, speaker_tilt = draw_speaker(rng), draw_speaker_tilt(rng)
                emotions = [e for e in EMOTIONS for _ in range(section.per_speaker.get(e, 0))]
                for k, i in enumerate(rng.permutation(len(emotions))):  # ids say nothing about the label
                    emotion, text = emotions[i], SENTENCES[rng.integers(len(SENTENCES))]
                    utt_id = f"{speaker}_{k:03d}"
                    path = tmp / f"Session{session}" / f"{utt_id}.wav"
                    prosody = draw_prosody(rng, base, emotion, section.jitter)
                    tilt = draw_tilt(rng, speaker_tilt, emotion, section.jitter, section.get("tilt_scale", 1.0))
                    duration = _speak(rng, path, text, voice, prosody, section, tilt)
                    utts.append(Utterance(utt_id, str(path), speaker, session, emotion,
                                          normalize_transcript(text), duration))
        return {"manifest": utts}

    return build_once(root, _key("emotion", section), build)["manifest"]


def synthesize_asr_corpus(root: str | os.PathLike, config: Any) -> dict[str, list[Utterance]]:
    """Neutral read speech from voices outside the emotion corpus, under `root` from `config.asr`.

    Returns {"asr10", "asr100", "asr960"}, nested prefixes of one speaker-interleaved list (so even the
    smallest subset spans several voices); sizes are `config.asr.subsets`, in utterances."""
    section = config.asr
    sizes = [section.subsets[name] for name in ("asr10", "asr100", "asr960")]
    if not 0 < sizes[0] <= sizes[1] <= sizes[2]:
        raise ValueError(f"ASR subset sizes must be positive and nested, got {dict(section.subsets)}")

    def build(tmp: Path) -> dict[str, list[Utterance]]:
        rng = np.random.default_rng(section.seed)
        bases = [draw_speaker(rng) for _ in ASR_VOICES]
        utts = []
        for n in range(sizes[2]):
            k = n % len(ASR_VOICES)
            speaker, text = f"asr{k}", SENTENCES[rng.integers(len(SENTENCES))]
            utt_id = f"{speaker}_{n // len(ASR_VOICES):04d}"
            path = tmp / speaker / f"{utt_id}.wav"
            prosody = draw_prosody(rng, bases[k], "neutral", section.jitter)
            duration = _speak(rng, path, text, ASR_VOICES[k], prosody, section)
            utts.append(Utterance(utt_id, str(path), speaker, 0, "neutral", normalize_transcript(text), duration))
        return {name: utts[:size] for name, size in zip(("asr10", "asr100", "asr960"), sizes)}

    return build_once(root, _key("asr", section), build)
