"""The composition: extractors → classifier head → calibration → thresholds → vetoes → verdicts.

``Detector.fit`` carves a validation split (stratified, seeded) from the training samples: the head is
fitted on the rest, the calibrator on the head's validation scores, and the two thresholds on the
calibrated validation scores: ``t_synthetic`` keeps real images under ``target_fpr``, ``t_genuine`` keeps
synthetic images called GENUINE under ``target_miss``. Test data is never touched.

Features can be passed in (``features=``, an ``(n_samples, n_features)`` matrix in
``feature_names_out`` order) so the benchmark's feature store can supply cached columns; otherwise each
extractor's ``transform`` is called.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from negate_sdk.api import (
    Label,
    ParamsMixin,
    Sample,
    Thresholds,
    Verdict,
    VetoDecision,
    VetoEffect,
    labels_of,
    partition_readable,
)
from negate_sdk.artifacts import ArtifactError, read_card, write_card
from negate_sdk.calibration import calibrate_on_validation, calibrator_from_dict
from negate_sdk.splits import stratified_split

FeatureFn = Callable[[Sequence[Any], Sequence[Sample]], np.ndarray]


def _resolve(value: Any, create: Callable[..., Any]) -> Any:
    return create(value) if isinstance(value, str) else value


def _json_params(component: Any) -> dict[str, Any]:
    params = component.get_params(deep=False)
    try:
        json.dumps(params)
    except TypeError as err:
        raise ValueError(
            f"{type(component).__name__} parameters are not JSON-serialisable ({err}); "
            "a saved detector stores parameters as JSON"
        ) from None
    return params


class Detector(ParamsMixin):
    """A detector composed of registered components.

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
    name: the recipe name, recorded in saved artifacts and results.
    """

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
        self.random_state = random_state
        self.name = name

    # -- components --------------------------------------------------------------------------------

    def resolved_extractors(self) -> list[Any]:
        """Extractor objects (registry names created on first use)."""
        if not hasattr(self, "_extractor_objects") or self._extractor_source is not self.extractors:
            from negate_sdk.registry import create_extractor

            if not self.extractors:
                raise ValueError("a Detector needs at least one extractor")
            self._extractor_objects = [_resolve(e, create_extractor) for e in self.extractors]
            self._extractor_source = self.extractors
        return self._extractor_objects

    def feature_names_out(self) -> list[str]:
        """Names of the concatenated feature columns."""
        return [str(n) for e in self.resolved_extractors() for n in e.get_feature_names_out()]

    def extract(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples, n_features)`` float32 features from every extractor, concatenated."""
        blocks = [e.transform(samples) for e in self.resolved_extractors()]
        return np.hstack(blocks).astype(np.float32, copy=False)

    def _features(self, samples: Sequence[Sample], features: np.ndarray | None) -> np.ndarray:
        X = self.extract(samples) if features is None else np.asarray(features, dtype=np.float32)
        if X.shape[0] != len(samples):
            raise ValueError(f"features have {X.shape[0]} rows for {len(samples)} samples")
        expected = getattr(self, "feature_names_", None)
        if expected is not None and X.shape[1] != len(expected):
            raise ValueError(
                f"features have {X.shape[1]} columns; the detector was fitted on {len(expected)}"
            )
        return X

    # -- fitting -----------------------------------------------------------------------------------

    def fit(
        self, samples: Sequence[Sample], y: np.ndarray | None = None, *, features: np.ndarray | None = None
    ) -> Detector:
        """Fit head, calibrator and thresholds on labelled samples (validation carved from them)."""
        from sklearn.base import clone

        from negate_sdk.registry import create_classifier, create_veto

        y = labels_of(samples) if y is None else np.asarray(y, dtype=np.int64)
        counts = np.bincount(y, minlength=2)
        if counts.min() < 4:
            raise ValueError(
                f"training needs at least 4 images of each class; got {counts[0]} real, {counts[1]} synthetic"
            )
        extractors = self.resolved_extractors()
        for extractor in extractors:
            extractor.fit(samples, y)
        X = self._features(samples, features)
        self.feature_names_ = self.feature_names_out()
        train, val = stratified_split(y, self.validation_fraction, self.random_state)
        self.classifier_ = clone(_resolve(self.classifier, create_classifier)).fit(X[train], y[train])
        raw_val = self.classifier_.predict_proba(X[val])[:, 1]
        self.calibrator_, self.thresholds_, self.validation_metrics_ = calibrate_on_validation(
            raw_val, y[val], method=self.calibration, target_fpr=self.target_fpr, target_miss=self.target_miss
        )
        self.vetoes_ = [_resolve(v, create_veto) for v in self.vetoes]
        for veto in self.vetoes_:
            veto.fit([samples[i] for i in train], y[train])
        self.training_info_ = {"n_train": len(train), "n_validation": len(val)}
        return self

    def set_training_info(self, **info: Any) -> Detector:
        """Record where the training data came from (dataset, manifest hash, ``trained_on``) for the card."""
        self.training_info_ = {**getattr(self, "training_info_", {}), **info}
        return self

    # -- prediction --------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "classifier_"):
            raise ValueError(f"detector '{self.name}' is not fitted; call fit() or load a saved one")

    @property
    def thresholds(self) -> Thresholds:
        """The fitted thresholds."""
        self._check_fitted()
        return self.thresholds_

    def predict_proba(self, samples: Sequence[Sample], *, features: np.ndarray | None = None) -> np.ndarray:
        """``(n_samples, 2)`` calibrated probabilities of [real, synthetic]."""
        self._check_fitted()
        if len(samples) == 0:
            return np.empty((0, 2))
        raw = self.classifier_.predict_proba(self._features(samples, features))[:, 1]
        p = self.calibrator_.transform(raw)
        return np.column_stack([1.0 - p, p])

    def predict(self, samples: Sequence[Sample], *, features: np.ndarray | None = None) -> np.ndarray:
        """``(n_samples,)`` labels at ``t_decision`` (vetoes do not change binary predictions)."""
        scores = self.predict_proba(samples, features=features)[:, 1]
        return (scores >= self.thresholds.t_decision).astype(np.int64)

    def verdicts(self, samples: Sequence[Sample], *, features: np.ndarray | None = None) -> list[Verdict]:
        """One :class:`Verdict` per sample with vetoes applied; unreadable images get ``error`` set.

        Without ``features`` every image is decoded first, so a bad file costs only its own verdict.
        Downgrading vetoes apply first, then raising ones: evidence of generation wins over style.
        """
        self._check_fitted()
        readable, errors = list(range(len(samples))), {}
        if features is None:  # precomputed features mean the images were read already
            readable, errors = partition_readable(samples)
        good = [samples[i] for i in readable]
        X = (
            None
            if not good
            else self._features(good, None if features is None else np.asarray(features)[readable])
        )
        scores = self.predict_proba(good, features=X)[:, 1] if good else np.empty(0)
        contributions = self._top_features(X) if good and self.top_features else [[] for _ in good]
        decisions = [veto.decide(good) for veto in self.vetoes_] if good else []
        t = self.thresholds_
        out: list[Verdict] = []
        position = {index: k for k, index in enumerate(readable)}
        for i, sample in enumerate(samples):
            if i in errors:
                out.append(
                    Verdict(
                        float("nan"), Label.UNCERTAIN, t.t_genuine, t.t_synthetic, sample.id, error=errors[i]
                    )
                )
                continue
            k = position[i]
            label = t.label(scores[k])
            applied = []
            for veto, per_sample in sorted(
                zip(self.vetoes_, decisions), key=lambda pair: VetoEffect(pair[0].effect) is VetoEffect.RAISE
            ):
                decision = per_sample[k]
                effect = VetoEffect(veto.effect)
                changes = (
                    effect is VetoEffect.DOWNGRADE and decision.value == 0 and label is Label.SYNTHETIC
                ) or (effect is VetoEffect.RAISE and decision.value == 1 and label is not Label.SYNTHETIC)
                if changes:
                    label = Label.UNCERTAIN if effect is VetoEffect.DOWNGRADE else Label.SYNTHETIC
                applied.append(
                    VetoDecision(decision.veto, decision.value, decision.reason, applied=bool(changes))
                )
            out.append(
                Verdict(
                    score=float(scores[k]),
                    label=label,
                    t_genuine=t.t_genuine,
                    t_synthetic=t.t_synthetic,
                    sample_id=sample.id,
                    vetoes=applied,
                    top_features=contributions[k],
                )
            )
        return out

    def _top_features(self, X: np.ndarray) -> list[list[tuple[str, float]]]:
        contributions_fn = getattr(self.classifier_, "contributions", None)
        if contributions_fn is None:
            return [[] for _ in range(len(X))]
        values = np.asarray(contributions_fn(X))
        top = np.argsort(-np.abs(values), axis=1)[:, : self.top_features]
        return [[(self.feature_names_[j], float(values[i, j])) for j in row] for i, row in enumerate(top)]

    # -- artifacts ---------------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the card and weights to ``directory`` (JSON, native booster formats, skops; no pickle)."""
        from negate_sdk import __version__

        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.iterdir():  # a re-save must not leave files of an older detector behind
            if stale.is_file() and not stale.name.startswith("."):
                stale.unlink()
        params = {
            k: v
            for k, v in self.get_params(deep=False).items()
            if k not in ("extractors", "classifier", "vetoes")
        }
        card = {
            "detector": self.name,
            "composite": True,
            "params": params,
            "extractors": [
                {"name": e.name, "version": e.version, "cache_key": e.cache_key, "params": _json_params(e)}
                for e in self.resolved_extractors()
            ],
            "classifier": _save_head(self.classifier_, directory),
            "calibrator": self.calibrator_.to_dict(),
            "thresholds": self.thresholds_.to_dict(),
            "vetoes": [_save_veto(v, directory, i) for i, v in enumerate(self.vetoes_)],
            "feature_names": self.feature_names_,
            "validation_metrics": self.validation_metrics_,
            "training": getattr(self, "training_info_", {}),
            "trained_on": list(getattr(self, "training_info_", {}).get("trained_on", [])),
            "versions": {"negate-sdk": __version__, **_plugin_versions()},
        }
        write_card(directory, card)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Detector:
        """Read a detector written by :meth:`save`; components are found by registry name."""
        from negate_sdk.registry import create_extractor

        directory = Path(directory)
        card = read_card(directory)
        extractors = []
        for spec in card["extractors"]:
            extractor = create_extractor(spec["name"], **spec["params"])
            if extractor.version != spec["version"]:
                raise ArtifactError(
                    f"extractor '{spec['name']}' is version {extractor.version} here but the detector was "
                    f"trained with version {spec['version']}; retrain, or install the matching plugin"
                )
            extractors.append(extractor)
        vetoes = [_load_veto(spec, directory) for spec in card["vetoes"]]
        detector = cls(extractors=extractors, vetoes=vetoes, **card["params"])
        detector.classifier_ = _load_head(card["classifier"], directory)
        detector.classifier = detector.classifier_
        detector.calibrator_ = calibrator_from_dict(card["calibrator"])
        detector.thresholds_ = Thresholds(**card["thresholds"])
        detector.vetoes_ = vetoes
        detector.feature_names_ = list(card["feature_names"])
        detector.validation_metrics_ = card["validation_metrics"]
        detector.training_info_ = card.get("training", {})
        if detector.feature_names_out() != detector.feature_names_:
            raise ArtifactError(
                f"{directory}: the installed extractors no longer produce the saved feature names"
            )
        return detector


def _plugin_versions() -> dict[str, str]:
    from negate_sdk.plugins import get_host

    return {
        name: info.version for name, info in get_host().plugins.items() if info.version and not info.errors
    }


def _save_head(head: Any, directory: Path) -> dict[str, Any]:
    if hasattr(head, "save_weights") and getattr(head, "name", ""):
        return {"name": head.name, "state": head.save_weights(directory, "classifier")}
    from negate_sdk.artifacts import (
        save_skops,
    )  # a plain scikit-learn classifier: skops, allow-listed on load

    return {"name": None, "skops": save_skops(directory / "classifier.skops", head)}


def _load_head(spec: dict[str, Any], directory: Path) -> Any:
    if spec.get("name") is None:
        from negate_sdk.artifacts import load_skops

        return load_skops(directory / spec["skops"])
    from negate_sdk.registry import get_classifier

    head_cls = get_classifier(spec["name"]).load()
    return head_cls.load_weights(directory, "classifier", spec["state"])


def _save_veto(veto: Any, directory: Path, index: int) -> dict[str, Any]:
    spec = {"name": veto.name, "params": _json_params(veto)}
    if hasattr(veto, "save_weights"):
        spec["state"] = veto.save_weights(directory, f"veto{index}")
    return spec


def _load_veto(spec: dict[str, Any], directory: Path) -> Any:
    from negate_sdk.registry import get_veto

    veto_cls = get_veto(spec["name"]).load()
    if "state" in spec:
        return veto_cls.load_weights(directory, spec["state"], **spec["params"])
    return veto_cls(**spec["params"])
