"""Validated audio loading: every way a clip can be unusable ends in one `AudioError` naming file and cause."""

from __future__ import annotations

import math
import os
import struct

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

# A data chunk size of 0 or 0xFFFFFFFF is how streaming writers say "unknown length": nothing to check then.
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


class AudioError(ValueError):
    """A clip that cannot be used as model input; the message names the file, the problem and what was expected."""

    def __init__(self, path: str | os.PathLike, problem: str, expected: str):
        self.path = os.fspath(path)
        self.problem, self.expected = problem, expected
        super().__init__(f"{self.path}: {problem} (expected {expected})")


def _wav_truncation(path: str) -> tuple[int, int] | None:
    """(declared, present) data bytes of a RIFF/WAVE file whose data chunk is cut short, else None.

    libsndfile reads a truncated WAV without complaint (it shortens the clip), so we check the header ourselves.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        riff = f.read(12)
        if riff[:4] != b"RIFF" or riff[8:] != b"WAVE":
            return None
        while True:
            header = f.read(8)
            if len(header) < 8:
                return None
            chunk_id, chunk_size = header[:4], struct.unpack("<I", header[4:])[0]
            if chunk_id == b"data":
                present = size - f.tell()
                if chunk_size not in _UNKNOWN_SIZES and present < chunk_size:
                    return chunk_size, present
                return None
            f.seek(chunk_size + (chunk_size & 1), os.SEEK_CUR)


def load_audio(path: str | os.PathLike, *, sample_rate: int = 16000, min_samples: int = 400,
               resample: bool = False) -> np.ndarray:
    """Read a mono clip as float32 1-D at `sample_rate`.

    Raises AudioError for a missing, empty, corrupt or truncated file, more than one channel, NaN/Inf samples,
    another sample rate (unless `resample`, which converts it with a polyphase filter), or fewer than
    `min_samples` samples (pass the model's receptive field, `models.config.receptive_field(config)`).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioError(path, "no such file", "an existing audio file")
    if os.path.getsize(path) == 0:
        raise AudioError(path, "empty file (0 bytes)", "a WAV/FLAC file with audio")
    truncated = _wav_truncation(path)
    if truncated:
        raise AudioError(path, f"truncated: the header declares {truncated[0]} data bytes, the file holds "
                               f"{truncated[1]}", "a complete WAV file")
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError) as e:
        raise AudioError(path, f"corrupt or unreadable ({e})", "a WAV/FLAC file libsndfile can decode") from e
    if audio.shape[1] != 1:
        raise AudioError(path, f"{audio.shape[1]} channels", "mono audio")
    audio = audio[:, 0]
    if audio.size == 0:
        raise AudioError(path, "no samples", "a non-empty clip")
    if not np.all(np.isfinite(audio)):
        raise AudioError(path, f"{int(np.sum(~np.isfinite(audio)))} NaN/Inf samples", "finite samples")
    if rate != sample_rate:
        if not resample:
            raise AudioError(path, f"sample rate {rate} Hz",
                             f"{sample_rate} Hz; pass resample=True to convert")
        g = math.gcd(rate, sample_rate)
        audio = resample_poly(audio, sample_rate // g, rate // g).astype(np.float32)
    if audio.size < min_samples:
        raise AudioError(path, f"{audio.size} samples, shorter than the model's receptive field",
                         f"at least {min_samples} samples at {sample_rate} Hz")
    return audio
