"""Calibration of raw head scores and the choice of decision thresholds, both on validation data.

- :class:`PlattCalibrator`: ``p = sigmoid(a · logit(s) + b)``, fitted by maximum likelihood with Platt's
  smoothed targets (so a perfectly separated validation set does not send ``a`` to infinity).
- :class:`IsotonicCalibrator`: a monotone step function (scikit-learn's isotonic regression), applied by
  linear interpolation between its knots.
- :func:`choose_thresholds`: ``t_synthetic`` so that at most ``target_fpr`` of validation reals score at or
  above it, ``t_genuine`` so that at most ``target_miss`` of validation synthetics score below it.

Everything here is plain numbers: calibrators serialise to JSON (``to_dict`` / ``calibrator_from_dict``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from negate_sdk.api import Thresholds

_EPS = 1e-6


def _logit(scores: np.ndarray) -> np.ndarray:
    s = np.clip(np.asarray(scores, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(s) - np.log1p(-s)


class IdentityCalibrator:
    """No calibration: scores pass through unchanged (clipped to [0, 1])."""

    method = "none"

    def fit(self, scores: np.ndarray, y: np.ndarray) -> IdentityCalibrator:
        """Nothing to learn; return ``self``."""
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """``(n,)`` scores clipped to [0, 1]."""
        return np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state."""
        return {"method": self.method}


class PlattCalibrator:
    """Platt scaling on the logit of the raw score: ``sigmoid(a · logit(s) + b)``."""

    method = "sigmoid"

    def __init__(self, a: float = 1.0, b: float = 0.0) -> None:
        self.a = a
        self.b = b

    def fit(self, scores: np.ndarray, y: np.ndarray) -> PlattCalibrator:
        """Maximum-likelihood ``a, b`` on ``(n,)`` raw scores and 0/1 labels (Platt's smoothed targets)."""
        from scipy.optimize import minimize

        z = _logit(scores)
        y = np.asarray(y, dtype=np.float64)
        n_pos, n_neg = y.sum(), len(y) - y.sum()
        target = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

        def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
            a, b = params
            t = a * z + b
            # log(1 + e^t) - target·t, written stably; gradient uses p = sigmoid(t)
            value = np.sum(np.logaddexp(0.0, t) - target * t)
            p = 0.5 * (1.0 + np.tanh(0.5 * t))
            residual = p - target
            return float(value), np.array([np.sum(residual * z), np.sum(residual)])

        result = minimize(loss, x0=np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
        self.a, self.b = (float(v) for v in result.x)
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """``(n,)`` calibrated probabilities."""
        t = self.a * _logit(scores) + self.b
        return 0.5 * (1.0 + np.tanh(0.5 * t))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state."""
        return {"method": self.method, "a": self.a, "b": self.b}


class IsotonicCalibrator:
    """Isotonic regression of labels on raw scores, clipped outside the fitted range."""

    method = "isotonic"

    def __init__(self, x: list[float] | None = None, y: list[float] | None = None) -> None:
        self.x = x
        self.y = y

    def fit(self, scores: np.ndarray, y: np.ndarray) -> IsotonicCalibrator:
        """Fit the monotone map on ``(n,)`` raw scores and 0/1 labels."""
        from sklearn.isotonic import IsotonicRegression

        model = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
            np.asarray(scores, dtype=np.float64), np.asarray(y, dtype=np.float64)
        )
        self.x = model.X_thresholds_.tolist()
        self.y = model.y_thresholds_.tolist()
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """``(n,)`` calibrated probabilities (linear interpolation between knots, as scikit-learn does)."""
        if not self.x:
            raise ValueError("IsotonicCalibrator is not fitted")
        return np.interp(np.asarray(scores, dtype=np.float64), self.x, self.y)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state."""
        return {"method": self.method, "x": self.x, "y": self.y}


CALIBRATORS = {"none": IdentityCalibrator, "sigmoid": PlattCalibrator, "isotonic": IsotonicCalibrator}


def make_calibrator(method: str) -> IdentityCalibrator | PlattCalibrator | IsotonicCalibrator:
    """A new calibrator for ``method``: ``"sigmoid"`` (Platt), ``"isotonic"`` or ``"none"``."""
    try:
        return CALIBRATORS[method]()
    except KeyError:
        raise ValueError(f"unknown calibration '{method}'; use one of {', '.join(CALIBRATORS)}") from None


def calibrator_from_dict(state: dict[str, Any]) -> IdentityCalibrator | PlattCalibrator | IsotonicCalibrator:
    """Rebuild a calibrator from :meth:`to_dict` output."""
    params = {k: v for k, v in state.items() if k != "method"}
    return CALIBRATORS[state["method"]](**params)


def choose_thresholds(
    scores: np.ndarray, y: np.ndarray, *, target_fpr: float = 0.01, target_miss: float = 0.05
) -> Thresholds:
    """Thresholds from calibrated validation scores ``(n,)`` and labels ``(n,)`` (1 = synthetic).

    ``t_synthetic`` is the lowest threshold at which at most ``floor(target_fpr · n_real)`` validation
    reals score at or above it; ``t_genuine`` the highest at which at most ``floor(target_miss · n_synth)``
    validation synthetics score below it, capped at ``t_synthetic``. ``t_decision`` is 0.5 on the
    calibrated score (the Bayes decision for the training class balance).
    """
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y)
    real = np.sort(scores[y == 0])[::-1]  # descending
    synthetic = np.sort(scores[y == 1])  # ascending
    if len(real) == 0 or len(synthetic) == 0:
        raise ValueError("choosing thresholds needs validation images of both classes")
    k_real = int(np.floor(target_fpr * len(real) + 1e-9))
    # just above the (k+1)-th highest real score: at most k reals are at or above it
    t_synthetic = float(np.nextafter(real[k_real], np.inf)) if k_real < len(real) else 0.0
    k_synth = int(np.floor(target_miss * len(synthetic) + 1e-9))
    # at the (k+1)-th lowest synthetic score: only the k below it are called GENUINE
    t_genuine = float(synthetic[k_synth]) if k_synth < len(synthetic) else 1.0
    t_synthetic = min(max(t_synthetic, 0.0), 1.0)
    t_genuine = min(max(t_genuine, 0.0), t_synthetic)
    return Thresholds(t_genuine=t_genuine, t_synthetic=t_synthetic, t_decision=0.5)


def calibrate_on_validation(
    raw: np.ndarray, y: np.ndarray, *, method: str, target_fpr: float, target_miss: float
) -> tuple[IdentityCalibrator | PlattCalibrator | IsotonicCalibrator, Thresholds, dict[str, Any]]:
    """The step every detector ends ``fit`` with: fit a calibrator on ``(n,)`` raw validation scores,
    choose the thresholds on the calibrated scores, and measure the result.

    Returns the fitted calibrator, the thresholds and :func:`validation_metrics`.
    """
    calibrator = make_calibrator(method).fit(raw, y)
    calibrated = calibrator.transform(raw)
    thresholds = choose_thresholds(calibrated, y, target_fpr=target_fpr, target_miss=target_miss)
    return calibrator, thresholds, validation_metrics(raw, calibrated, y, thresholds)


def validation_metrics(
    raw: np.ndarray, calibrated: np.ndarray, y: np.ndarray, t: Thresholds
) -> dict[str, Any]:
    """Validation figures recorded on a detector's card: AUC, Brier (raw and calibrated), the rates the
    thresholds were chosen for, the UNCERTAIN share and accuracy at ``t_decision``.
    """
    from sklearn.metrics import roc_auc_score

    real, synthetic = calibrated[y == 0], calibrated[y == 1]
    return {
        "n": len(y),
        "auc": float(roc_auc_score(y, calibrated)) if len(set(y)) == 2 else None,
        "brier_raw": float(np.mean((raw - y) ** 2)),
        "brier": float(np.mean((calibrated - y) ** 2)),
        "fpr_at_t_synthetic": float(np.mean(real >= t.t_synthetic)),
        "miss_at_t_genuine": float(np.mean(synthetic < t.t_genuine)),
        "uncertain_rate": float(np.mean((calibrated >= t.t_genuine) & (calibrated < t.t_synthetic))),
        "accuracy": float(np.mean((calibrated >= t.t_decision) == y)),
    }
