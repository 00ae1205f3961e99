import json

import pytest

from recovery_jax.data import EMOTIONS, Utterance, export_s3prl_folds, loso_folds


def _corpus(root, sessions=5, per=(4, 6, 6, 4)):
    return [Utterance(f"s{s}_{e}_{i}", str(root / f"Session{s}" / f"s{s}_{e}_{i}.wav"), f"Ses0{s}F", s, e, "HI", 1.0)
            for s in range(1, sessions + 1) for e, n in zip(EMOTIONS, per) for i in range(n)]


def test_each_session_is_tested_once_and_never_trained_on(tmp_path):
    utts = _corpus(tmp_path)
    folds = loso_folds(utts, valid_fraction=0.25, seed=3)
    assert [f.test_session for f in folds] == [1, 2, 3, 4, 5]
    assert sorted(u.utt_id for f in folds for u in f.test) == sorted(u.utt_id for u in utts)
    for fold in folds:
        assert {u.session for u in fold.test} == {fold.test_session}
        assert fold.test_session not in {u.session for u in fold.train + fold.valid}
        assert not {u.utt_id for u in fold.train} & {u.utt_id for u in fold.valid}
        assert len(fold.train) + len(fold.valid) + len(fold.test) == len(utts)
        # stratified: a quarter of each emotion's 16/24 training utterances
        assert sorted(u.emotion for u in fold.valid) == sorted(["angry"] * 4 + ["happy"] * 6 + ["neutral"] * 6
                                                               + ["sad"] * 4)


def test_validation_split_depends_only_on_the_seed(tmp_path):
    utts = _corpus(tmp_path)
    ids = lambda folds: [[u.utt_id for u in f.valid] for f in folds]  # noqa: E731
    assert ids(loso_folds(utts, 0.2, seed=0)) == ids(loso_folds(list(utts), 0.2, seed=0))
    assert ids(loso_folds(utts, 0.2, seed=0)) != ids(loso_folds(utts, 0.2, seed=1))
    assert all(f.valid == [] for f in loso_folds(utts, 0.0))


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="at least 2 sessions"):
        loso_folds(_corpus(tmp_path, sessions=1))
    with pytest.raises(ValueError, match="valid_fraction"):
        loso_folds(_corpus(tmp_path), valid_fraction=1.0)


def test_s3prl_export_matches_s3prl_emotion_meta_data(tmp_path):
    utts = _corpus(tmp_path / "data")
    folds = loso_folds(utts, valid_fraction=0.1)
    written = export_s3prl_folds(folds, tmp_path / "meta", tmp_path / "data")
    assert len(written) == 10
    train = json.loads((tmp_path / "meta" / "Session2" / "train_meta_data.json").read_text())
    test = json.loads((tmp_path / "meta" / "Session2" / "test_meta_data.json").read_text())
    assert train["labels"] == test["labels"] == {"neu": 0, "hap": 1, "ang": 2, "sad": 3}
    assert len(train["meta_data"]) == 80 and len(test["meta_data"]) == 20  # S3PRL splits its own dev set
    assert test["meta_data"][0] == {"path": "Session2/s2_angry_0.wav", "label": "ang", "speaker": "Ses02F"}
    assert not any(m["path"].startswith("Session2/") for m in train["meta_data"])
    with pytest.raises(ValueError, match="not under"):
        export_s3prl_folds(folds, tmp_path / "meta2", tmp_path / "elsewhere")
