"""Classifier heads: learning, determinism, attributions, nested parameters and safe persistence."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

import negate_sdk
from negate_sdk.artifacts import ArtifactError, load_skops, save_skops

HEADS = ["logistic", "svm", "random_forest", "lightgbm", "xgboost", "ensemble"]


def xor_data(n=600, seed=0):
    """A non-linear problem (XOR of two features) plus three noise columns."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int)
    return X, y


@pytest.mark.parametrize("name", ["svm", "random_forest", "lightgbm", "xgboost", "ensemble"])
def test_nonlinear_heads_learn_xor(name):
    X, y = xor_data()
    head = negate_sdk.create_classifier(name).fit(X[:400], y[:400])
    accuracy = np.mean(head.predict(X[400:]) == y[400:])
    assert accuracy > 0.85, accuracy


def test_logistic_cannot_learn_xor_but_learns_a_line():
    X, y = xor_data()
    assert np.mean(negate_sdk.create_classifier("logistic").fit(X, y).predict(X) == y) < 0.65
    line = (X[:, 0] + X[:, 2] > 0).astype(int)
    assert np.mean(negate_sdk.create_classifier("logistic").fit(X, line).predict(X) == line) > 0.97


@pytest.mark.parametrize("name", HEADS)
def test_heads_are_deterministic_and_round_trip_exactly(name, tmp_path):
    X, y = xor_data(300)
    a = negate_sdk.create_classifier(name).fit(X, y)
    b = clone(a).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    state = a.save_weights(tmp_path, "classifier")
    loaded = type(a).load_weights(tmp_path, "classifier", state)
    np.testing.assert_array_equal(loaded.predict_proba(X), a.predict_proba(X))
    assert all(p.suffix in (".json", ".txt", ".ubj", ".safetensors") for p in tmp_path.iterdir())


def test_ensemble_members_fit_in_threads_to_the_same_result():
    X, y = xor_data(300)
    small = {"lightgbm__n_estimators": 20, "random_forest__n_estimators": 10}
    one = negate_sdk.create_classifier("ensemble", n_jobs=1).set_params(**small).fit(X, y)
    three = negate_sdk.create_classifier("ensemble", n_jobs=3).set_params(**small).fit(X, y)
    np.testing.assert_array_equal(one.predict_proba(X), three.predict_proba(X))


def test_logistic_contributions_add_up_to_the_log_odds():
    X, _ = xor_data(200)
    head = negate_sdk.create_classifier("logistic").fit(X, (X[:, 0] > 0).astype(int))
    np.testing.assert_allclose(head.contributions(X).sum(axis=1) + head.intercept_, head.decision_function(X))


@pytest.mark.parametrize("name", ["lightgbm", "xgboost"])
def test_booster_contributions_add_up_to_the_margin(name):
    X, y = xor_data(400)
    head = negate_sdk.create_classifier(name, n_estimators=50).fit(X, y)
    p = head.predict_proba(X)[:, 1]
    margin = np.log(p / (1 - p))
    contributions = head.contributions(X)
    assert contributions.shape == X.shape
    # SHAP values plus the (constant) bias term reproduce each prediction's margin
    bias = margin - contributions.sum(axis=1)
    np.testing.assert_allclose(bias, bias[0], atol=1e-4)
    # the informative columns carry more attribution than the noise columns
    importance = np.abs(contributions).mean(axis=0)
    assert importance[:2].min() > importance[2:].max()


def test_lightgbm_stops_early_on_noise():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(800, 4))
    y = rng.integers(0, 2, 800)
    head = negate_sdk.create_classifier("lightgbm", n_estimators=500, early_stopping_rounds=20).fit(X, y)
    assert head.best_iteration_ < 100
    full = negate_sdk.create_classifier("lightgbm", n_estimators=60, early_stopping_rounds=0).fit(X, y)
    assert full.best_iteration_ == 60


def test_ensemble_nested_params_and_weights():
    ensemble = negate_sdk.create_classifier("ensemble")
    params = ensemble.get_params()
    assert params["lightgbm__n_estimators"] == 500 and params["svm__C"] == 1.0
    ensemble.set_params(lightgbm__n_estimators=30, random_forest__n_estimators=25, weights=[2, 1, 1])
    assert ensemble.get_params()["lightgbm__n_estimators"] == 30
    X, y = xor_data(400)
    ensemble.fit(X, y)
    members = ensemble.member_probabilities(X)
    np.testing.assert_allclose(ensemble.predict_proba(X)[:, 1], members @ np.array([0.5, 0.25, 0.25]))
    with pytest.raises(ValueError, match="members are lightgbm, svm, random_forest"):
        ensemble.set_params(catboost__depth=3)
    with pytest.raises(ValueError, match="weights must be 3 non-negative numbers"):
        ensemble.set_params(weights=[1, 1]).fit(X, y)


def test_heads_refuse_single_class_and_wrong_shapes():
    X, y = xor_data(50)
    head = negate_sdk.create_classifier("logistic")
    with pytest.raises(ValueError, match="both classes"):
        head.fit(X, np.zeros(50))
    head.fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but LogisticHead is expecting 5 features"):
        head.predict_proba(X[:, :3])


def small(name):
    """A head quick enough to fit many times."""
    params = {"n_estimators": 5} if name in ("random_forest", "lightgbm", "xgboost") else {}
    head = negate_sdk.create_classifier(name, **params)
    if name == "ensemble":
        head.set_params(lightgbm__n_estimators=5, random_forest__n_estimators=5)
    return head


@pytest.mark.parametrize("name", HEADS)
def test_every_head_refuses_the_same_bad_input_the_same_way(name):
    from scipy.sparse import csr_matrix
    from sklearn.exceptions import NotFittedError

    X, y = xor_data(60)
    head = small(name)
    with pytest.raises(NotFittedError, match="not fitted yet") as raised:
        head.predict_proba(X)
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, AttributeError)
    for bad in (np.nan, np.inf, -np.inf):
        Xbad = X.copy()
        Xbad[3, 1] = bad
        with pytest.raises(ValueError, match=r"Input X contains (NaN|infinity)"):
            small(name).fit(Xbad, y)
        with pytest.raises(ValueError, match="X holds NaN or inf values"):
            head.fit(X, y).predict_proba(Xbad)
    with pytest.raises(ValueError, match="requires y to be passed, but the target y is None"):
        small(name).fit(X, None)
    with pytest.raises(ValueError, match="Only binary classification is supported; y is multiclass"):
        small(name).fit(X, np.arange(60) % 3)
    with pytest.raises(ValueError, match="Only binary classification is supported; y is continuous"):
        small(name).fit(X, X[:, 0])
    with pytest.raises(TypeError, match=r"[Ss]parse"):
        small(name).fit(csr_matrix(X), y)
    with pytest.raises(TypeError, match="does not accept sparse input"):
        head.predict_proba(csr_matrix(X))


def test_any_two_labels_are_fitted_with_the_larger_as_synthetic(tmp_path):
    X, _ = xor_data(200)
    line = (X[:, 0] + X[:, 2] > 0).astype(int)
    words = np.array(["real", "synthetic"])[line]
    head = negate_sdk.create_classifier("logistic").fit(X, words)
    reference = negate_sdk.create_classifier("logistic").fit(X, line)
    assert list(head.classes_) == ["real", "synthetic"]
    np.testing.assert_array_equal(head.predict_proba(X), reference.predict_proba(X))
    np.testing.assert_array_equal(head.predict(X), np.array(["real", "synthetic"])[reference.predict(X)])
    with pytest.raises(ValueError, match="only a head fitted on labels 0 and 1 can be saved"):
        head.save_weights(tmp_path, "head")


def test_ensemble_members_set_to_plain_values_are_clear_errors():
    X, y = xor_data(60)
    ensemble = small("ensemble")
    assert ensemble.set_params(members=np.inf).get_params()["members"] == np.inf  # deep, yet no error
    with pytest.raises(ValueError, match="members must be a list of \\(label, head\\) pairs; got inf"):
        ensemble.fit(X, y)
    with pytest.raises(ValueError, match="member 'svm' is None, not a head with fit and predict_proba"):
        small("ensemble").set_params(svm=None).fit(X, y)
    with pytest.raises(ValueError, match="member labels must be distinct"):
        negate_sdk.create_classifier("ensemble", members=[("a", small("logistic"))] * 2).fit(X, y)
    plain = negate_sdk.create_classifier("ensemble", members=[["lr", small("logistic")]], weights=(1,))
    assert plain.fit(X, y).get_params()["lr__C"] == 1.0
    assert plain.predict(X).shape == (60,)


class Untrusted:
    def __init__(self):
        self.value = 1


def test_skops_files_with_untrusted_types_are_refused(tmp_path):
    save_skops(tmp_path / "evil.skops", {"payload": Untrusted()})
    with pytest.raises(ArtifactError, match=r"refusing to load untrusted types .*Untrusted"):
        load_skops(tmp_path / "evil.skops")
    (tmp_path / "garbage.skops").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ArtifactError, match="not a readable skops file"):
        load_skops(tmp_path / "garbage.skops")


def shortcut_data(n_per_group=120, seed=0):
    """Three sources: column 0 carries the label weakly everywhere; columns 1-30 carry it strongly, but in
    a direction that differs per source (a source's own pipeline traces), so they do not transfer."""
    rng = np.random.default_rng(seed)
    X, y, groups = [], [], []
    for g in range(3):
        labels = rng.integers(0, 2, n_per_group)
        block = rng.normal(size=(n_per_group, 31))
        block[:, 0] += 0.8 * labels
        block[:, 1:] += np.outer(2 * labels - 1, rng.normal(scale=0.6, size=30))
        X.append(block), y.append(labels), groups.extend([f"source{g}"] * n_per_group)
    return np.vstack(X), np.concatenate(y), np.array(groups)


def test_logistic_strength_is_the_one_that_ranks_a_held_out_source_best():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import LeaveOneGroupOut, cross_val_score

    X, y, groups = shortcut_data()
    Cs = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    head = negate_sdk.create_classifier("logistic", Cs=Cs).fit(X, y, groups=groups)
    Z = (X - X.mean(0)) / X.std(0)
    reference = [
        cross_val_score(
            LogisticRegression(C=C, max_iter=2000),
            Z,
            y,
            groups=groups,
            cv=LeaveOneGroupOut(),
            scoring="roc_auc",
        ).mean()
        for C in Cs
    ]
    assert Cs[int(np.argmax(reference))] == head.C_
    assert head.C_ < 1.0  # the shortcuts fit the training sources, so a held-out source asks for more bias
    ungrouped = negate_sdk.create_classifier("logistic", Cs=Cs).fit(X, y)  # stratified folds instead
    assert ungrouped.C_ in Cs
    with pytest.raises(ValueError, match="Cs must be positive"):
        negate_sdk.create_classifier("logistic", Cs=[0.0]).fit(X, y)


def test_ensemble_members_read_their_feature_groups_and_pool_log_odds(tmp_path):
    X, y, groups = shortcut_data()
    names = [f"{'weak' if j == 0 else 'strong'}__f{j}" for j in range(X.shape[1])]
    ensemble = negate_sdk.create_classifier(
        "ensemble",
        members=[
            ("lin", negate_sdk.create_classifier("logistic", Cs=[1e-3, 1.0])),
            ("all", negate_sdk.create_classifier("logistic")),
        ],
        weights=[3.0, 1.0],
        member_features={"lin": ["weak"]},
        pooling="log-odds",
    ).fit(X, y, groups=groups, feature_names=names)
    (_, lin), (_, every) = ensemble.members_
    assert lin.n_features_in_ == 1 and every.n_features_in_ == 31
    p = ensemble.member_probabilities(X)
    z = np.log(p) - np.log1p(-p)
    np.testing.assert_allclose(ensemble.predict_proba(X)[:, 1], 1 / (1 + np.exp(-(z @ [0.75, 0.25]))))
    contributions = ensemble.contributions(X)
    np.testing.assert_allclose(contributions[:, 1:], 0.25 * every.contributions(X)[:, 1:])
    state = ensemble.save_weights(tmp_path, "classifier")
    loaded = type(ensemble).load_weights(tmp_path, "classifier", state)
    np.testing.assert_array_equal(loaded.predict_proba(X), ensemble.predict_proba(X))
    for hostile in ([5, 3], [0, 0], [-1], [31], [True], "all", []):
        bad = {**state, "members": [{**state["members"][0], "columns": hostile}, state["members"][1]]}
        with pytest.raises(ArtifactError, match="columns"):
            type(ensemble).load_weights(tmp_path, "classifier", bad)
    with pytest.raises(ArtifactError, match="pooling"):
        type(ensemble).load_weights(
            tmp_path, "classifier", {**state, "params": {**state["params"], "pooling": "max"}}
        )
    with pytest.raises(ValueError, match="needs the feature names"):
        clone(ensemble).fit(X, y)
    with pytest.raises(ValueError, match="member_features names nobody"):
        clone(ensemble).set_params(member_features={"nobody": ["weak"]}).fit(X, y, feature_names=names)
