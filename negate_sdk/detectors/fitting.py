"""The one fit path of ``negate train`` and ``negate-bench run``: extract → keep readable → fit → record.

A detector that takes features (``takes_features``) gets them through ``extract`` (the feature store, on
this machine or a Ray cluster), computed once per image and extractor; any other detector gets the samples
that decode. Unreadable images are set aside with their one-line reasons. A ``cache`` (the harness's
fitted-detector cache) can supply an identical earlier fit. The training data is recorded on the detector
(``trained_on``: contamination checks of later runs).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from negate_sdk.progress import ProgressFn
from negate_sdk.sample import Sample, partition_readable

Extract = Callable[[Sequence[Any], Sequence[Sample]], Any]  # (extractors, samples) -> FeatureMatrix


@dataclass
class FitResult:
    """A fitted detector, the training images set aside (``{sample id: reason}``) and how it was fitted."""

    detector: Any
    failures: dict[str, str] = field(default_factory=dict)
    n_used: int = 0
    from_cache: bool = False
    seconds: float = 0.0


def readable(samples: Sequence[Sample]) -> tuple[list[Sample], dict[str, str]]:
    """Samples that decode, and the one-line reasons of those that do not by id (pixels released)."""
    positions, failures = partition_readable(samples, release=True)
    return [samples[i] for i in positions], {samples[i].id: reason for i, reason in failures.items()}


def training_inputs(
    detector: Any, samples: Sequence[Sample], extract: Extract | None = None
) -> tuple[list[Sample], np.ndarray | None, dict[str, str]]:
    """``(kept samples, their features or None, {id: reason} of those set aside)``."""
    if not getattr(detector, "takes_features", False):
        kept, failures = readable(samples)
        return kept, None, failures
    if extract is None:
        from negate_sdk.features import extract_features

        matrix = extract_features(detector.feature_extractors(), samples)
    else:
        matrix = extract(detector.feature_extractors(), samples)
    kept = [s for s, ok in zip(samples, matrix.ok) if ok]
    failures = {samples[i].id: reason for i, reason in matrix.failures.items()}
    return kept, matrix.X, failures


def fit_detector(
    detector: Any,
    samples: Sequence[Sample],
    *,
    extract: Extract | None = None,
    progress: ProgressFn | None = None,
    training_info: dict[str, Any] | None = None,
    cache: Any = None,
    stage: str = "fit",
) -> FitResult:
    """Fit ``detector`` on the readable ``samples`` (or take an identical fit from ``cache``).

    ``cache`` has ``lookup(detector, samples) -> (key, fitted or None)`` and ``save(key, detector)``.
    ``training_info`` (dataset, manifest hash, ``trained_on`` …) is recorded with the number of images set
    aside. ``seconds`` excludes feature extraction.
    """
    kept, features, failures = training_inputs(detector, samples, extract)
    start = time.perf_counter()
    if progress:
        progress(stage, 0, 1)
    key, fitted = cache.lookup(detector, kept) if cache is not None else (None, None)
    if fitted is None:
        detector.fit(kept, features=features, progress=progress)
        if key is not None:
            cache.save(key, detector)
    else:
        detector = fitted
    detector.set_training_info(**(training_info or {}), n_unreadable=len(failures))
    if progress:
        progress(stage, 1, 1)
    return FitResult(detector, failures, len(kept), fitted is not None, round(time.perf_counter() - start, 3))
