"""Every registered classifier head passes scikit-learn's ``check_estimator`` (binary-only by its tags)."""

from __future__ import annotations

import warnings

import pytest
from conftest import make_default_host
from sklearn.utils.estimator_checks import check_estimator

import negate_sdk

HEADS = make_default_host().registry("classifier").names()
# the library a head needs to fit, when it is an optional one
NEEDS = {"lightgbm": "lightgbm", "xgboost": "xgboost", "ensemble": "lightgbm"}


def small(name):
    """The head with five trees wherever it grows trees, so the checks' many fits stay quick."""
    head = negate_sdk.create_classifier(name)
    trees = [key for key in head.get_params() if key.split("__")[-1] == "n_estimators"]
    return head.set_params(**dict.fromkeys(trees, 5))


def test_every_builtin_head_is_checked():
    assert {"logistic", "svm", "random_forest", "lightgbm", "xgboost", "ensemble"} <= set(HEADS)


@pytest.mark.parametrize("name", HEADS)
def test_head_passes_check_estimator(name):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    head = small(name)
    assert head.__sklearn_tags__().classifier_tags.multi_class is False  # multi-class checks are not run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(head, on_fail=None, on_skip=None)
    explained = [r for r in results if r["status"] == "skipped" and str(r["exception"])]
    failed = [
        f"{r['check_name']}: {r['exception']!r}"[:300]
        for r in results
        if r["status"] != "passed" and r not in explained
    ]
    assert not failed, "\n".join(failed)
    assert sum(r["status"] == "passed" for r in results) >= 50
