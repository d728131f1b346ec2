"""The composite family: extractors → classifier head, on the detector core.

``Detector(extractors=["spectral", "residual"], classifier="logistic")`` concatenates the extractors'
features in order and fits the head on the training rows; the core (:class:`BaseDetector`) carves the
validation split, calibrates and chooses thresholds there, and applies vetoes. Features can be passed in
(``features=``, an ``(n_samples, n_features)`` matrix in :meth:`Detector.feature_names_out` order) so the
harness's feature store can supply cached columns; otherwise each extractor's ``transform`` is called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from negate_sdk.artifacts import ArtifactError, load_skops, save_skops
from negate_sdk.detectors.base import BaseDetector, NonFiniteFeatures
from negate_sdk.novelty import NearestNeighbourNovelty
from negate_sdk.params import json_params
from negate_sdk.progress import ProgressFn
from negate_sdk.sample import Sample


def _resolve(value: Any, create: Callable[..., Any]) -> Any:
    return create(value) if isinstance(value, str) else value


class Detector(BaseDetector):
    """A detector composed of registered components: features of ``extractors`` into a ``classifier`` head.

    Parameters
    ----------
    extractors: extractor objects or registry names; features are concatenated in this order.
    classifier: a head object or registry name (``"logistic"``, ``"lightgbm"``, ``"ensemble"`` …).
    calibration: ``"sigmoid"`` (Platt), ``"isotonic"`` or ``"none"``.
    target_fpr: the largest share of validation reals allowed at or above ``t_synthetic``.
    target_miss: the largest share of validation synthetics allowed below ``t_genuine``.
    validation_fraction: share of the training samples held out for calibration and thresholds.
    vetoes: veto objects or registry names, applied to verdicts.
    top_features: how many contributing features a verdict lists (when the head makes that cheap).
    novelty_groups: feature groups (extractor names) in which an image far from every training image is
        UNCERTAIN with the reason "unlike the training data" (:mod:`negate_sdk.novelty`); empty: none.
    novelty_quantile: the share of validation images (held-out images of the training sources) that must
        count as familiar; the distance threshold is their quantile.
    name: the recipe name, recorded in saved artifacts and results.
    """

    family = "composite"
    takes_features = True
    card_components: ClassVar[frozenset[str]] = frozenset({"extractors", "classifier", "vetoes"})

    def __init__(
        self,
        extractors: Sequence[Any] = (),
        classifier: Any = "logistic",
        calibration: str = "sigmoid",
        target_fpr: float = 0.01,
        target_miss: float = 0.05,
        validation_fraction: float = 0.2,
        vetoes: Sequence[Any] = (),
        top_features: int = 5,
        novelty_groups: Sequence[str] = (),
        novelty_quantile: float = 0.99,
        random_state: int = 0,
        name: str = "custom",
    ) -> None:
        self.extractors = extractors
        self.classifier = classifier
        self.calibration = calibration
        self.target_fpr = target_fpr
        self.target_miss = target_miss
        self.validation_fraction = validation_fraction
        self.vetoes = vetoes
        self.top_features = top_features
        self.novelty_groups = novelty_groups
        self.novelty_quantile = novelty_quantile
        self.random_state = random_state
        self.name = name

    # -- components --------------------------------------------------------------------------------

    def feature_extractors(self) -> list[Any]:
        """Extractor objects (registry names created on first use), in feature column order."""
        if not hasattr(self, "_extractor_objects") or self._extractor_source is not self.extractors:
            from negate_sdk.catalog import create_extractor

            if not self.extractors:
                raise ValueError("a Detector needs at least one extractor")
            self._extractor_objects = [_resolve(e, create_extractor) for e in self.extractors]
            self._extractor_source = self.extractors
        return self._extractor_objects

    def feature_names_out(self) -> list[str]:
        """Names of the concatenated feature columns."""
        return [str(n) for e in self.feature_extractors() for n in e.get_feature_names_out()]

    def extract(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples, n_features)`` float32 features from every extractor, concatenated."""
        blocks = [e.transform(samples) for e in self.feature_extractors()]
        with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, which _features refuses
            return np.hstack(blocks).astype(np.float32, copy=False)

    def _features(self, samples: Sequence[Sample], features: np.ndarray | None) -> np.ndarray:
        if features is None:
            X = self.extract(samples)
        else:
            with np.errstate(over="ignore"):
                X = np.asarray(features, dtype=np.float32)
        if X.shape[0] != len(samples):
            raise ValueError(f"features have {X.shape[0]} rows for {len(samples)} samples")
        expected = getattr(self, "feature_names_", None)
        if expected is not None and X.shape[1] != len(expected):
            raise ValueError(
                f"features have {X.shape[1]} columns; the detector was fitted on {len(expected)}"
            )
        if not np.isfinite(X).all():  # a head never scores them: the image gets an error instead
            raise NonFiniteFeatures.of(X, expected or self.feature_names_out())
        return X

    # -- the scorer --------------------------------------------------------------------------------

    def _fit_scorer(
        self,
        samples: Sequence[Sample],
        y: np.ndarray,
        train: np.ndarray,
        val: np.ndarray,
        *,
        features: np.ndarray | None,
        progress: ProgressFn | None,
    ) -> dict[str, Any]:
        from sklearn.base import clone

        from negate_sdk.catalog import create_classifier

        for extractor in self.feature_extractors():
            extractor.fit(samples, y)
        X = self._features(samples, features)
        self.feature_names_ = self.feature_names_out()
        head = clone(_resolve(self.classifier, create_classifier))
        # heads that ask for them get each image's source (grouped model selection) and the column names
        wanted = getattr(head, "fit_requests", frozenset())
        extra: dict[str, Any] = {}
        if "groups" in wanted:
            extra["groups"] = np.array([s.source for s in samples], dtype=object)[train]
        if "feature_names" in wanted:
            extra["feature_names"] = list(self.feature_names_)
        self.classifier_ = head.fit(X[train], y[train], **extra)
        self.novelty_ = None
        if self.novelty_groups:
            columns = self._novelty_columns()
            model = NearestNeighbourNovelty(quantile=self.novelty_quantile, random_state=self.random_state)
            self.novelty_ = model.fit(X[np.ix_(train, columns)], X[np.ix_(val, columns)])
        return {}

    def _novelty_columns(self) -> np.ndarray:
        """Indices of the feature columns in ``novelty_groups``."""
        wanted = set(self.novelty_groups)
        columns = [j for j, name in enumerate(self.feature_names_) if name.split("__", 1)[0] in wanted]
        if not columns:
            raise ValueError(f"novelty_groups {sorted(wanted)} name no feature group of this detector")
        return np.asarray(columns)

    def _raw_scores(self, samples: Sequence[Sample], *, features: np.ndarray | None = None) -> np.ndarray:
        return self.classifier_.predict_proba(self._features(samples, features))[:, 1]

    def _explain(
        self, samples: Sequence[Sample], features: np.ndarray | None, attributions: bool = True
    ) -> list[dict[str, Any]]:
        """Top features and feature groups by their contribution to the log-odds (heads that give them,
        with ``attributions``), and why an image is unlike the training data (with ``novelty_groups``)."""
        notes: list[dict[str, Any]] = [{} for _ in samples]
        contributions_fn = getattr(self.classifier_, "contributions", None) if attributions else None
        novelty = getattr(self, "novelty_", None)
        if (contributions_fn is None or not self.top_features) and novelty is None:
            return notes
        X = self._features(samples, features)
        if contributions_fn is not None and self.top_features:
            for note, contribution in zip(notes, self._contribution_notes(np.asarray(contributions_fn(X)))):
                note.update(contribution)
        if novelty is not None:
            ratios = novelty.ratios(X[:, self._novelty_columns()])
            where = ", ".join(self.novelty_groups)
            for note, ratio in zip(notes, ratios):
                if ratio > 1.0:
                    note["novelty"] = (
                        f"{ratio:.1f}x farther from the nearest training images in {where} features than "
                        f"{self.novelty_quantile:.0%} of held-out images of the training sources"
                    )
        return notes

    def _contribution_notes(self, values: np.ndarray) -> list[dict[str, Any]]:
        top = np.argsort(-np.abs(values), axis=1)[:, : self.top_features]
        group_names = [name.split("__", 1)[0] for name in self.feature_names_]
        groups = sorted(set(group_names))
        membership = np.array([[g == name for name in group_names] for g in groups], dtype=float)  # (k, d)
        by_group = values @ membership.T  # (n, k)
        out = []
        for i, row in enumerate(top):
            order = np.argsort(-np.abs(by_group[i]))[:3]
            out.append({
                "top_features": [(self.feature_names_[j], float(values[i, j])) for j in row],
                "groups": [(groups[g], float(by_group[i, g])) for g in order],
            })  # fmt: skip
        return out

    # -- artifacts ---------------------------------------------------------------------------------

    def _save_state(self, directory: Path) -> dict[str, Any]:
        return {
            "extractors": [
                {
                    "name": e.name,
                    "version": e.version,
                    "cache_key": e.cache_key,
                    "params": json_params(e.get_params(deep=False), owner=f"extractor '{e.name}'"),
                }
                for e in self.feature_extractors()
            ],
            "classifier": _save_head(self.classifier_, directory),
            "feature_names": self.feature_names_,
            "novelty": None if self.novelty_ is None else self.novelty_.save(directory, "novelty"),
        }

    @classmethod
    def _from_card(cls, card: dict[str, Any], directory: Path) -> Detector:
        from negate_sdk.catalog import create_extractor

        extractors = []
        for spec in card["extractors"]:
            extractor = create_extractor(spec["name"], **spec["params"])
            if extractor.version != spec["version"]:
                raise ArtifactError(
                    f"extractor '{spec['name']}' is version {extractor.version} here but the detector was "
                    f"trained with version {spec['version']}; retrain, or install the matching plugin"
                )
            extractors.append(extractor)
        detector = super()._from_card({**card, "params": {**card["params"], "extractors": extractors}},
                                      directory)  # fmt: skip
        return detector

    def _load_state(self, card: dict[str, Any], directory: Path) -> None:
        self.classifier_ = _load_head(card["classifier"], directory)
        self.classifier = self.classifier_
        self.feature_names_ = list(card["feature_names"])
        if self.feature_names_out() != self.feature_names_:
            raise ArtifactError(
                f"{directory}: the installed extractors no longer produce the saved feature names"
            )
        state = card.get("novelty")
        self.novelty_ = None
        if state is not None or self.novelty_groups:
            try:
                columns = self._novelty_columns()
            except ValueError as err:
                raise ArtifactError(f"{directory}: {err}") from None
            self.novelty_ = NearestNeighbourNovelty.load(directory, state, len(columns))


def _save_head(head: Any, directory: Path) -> dict[str, Any]:
    if hasattr(head, "save_weights") and getattr(head, "name", ""):
        return {"name": head.name, "state": head.save_weights(directory, "classifier")}
    # a plain scikit-learn classifier: skops, allow-listed on load
    return {"name": None, "skops": save_skops(directory / "classifier.skops", head)}


def _load_head(spec: dict[str, Any], directory: Path) -> Any:
    from negate_sdk.artifacts import artifact_path

    if spec.get("name") is None:
        return load_skops(artifact_path(directory, spec["skops"]))
    from negate_sdk.catalog import get_classifier

    head_cls = get_classifier(spec["name"]).load()
    return head_cls.load_weights(directory, "classifier", spec["state"])
