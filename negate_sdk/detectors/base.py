"""The one detector core: fitted state, calibration, thresholds, verdicts with reasons, vetoes, save/load.

Every detector family is a :class:`BaseDetector`: the composite (features → head,
:mod:`negate_sdk.detectors.composite`), networks trained end to end (:mod:`~negate_sdk.detectors.trainable`),
baselines and third parties' detectors. A family says how it turns samples into raw scores and how it
trains that scorer; the base does the rest the same way for all:

``fit`` checks the labels, carves a seeded validation split (stratified, and never separating
byte-identical images), trains the scorer on the rest (:meth:`_fit_scorer`), calibrates its validation
scores and chooses the two thresholds there (:func:`negate_sdk.calibration.calibrate_on_validation`), and
fits the vetoes. ``verdicts`` scores what can be read, isolates an image whose scoring or veto fails to that
image (one-line error or abstention), and applies vetoes. ``save`` writes one card format
(:mod:`negate_sdk.artifacts`) into a staging folder renamed into place; ``load`` rebuilds any family from it.

The harness asks a detector what it can do, never what class it is: ``takes_features`` (it accepts cached
``features=`` from :meth:`feature_extractors`), ``uses_clip``, and :meth:`describe` for the results.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from negate_sdk.artifacts import ArtifactError, publish_folder, read_card, staging_folder, write_card
from negate_sdk.calibration import calibrate_on_validation, calibrator_from_dict
from negate_sdk.params import ParamsMixin, json_params
from negate_sdk.progress import ProgressFn
from negate_sdk.sample import Sample, decoded_groups, labels_of
from negate_sdk.splits import stratified_split
from negate_sdk.verdicts import Label, Thresholds, Verdict, VetoDecision, VetoEffect
from negate_sdk.version import __version__

logger = logging.getLogger(__name__)

MIN_PER_CLASS = 4  # the fewest images of each class a validation split can be carved from


TOO_FEW = "training needs at least {min} images of each class; got {real} real, {synthetic} synthetic"


def check_training_labels(
    samples: Sequence[Sample], y: np.ndarray | None, too_few: str = TOO_FEW
) -> np.ndarray:
    """``(n_samples,)`` int64 labels (``y`` or the samples' own), checked: 0/1, one per sample, and at least
    :data:`MIN_PER_CLASS` of each class (else ``too_few`` formatted with ``min``, ``real`` and
    ``synthetic`` counts). Raises a one-line ``ValueError``."""
    y = labels_of(samples) if y is None else np.asarray(y, dtype=np.int64)
    if len(y) != len(samples):
        raise ValueError(f"got {len(y)} labels for {len(samples)} samples")
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError("labels must be 0 (real) or 1 (synthetic)")
    counts = np.bincount(y, minlength=2)
    if counts.min() < MIN_PER_CLASS:
        raise ValueError(too_few.format(min=MIN_PER_CLASS, real=counts[0], synthetic=counts[1]))
    return y


def content_groups(samples: Sequence[Sample]) -> list[str | None]:
    """Each sample's content sha256 (None, its own group, when its bytes cannot be read)."""
    from negate_sdk.imaging import ImageError

    groups: list[str | None] = []
    for sample in samples:
        try:
            groups.append(sample.sha256)
        except ImageError:
            groups.append(None)
    return groups


def first_line(err: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__


class NonFiniteFeatures(ValueError):
    """Features that are NaN or infinite. Never scored: an image's are that image's error (its verdict's
    ``error`` is this message), and the rest of the batch is judged as usual."""

    @classmethod
    def of(cls, X: np.ndarray, feature_names: Sequence[str]) -> NonFiniteFeatures:
        """The error for ``X``, naming the extractors (the part of a column's name before ``__``) whose
        columns hold a value that is not finite."""
        columns = np.flatnonzero(~np.isfinite(X).all(axis=0))
        names = [str(feature_names[j]) if j < len(feature_names) else f"column {j}" for j in columns]
        groups = dict.fromkeys(name.split("__", 1)[0] for name in names)
        return cls(f"features of {', '.join(groups)} are not finite (NaN or infinite)")


def component_versions(components: Sequence[Any]) -> dict[str, str]:
    """``{distribution: version}`` of the packages that provide ``components`` (their classes' modules)."""
    from importlib import metadata

    owners = metadata.packages_distributions()
    versions = {"negate-sdk": __version__}
    for component in components:
        package = type(component).__module__.partition(".")[0]
        for distribution in owners.get(package, []):
            try:
                versions[distribution] = metadata.version(distribution)
            except metadata.PackageNotFoundError:
                continue
    return dict(sorted(versions.items()))


class BaseDetector(ParamsMixin):
    """Base class of every detector. Subclasses implement :meth:`_fit_scorer` and :meth:`_raw_scores`, and
    to be saved :meth:`_save_state` and :meth:`_load_state`.

    The constructor of a subclass stores (at least) ``calibration``, ``target_fpr``, ``target_miss``,
    ``validation_fraction``, ``vetoes`` and ``random_state``; ``name`` is a class attribute or a parameter.
    """

    name: str = "custom"
    family: ClassVar[str] = "custom"  # recorded in the card; "composite" cards rebuild from components
    takes_features: ClassVar[bool] = False  # accepts cached features= for the columns of feature_extractors()
    card_components: ClassVar[frozenset[str]] = frozenset({"vetoes"})  # parameters saved as components

    calibration: str
    target_fpr: float
    target_miss: float
    validation_fraction: float
    vetoes: Sequence[Any]
    random_state: int

    # -- what a family implements -------------------------------------------------------------------

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
        """Train the raw scorer on rows ``train`` (``val`` may drive early stopping); return training info."""
        raise NotImplementedError

    def _raw_scores(self, samples: Sequence[Sample], *, features: np.ndarray | None = None) -> np.ndarray:
        """``(n_samples,)`` uncalibrated scores in [0, 1] (higher: more likely synthetic)."""
        raise NotImplementedError

    def _save_state(self, directory: Path) -> dict[str, Any]:
        """Write the scorer's weights into ``directory``; return the card entries that describe them."""
        return {}

    def _load_state(self, card: dict[str, Any], directory: Path) -> None:
        """Restore the scorer from the card entries :meth:`_save_state` wrote and the verified folder."""

    def _strata(self, samples: Sequence[Sample], y: np.ndarray) -> Sequence[Any]:
        """What the validation split is stratified by (default: the labels)."""
        return y

    def _explain(
        self, samples: Sequence[Sample], features: np.ndarray | None, attributions: bool = True
    ) -> list[dict[str, Any]]:
        """Per sample, what a verdict reports besides its score: ``top_features`` and ``groups`` (the
        features and feature groups that moved it most, ``[(name, contribution), …]``; only with
        ``attributions``) and ``novelty`` (why it is unlike the training data, or None). Nothing here;
        families add what they can."""
        return [{} for _ in samples]

    def feature_extractors(self) -> list[Any]:
        """The extractors whose features the harness may compute and cache (with ``takes_features``)."""
        return []

    @property
    def uses_clip(self) -> bool:
        """Whether the detector's scores rest on CLIP features (for CLIP-bias deltas)."""
        return any(getattr(e, "uses_clip", False) for e in self.feature_extractors())

    # -- fitting -----------------------------------------------------------------------------------

    def fit(
        self,
        samples: Sequence[Sample],
        y: np.ndarray | None = None,
        *,
        features: np.ndarray | None = None,
        progress: ProgressFn | None = None,
    ) -> BaseDetector:
        """Train the scorer, then calibrate and choose thresholds on the validation split; return ``self``.

        ``features`` (with ``takes_features``): the ``(n_samples, n_features)`` columns of
        :meth:`feature_extractors`, already computed. ``progress`` receives ``(stage, advance, total)``.
        """
        samples = list(samples)
        y = check_training_labels(samples, y)
        train, val = stratified_split(
            y,
            float(self.validation_fraction),
            int(self.random_state),
            strata=self._strata(samples, y),
            groups=content_groups(samples),  # copies of one image never straddle training and validation
        )
        info = self._fit_scorer(samples, y, train, val, features=features, progress=progress)
        val_features = None if features is None else np.asarray(features)[val]
        raw_val = self._raw_scores([samples[i] for i in val], features=val_features)
        self.calibrator_, self.thresholds_, self.validation_metrics_ = calibrate_on_validation(
            raw_val, y[val], method=self.calibration, target_fpr=self.target_fpr, target_miss=self.target_miss
        )
        self.vetoes_ = self._resolved_vetoes()
        for veto in self.vetoes_:
            veto.fit([samples[i] for i in train], y[train])
        self.training_info_ = {"n_train": len(train), "n_validation": len(val), **(info or {})}
        return self

    def _resolved_vetoes(self) -> list[Any]:
        from negate_sdk.catalog import create_veto

        return [create_veto(v) if isinstance(v, str) else v for v in self.vetoes]

    def set_training_info(self, **info: Any) -> BaseDetector:
        """Record where the training data came from (dataset, manifest hash, ``trained_on``) for the card."""
        self.training_info_ = {**getattr(self, "training_info_", {}), **info}
        return self

    @property
    def trained_on(self) -> list[str]:
        """Names of the datasets the fitted detector has seen (contamination checks)."""
        return list(getattr(self, "training_info_", {}).get("trained_on", []))

    # -- prediction --------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "calibrator_"):
            raise ValueError(f"detector '{self.name}' is not fitted; call fit() or load a saved one")

    @property
    def thresholds(self) -> Thresholds:
        """The thresholds chosen on the validation split."""
        self._check_fitted()
        return self.thresholds_

    def raw_scores(self, samples: Sequence[Sample], *, features: np.ndarray | None = None) -> np.ndarray:
        """``(n_samples,)`` scores of the fitted scorer before calibration."""
        self._check_fitted()
        return self._raw_scores(samples, features=features) if len(samples) else np.empty(0)

    def predict_proba(self, samples: Sequence[Sample], *, features: np.ndarray | None = None) -> np.ndarray:
        """``(n_samples, 2)`` calibrated probabilities of [real, synthetic]."""
        self._check_fitted()
        if len(samples) == 0:
            return np.empty((0, 2))
        p = self.calibrator_.transform(self.raw_scores(samples, features=features))
        return np.column_stack([1.0 - p, p])

    def predict(self, samples: Sequence[Sample], *, features: np.ndarray | None = None) -> np.ndarray:
        """``(n_samples,)`` labels at ``t_decision`` (vetoes do not change binary predictions)."""
        scores = self.predict_proba(samples, features=features)[:, 1]
        return (scores >= self.thresholds.t_decision).astype(np.int64)

    def verdicts(
        self, samples: Sequence[Sample], *, features: np.ndarray | None = None, attributions: bool = True
    ) -> list[Verdict]:
        """One :class:`Verdict` per sample with vetoes applied; an image that cannot be judged gets ``error``.

        ``attributions=False`` leaves out the top features and groups (the cost of SHAP values on large
        sets); the novelty and veto reasons stay.

        Images are decoded a group at a time (at most :data:`negate_sdk.sample.MAX_BATCH_BYTES` of pixels,
        released after the group), so memory does not grow with the batch's image sizes. An image that
        cannot be decoded, or whose scoring raises, costs only its own verdict (a one-line ``error``); a
        veto that raises on an image abstains on it. Downgrading vetoes apply first, then raising ones:
        evidence of generation wins. With ``features`` and no vetoes nothing is decoded.
        """
        self._check_fitted()
        features = None if features is None else np.asarray(features)
        errors: dict[int, str] = {}
        judged: dict[int, Verdict] = {}
        if features is not None and not self.vetoes_:
            groups: Any = [list(range(len(samples)))]
        else:
            groups = decoded_groups(samples, errors)
        for group in groups:
            judged.update(self._judge(samples, group, features, errors, attributions))
            for i in group:  # a lazy sample re-reads its bytes if asked again
                samples[i].release()
        t = self.thresholds_
        failed = {i: errors.get(i, "could not be scored") for i in range(len(samples)) if i not in judged}
        unjudged = {
            i: Verdict(float("nan"), Label.UNCERTAIN, t.t_genuine, t.t_synthetic, samples[i].id, error=reason)
            for i, reason in failed.items()
        }
        return [judged.get(i) or unjudged[i] for i in range(len(samples))]

    def _judge(
        self,
        samples: Sequence[Sample],
        group: list[int],
        features: np.ndarray | None,
        errors: dict[int, str],
        attributions: bool = True,
    ) -> dict[int, Verdict]:
        """Verdicts of the samples at positions ``group`` (readable ones), by position."""
        scores = self._isolated_scores(samples, group, features, errors)
        scored = [i for i in group if i in scores]
        if not scored:
            return {}
        good = [samples[i] for i in scored]
        explained = self._explain(good, None if features is None else features[scored], attributions)
        decisions = [_isolated_decisions(veto, good) for veto in self.vetoes_]
        t = self.thresholds_
        out = {}
        for k, i in enumerate(scored):
            notes = explained[k] if k < len(explained) else {}
            label = t.label(scores[i])
            if notes.get("novelty"):  # an image unlike anything trained on: the score cannot be trusted
                label = Label.UNCERTAIN
            label, applied = _apply_vetoes(label, self.vetoes_, [d[k] for d in decisions])
            out[i] = Verdict(float(scores[i]), label, t.t_genuine, t.t_synthetic, samples[i].id, applied,
                             notes.get("top_features", []), groups=notes.get("groups", []),
                             novelty=notes.get("novelty"))  # fmt: skip
        return out

    def _isolated_scores(
        self,
        samples: Sequence[Sample],
        readable: list[int],
        features: np.ndarray | None,
        errors: dict[int, str],
    ) -> dict[int, float]:
        """Calibrated scores by position; if the batch fails, image by image, so a failure is that image's."""
        if not readable:
            return {}

        def score(rows: list[int]) -> np.ndarray:
            batch = [samples[i] for i in rows]
            return self.predict_proba(batch, features=None if features is None else features[rows])[:, 1]

        try:
            return dict(zip(readable, score(readable)))
        except Exception as err:  # a hostile image must not end the batch: find it
            logger.debug("scoring a batch failed (%s); scoring image by image", first_line(err))
        out = {}
        for i in readable:
            try:
                out[i] = float(score([i])[0])
            except NonFiniteFeatures as err:
                errors[i] = str(err)
            except Exception as err:
                errors[i] = f"could not be scored: {first_line(err)}"
        return out

    # -- artifacts ---------------------------------------------------------------------------------

    def _card_params(self) -> dict[str, Any]:
        params = {k: v for k, v in self.get_params(deep=False).items() if k not in self.card_components}
        return json_params(params, owner=f"detector '{self.name}'")

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the card and weights to ``directory`` (no pickle) and return it.

        Everything is written into a staging folder beside ``directory`` and renamed into place, so the
        folder appears whole or not at all and an older detector there survives any failure. An existing
        ``directory`` is replaced only when it holds a saved detector (and nothing its card does not list);
        any other non-empty folder is refused (:class:`negate_sdk.artifacts.ArtifactError`).
        """
        self._check_fitted()
        target = Path(directory)
        with staging_folder(target) as staging:
            card = {
                "detector": self.name,
                "family": self.family,
                "composite": self.family == "composite",
                "params": self._card_params(),
                **self._save_state(staging),
                "calibrator": self.calibrator_.to_dict(),
                "thresholds": self.thresholds_.to_dict(),
                "vetoes": [_save_veto(v, staging, i) for i, v in enumerate(self.vetoes_)],
                "validation_metrics": self.validation_metrics_,
                "training": getattr(self, "training_info_", {}),
                "trained_on": self.trained_on,
                "versions": component_versions([self, *self.feature_extractors(), *self.vetoes_]),
            }
            write_card(staging, card)
            publish_folder(staging, target)
        return target

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> BaseDetector:
        """Read a detector written by :meth:`save` (any failure is a one-line ``ArtifactError``)."""
        from negate_sdk.detectors.card import check_card, check_family

        directory = Path(directory)
        card = read_card(directory)
        check_card(card, directory)
        check_family(card, directory)
        try:
            detector = cls._from_card(card, directory)
            detector.calibrator_ = calibrator_from_dict(card["calibrator"])
            detector.thresholds_ = Thresholds(**card["thresholds"])
            detector.validation_metrics_ = card.get("validation_metrics", {})
            detector.training_info_ = dict(card.get("training", {}))
        except ArtifactError:
            raise
        except Exception as err:  # an untrusted card: whatever is wrong is one line naming the folder
            raise ArtifactError(f"{directory}: cannot load detector '{card.get('detector')}': "
                                f"{first_line(err)}") from None  # fmt: skip
        return detector

    @classmethod
    def _from_card(cls, card: dict[str, Any], directory: Path) -> BaseDetector:
        """An instance with its parameters, vetoes and scorer restored from ``card``."""
        if card.get("detector") != getattr(cls, "name", None) and cls.family != "composite":
            raise ArtifactError(f"{directory}: the card is for detector {card.get('detector')!r}, not "
                                f"'{cls.name}'")  # fmt: skip
        vetoes = [_load_veto(spec, directory) for spec in card.get("vetoes", [])]
        extra = {"vetoes": vetoes} if "vetoes" in cls._param_names() else {}
        try:
            detector = cls(**card["params"], **extra)
        except TypeError as err:
            raise ArtifactError(
                f"{directory}: the card's parameters do not fit '{cls.name}' ({err})"
            ) from None
        detector._load_state(card, directory)
        detector.vetoes_ = vetoes
        return detector

    def describe(self) -> dict[str, Any]:
        """What the results record of a fitted detector: thresholds, validation metrics, training data."""
        return {
            "family": self.family,
            "thresholds": self.thresholds.to_dict(),
            "extractors": [e.cache_key for e in self.feature_extractors()],
            "validation_metrics": getattr(self, "validation_metrics_", None),
            "trained_on": self.trained_on,
            # how a network's training ended (trainable detectors): early stop, time budget, best epoch
            "training": {
                k: info[k] for k in _TRAINING_SUMMARY if k in (info := getattr(self, "training_info_", {}))
            },
        }


_TRAINING_SUMMARY = ("best_epoch", "stopped_early", "stopped_by_budget", "train_seconds", "fit_seconds")


def _isolated_decisions(veto: Any, samples: Sequence[Sample]) -> list[VetoDecision]:
    """``veto.decide(samples)``; if it raises, image by image, abstaining where it fails (one line why)."""
    try:
        decisions = list(veto.decide(samples))
        if len(decisions) == len(samples):
            return decisions
    except Exception as err:
        logger.debug("veto '%s' failed on a batch (%s); deciding image by image", veto.name, first_line(err))
    out = []
    for sample in samples:
        try:
            out.append(veto.decide([sample])[0])
        except Exception as err:
            out.append(VetoDecision(veto.name, -1, f"abstains: {first_line(err)}"))
    return out


def _apply_vetoes(
    label: Label, vetoes: Sequence[Any], decisions: Sequence[VetoDecision]
) -> tuple[Label, list[VetoDecision]]:
    """The label after the vetoes (downgrading ones first) and every decision, marked when it applied."""
    applied = []
    order = sorted(zip(vetoes, decisions), key=lambda p: VetoEffect(p[0].effect) is VetoEffect.RAISE)
    for veto, decision in order:
        effect = VetoEffect(veto.effect)
        changes = (effect is VetoEffect.DOWNGRADE and decision.value == 0 and label is Label.SYNTHETIC) or (
            effect is VetoEffect.RAISE and decision.value == 1 and label is not Label.SYNTHETIC
        )
        if changes:
            label = Label.UNCERTAIN if effect is VetoEffect.DOWNGRADE else Label.SYNTHETIC
        applied.append(VetoDecision(decision.veto, decision.value, decision.reason, applied=bool(changes)))
    return label, applied


def _save_veto(veto: Any, directory: Path, index: int) -> dict[str, Any]:
    spec = {
        "name": veto.name,
        "params": json_params(veto.get_params(deep=False), owner=f"veto '{veto.name}'"),
    }
    if hasattr(veto, "save_weights"):
        spec["state"] = veto.save_weights(directory, f"veto{index}")
    return spec


def _load_veto(spec: dict[str, Any], directory: Path) -> Any:
    from negate_sdk.catalog import get_veto

    veto_cls = get_veto(spec["name"]).load()
    if "state" in spec:
        return veto_cls.load_weights(directory, spec["state"], **spec["params"])
    return veto_cls(**spec["params"])
