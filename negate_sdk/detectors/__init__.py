"""Detectors: one core (:class:`BaseDetector`) and its families.

- :class:`BaseDetector` (:mod:`~negate_sdk.detectors.base`): fitted state, calibration, thresholds,
  verdicts with reasons, vetoes, save/load with one card format, training info and ``trained_on``;
- :class:`Detector` (:mod:`~negate_sdk.detectors.composite`): features of registered extractors → a head;
- :class:`TrainableDetector` (:mod:`~negate_sdk.detectors.trainable`): a network trained end to end;
- :func:`load_detector` (:mod:`~negate_sdk.detectors.loading`) rebuilds any of them from a saved folder;
- :func:`fit_detector` (:mod:`~negate_sdk.detectors.fitting`): the one fit path of ``negate train`` and
  ``negate-bench run`` (features through the store, unreadable images set aside, training info).

Importing this package never imports torch.
"""

from negate_sdk.detectors.base import BaseDetector, check_training_labels
from negate_sdk.detectors.composite import Detector
from negate_sdk.detectors.fitting import FitResult, fit_detector
from negate_sdk.detectors.loading import load_detector
from negate_sdk.detectors.trainable import TrainableDetector

__all__ = [
    "BaseDetector",
    "Detector",
    "FitResult",
    "TrainableDetector",
    "check_training_labels",
    "fit_detector",
    "load_detector",
]
