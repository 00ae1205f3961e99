"""The Table I baselines on the embedded (synthesised) corpus: ComParE functionals and BoAW(ComParE LLDs)."""

import dataclasses
import json

import numpy as np
import pytest
import soundfile as sf
from conftest import default_emotion_corpus
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from configs.corpus import get_config
from recovery_jax.data import emotion_index, synthesize_emotion_corpus
from recovery_jax.embed import BoawConfig, boaw_fold_features, files_digest, functionals_for, llds_for, read_table
from recovery_jax.probe import HANDCRAFTED_GRID, make_search, probe_loso


def _handcrafted():
    return make_search(HANDCRAFTED_GRID)


def _targets(utts):
    return np.array([emotion_index(u.emotion) for u in utts]), np.array([u.session for u in utts])


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    root = tmp_path_factory.mktemp("quick")
    return root, synthesize_emotion_corpus(root / "emotion", get_config("quick"))


def _check_scores(result, labels, sessions):
    for fold in result.folds:
        test = sessions == fold.test_session
        assert fold.uar == pytest.approx(balanced_accuracy_score(labels[test], result.predictions[test]))
        assert fold.war == pytest.approx(accuracy_score(labels[test], result.predictions[test]))
    assert result.uar == pytest.approx(np.mean([f.uar for f in result.folds]))


def test_compare_functionals_on_quick_corpus(quick):
    root, utts = quick
    labels, sessions = _targets(utts)
    features = functionals_for(utts, root / "features")
    assert features.shape == (len(utts), 6373)
    result = probe_loso(features, labels, sessions, search=_handcrafted, utt_ids=[u.utt_id for u in utts])
    _check_scores(result, labels, sessions)
    assert len(result.folds) == 5 and 0.35 < result.uar < 1.0  # chance 0.25; 8 test clips per session


def test_boaw_on_quick_corpus(quick):
    root, utts = quick
    labels, sessions = _targets(utts)
    llds = llds_for(utts, root / "features")
    assert all(x.shape[1] == 130 for x in llds)
    result = probe_loso(boaw_fold_features(llds, BoawConfig(codebook_size=100)), labels, sessions,
                        search=_handcrafted, name="BoAW")
    _check_scores(result, labels, sessions)
    assert 0.3 < result.uar < 1.0


def test_feature_table_of_another_corpus_is_refused(quick, tmp_path):
    root, utts = quick
    functionals_for(utts[:10], tmp_path)
    (table,) = tmp_path.glob("compare-functionals-*.npz")
    with pytest.raises(ValueError, match=rf"{table.name}: 30 of 40 utterances missing"):
        read_table(table, [u.utt_id for u in utts])
    # same utterance ids, other audio (a re-synthesised corpus): a new table, and the old one is refused
    copies = []
    for u in utts[:10]:
        audio, rate = sf.read(u.path, dtype="float32")
        sf.write(tmp_path / f"{u.utt_id}.wav", 0.5 * audio, rate)
        copies.append(dataclasses.replace(u, path=str(tmp_path / f"{u.utt_id}.wav")))
    functionals_for(copies, tmp_path)
    assert len(list(tmp_path.glob("compare-functionals-*.npz"))) == 2
    with np.load(table) as z:
        meta = {**json.loads(str(z["meta"])), "audio_sha256": files_digest([u.path for u in copies])}
    with pytest.raises(ValueError, match=rf"{table.name}: written for other inputs \(differs in \['audio_sha256'\]"):
        read_table(table, [u.utt_id for u in copies], meta)


@pytest.mark.slow
def test_boaw_on_default_corpus(tmp_path):
    """Full-size BoAW (500 + 500 words per fold); ComParE on this corpus is tests/test_data_sanity.py's."""
    utts = default_emotion_corpus()
    labels, sessions = _targets(utts)
    boaw = probe_loso(boaw_fold_features(llds_for(utts, tmp_path)), labels, sessions, search=_handcrafted)
    print(f"default corpus: BoAW UAR {boaw.uar:.3f} WAR {boaw.war:.3f}")
    _check_scores(boaw, labels, sessions)
    assert 0.4 < boaw.uar < 0.9
