"""The prosody recipe: how each emotion, speaker and utterance sets espeak-ng's rate, pitch, range and volume,
and the voice quality (spectral tilt) applied to espeak's output.

An utterance's parameters are  speaker base  x/+  emotion style  x/+  per-utterance jitter:
rate and volume scale multiplicatively, pitch and pitch range shift additively (espeak's 0-100 scales).
The styles follow the usual acoustic correlates (angry: loud, fast, wide range; happy: high, very wide range;
sad: slow, low, flat, quiet) but are close enough pairwise (angry~happy, neutral~sad) that jitter and noise make
the classes overlap, as they do in acted corpora.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .espeak import Prosody


@dataclasses.dataclass(frozen=True)
class Style:
    rate_scale: float
    pitch_shift: float
    range_shift: float
    volume_scale: float


EMOTION_STYLES = {
    "angry": Style(rate_scale=1.22, pitch_shift=12, range_shift=20, volume_scale=1.60),
    "happy": Style(rate_scale=1.10, pitch_shift=24, range_shift=40, volume_scale=1.20),
    "neutral": Style(rate_scale=1.00, pitch_shift=0, range_shift=0, volume_scale=1.00),
    "sad": Style(rate_scale=0.78, pitch_shift=-14, range_shift=-30, volume_scale=0.65),
}

# Standard deviations of the per-utterance jitter at jitter=1 (config.jitter scales them all).
JITTER_SD = Style(rate_scale=0.08, pitch_shift=6, range_shift=10, volume_scale=0.12)

# Per-speaker base: rate and pitch drawn once per speaker, so speakers differ the way real ones do.
BASE_RATE, BASE_RATE_SD = 150.0, 10.0
BASE_PITCH, BASE_PITCH_SD = 50.0, 5.0
BASE_RANGE, BASE_VOLUME = 45.0, 100.0


@dataclasses.dataclass(frozen=True)
class SpeakerBase:
    rate: float
    pitch: float


def draw_speaker(rng: np.random.Generator) -> SpeakerBase:
    return SpeakerBase(rate=rng.normal(BASE_RATE, BASE_RATE_SD), pitch=rng.normal(BASE_PITCH, BASE_PITCH_SD))


def draw_prosody(rng: np.random.Generator, speaker: SpeakerBase, emotion: str, jitter: float) -> Prosody:
    """espeak parameters for one utterance, clipped to the ranges espeak accepts."""
    style, sd = EMOTION_STYLES[emotion], JITTER_SD
    z = rng.standard_normal(4) * jitter
    rate = speaker.rate * style.rate_scale * np.exp(sd.rate_scale * z[0])
    pitch = speaker.pitch + style.pitch_shift + sd.pitch_shift * z[1]
    pitch_range = BASE_RANGE + style.range_shift + sd.range_shift * z[2]
    volume = BASE_VOLUME * style.volume_scale * np.exp(sd.volume_scale * z[3])
    return Prosody(rate=int(np.clip(round(rate), 80, 450)), volume=int(np.clip(round(volume), 10, 200)),
                   pitch=int(np.clip(round(pitch), 0, 100)), pitch_range=int(np.clip(round(pitch_range), 0, 100)))


# Voice quality. Emotional speech also differs in spectral tilt: the tense, pressed voice of anger and joy puts
# more energy in the high frequencies, the lax, breathy voice of sadness less (eGeMAPS' alpha ratio and
# Hammarberg index measure it). espeak's settings above carry none of it, and wav2vec2 cannot see loudness (its
# first conv layer's GroupNorm rescales every clip), so without tilt a network had only pitch and rate to go on.
# Tilt t filters a clip with y[n] = x[n] - t x[n-1]: high / low frequency gain (1 + t) / (1 - t).
EMOTION_TILT = {"angry": 0.45, "happy": 0.25, "neutral": 0.0, "sad": -0.35}
TILT_SD, SPEAKER_TILT_SD = 0.12, 0.1  # per utterance (at jitter=1), per speaker


def draw_speaker_tilt(rng: np.random.Generator) -> float:
    return float(rng.normal(0.0, SPEAKER_TILT_SD))


def draw_tilt(rng: np.random.Generator, speaker_tilt: float, emotion: str, jitter: float, scale: float) -> float:
    """One utterance's tilt: the speaker's own, the emotion's (times `scale`) and jitter, inside (-0.9, 0.9)."""
    tilt = speaker_tilt + scale * EMOTION_TILT[emotion] + TILT_SD * jitter * rng.standard_normal()
    return float(np.clip(tilt, -0.9, 0.9))
