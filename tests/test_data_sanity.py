"""The default synthetic corpus is learnable but not trivial: ComParE functionals + linear SVM, LOSO."""

import numpy as np
import pytest
from conftest import default_emotion_corpus

from recovery_jax.data import EMOTIONS, loso_folds


@pytest.mark.slow
def test_compare_svm_uar_is_far_above_chance_and_clearly_below_perfect():
    opensmile = pytest.importorskip("opensmile")
    from sklearn.metrics import recall_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    utts = default_emotion_corpus()
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.ComParE_2016,
                            feature_level=opensmile.FeatureLevel.Functionals)
    features = {u.utt_id: smile.process_file(u.path).to_numpy()[0] for u in utts}
    truth, predicted = [], []
    for fold in loso_folds(utts, valid_fraction=0.0):
        clf = make_pipeline(StandardScaler(), LinearSVC(C=1e-3, max_iter=20000))
        clf.fit(np.stack([features[u.utt_id] for u in fold.train]), [EMOTIONS.index(u.emotion) for u in fold.train])
        predicted += clf.predict(np.stack([features[u.utt_id] for u in fold.test])).tolist()
        truth += [EMOTIONS.index(u.emotion) for u in fold.test]
    uar = recall_score(truth, predicted, average="macro")
    print(f"ComParE_2016 functionals + linear SVM, leave-one-session-out UAR {uar:.3f}")
    assert 0.5 < uar < 0.9
