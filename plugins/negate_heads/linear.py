"""Linear-model heads with built-in standardisation: logistic regression and a support vector machine."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from negate_heads.base import Head, load_arrays, save_arrays, state_name
from negate_heads.checks import check_svc
from negate_sdk.artifacts import ArtifactError, load_skops, save_skops

logger = logging.getLogger(__name__)


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


def grouped_choice(
    X: np.ndarray,
    y: np.ndarray,
    groups: Sequence[Any] | None,
    Cs: Sequence[float],
    class_weight: Any,
    max_iter: int,
) -> float:
    """The ``C`` of ``Cs`` whose logistic regression ranks held-out groups best (mean ROC AUC).

    Leave-one-group-out over ``groups`` (e.g. each sample's source), scoring only held-out groups that hold
    both classes, so the choice rewards what transfers to a source the model has not seen; with fewer than
    two such groups, stratified 3-fold cross-validation. Ties go to the smaller ``C`` (more regularised).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(
        ["" if g is None else str(g) for g in groups] if groups is not None else [""] * len(y)
    )
    held_out = [labels == g for g in np.unique(labels) if len(np.unique(y[labels == g])) == 2]
    held_out = [mask for mask in held_out if len(np.unique(y[~mask])) == 2]
    if len(held_out) < 2:
        folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0).split(X, y)
        held_out = [np.isin(np.arange(len(y)), test) for _, test in folds]
    best_score, best_C = -np.inf, float(min(Cs))
    for C in sorted(float(c) for c in Cs):
        scores = []
        for mask in held_out:
            model = LogisticRegression(C=C, class_weight=class_weight, max_iter=max_iter).fit(
                X[~mask], y[~mask]
            )
            scores.append(roc_auc_score(y[mask], model.decision_function(X[mask])))
        if np.mean(scores) > best_score + 1e-9:
            best_score, best_C = float(np.mean(scores)), C
    logger.info(
        "logistic head: C=%g chosen on %d held-out groups (mean AUC %.3f)", best_C, len(held_out), best_score
    )
    return best_C


class LogisticHead(Head):
    """Standardised features into L2-regularised logistic regression (UniversalFakeDetect's linear probe).

    ``C`` is the inverse regularisation strength; with ``Cs`` (a list) it is instead chosen from ``Cs`` by
    cross-validation grouped by the ``groups`` passed to :meth:`fit` (:func:`grouped_choice`): the detector
    passes each image's source, so the strength is the one that carries to a source left out.
    ``class_weight="balanced"`` reweights unequal classes. Feature contributions are
    ``coef · standardised x``.
    """

    name = "logistic"
    fit_requests: ClassVar[frozenset[str]] = frozenset({"groups"})

    def __init__(
        self,
        C: float = 1.0,
        class_weight: str | None = None,
        max_iter: int = 2000,
        Cs: list[float] | None = None,
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.Cs = Cs

    def fit(self, X: np.ndarray, y: np.ndarray, groups: Sequence[Any] | None = None) -> LogisticHead:
        """Fit scaler and model on ``(n_samples, n_features)`` and ``(n_samples,)`` labels; ``groups``
        (one per sample) only matter with ``Cs``."""
        from sklearn.linear_model import LogisticRegression

        X, y = self._check_fit(X, y)
        if self.Cs is not None and (not len(self.Cs) or min(self.Cs) <= 0):
            raise ValueError(f"Cs must be positive numbers; got {self.Cs}")
        self.mean_, self.scale_ = _fit_scaler(X)
        Z = _standardise(X, self.mean_, self.scale_)
        C = (
            self.C
            if self.Cs is None
            else grouped_choice(Z, y, groups, self.Cs, self.class_weight, self.max_iter)
        )
        self.C_ = float(C)
        model = LogisticRegression(C=self.C_, class_weight=self.class_weight, max_iter=self.max_iter)
        model.fit(Z, y)
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
