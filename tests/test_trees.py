"""Tree ensembles scored in numpy against the libraries that grew them: LightGBM's raw scores and
``pred_contrib`` (TreeSHAP), scikit-learn's forest probabilities, and a hand-computed SHAP case."""

from __future__ import annotations

import numpy as np
import pytest

from negate_heads.trees import MISSING_NAN, MISSING_NONE, MISSING_ZERO, TreeEnsemble

lgb = pytest.importorskip("lightgbm")


def data(n=500, d=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X[:, 0] + X[:, 1] * X[:, 2] + 0.5 * rng.normal(size=n) > 0).astype(int)
    return X, y


def with_missing(X):
    X = X.copy()
    X[::7, 3] = np.nan  # NaN missing type
    X[::5, 4] = 0.0  # zero missing type (zero_as_missing)
    return X


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_lightgbm_scores_and_shap_values_equal_lightgbm_s_own(zero_as_missing):
    X, y = data()
    X = with_missing(X)
    model = lgb.LGBMClassifier(
        n_estimators=40,
        num_leaves=15,
        subsample=0.8,
        subsample_freq=1,
        zero_as_missing=zero_as_missing,
        verbose=-1,
    ).fit(X, y)
    trees, sigmoid = TreeEnsemble.from_lightgbm(model.booster_.model_to_string())
    X_test = with_missing(data(60, seed=1)[0])
    assert sigmoid == 1.0
    np.testing.assert_allclose(trees.raw(X_test), model.booster_.predict(X_test, raw_score=True), atol=1e-12)
    expected = model.booster_.predict(X_test, pred_contrib=True)[:, :-1]
    np.testing.assert_allclose(trees.contributions(X_test), expected, atol=1e-12)
    # the booster's own best iteration: only the first trees count
    first, _ = TreeEnsemble.from_lightgbm(model.booster_.model_to_string(), 10)
    np.testing.assert_allclose(
        first.raw(X_test), model.booster_.predict(X_test, raw_score=True, num_iteration=10), atol=1e-12
    )


def test_forest_probabilities_equal_scikit_learn_s_even_at_float32_thresholds():
    from sklearn.ensemble import RandomForestClassifier

    X, y = data()
    forest = RandomForestClassifier(n_estimators=25, random_state=0).fit(X, y)
    trees = TreeEnsemble.from_forest(forest)
    X_test = data(200, seed=2)[0]
    # values sitting exactly on, and one float64 ulp around, the first split's threshold
    feature, threshold = trees.feature[0], trees.threshold[0]
    X_test[:3, feature] = [threshold, np.nextafter(threshold, -1), np.nextafter(threshold, 1)]
    np.testing.assert_array_equal(trees.raw(X_test), forest.predict_proba(X_test)[:, 1])
    again = TreeEnsemble.from_arrays(trees.arrays(), trees.layout(), X.shape[1], "forest")
    np.testing.assert_array_equal(again.raw(X_test), trees.raw(X_test))


def stump_pair():
    """Two hand-made trees over 2 features: tree 0 splits x0 <= 0 (covers 30 | 10) with leaves 1 and 5;
    tree 1 splits x1 <= 1 then x0 <= 2 (covers 40 -> 20 | 20 -> 5 | 15), leaves 2, 4, 8."""
    return TreeEnsemble(
        feature=np.array([0, -1, -1, 1, -1, 0, -1, -1]),
        threshold=np.array([0.0, 0, 0, 1, 0, 2, 0, 0]),
        left=np.array([1, -1, -1, 4, -1, 6, -1, -1]),
        right=np.array([2, -1, -1, 5, -1, 7, -1, -1]),
        value=np.array([0, 1.0, 5.0, 0, 2.0, 0, 4.0, 8.0]),
        cover=np.array([40, 30, 10, 40, 20, 20, 5, 15.0]),
        default_left=np.zeros(8, dtype=bool),
        missing=np.full(8, MISSING_NONE, dtype=np.uint8),
        roots=np.array([0, 3]),
        n_features=2,
    )


def test_shap_values_of_a_hand_made_pair_of_trees():
    trees = stump_pair()
    x = np.array([[-1.0, 3.0]])  # tree 0 -> leaf 1 (value 1); tree 1 -> x1 > 1, x0 <= 2 -> leaf 4
    assert trees.raw(x)[0] == 1.0 + 4.0
    # tree 0 (one feature): phi_0 = f(x) - E = 1 - (30*1 + 10*5)/40 = -1
    # tree 1: E = (20*2 + 5*4 + 15*8)/40 = 4.5; f({x1}) = (5*4 + 15*8)/20 = 7; f({x0}) = (20*2 + 20*4)/40 = 3
    # phi_1 = ((7 - 4.5) + (4 - 3)) / 2 = 1.75, phi_0 = ((3 - 4.5) + (4 - 7)) / 2 = -2.25
    np.testing.assert_allclose(trees.contributions(x), [[-1.0 - 2.25, 1.75]])
    np.testing.assert_allclose(trees.contributions(x).sum(), trees.raw(x)[0] - (2.0 + 4.5))


def test_missing_values_go_the_default_way():
    trees = stump_pair()
    trees.missing[0], trees.default_left[0] = MISSING_NAN, False
    trees.missing[3], trees.default_left[3] = MISSING_ZERO, True
    # x0 NaN at a NaN-missing split goes right (leaf 5); in tree 1, x1 = 0 is "missing" there: left (leaf 2);
    # x0 NaN read as 0 where NaN is not the missing type
    np.testing.assert_array_equal(trees.raw(np.array([[np.nan, 0.0]])), [5.0 + 2.0])
    np.testing.assert_array_equal(trees.raw(np.array([[np.nan, 3.0]])), [5.0 + 4.0])
