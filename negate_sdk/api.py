"""The contract sheet: what every component must do, and the types components exchange.

Label convention: ``1`` = synthetic (the positive class), ``0`` = real. Scores are P(synthetic).

- :class:`Extractor`: ``fit(samples, y=None)``, ``transform(samples) -> (n_samples, n_features)`` float32,
  ``get_feature_names_out()``; attributes ``name``, ``version`` and ``cache_key``.
- :class:`Classifier`: exactly scikit-learn's binary classifier (``LogisticRegression()`` qualifies).
- :class:`Veto`: ``fit``, ``decide(samples) -> list[VetoDecision]``, ``predict(samples) -> int8`` with
  ``-1`` abstain; its ``effect`` says whether it may only downgrade SYNTHETIC or raise to SYNTHETIC.
- :class:`DetectorProtocol`: ``fit``, ``predict_proba``, ``predict``, ``verdicts``, ``thresholds``,
  ``save`` / ``load``, and what it can do (``takes_features``). The class to build detectors from is
  :class:`negate_sdk.detectors.BaseDetector`; ``negate_sdk.Detector`` is its composite family.

The types they exchange are defined in their own modules and re-exported here for plugin authors:
:class:`Sample` (:mod:`negate_sdk.sample`), :class:`Verdict`, :class:`Thresholds`, :class:`Label`,
:class:`VetoDecision`, :class:`VetoEffect` (:mod:`negate_sdk.verdicts`), :class:`WeightsCfg`
(:mod:`negate_sdk.runtime.weights`), the bases :class:`BaseExtractor` and :class:`BaseVeto`
(:mod:`negate_sdk.components`) and :class:`ParamsMixin` (:mod:`negate_sdk.params`).

This module imports neither pluggy nor click nor torch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from negate_sdk.components import BaseExtractor, BaseVeto
from negate_sdk.params import ParamsMixin, params_hash
from negate_sdk.runtime.weights import WeightsCfg
from negate_sdk.sample import Sample, labels_of, partition_readable
from negate_sdk.verdicts import REAL, SYNTHETIC, Label, Thresholds, Verdict, VetoDecision, VetoEffect

__all__ = [
    "REAL",
    "SYNTHETIC",
    "BaseExtractor",
    "BaseVeto",
    "Classifier",
    "DetectorProtocol",
    "Extractor",
    "Label",
    "ParamsMixin",
    "Sample",
    "Thresholds",
    "Verdict",
    "Veto",
    "VetoDecision",
    "VetoEffect",
    "WeightsCfg",
    "labels_of",
    "params_hash",
    "partition_readable",
]


@runtime_checkable
class Extractor(Protocol):
    """Turns a batch of samples into a float32 feature matrix with named columns."""

    name: str
    version: str

    @property
    def cache_key(self) -> str:
        """Identifies the features: derived from name, version and parameters."""
        ...

    def fit(self, samples: Sequence[Sample], y: np.ndarray | None = None) -> Extractor:
        """Learn what the extractor needs (most need nothing); return ``self``."""
        ...

    def transform(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples, n_features)`` float32 features of a batch of samples."""
        ...

    def get_feature_names_out(self) -> np.ndarray:
        """``(n_features,)`` names of the columns :meth:`transform` returns."""
        ...


@runtime_checkable
class Classifier(Protocol):
    """A scikit-learn binary classifier; label 1 is synthetic."""

    classes_: np.ndarray

    def fit(self, X: np.ndarray, y: np.ndarray) -> Classifier:
        """Fit on ``(n_samples, n_features)`` features and ``(n_samples,)`` labels; return ``self``."""
        ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``(n_samples, 2)`` probabilities of classes ``classes_`` (``[0, 1]``)."""
        ...

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters."""
        ...

    def set_params(self, **params: Any) -> Classifier:
        """Set parameters; return ``self``."""
        ...


@runtime_checkable
class Veto(Protocol):
    """A model allowed to override a detector's verdict, with a stated reason."""

    name: str
    effect: VetoEffect

    def fit(self, samples: Sequence[Sample], y: np.ndarray | None = None) -> Veto:
        """Learn (if anything); return ``self``."""
        ...

    def decide(self, samples: Sequence[Sample]) -> list[VetoDecision]:
        """One decision per sample, with its reason."""
        ...

    def predict(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples,)`` int8: 1 synthetic, 0 genuine, -1 abstain."""
        ...


@runtime_checkable
class DetectorProtocol(Protocol):
    """Samples in, calibrated scores and three-way verdicts out; saved and loaded without pickle."""

    name: str

    def fit(self, samples: Sequence[Sample], y: np.ndarray | None = None) -> DetectorProtocol:
        """Fit on labelled samples (``y`` defaults to the samples' labels); return ``self``."""
        ...

    def predict_proba(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples, 2)`` calibrated probabilities of [real, synthetic]."""
        ...

    def predict(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples,)`` int labels at the detector's decision threshold."""
        ...

    def verdicts(self, samples: Sequence[Sample]) -> list[Verdict]:
        """One :class:`Verdict` per sample, vetoes applied."""
        ...

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the fitted detector to ``directory`` in safe formats (no pickle); return the path."""
        ...

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters, nested ones as ``component__param``."""
        ...

    def set_params(self, **params: Any) -> DetectorProtocol:
        """Set parameters; return ``self``."""
        ...
