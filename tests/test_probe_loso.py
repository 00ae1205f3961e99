import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix

from recovery_jax.probe import HANDCRAFTED_GRID, LINEAR_GRID, make_search, probe_layers, probe_loso, uar, war
from recovery_jax.probe import metrics

SESSIONS = ("s1", "s2", "s3", "s4")


@pytest.fixture(scope="module")
def corpus():
    x, y = make_classification(n_samples=200, n_features=12, n_informative=6, n_classes=4,
                               n_clusters_per_class=1, class_sep=1.5, random_state=0)
    sessions = np.array([SESSIONS[i % 4] for i in range(len(y))])
    return x, y, sessions


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 50)  # class 3 never occurs in y_true but is predicted
    y_pred = rng.integers(0, 4, 50)
    assert uar(y_true, y_pred, 4) == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert war(y_true, y_pred) == pytest.approx(accuracy_score(y_true, y_pred))
    np.testing.assert_array_equal(metrics.confusion(y_true, y_pred, 4),
                                  confusion_matrix(y_true, y_pred, labels=range(4)))


def test_probe_scores_equal_sklearn_per_fold(corpus):
    x, y, sessions = corpus
    result = probe_loso(x, y, sessions)
    assert [f.test_session for f in result.folds] == list(SESSIONS)
    assert (result.predictions >= 0).all()
    for fold in result.folds:
        test = sessions == fold.test_session
        assert fold.uar == pytest.approx(balanced_accuracy_score(y[test], result.predictions[test]))
        assert fold.war == pytest.approx(accuracy_score(y[test], result.predictions[test]))
        assert set(fold.best_params) == {"svc__C", "svc__kernel"}
    assert result.uar == pytest.approx(np.mean([f.uar for f in result.folds]))
    assert 0.6 < result.uar < 1.0  # chance is 0.25
    assert result.confusion.sum() == len(y)


class _Recorder:
    """Search factory that keeps every estimator it makes, to inspect what each fold was fitted on."""

    def __init__(self):
        self.made = []

    def __call__(self):
        self.made.append(make_search({"svc__kernel": ["linear"], "svc__C": [0.1]}))
        return self.made[-1]


def test_no_test_session_reaches_training(corpus):
    x, y, sessions = corpus
    seen = []

    def fold_features(session, train):
        seen.append((session, train))
        return x + 1e3 * (sessions == session)[:, None]  # test rows far off: any leak shifts the scaler

    recorder = _Recorder()
    probe_loso(fold_features, y, sessions, search=recorder)
    for (session, train), search in zip(seen, recorder.made):
        np.testing.assert_array_equal(train, np.flatnonzero(sessions != session))
        scaler = search.best_estimator_["scaler"]
        assert scaler.n_samples_seen_ == len(train)
        np.testing.assert_allclose(scaler.mean_, x[train].mean(axis=0))


def test_per_fold_mapping_uses_each_folds_network(corpus):
    x, y, sessions = corpus
    int_sessions = np.array([SESSIONS.index(s) + 1 for s in sessions])  # the corpus numbers its sessions
    per_fold = {k: x + k for k in (1, 2, 3, 4)}
    recorder = _Recorder()
    result = probe_loso(per_fold, y, int_sessions, search=recorder)
    assert [f.test_session for f in result.folds] == [1, 2, 3, 4]
    for session, search in zip((1, 2, 3, 4), recorder.made):
        train = int_sessions != session
        np.testing.assert_allclose(search.best_estimator_["scaler"].mean_, per_fold[session][train].mean(axis=0))


def test_bad_inputs_name_the_culprit(corpus):
    x, y, sessions = corpus
    with pytest.raises(ValueError, match=r"PT embeddings: expected an \(utterances=200"):
        probe_loso(x[:-1], y, sessions, name="PT embeddings")
    with pytest.raises(ValueError, match=r"SER.*missing \['s4'\]"):
        probe_loso({s: x for s in SESSIONS[:3]}, y, sessions, name="SER")
    with pytest.raises(ValueError, match=r"BoAW for test session 's1'"):
        probe_loso(lambda session, train: x[train], y, sessions, name="BoAW")
    with pytest.raises(ValueError, match="same utterances"):
        probe_loso(x, y, sessions[:-1])
    with pytest.raises(ValueError, match=r"class indices in \[0, 4\), got 0\.\.4"):
        probe_loso(x, np.where(y == 3, 4, y), sessions)
    with pytest.raises(ValueError, match="at least two sessions"):
        probe_loso(x, y, np.full(len(y), "s1"))


def test_layerwise_finds_the_informative_layer(corpus):
    x, y, sessions = corpus
    noise = np.random.default_rng(0).normal(size=x.shape)
    hidden = np.stack([noise, x], axis=1)
    per_layer = probe_layers(hidden, y, sessions)
    assert [r.uar for r in per_layer][1] > per_layer[0].uar + 0.3
    with pytest.raises(ValueError, match="layers"):
        probe_layers(x, y, sessions)


@pytest.mark.parametrize("grid", [LINEAR_GRID, HANDCRAFTED_GRID], ids=["linear", "handcrafted"])
def test_search_equals_sklearns_grid_search(corpus, grid):
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    x, y, sessions = corpus
    x = x.astype(np.float32)  # as embeddings are stored
    train, test = sessions != "s1", sessions == "s1"
    ours = make_search(grid, cv_folds=3, n_jobs=2).fit(x[train], y[train])
    theirs = GridSearchCV(Pipeline([("scaler", StandardScaler()), ("svc", SVC())]), grid,
                          scoring="balanced_accuracy", cv=StratifiedKFold(3, shuffle=True, random_state=0),
                          refit=True).fit(x[train], y[train])
    assert [dict(p) for p in ours.cv_results_["params"]] == [dict(p) for p in theirs.cv_results_["params"]]
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"],
                               rtol=0, atol=1e-12)
    assert len(set(theirs.cv_results_["mean_test_score"])) > 1  # the grid's choice is not a tie of all
    assert ours.best_params_ == theirs.best_params_ and ours.best_index_ == theirs.best_index_
    np.testing.assert_array_equal(ours.predict(x[test]), theirs.predict(x[test]))


def test_search_names_a_grid_key_it_cannot_use(corpus):
    x, y, _ = corpus
    with pytest.raises(ValueError, match="grid key 'C'.*svc__"):
        make_search({"C": [1.0]}).fit(x, y)
