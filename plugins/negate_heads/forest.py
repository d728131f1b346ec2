"""Random-forest head (no scaling needed), seeded for reproducibility."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from negate_heads.base import Head, state_name
from negate_heads.checks import check_forest
from negate_sdk.artifacts import load_skops, save_skops


class RandomForestHead(Head):
    """A random forest of ``n_estimators`` trees; deterministic for a given ``random_state``.

    Trees are grown on every core by default (each tree's seed is drawn up front, so the forest is the
    same whatever ``n_jobs`` is); predictions use one thread, so they are identical to the bit.
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
        self.model_ = RandomForestClassifier(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            class_weight=self.class_weight,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        ).fit(X, y)
        # Prediction sums tree outputs; threads would add them in a varying order (last-bit differences),
        # so predictions run on one thread and are reproducible to the bit.
        self.model_.set_params(n_jobs=1)
        return self

    def _raw_proba(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(X)[:, 1]

    def save_weights(self, directory: Path, stem: str) -> dict[str, Any]:
        """The forest through skops (trees are its only non-default type)."""
        return {**self._base_state(), "model": save_skops(directory / f"{stem}.skops", self.model_)}

    def _load_weights(self, directory: Path, stem: str, state: dict[str, Any]) -> None:
        path = state_name(state, "model", directory)
        self.model_ = check_forest(load_skops(path), str(path), self.n_features_in_)
