"""How the real-corpus readers report labelled utterances whose audio is absent."""

from __future__ import annotations

import logging
import os

from .utterance import Utterance

_log = logging.getLogger(__name__)
_SHOWN = 5


def listing(items: list[str]) -> str:
    """The first few of `items` and how many more, for one-line messages about many files."""
    return ", ".join(items[:_SHOWN]) + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


class MissingAudioError(FileNotFoundError):
    """Labelled utterances whose wav files are not on disk; `.paths` lists them all."""

    def __init__(self, corpus: str, paths: list[str]):
        self.paths = paths
        super().__init__(f"{corpus}: {len(paths)} labelled utterance(s) have no wav file: {listing(paths)}")


def drop_missing(corpus: str, utts: list[Utterance], skip_missing: bool) -> list[Utterance]:
    """Raise MissingAudioError naming the absent wavs, or with `skip_missing` log them and drop them."""
    missing = [u.path for u in utts if not os.path.isfile(u.path)]
    if not missing:
        return utts
    if not skip_missing:
        raise MissingAudioError(corpus, missing)
    _log.warning("%s", MissingAudioError(corpus, missing))
    absent = set(missing)
    return [u for u in utts if u.path not in absent]
