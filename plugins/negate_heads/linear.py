"""Linear-model heads with built-in standardisation: logistic regression and a support vector machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from negate_heads.base import Head, load_arrays, save_arrays, state_name
from negate_heads.checks import check_svc
from negate_sdk.artifacts import ArtifactError, load_skops, save_skops


def _standardise(X: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return (X - mean) / scale


def _positive(scale: np.ndarray, directory: Path) -> np.ndarray:
    if np.any(scale <= 0):  # a fitted scale is never zero: _fit_scaler replaces constant columns by 1
        raise ArtifactError(f"{directory}: scaler scale holds values that are not positive")
    return scale


def _fit_scaler(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < 1e-12] = 1.0  # constant columns stay at zero instead of dividing by zero
    return mean, scale


class LogisticHead(Head):
    """Standardised features into L2-regularised logistic regression (UniversalFakeDetect's linear probe).

    ``C`` is the inverse regularisation strength; ``class_weight="balanced"`` reweights unequal classes.
    Feature contributions are ``coef · standardised x``.
    """

    name = "logistic"

    def __init__(self, C: float = 1.0, class_weight: str | None = None, max_iter: int = 2000) -> None:
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter

    def fit(self, X: np.ndarray, y: np.ndarray) -> LogisticHead:
        """Fit scaler and model on ``(n_samples, n_features)`` and ``(n_samples,)`` labels."""
        from sklearn.linear_model import LogisticRegression

        X, y = self._check_fit(X, y)
        self.mean_, self.scale_ = _fit_scaler(X)
        model = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter)
        model.fit(_standardise(X, self.mean_, self.scale_), y)
        self.coef_ = model.coef_.ravel().astype(np.float64)
        self.intercept_ = float(model.intercept_[0])
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """``(n_samples,)`` log-odds of synthetic."""
        return _standardise(self._check_X(X), self.mean_, self.scale_) @ self.coef_ + self.intercept_

    def _raw_proba(self, X: np.ndarray) -> np.ndarray:
        z = _standardise(X, self.mean_, self.scale_) @ self.coef_ + self.intercept_
        return 0.5 * (1.0 + np.tanh(0.5 * z))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """``(n_samples, n_features)`` additive log-odds contributions of each feature."""
        return _standardise(self._check_X(X), self.mean_, self.scale_) * self.coef_

    def save_weights(self, directory: Path, stem: str) -> dict[str, Any]:
        """Scaler and coefficients as JSON."""
        file = save_arrays(
            directory / f"{stem}.json",
            {"mean": self.mean_, "scale": self.scale_, "coef": self.coef_, "intercept": [self.intercept_]},
        )
        return {**self._base_state(), "file": file}

    def _load_weights(self, directory: Path, stem: str, state: dict[str, Any]) -> None:
        n = self.n_features_in_
        shapes = {"mean": (n,), "scale": (n,), "coef": (n,), "intercept": (1,)}
        arrays = load_arrays(directory, state.get("file"), shapes)
        self.mean_, self.scale_, self.coef_ = (
            arrays["mean"],
            _positive(arrays["scale"], directory),
            arrays["coef"],
        )
        self.intercept_ = float(arrays["intercept"][0])


class SVMHead(Head):
    """Standardised features into a support vector machine (RBF kernel by default).

    ``predict_proba`` is the sigmoid of the SVM margin: monotone in the decision value but not calibrated;
    the detector calibrates it on validation data (which costs nothing at fit time, unlike SVC's
    internal five-fold Platt scaling).
    """

    name = "svm"

    def __init__(
        self,
        C: float = 1.0,
        kernel: str = "rbf",
        gamma: str | float = "scale",
        class_weight: str | None = None,
    ) -> None:
        self.C = C
        self.kernel = kernel
        self.gamma = gamma
        self.class_weight = class_weight

    def fit(self, X: np.ndarray, y: np.ndarray) -> SVMHead:
        """Fit scaler and SVM on ``(n_samples, n_features)`` and ``(n_samples,)`` labels."""
        from sklearn.svm import SVC

        X, y = self._check_fit(X, y)
        self.mean_, self.scale_ = _fit_scaler(X)
        self.model_ = SVC(C=self.C, kernel=self.kernel, gamma=self.gamma, class_weight=self.class_weight)
        self.model_.fit(_standardise(X, self.mean_, self.scale_), y)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """``(n_samples,)`` signed distance to the margin (positive: synthetic)."""
        return self.model_.decision_function(_standardise(self._check_X(X), self.mean_, self.scale_))

    def _raw_proba(self, X: np.ndarray) -> np.ndarray:
        margin = self.model_.decision_function(_standardise(X, self.mean_, self.scale_))
        return 0.5 * (1.0 + np.tanh(0.5 * margin))

    def save_weights(self, directory: Path, stem: str) -> dict[str, Any]:
        """Scaler as JSON, the SVM through skops."""
        scaler = save_arrays(directory / f"{stem}.scaler.json", {"mean": self.mean_, "scale": self.scale_})
        model = save_skops(directory / f"{stem}.skops", self.model_)
        return {**self._base_state(), "scaler": scaler, "model": model}

    def _load_weights(self, directory: Path, stem: str, state: dict[str, Any]) -> None:
        n = self.n_features_in_
        arrays = load_arrays(directory, state.get("scaler"), {"mean": (n,), "scale": (n,)})
        self.mean_, self.scale_ = arrays["mean"], _positive(arrays["scale"], directory)
        path = state_name(state, "model", directory)
        self.model_ = check_svc(load_skops(path), str(path), n)
