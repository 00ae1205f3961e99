"""The four emotion classes; their order here is the class-index order everywhere."""

from __future__ import annotations

EMOTIONS = ("angry", "happy", "neutral", "sad")


def emotion_index(emotion: str) -> int:
    """Class index of `emotion` (raises ValueError for anything outside the four classes)."""
    try:
        return EMOTIONS.index(emotion)
    except ValueError:
        raise ValueError(f"unknown emotion {emotion!r}, expected one of {EMOTIONS}") from None
