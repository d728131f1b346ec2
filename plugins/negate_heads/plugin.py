"""Registers the classifier heads through ``negate_register_classifiers`` (lazily)."""

from __future__ import annotations

from negate_sdk import hookimpl

_HEADS = {
    "logistic": ("linear:LogisticHead", "Standardised logistic regression (linear probe)", None, {}),
    "svm": ("linear:SVMHead", "Standardised support vector machine, RBF kernel", None, {}),
    "random_forest": ("forest:RandomForestHead", "Random forest, seeded", None, {"n_estimators": 20}),
    "lightgbm": (
        "boosting:LightGBMHead",
        "LightGBM gradient boosting with early stopping on a carved validation split",
        "boost",
        {"n_estimators": 40},
    ),
    "xgboost": (
        "boosting:XGBoostHead",
        "XGBoost gradient boosting with early stopping on a carved validation split",
        "boost",
        {"n_estimators": 40},
    ),
    "ensemble": (
        "ensemble:EnsembleHead",
        "Weighted mean of calibrated members (LightGBM + SVM + random forest by default)",
        "boost",
        {},
    ),
}


@hookimpl
def negate_register_classifiers(register):
    """Register logistic, svm, random_forest, lightgbm, xgboost and ensemble."""
    for name, (path, description, requires, test_params) in _HEADS.items():
        options = {"requires": requires} if requires else {}
        register(
            name,
            f"negate_heads.{path}",
            description=description,
            tags=("head",),
            test_params=test_params,
            **options,
        )
