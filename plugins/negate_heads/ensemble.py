"""The ensemble head: a weighted mean of calibrated members (LightGBM + SVM + random forest by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone

from negate_heads.base import Head
from negate_heads.boosting import early_stopping_split
from negate_sdk.artifacts import ArtifactError
from negate_sdk.calibration import calibrator_from_dict, make_calibrator
from negate_sdk.weightfiles import check_calibrator_state, float_array

MAX_MEMBERS = 64


def default_members() -> list[tuple[str, Head]]:
    """LightGBM, SVM and random forest: the published hybrid recipe."""
    from negate_heads.boosting import LightGBMHead
    from negate_heads.forest import RandomForestHead
    from negate_heads.linear import SVMHead

    return [("lightgbm", LightGBMHead()), ("svm", SVMHead()), ("random_forest", RandomForestHead())]


class EnsembleHead(Head):
    """Members fitted on one part of the data, each calibrated on the rest, averaged with ``weights``.

    ``members`` is a list of ``(label, head)`` pairs; nested parameters read ``label__param``
    (``lightgbm__n_estimators=200``). ``weights`` defaults to equal weights.
    """

    name = "ensemble"

    def __init__(
        self,
        members: list[tuple[str, Any]] | None = None,
        weights: list[float] | None = None,
        calibration: str = "sigmoid",
        calibration_fraction: float = 0.2,
        random_state: int = 0,
    ) -> None:
        self.members = members
        self.weights = weights
        self.calibration = calibration
        self.calibration_fraction = calibration_fraction
        self.random_state = random_state

    def _members(self) -> list[tuple[str, Any]]:
        return default_members() if self.members is None else list(self.members)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters, and with ``deep`` each member's as ``label__param``."""
        params = super().get_params(deep=False)
        if deep:
            for label, head in self._members():
                params[label] = head
                for key, value in head.get_params(deep=True).items():
                    params[f"{label}__{key}"] = value
        return params

    def set_params(self, **params: Any) -> EnsembleHead:
        """Set own parameters and members' (``label__param``); return ``self``."""
        own = {k: v for k, v in params.items() if "__" not in k and k in self._get_param_names()}
        super().set_params(**own)
        nested = {k: v for k, v in params.items() if k not in own}
        if nested:
            members = self._members()
            labels = {label: i for i, (label, _) in enumerate(members)}
            for key, value in nested.items():
                label, _, rest = key.partition("__")
                if label not in labels:
                    raise ValueError(
                        f"invalid parameter {key!r} for ensemble; members are {', '.join(labels)}"
                    )
                i = labels[label]
                if rest:
                    members[i][1].set_params(**{rest: value})
                else:
                    members[i] = (label, value)
            self.members = members
        return self

    def _weights(self, n: int) -> np.ndarray:
        weights = np.ones(n) if self.weights is None else np.asarray(self.weights, dtype=np.float64)
        if weights.shape != (n,) or np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError(f"weights must be {n} non-negative numbers, not all zero; got {self.weights}")
        return weights / weights.sum()

    def fit(self, X: np.ndarray, y: np.ndarray) -> EnsembleHead:
        """Fit members on a stratified part of ``(n_samples, n_features)``; calibrate each on the rest."""
        X, y = self._check_fit(X, y)
        members = self._members()
        self._weights(len(members))
        split = early_stopping_split(y, self.calibration_fraction, self.random_state, min_per_class=5)
        train, cal = (np.arange(len(y)), None) if split is None else split
        self.members_, self.calibrators_ = [], []
        for label, head in members:
            fitted = clone(head).fit(X[train], y[train])
            calibrator = make_calibrator(self.calibration if cal is not None else "none")
            if cal is not None:
                calibrator.fit(fitted.predict_proba(X[cal])[:, 1], y[cal])
            self.members_.append((label, fitted))
            self.calibrators_.append(calibrator)
        return self

    def member_probabilities(self, X: np.ndarray) -> np.ndarray:
        """``(n_samples, n_members)`` calibrated P(synthetic) of each member."""
        X = self._check_X(X)
        return np.column_stack(
            [
                cal.transform(head.predict_proba(X)[:, 1])
                for (_, head), cal in zip(self.members_, self.calibrators_)
            ]
        )

    def _raw_proba(self, X: np.ndarray) -> np.ndarray:
        return self.member_probabilities(X) @ self._weights(len(self.members_))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """``(n_samples, n_features)``: the weighted mean of the members' log-odds contributions, over the
        members that give them (boosters' SHAP values, linear terms); an approximate attribution."""
        weights = self._weights(len(self.members_))
        parts = [
            (w, head.contributions(X))
            for w, (_, head) in zip(weights, self.members_)
            if callable(getattr(head, "contributions", None))
        ]
        if not parts:
            return np.zeros((len(X), self.n_features_in_))
        total = sum(w for w, _ in parts)
        return sum(w * np.asarray(c) for w, c in parts) / total

    def save_weights(self, directory: Path, stem: str) -> dict[str, Any]:
        """Each member under ``stem.label``, calibrators and weights in the returned state."""
        members = []
        for (label, head), calibrator in zip(self.members_, self.calibrators_):
            state = head.save_weights(directory, f"{stem}.{label}")
            members.append(
                {"label": label, "head": head.name, "state": state, "calibrator": calibrator.to_dict()}
            )
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "members"}
        return {"params": params, "n_features_in": int(self.n_features_in_), "members": members}

    def _load_weights(self, directory: Path, stem: str, state: dict[str, Any]) -> None:
        from negate_sdk.catalog import get_classifier
        from negate_sdk.registry import RegistryError

        where = f"{directory}: ensemble head"
        members = state.get("members")
        if not isinstance(members, list) or not 1 <= len(members) <= MAX_MEMBERS:
            raise ArtifactError(f"{where}: members is not a list of 1 to {MAX_MEMBERS} members")
        if self.weights is not None:
            weights = float_array(self.weights, f"{where} weights", (len(members),))
            if np.any(weights < 0) or weights.sum() <= 0:
                raise ArtifactError(f"{where}: weights must be non-negative and not all zero")
        self.members_, self.calibrators_ = [], []
        for i, member in enumerate(members):
            if not isinstance(member, dict) or set(member) != {"label", "head", "state", "calibrator"}:
                raise ArtifactError(f"{where}: member {i} needs exactly label, head, state and calibrator")
            label, name = member["label"], member["head"]
            if not isinstance(label, str) or not label or "__" in label or label in dict(self.members_):
                raise ArtifactError(
                    f"{where}: member {i} label {str(label)[:30]!r} is empty, nested or repeated"
                )
            if not isinstance(name, str) or name == self.name:  # no ensembles of ensembles: bounded recursion
                raise ArtifactError(f"{where}: member {label!r} head {str(name)[:30]!r} is not a plain head")
            try:
                head_cls = get_classifier(name).load()
            except RegistryError as err:
                raise ArtifactError(f"{where}: member {label!r}: {str(err).splitlines()[0]}") from None
            if not callable(getattr(head_cls, "load_weights", None)):
                raise ArtifactError(f"{where}: member {label!r} head {name!r} cannot load saved weights")
            head = head_cls.load_weights(directory, stem, member["state"])
            if head.n_features_in_ != self.n_features_in_:
                raise ArtifactError(f"{where}: member {label!r} has {head.n_features_in_} features")
            calibrator = check_calibrator_state(member["calibrator"], f"{where} member {label!r} calibrator")
            self.members_.append((label, head))
            self.calibrators_.append(calibrator_from_dict(calibrator))
        self.members = [(label, clone(head)) for label, head in self.members_]
