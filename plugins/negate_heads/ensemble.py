"""The ensemble head: a weighted mean of calibrated members (LightGBM + SVM + random forest by default),
pooled as probabilities or as log-odds, each member reading all features or only some feature groups."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from negate_heads.base import Head, unfitted
from negate_heads.boosting import early_stopping_split
from negate_sdk.artifacts import ArtifactError
from negate_sdk.calibration import calibrator_from_dict, make_calibrator
from negate_sdk.weightfiles import check_calibrator_state, float_array

MAX_MEMBERS = 64
POOLINGS = ("probability", "log-odds")
_EPS = 1e-6


def default_members() -> list[tuple[str, Head]]:
    """LightGBM, SVM and random forest: the published hybrid recipe."""
    from negate_heads.boosting import LightGBMHead
    from negate_heads.forest import RandomForestHead
    from negate_heads.linear import SVMHead

    return [("lightgbm", LightGBMHead()), ("svm", SVMHead()), ("random_forest", RandomForestHead())]


class EnsembleHead(Head):
    """Members fitted on one part of the data, each calibrated on the rest, averaged with ``weights``.

    ``members`` is a list of ``(label, head)`` pairs; nested parameters read ``label__param``
    (``lightgbm__n_estimators=200``). ``weights`` defaults to equal weights. ``member_features`` maps a
    member's label to the feature groups it reads (extractor names, the part of a feature name before
    ``__``); the others read every feature. ``pooling="log-odds"`` averages the members' calibrated
    log-odds (a confident member counts for more) instead of their probabilities. Members are fitted
    concurrently in up to ``n_jobs`` threads (default: the cores this process may use); the libraries
    release the GIL while they fit, and each member is seeded on its own, so the result does not depend on
    ``n_jobs``.
    """

    name = "ensemble"
    fit_requests: ClassVar[frozenset[str]] = frozenset({"groups", "feature_names"})

    def __init__(
        self,
        members: list[tuple[str, Any]] | None = None,
        weights: list[float] | None = None,
        calibration: str = "sigmoid",
        calibration_fraction: float = 0.2,
        random_state: int = 0,
        member_features: dict[str, list[str]] | None = None,
        pooling: str = "probability",
        n_jobs: int | None = None,
    ) -> None:
        self.members = members
        self.weights = weights
        self.calibration = calibration
        self.calibration_fraction = calibration_fraction
        self.random_state = random_state
        self.member_features = member_features
        self.pooling = pooling
        self.n_jobs = n_jobs

    def _listed(self) -> list[tuple[str, Any]]:
        """``members`` (or the defaults) as a new list of ``(label, head)`` pairs; ValueError if not."""
        members = default_members() if self.members is None else _pairs(self.members)
        if members is None:
            raise ValueError(f"members must be a list of (label, head) pairs; got {str(self.members)[:80]}")
        return members

    def _members(self) -> list[tuple[str, Any]]:
        """:meth:`_listed`, each a distinct label and a head; a one-line ValueError for anything else."""
        members = self._listed()
        labels = [label for label, _ in members]
        if not members or len(set(labels)) != len(labels) or any(not lb or "__" in lb for lb in labels):
            raise ValueError(f"member labels must be distinct, non-empty and without '__'; got {labels}")
        for label, head in members:
            if not (callable(getattr(head, "fit", None)) and callable(getattr(head, "predict_proba", None))):
                raise ValueError(
                    f"member {label!r} is {str(head)[:40]}, not a head with fit and predict_proba"
                )
        return members

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters, and with ``deep`` each member's as ``label__param`` (members that are not (label,
        estimator) pairs are left unexpanded)."""
        params = super().get_params(deep=False)
        if deep:
            for label, head in default_members() if self.members is None else _pairs(self.members) or []:
                params[label] = head
                if hasattr(head, "get_params") and not isinstance(head, type):
                    for key, value in head.get_params(deep=True).items():
                        params[f"{label}__{key}"] = value
        return params

    def set_params(self, **params: Any) -> EnsembleHead:
        """Set own parameters and members' (``label__param``); return ``self``."""
        own = {k: v for k, v in params.items() if "__" not in k and k in self._get_param_names()}
        super().set_params(**own)
        nested = {k: v for k, v in params.items() if k not in own}
        if nested:
            members = self._listed()
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

    def _columns(self, labels: list[str], feature_names: list[str] | None, n: int) -> list[list[int] | None]:
        """Per member, the column indices it reads (None: all), from ``member_features``."""
        wanted = dict(self.member_features or {})
        unknown = set(wanted) - set(labels)
        if unknown:
            raise ValueError(
                f"member_features names {', '.join(sorted(unknown))}; members are {', '.join(labels)}"
            )
        if wanted and (feature_names is None or len(feature_names) != n):
            raise ValueError(
                "member_features needs the feature names of the columns (a detector passes them)"
            )
        columns: list[list[int] | None] = []
        for label in labels:
            if label not in wanted:
                columns.append(None)
                continue
            groups = set(wanted[label])
            picked = [
                j for j, name in enumerate(feature_names or []) if str(name).split("__", 1)[0] in groups
            ]
            if not picked:
                raise ValueError(f"member {label!r} reads {sorted(groups)}, but no feature belongs to them")
            columns.append(picked)
        return columns

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        groups: Any = None,
        feature_names: list[str] | None = None,
    ) -> EnsembleHead:
        """Fit members on a stratified part of ``(n_samples, n_features)``; calibrate each on the rest.

        ``groups`` (each sample's source) go to members that take them; ``feature_names`` resolve
        ``member_features``.
        """
        X, y = self._check_fit(X, y)
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}; got {self.pooling!r}")
        members = self._members()
        self._weights(len(members))
        self.columns_ = self._columns([label for label, _ in members], feature_names, X.shape[1])
        split = early_stopping_split(y, self.calibration_fraction, self.random_state, min_per_class=5)
        train, cal = (np.arange(len(y)), None) if split is None else split

        def fit_member(head: Any, columns: list[int] | None) -> tuple[Any, Any]:
            part = X if columns is None else X[:, columns]
            extra = {}
            if groups is not None and "groups" in getattr(head, "fit_requests", ()):
                extra["groups"] = np.asarray(groups, dtype=object)[train]
            fitted = unfitted(head).fit(part[train], y[train], **extra)
            calibrator = make_calibrator(self.calibration if cal is not None else "none")
            if cal is not None:
                calibrator.fit(fitted.predict_proba(part[cal])[:, 1], y[cal])
            return fitted, calibrator

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        workers = self.n_jobs or cores
        with ThreadPoolExecutor(max_workers=max(1, min(int(workers), len(members)))) as pool:
            results = list(pool.map(fit_member, [head for _, head in members], self.columns_))
        self.members_ = [(label, fitted) for (label, _), (fitted, _) in zip(members, results)]
        self.calibrators_ = [calibrator for _, calibrator in results]
        return self

    def member_probabilities(self, X: np.ndarray) -> np.ndarray:
        """``(n_samples, n_members)`` calibrated P(synthetic) of each member."""
        X = self._check_X(X)
        return np.column_stack(
            [
                cal.transform(head.predict_proba(X if columns is None else X[:, columns])[:, 1])
                for (_, head), cal, columns in zip(self.members_, self.calibrators_, self.columns_)
            ]
        )

    def _raw_proba(self, X: np.ndarray) -> np.ndarray:
        weights = self._weights(len(self.members_))
        p = self.member_probabilities(X)
        if self.pooling == "probability":
            return p @ weights
        p = np.clip(p, _EPS, 1.0 - _EPS)
        z = np.log(p) - np.log1p(-p)
        return 0.5 * (1.0 + np.tanh(0.5 * (z @ weights)))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """``(n_samples, n_features)``: the weighted mean of the members' log-odds contributions, over the
        members that give them (boosters' SHAP values, linear terms); an approximate attribution."""
        weights = self._weights(len(self.members_))
        X = self._check_X(X)
        parts = []
        for w, (_, head), columns in zip(weights, self.members_, self.columns_):
            if not callable(getattr(head, "contributions", None)):
                continue
            full = np.zeros((len(X), self.n_features_in_))
            if columns is None:
                full[:] = head.contributions(X)
            else:
                full[:, columns] = head.contributions(X[:, columns])
            parts.append((w, full))
        if not parts:
            return np.zeros((len(X), self.n_features_in_))
        total = sum(w for w, _ in parts)
        return sum(w * c for w, c in parts) / total

    def save_weights(self, directory: Path, stem: str) -> dict[str, Any]:
        """Each member under ``stem.label``, calibrators and weights in the returned state."""
        members = []
        for (label, head), calibrator, columns in zip(self.members_, self.calibrators_, self.columns_):
            state = head.save_weights(directory, f"{stem}.{label}")
            members.append(
                {
                    "label": label,
                    "head": head.name,
                    "state": state,
                    "calibrator": calibrator.to_dict(),
                    "columns": columns,
                }
            )
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "members"}
        return {**self._base_state(), "params": params, "members": members}

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
        if self.pooling not in POOLINGS:
            raise ArtifactError(
                f"{where}: pooling {str(self.pooling)[:30]!r} is not one of {', '.join(POOLINGS)}"
            )
        self.members_, self.calibrators_, self.columns_ = [], [], []
        keys = {"label", "head", "state", "calibrator"}
        for i, member in enumerate(members):  # "columns" is absent from ensembles saved before it existed
            if not isinstance(member, dict) or set(member) - {"columns"} != keys:
                raise ArtifactError(
                    f"{where}: member {i} needs exactly label, head, state, calibrator (and columns)"
                )
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
            columns = _columns_state(member.get("columns"), self.n_features_in_, f"{where}: member {label!r}")
            head = head_cls.load_weights(directory, stem, member["state"])
            if head.n_features_in_ != (self.n_features_in_ if columns is None else len(columns)):
                raise ArtifactError(f"{where}: member {label!r} has {head.n_features_in_} features")
            calibrator = check_calibrator_state(member["calibrator"], f"{where} member {label!r} calibrator")
            self.members_.append((label, head))
            self.calibrators_.append(calibrator_from_dict(calibrator))
            self.columns_.append(columns)
        self.members = [(label, unfitted(head)) for label, head in self.members_]


def _pairs(members: Any) -> list[tuple[str, Any]] | None:
    """``members`` as a list of ``(label, head)`` pairs, or None when it is not a list of pairs."""
    if not isinstance(members, list | tuple) or not all(
        isinstance(m, list | tuple) and len(m) == 2 and isinstance(m[0], str) for m in members
    ):
        return None
    return [(label, head) for label, head in members]


def _columns_state(columns: Any, n_features: int, where: str) -> list[int] | None:
    """A member's saved column indices: None, or distinct increasing integers in ``[0, n_features)``."""
    if columns is None:
        return None
    if (
        not isinstance(columns, list)
        or not columns
        or not all(isinstance(c, int) and not isinstance(c, bool) for c in columns)
        or columns[0] < 0
        or columns[-1] >= n_features
        or any(a >= b for a, b in pairwise(columns))
    ):
        raise ArtifactError(f"{where}: columns are not increasing feature indices below {n_features}")
    return columns
