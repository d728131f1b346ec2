"""Linear-model heads with built-in standardisation: logistic regression and a support vector machine."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from negate_heads.base import Head, load_arrays, load_tensors, save_arrays, save_tensors
from negate_sdk.artifacts import ArtifactError

logger = logging.getLogger(__name__)
SVM_KERNELS = ("linear", "poly", "rbf", "sigmoid")


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
        self.n_iter_ = int(np.max(model.n_iter_))
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
    internal five-fold Platt scaling). scikit-learn's ``SVC`` fits; the margin is then computed in numpy
    from the support vectors, dual coefficients and kernel (:func:`kernel_margin`), fitted or loaded alike.
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
        if self.kernel not in SVM_KERNELS:
            raise ValueError(f"kernel must be one of {', '.join(SVM_KERNELS)}; got {self.kernel!r}")
        self.mean_, self.scale_ = _fit_scaler(X)
        model = SVC(C=self.C, kernel=self.kernel, gamma=self.gamma, class_weight=self.class_weight)
        model.fit(_standardise(X, self.mean_, self.scale_), y)
        # the public dual coefficients and intercept give a margin that is positive for class 1
        self.support_vectors_ = np.ascontiguousarray(model.support_vectors_, dtype=np.float64)
        self.dual_coef_ = model.dual_coef_.ravel().astype(np.float64)
        self.intercept_ = float(model.intercept_[0])
        self.kernel_params_ = {
            "gamma": float(model._gamma),
            "degree": int(model.degree),
            "coef0": float(model.coef0),
        }
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """``(n_samples,)`` signed distance to the margin (positive: synthetic)."""
        return self._margin(self._check_X(X))

    def _margin(self, X: np.ndarray) -> np.ndarray:
        Z = _standardise(X, self.mean_, self.scale_)
        return kernel_margin(
            Z, self.support_vectors_, self.dual_coef_, self.intercept_, self.kernel, **self.kernel_params_
        )

    def _raw_proba(self, X: np.ndarray) -> np.ndarray:
        return 0.5 * (1.0 + np.tanh(0.5 * self._margin(X)))

    def save_weights(self, directory: Path, stem: str) -> dict[str, Any]:
        """Scaler, support vectors, dual coefficients and intercept as safetensors; kernel settings inline."""
        arrays = {
            "mean": self.mean_,
            "scale": self.scale_,
            "support_vectors": self.support_vectors_,
            "dual_coef": self.dual_coef_,
            "intercept": np.array([self.intercept_]),
        }
        model = save_tensors(directory / f"{stem}.safetensors", arrays)
        return {**self._base_state(), "model": model, "kernel_params": dict(self.kernel_params_)}

    def _load_weights(self, directory: Path, stem: str, state: dict[str, Any]) -> None:
        path, arrays = load_tensors(directory, state, "model")
        n = self.n_features_in_
        vectors = arrays.get("support_vectors")
        n_sv = vectors.shape[0] if vectors is not None and vectors.ndim == 2 else 0
        shapes = {
            "mean": (n,),
            "scale": (n,),
            "support_vectors": (n_sv, n),
            "dual_coef": (n_sv,),
            "intercept": (1,),
        }
        if set(arrays) != set(shapes) or n_sv < 1:
            raise ArtifactError(f"{path}: holds {sorted(arrays)[:8]}, not an SVM's {sorted(shapes)}")
        for key, shape in shapes.items():
            if (
                arrays[key].dtype != np.float64
                or arrays[key].shape != shape
                or not np.isfinite(arrays[key]).all()
            ):
                raise ArtifactError(f"{path}: {key} is not finite float64 of shape {shape}")
        if self.kernel not in SVM_KERNELS:
            raise ArtifactError(
                f"{path}: kernel {str(self.kernel)[:30]!r} is not one of {', '.join(SVM_KERNELS)}"
            )
        params = state.get("kernel_params")
        if not isinstance(params, dict) or set(params) != {"gamma", "degree", "coef0"}:
            raise ArtifactError(f"{path}: kernel_params is not {{gamma, degree, coef0}}")
        gamma, degree, coef0 = params["gamma"], params["degree"], params["coef0"]
        if type(gamma) is not float or not np.isfinite(gamma) or gamma < 0:
            raise ArtifactError(f"{path}: gamma {str(gamma)[:30]} is not a finite non-negative number")
        if (
            type(degree) is not int
            or not 0 <= degree <= 100
            or type(coef0) is not float
            or not np.isfinite(coef0)
        ):
            raise ArtifactError(f"{path}: degree is not an integer in [0, 100] or coef0 not a finite number")
        self.mean_, self.scale_ = arrays["mean"], _positive(arrays["scale"], directory)
        self.support_vectors_, self.dual_coef_ = arrays["support_vectors"], arrays["dual_coef"]
        self.intercept_ = float(arrays["intercept"][0])
        self.kernel_params_ = {"gamma": gamma, "degree": degree, "coef0": coef0}


def kernel_margin(
    X: np.ndarray,
    vectors: np.ndarray,
    dual_coef: np.ndarray,
    intercept: float,
    kernel: str,
    *,
    gamma: float,
    degree: int,
    coef0: float,
) -> np.ndarray:
    """An SVM's decision values ``sum_i dual_coef_i K(x, sv_i) + intercept`` as libsvm defines the kernels:
    linear ``x.v``, poly ``(gamma x.v + coef0)^degree``, rbf ``exp(-gamma |x-v|^2)``, sigmoid
    ``tanh(gamma x.v + coef0)``. Rows go through in blocks so memory stays bounded."""
    out = np.empty(len(X))
    block = max(1, 2_000_000 // max(1, len(vectors)))
    squared = np.einsum("ij,ij->i", vectors, vectors)
    for start in range(0, len(X), block):
        x = X[start : start + block]
        dots = x @ vectors.T
        if kernel == "linear":
            k = dots
        elif kernel == "poly":
            k = (gamma * dots + coef0) ** degree
        elif kernel == "sigmoid":
            k = np.tanh(gamma * dots + coef0)
        else:
            distances = np.maximum(np.einsum("ij,ij->i", x, x)[:, None] + squared[None, :] - 2.0 * dots, 0.0)
            k = np.exp(-gamma * distances)
        out[start : start + block] = k @ dual_coef + intercept
    return out
