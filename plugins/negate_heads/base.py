"""What every head shares: scikit-learn estimator plumbing, label checks and safe persistence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class Head(ClassifierMixin, BaseEstimator):
    """Base of the built-in heads: binary labels, ``predict_proba`` over ``[0, 1]``, JSON-safe persistence.

    Subclasses implement ``fit``, ``_raw_proba(X) -> (n,)`` P(synthetic), ``save_weights`` and
    ``_load_weights``; ``contributions(X)`` when per-feature attributions are cheap.
    """

    name = ""

    def _check_fit(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y).astype(np.int64).ravel()
        if X.ndim != 2 or len(X) != len(y):
            raise ValueError(f"X must be (n_samples, n_features) matching y; got {X.shape} and {y.shape}")
        if set(np.unique(y)) != {0, 1}:
            raise ValueError("a head needs labels of both classes, 0 (real) and 1 (synthetic)")
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[1]
        return X, y

    def _check_X(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has shape {X.shape}; this head was fitted on {self.n_features_in_} features")
        return X

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``(n_samples, 2)`` probabilities of [real, synthetic]."""
        p = np.clip(self._raw_proba(self._check_X(X)), 0.0, 1.0)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """``(n_samples,)`` labels at probability 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    def _raw_proba(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def save_weights(self, directory: Path, stem: str) -> dict[str, Any]:
        """Write the fitted state to files ``directory/stem.*``; return the JSON-safe rest of it."""
        raise NotImplementedError

    @classmethod
    def load_weights(cls, directory: Path, stem: str, state: dict[str, Any]) -> Head:
        """Rebuild a fitted head from :meth:`save_weights` output."""
        head = cls(**state.get("params", {}))
        head.classes_ = np.array([0, 1])
        head.n_features_in_ = int(state["n_features_in"])
        head._load_weights(Path(directory), stem, state)
        return head

    def _load_weights(self, directory: Path, stem: str, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def _base_state(self) -> dict[str, Any]:
        return {"params": self.get_params(deep=False), "n_features_in": int(self.n_features_in_)}


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> str:
    """Write float arrays as JSON (exact for float64 via repr); return the file name."""
    payload = {name: np.asarray(a, dtype=np.float64).tolist() for name, a in arrays.items()}
    path.write_text(json.dumps(payload))
    return path.name


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Read arrays written by :func:`save_arrays`."""
    return {
        name: np.asarray(values, dtype=np.float64) for name, values in json.loads(path.read_text()).items()
    }
