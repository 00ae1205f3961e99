"""CTC vocabulary, greedy decoding and error rates."""

import pytest

from recovery_jax.train.ctc import CharVocab, edit_distance, error_rate


def test_letters_vocab_matches_hf_base_960h_layout(tmp_path):
    vocab = CharVocab.letters()
    assert len(vocab) == 32 and vocab.blank_id == 0 and vocab.token_to_id["|"] == 4
    vocab.save(tmp_path / "vocab.json")
    assert CharVocab.load(tmp_path / "vocab.json").token_to_id == vocab.token_to_id


def test_greedy_decode_collapses_repeats_and_drops_blanks():
    vocab = CharVocab.letters()
    ids = vocab.encode("HELLO WORLD")
    frames = []
    for i in ids:  # each token twice, a blank between the two Ls so they survive collapsing
        frames += [int(i), int(i), vocab.blank_id]
    assert vocab.decode_greedy(frames) == "HELLO WORLD"
    assert vocab.decode_greedy([vocab.token_to_id["L"]] * 4) == "L"


def test_unknown_characters_map_to_unk():
    vocab = CharVocab.letters()
    assert vocab.encode("a1")[1] == vocab.token_to_id["<unk>"]


def test_error_rates():
    assert edit_distance("kitten", "sitting") == 3
    assert error_rate(["A B C D"], ["A X C"], "word") == pytest.approx(0.5)
    assert error_rate(["AB"], ["AB"], "char") == 0.0


def test_bad_vocab_file_is_named(tmp_path):
    (tmp_path / "vocab.json").write_text('{"A": 0}')
    with pytest.raises(ValueError, match="vocab.json"):
        CharVocab.load(tmp_path / "vocab.json")
