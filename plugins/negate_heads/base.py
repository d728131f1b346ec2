"""What every head shares: the scikit-learn estimator protocol, label checks and safe persistence.

Heads follow scikit-learn's estimator protocol (``get_params``/``set_params``, ``__sklearn_tags__``,
``clone``-able, ``fit``/``predict_proba``) without importing scikit-learn: scoring a saved detector uses
numpy only, so ``negate check`` does not pay scikit-learn's second of imports. Fitting imports what it needs.

Loading is hostile-input safe: a head's ``state`` (from a detector card) and the files it names are
checked before anything reads them (:mod:`negate_sdk.weightfiles`), and whatever is wrong with them is
one :class:`~negate_sdk.artifacts.ArtifactError` line.
"""

from __future__ import annotations

import copy
import inspect
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from negate_sdk.artifacts import ArtifactError, atomic_write_bytes
from negate_sdk.registry import MissingDependencyError
from negate_sdk.weightfiles import artifact_path, float_array, read_json, read_safetensors
from negate_sdk.weightfiles.files import int_value

MAX_FEATURES = 10_000_000


class Head:
    """Base of the built-in heads: binary labels, ``predict_proba`` over ``[0, 1]``, JSON-safe persistence.

    Subclasses implement ``fit``, ``_raw_proba(X) -> (n,)`` P(synthetic), ``save_weights`` and
    ``_load_weights``; ``contributions(X)`` when per-feature attributions are cheap. Constructor arguments
    are stored unchanged under their own names (scikit-learn's convention), which is what
    :meth:`get_params` reads.
    """

    name = ""
    _estimator_type = "classifier"
    # what else ``fit`` takes besides X and y, when the caller has it: ``groups`` (each sample's source),
    # ``feature_names`` (the columns' names, ``extractor__feature``)
    fit_requests: ClassVar[frozenset[str]] = frozenset()

    # -- the estimator protocol ---------------------------------------------------------------------

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """The constructor's parameter names, sorted."""
        signature = inspect.signature(cls.__init__)
        return sorted(
            p.name
            for p in signature.parameters.values()
            if p.name != "self" and p.kind == p.POSITIONAL_OR_KEYWORD
        )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters; with ``deep``, those of estimator-valued ones as ``name__param``."""
        params = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                params.update((f"{name}__{key}", v) for key, v in value.get_params().items())
            params[name] = value
        return params

    def set_params(self, **params: Any) -> Head:
        """Set parameters (``name`` or ``name__param`` of an estimator-valued one); return ``self``."""
        valid = self._get_param_names()
        for key, value in params.items():
            name, _, rest = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for {type(self).__name__}; valid: {', '.join(valid)}"
                )
            if rest:
                getattr(self, name).set_params(**{rest: value})
            else:
                setattr(self, name, value)
        return self

    def __sklearn_clone__(self) -> Head:
        """An unfitted copy with the same parameters (what ``sklearn.base.clone`` returns)."""
        return unfitted(self)

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags: a classifier of binary targets, fitted before use."""
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(multi_class=False),
        )

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = {k: v for k, v in self.get_params(deep=False).items() if not _same(v, defaults.get(k))}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy of :meth:`predict` on ``X`` against labels ``y``."""
        return float(np.mean(self.predict(X) == np.asarray(y).ravel()))

    # -- labels and features ----------------------------------------------------------------------

    def _check_fit(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """``X`` as finite float64 ``(n_samples, n_features)`` and ``y`` as 0/1; sets ``classes_``.

        ``y`` holds two distinct labels, the larger (after sorting) being the positive class: 1
        (synthetic) of the usual 0/1. Errors are scikit-learn's (fitting imports it anyway).
        """
        from sklearn.utils.multiclass import type_of_target
        from sklearn.utils.validation import check_X_y

        X, y = check_X_y(X, y, dtype=np.float64, estimator=self)
        kind = type_of_target(y, input_name="y", raise_unknown=True)
        if kind != "binary":
            raise ValueError(f"Only binary classification is supported; y is {kind}, a head needs two labels")
        classes = np.unique(y)
        if len(classes) != 2:
            raise ValueError("y holds one class; a head needs labels of both classes (real and synthetic)")
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        return X, (y == classes[1]).astype(np.int64)

    def _check_X(self, X: Any) -> np.ndarray:
        """``X`` as finite float64 ``(n_samples, n_features_in_)``, checked in numpy: ``NotFittedError``
        before ``fit``, ``TypeError`` for sparse input, ``ValueError`` for any other bad ``X``."""
        if not hasattr(self, "n_features_in_"):
            from sklearn.exceptions import NotFittedError  # only on this error path: scoring stays numpy-only

            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")
        if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
            raise TypeError(f"{type(self).__name__} does not accept sparse input; pass a dense array")
        X = np.asarray(X)
        if np.iscomplexobj(X):
            raise ValueError("Complex data not supported")
        X = X.astype(np.float64, copy=False)
        if X.ndim != 2:
            raise ValueError(
                f"expected a 2-d array, got {X.ndim}-d; Reshape your data to (n_samples, n_features)"
            )
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )
        if not np.isfinite(X).all():
            raise ValueError("X holds NaN or inf values; a head scores finite features only")
        return X

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``(n_samples, 2)`` probabilities of ``classes_`` (usually [real, synthetic])."""
        p = np.clip(self._raw_proba(self._check_X(X)), 0.0, 1.0)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """``(n_samples,)`` labels (of ``classes_``): the positive one where its probability is above 0.5."""
        positive = self.predict_proba(X)[:, 1] > 0.5  # as decision_function > 0 (scikit-learn's rule)
        return self.classes_[positive.astype(np.int64)]

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
        if not np.array_equal(self.classes_, [0, 1]):
            raise ValueError(
                f"only a head fitted on labels 0 and 1 can be saved; its labels are {self.classes_}"
            )
        return {"params": self.get_params(deep=False), "n_features_in": int(self.n_features_in_)}


def unfitted(value: Any) -> Any:
    """scikit-learn's ``clone`` without importing it for heads: a head becomes a new one of its class with
    its parameters copied the same way, lists and tuples are copied item by item, another library's
    estimator goes through ``sklearn.base.clone``, anything else is deep-copied."""
    if isinstance(value, Head):
        return type(value)(**{key: unfitted(v) for key, v in value.get_params(deep=False).items()})
    if isinstance(value, list | tuple):
        return type(value)(unfitted(v) for v in value)
    if hasattr(value, "get_params") and not isinstance(value, type):  # another library's estimator
        from sklearn.base import clone

        return clone(value)
    return copy.deepcopy(value)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a is b or a == b)
    except ValueError:  # arrays compare element-wise
        return False


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


def save_tensors(path: Path, arrays: dict[str, np.ndarray]) -> str:
    """Write numpy arrays as one safetensors file (atomically); return the file name."""
    from safetensors.numpy import save

    atomic_write_bytes(path, save({key: np.ascontiguousarray(a) for key, a in arrays.items()}))
    return path.name


def load_tensors(directory: Path, state: dict[str, Any], key: str) -> tuple[Path, dict[str, np.ndarray]]:
    """The safetensors file a head's ``state[key]`` names, checked and read: its path and arrays.

    A ``.skops`` name is a head saved by an earlier negate as scikit-learn's own objects: refused, naming
    the fix (retraining).
    """
    path = state_name(state, key, directory)
    if path.suffix == ".skops":
        raise ArtifactError(
            f"{path}: saved by an older negate as a scikit-learn object; retrain the detector"
        )
    return path, read_safetensors(path)


def state_name(state: dict[str, Any], key: str, directory: Path) -> Path:
    """The weight file a head's ``state[key]`` names, as a checked path (:func:`artifact_path`)."""
    return artifact_path(directory, state.get(key))


def one_line(err: BaseException) -> str:
    """``Type: first line of the message`` (native libraries add timestamps, paths and tracebacks)."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:300]}" if lines else type(err).__name__
