"""The pretrained family: a published detector with its authors' weights, scored without training.

A pretrained detector is a registered extractor (the network's features, cached in the feature store like
any other) and a fixed linear head on them (``logit = features @ w + b``, the raw score its sigmoid); the
network is never refitted. It has two named operating points:

- ``authors``: as published, P(synthetic) = sigmoid(logit) and one threshold at 0.5 (no UNCERTAIN band);
  an unfitted pretrained detector is at this point;
- ``calibrated``: ``fit`` on calibration data (every image given: nothing is trained, so no validation
  split is carved) fits Platt scaling of the logit and chooses the two thresholds, as for every detector.

A subclass names its extractor and weights (``weights_cfg``, a :class:`negate_sdk.runtime.weights.WeightsCfg`:
source, commit, sha256, licence, citation, ``trained_on``) and loads its head (:meth:`_load_head`). A saved
pretrained detector keeps no weights in its folder: they are resolved again from the pinned source and
checked against their sha256.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from negate_sdk.artifacts import ArtifactError
from negate_sdk.calibration import IdentityCalibrator, calibrate_on_validation
from negate_sdk.detectors.base import BaseDetector, check_training_labels
from negate_sdk.progress import ProgressFn
from negate_sdk.runtime.weights import WeightsCfg
from negate_sdk.sample import Sample
from negate_sdk.verdicts import Thresholds

AUTHORS = "authors"
CALIBRATED = "calibrated"


class PretrainedDetector(BaseDetector):
    """Base class of published detectors: a frozen network's features and the authors' linear head.

    Subclasses set ``name``, ``weights_cfg`` (the pinned weights), ``extractor`` (registry name) and
    ``default_extractor_params``, and implement :meth:`_load_head`.

    Parameters
    ----------
    weights: a local file (or folder) instead of the pinned source (the user's own copy: its sha256 is not
        checked; the pinned source always is), or ``"random"``: a seeded random network or head, for tests.
    extractor_params: parameters of the extractor over the defaults; ``"test"``: the extractor's own
        registered test parameters (a tiny random network of the same interface).
    calibration, target_fpr, target_miss: how ``fit`` calibrates (the ``calibrated`` operating point).
    vetoes: veto objects or registry names applied to verdicts.
    device: where the network runs (``auto``, ``cpu``, ``cuda`` …).
    random_state: kept for the harness's seeding (nothing here is random).
    """

    family = "pretrained"
    takes_features = True
    pretrained: ClassVar[bool] = True  # the harness scores it without training, at both operating points
    name: ClassVar[str] = ""  # type: ignore[misc]
    weights_cfg: ClassVar[WeightsCfg]
    extractor: ClassVar[str] = ""
    default_extractor_params: ClassVar[dict[str, Any]] = {}
    runtime_params: ClassVar[frozenset[str]] = frozenset({"device", "vetoes"})

    def __init__(
        self,
        weights: str | None = None,
        extractor_params: dict[str, Any] | str | None = None,
        calibration: str = "sigmoid",
        target_fpr: float = 0.01,
        target_miss: float = 0.05,
        vetoes: Sequence[Any] = (),
        device: str = "auto",
        random_state: int = 0,
    ) -> None:
        self.weights = weights
        self.extractor_params = extractor_params
        self.calibration = calibration
        self.target_fpr = target_fpr
        self.target_miss = target_miss
        self.vetoes = vetoes
        self.device = device
        self.random_state = random_state

    # -- what a published detector implements ------------------------------------------------------

    def _load_head(self) -> tuple[np.ndarray, float]:
        """``(w (n_features,), b)`` of the authors' linear head on the extractor's features."""
        raise NotImplementedError

    # -- the scorer --------------------------------------------------------------------------------

    def feature_extractors(self) -> list[Any]:
        """The network as a registered extractor, with this detector's device."""
        if not hasattr(self, "_extractor_objects"):
            from negate_sdk.catalog import create_extractor

            params = {**self.default_extractor_params, **self._extractor_overrides(), "device": self.device}
            self._extractor_objects = [create_extractor(self.extractor, **params)]
        return self._extractor_objects

    def _extractor_overrides(self) -> dict[str, Any]:
        """``extractor_params``; ``"test"`` takes the extractor's own registered test parameters."""
        if self.extractor_params == "test":
            from negate_sdk.catalog import get_extractor

            return dict(get_extractor(self.extractor).metadata.get("test_params", {}))
        return dict(self.extractor_params or {})

    def head(self) -> tuple[np.ndarray, float]:
        """The authors' head ``(w, b)``, loaded once (weights resolved and checked against their sha256)."""
        if not hasattr(self, "head_"):
            w, b = self._load_head()
            self.head_ = (np.asarray(w, dtype=np.float64).ravel(), float(b))
        return self.head_

    def logits(self, samples: Sequence[Sample], *, features: np.ndarray | None = None) -> np.ndarray:
        """``(n_samples,)`` the network's logits (the authors' score before the sigmoid)."""
        if features is None:
            features = np.hstack([e.transform(samples) for e in self.feature_extractors()])
        w, b = self.head()
        X = np.asarray(features, dtype=np.float64)
        if X.shape != (len(samples), len(w)):
            raise ValueError(f"features of shape {X.shape}; {self.name} reads ({len(samples)}, {len(w)})")
        return X @ w + b

    def _raw_scores(self, samples: Sequence[Sample], *, features: np.ndarray | None = None) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(samples, features=features)))

    # -- operating points --------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        """Unfitted, a pretrained detector is at its authors' operating point (nothing to learn)."""
        if not hasattr(self, "calibrator_"):
            self.calibrator_ = IdentityCalibrator()
            self.thresholds_ = Thresholds(0.5, 0.5, 0.5)
            self.validation_metrics_ = {}
            self.vetoes_ = self._resolved_vetoes()
            self.training_info_ = {
                "operating_point": AUTHORS,
                "trained_on": list(self.weights_cfg.trained_on),
            }

    @property
    def operating_point(self) -> str:
        """``"authors"`` (sigmoid 0.5, as published) or ``"calibrated"`` (fitted on calibration data)."""
        self._check_fitted()
        return str(self.training_info_.get("operating_point", AUTHORS))

    def fit(
        self,
        samples: Sequence[Sample],
        y: np.ndarray | None = None,
        *,
        features: np.ndarray | None = None,
        progress: ProgressFn | None = None,
    ) -> PretrainedDetector:
        """Calibrate on ``samples`` (Platt on the logit, then the two thresholds); the network stays frozen.

        Every image given is calibration data: nothing is trained, so no validation split is carved.
        """
        samples = list(samples)
        y = check_training_labels(samples, y)
        raw = self._raw_scores(samples, features=features)
        self.calibrator_, self.thresholds_, self.validation_metrics_ = calibrate_on_validation(
            raw, y, method=self.calibration, target_fpr=self.target_fpr, target_miss=self.target_miss
        )
        self.vetoes_ = self._resolved_vetoes()
        for veto in self.vetoes_:
            veto.fit(samples, y)
        self.training_info_ = {
            "operating_point": CALIBRATED,
            "n_calibration": len(samples),
            "trained_on": list(self.weights_cfg.trained_on),
        }
        return self

    def set_training_info(self, **info: Any) -> PretrainedDetector:
        """Record the calibration data; ``trained_on`` keeps what the network itself was trained on."""
        self._check_fitted()
        own = list(self.weights_cfg.trained_on)
        calibrated_on = info.pop("trained_on", [])
        self.training_info_ = {**self.training_info_, **info, "trained_on": own}
        if calibrated_on:
            self.training_info_["calibrated_on"] = list(calibrated_on)
        return self

    def describe(self) -> dict[str, Any]:
        """The core description plus the operating point and where the weights come from."""
        cfg = self.weights_cfg
        return {
            **super().describe(),
            "operating_point": self.operating_point,
            "calibrated_on": list(self.training_info_.get("calibrated_on", [])),
            "weights": {k: v for k, v in cfg.to_dict().items() if k in ("name", "source", "sha256", "licence",
                                                                         "citation", "url", "trained_on")},
        }  # fmt: skip

    # -- artifacts ---------------------------------------------------------------------------------

    def _save_state(self, directory: Path) -> dict[str, Any]:
        return {
            "operating_point": self.operating_point,
            "pretrained_weights": self.weights_cfg.to_dict(),
            "extractors": [
                {"name": e.name, "version": e.version, "cache_key": e.cache_key}
                for e in self.feature_extractors()
            ],
        }

    def _load_state(self, card: dict[str, Any], directory: Path) -> None:
        saved = card.get("pretrained_weights", {})
        if not isinstance(saved, dict) or saved.get("sha256") != self.weights_cfg.sha256:
            raise ArtifactError(
                f"{directory}: saved for other weights of '{self.name}' (sha256 "
                f"{str(saved.get('sha256'))[:12]}…, this plugin pins {str(self.weights_cfg.sha256)[:12]}…)"
            )
