"""Deterministic espeak-ng synthesis of one clip, through the library shipped by `espeakng-loader`.

One library instance synthesising repeatedly drifts (different bytes, even lengths), so every clip gets a
fresh instance: `dlopen`, seed espeak's and libc's generators, synthesise, `dlclose`. That gives
byte-identical audio for the same (text, voice, prosody, seed) in one process and across processes.
"""

from __future__ import annotations

import _ctypes
import ctypes
import dataclasses
import os

import espeakng_loader
import numpy as np
from scipy.signal import resample_poly

SAMPLE_RATE = 16000
_NATIVE_RATE = 22050
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_LIBC = ctypes.CDLL(None)


@dataclasses.dataclass(frozen=True)
class Prosody:
    """espeak-ng parameters: rate in words/min (80-450), volume 0-200, pitch 0-100, pitch range 0-100."""

    rate: int = 175
    volume: int = 100
    pitch: int = 50
    pitch_range: int = 50


def check_voice(voice: str) -> None:
    """Raise ValueError for a voice variant espeak-ng would silently ignore (it accepts unknown ones)."""
    _, _, variant = voice.partition("+")
    if variant and not os.path.isfile(os.path.join(espeakng_loader.get_data_path(), "voices", "!v", variant)):
        raise ValueError(f"espeak-ng voice variant {variant!r} (in {voice!r}) is not in the voice data")


def synthesize(text: str, voice: str, prosody: Prosody, seed: int) -> np.ndarray:
    """Speak `text` with `voice` (e.g. "en-us+f3"); float32 mono at 16 kHz in [-1, 1]."""
    check_voice(voice)
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    try:
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(),
                                     _INITIALIZE_DONT_EXIT)
        if rate != _NATIVE_RATE:
            raise RuntimeError(f"espeak-ng initialised at {rate} Hz, expected {_NATIVE_RATE}")
        chunks: list[np.ndarray] = []

        def collect(wav, n, _events):
            if n > 0:
                chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0

        callback = _SYNTH_CALLBACK(collect)  # kept alive in this frame while the library may call it
        lib.espeak_SetSynthCallback(callback)
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng does not know the voice {voice!r}")
        for key, value in ((_RATE, prosody.rate), (_VOLUME, prosody.volume), (_PITCH, prosody.pitch),
                           (_RANGE, prosody.pitch_range)):
            lib.espeak_SetParameter(key, int(value), 0)
        lib.espeak_ng_SetRandSeed(ctypes.c_long(seed))
        _LIBC.srand(ctypes.c_uint(seed))
        encoded = text.encode()
        if lib.espeak_Synth(encoded, len(encoded) + 1, 0, 0, 0, _CHARS_UTF8, None, None) != 0:
            raise RuntimeError(f"espeak-ng failed to synthesise {text!r}")
        lib.espeak_Synchronize()
        lib.espeak_Terminate()
    finally:
        _ctypes.dlclose(lib._handle)
    if not chunks:
        raise RuntimeError(f"espeak-ng produced no audio for {text!r} with voice {voice!r}")
    native = np.concatenate(chunks).astype(np.float32) / 32768.0
    return resample_poly(native, 320, 441).astype(np.float32)
