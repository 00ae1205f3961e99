"""Character vocabulary in HF `vocab.json` form, greedy CTC decoding, WER and CER."""

from __future__ import annotations

import json
import os
import string
from pathlib import Path
from typing import Sequence

import numpy as np

PAD, UNK, WORD_DELIMITER = "<pad>", "<unk>", "|"


class CharVocab:
    """HF Wav2Vec2CTCTokenizer's layout: <pad> is the CTC blank (id 0), "|" separates words."""

    def __init__(self, tokens: dict[str, int]):
        for required in (PAD, UNK, WORD_DELIMITER):
            if required not in tokens:
                raise ValueError(f"vocabulary lacks the token {required!r}")
        self.token_to_id = dict(tokens)
        self.id_to_token = {i: t for t, i in tokens.items()}

    @classmethod
    def letters(cls) -> "CharVocab":
        """LibriSpeech's 32 tokens, in facebook/wav2vec2-base-960h's order."""
        tokens = [PAD, "<s>", "</s>", UNK, WORD_DELIMITER, *"ETAONIHSRDLUMWCFGYPBVK'XJQZ"]
        assert set(string.ascii_uppercase) <= set(tokens)
        return cls({t: i for i, t in enumerate(tokens)})

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CharVocab":
        try:
            return cls(json.loads(Path(path).read_text()))
        except (json.JSONDecodeError, ValueError) as e:
            raise ValueError(f"{path}: not an HF character vocab.json ({e})") from e

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.token_to_id, indent=1))

    @property
    def blank_id(self) -> int:
        return self.token_to_id[PAD]

    def __len__(self) -> int:
        return len(self.token_to_id)

    def encode(self, text: str) -> np.ndarray:
        unk = self.token_to_id[UNK]
        chars = " ".join(text.upper().split()).replace(" ", WORD_DELIMITER)
        return np.array([self.token_to_id.get(c, unk) for c in chars], np.int32)

    def decode_greedy(self, frame_ids: Sequence[int]) -> str:
        """Collapse repeats, drop blanks, "|" to spaces."""
        out, previous = [], None
        for i in frame_ids:
            i = int(i)
            if i != previous and i != self.blank_id:
                out.append(self.id_to_token.get(i, ""))
            previous = i
        text = "".join(t for t in out if len(t) == 1).replace(WORD_DELIMITER, " ")
        return " ".join(text.split())


def edit_distance(reference: Sequence, hypothesis: Sequence) -> int:
    row = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        diagonal, row[0] = row[0], i
        for j, h in enumerate(hypothesis, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (r != h))
    return row[-1]


def error_rate(references: Sequence[str], hypotheses: Sequence[str], unit: str = "word") -> float:
    """Corpus-level WER (unit="word") or CER (unit="char"): total edits / total reference units."""
    split = str.split if unit == "word" else (lambda s: list(" ".join(s.split())))
    edits = sum(edit_distance(split(r), split(h)) for r, h in zip(references, hypotheses))
    total = sum(len(split(r)) for r in references)
    return edits / max(total, 1)
