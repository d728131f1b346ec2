"""Random-forest head (no scaling needed), seeded for reproducibility; scored in numpy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from negate_heads.base import Head, load_tensors, save_tensors
from negate_heads.trees import TreeEnsemble


class RandomForestHead(Head):
    """A random forest of ``n_estimators`` trees; deterministic for a given ``random_state``.

    Trees are grown by scikit-learn on every core by default (each tree's seed is drawn up front, so the
    forest is the same whatever ``n_jobs`` is); they are then scored by :class:`TreeEnsemble` in numpy,
    which compares features as scikit-learn does (float32 against its thresholds) and gives the same
    probabilities, fitted or loaded.
    """

    name = "random_forest"

    def __init__(
        self,
        n_estimators: int = 300,
        max_depth: int | None = None,
        min_samples_leaf: int = 1,
        max_features: str | float = "sqrt",
        class_weight: str | None = None,
        random_state: int = 0,
        n_jobs: int = -1,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.class_weight = class_weight
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: np.ndarray, y: np.ndarray) -> RandomForestHead:
        """Fit the forest on ``(n_samples, n_features)`` and ``(n_samples,)`` labels."""
        from sklearn.ensemble import RandomForestClassifier

        X, y = self._check_fit(X, y)
        model = RandomForestClassifier(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            class_weight=self.class_weight,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        ).fit(X, y)
        self.trees_ = TreeEnsemble.from_forest(model)
        return self

    def _raw_proba(self, X: np.ndarray) -> np.ndarray:
        return self.trees_.raw(X)

    def save_weights(self, directory: Path, stem: str) -> dict[str, Any]:
        """The trees' node arrays as safetensors."""
        model = save_tensors(directory / f"{stem}.safetensors", self.trees_.arrays())
        return {**self._base_state(), "model": model, "layout": self.trees_.layout()}

    def _load_weights(self, directory: Path, stem: str, state: dict[str, Any]) -> None:
        path, arrays = load_tensors(directory, state, "model")
        self.trees_ = TreeEnsemble.from_arrays(arrays, state.get("layout"), self.n_features_in_, str(path))
