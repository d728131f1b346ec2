"""What every head shares: scikit-learn estimator plumbing, label checks and safe persistence.

Loading is hostile-input safe: a head's ``state`` (from a detector card) and the files it names are
checked before anything reads them (:mod:`negate_sdk.weightfiles`), and whatever is wrong with them is
one :class:`~negate_sdk.artifacts.ArtifactError` line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from negate_sdk.artifacts import ArtifactError
from negate_sdk.registry import MissingDependencyError
from negate_sdk.weightfiles import artifact_path, float_array, read_json
from negate_sdk.weightfiles.files import int_value

MAX_FEATURES = 10_000_000


class Head(ClassifierMixin, BaseEstimator):
    """Base of the built-in heads: binary labels, ``predict_proba`` over ``[0, 1]``, JSON-safe persistence.

    Subclasses implement ``fit``, ``_raw_proba(X) -> (n,)`` P(synthetic), ``save_weights`` and
    ``_load_weights``; ``contributions(X)`` when per-feature attributions are cheap.
    """

    name = ""
    # what else ``fit`` takes besides X and y, when the caller has it: ``groups`` (each sample's source),
    # ``feature_names`` (the columns' names, ``extractor__feature``)
    fit_requests: ClassVar[frozenset[str]] = frozenset()

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
        """Rebuild a fitted head from :meth:`save_weights` output.

        Raises :class:`ArtifactError` (one line, naming the folder or file) for any bad state or weight
        file, and ``MissingDependencyError`` when the head's library is not installed.
        """
        directory = Path(directory)
        where = f"{directory}: {cls.name} head"
        if not isinstance(state, dict):
            raise ArtifactError(f"{where}: its state is not an object")
        params = state.get("params", {})
        if not isinstance(params, dict) or not set(params) <= set(cls._get_param_names()):
            unknown = (
                sorted(set(params) - set(cls._get_param_names())) if isinstance(params, dict) else params
            )
            raise ArtifactError(f"{where}: unknown parameters {str(unknown)[:80]}")
        n_features = int_value(state.get("n_features_in"), f"{where}: n_features_in", 1, MAX_FEATURES)
        try:
            head = cls(**params)
            head.classes_ = np.array([0, 1])
            head.n_features_in_ = n_features
            head._load_weights(directory, stem, state)
        except (ArtifactError, MissingDependencyError):
            raise
        except Exception as err:  # anything else a hostile state provokes is still one line
            raise ArtifactError(f"{where}: cannot be loaded ({one_line(err)})") from None
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


def load_arrays(directory: Path, name: object, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Read arrays written by :func:`save_arrays` from ``directory/name``: exactly ``shapes``, all finite.

    ``name`` comes from a head's state, so it goes through :func:`artifact_path`. Raises ArtifactError.
    """
    path = artifact_path(directory, name)
    arrays = read_json(path)
    if not isinstance(arrays, dict) or set(arrays) != set(shapes):
        found = sorted(arrays)[:6] if isinstance(arrays, dict) else type(arrays).__name__
        raise ArtifactError(f"{path}: holds {found}, not the arrays {sorted(shapes)}")
    return {key: float_array(arrays[key], f"{path}: {key}", shape) for key, shape in shapes.items()}


def state_name(state: dict[str, Any], key: str, directory: Path) -> Path:
    """The weight file a head's ``state[key]`` names, as a checked path (:func:`artifact_path`)."""
    return artifact_path(directory, state.get(key))


def one_line(err: BaseException) -> str:
    """``Type: first line of the message`` (native libraries add timestamps, paths and tracebacks)."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:300]}" if lines else type(err).__name__
