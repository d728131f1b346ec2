"""The chance baseline: a detector whose score is a seeded hash of the image bytes.

It reads no pixels, so it also serves as a fast, deterministic test double for the harness: the same
image gets the same score in any batch, in any process, on any machine. It is a detector like any other
(:class:`negate_sdk.detectors.BaseDetector`), with its thresholds given instead of learned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from negate_sdk.calibration import IdentityCalibrator
from negate_sdk.detectors import BaseDetector
from negate_sdk.progress import ProgressFn
from negate_sdk.sample import Sample, labels_of
from negate_sdk.verdicts import Thresholds


class DummyDetector(BaseDetector):
    """Chance baseline: P(synthetic) uniform in [0, 1), a function of ``seed`` and the image's sha256.

    ``t_genuine`` and ``t_synthetic`` bound the UNCERTAIN band of its verdicts; the binary threshold sits
    mid-band. It learns nothing (the class balance it was shown is recorded).
    """

    name = "dummy"
    family = "baseline"

    def __init__(self, seed: int = 0, t_genuine: float = 0.5, t_synthetic: float = 0.5) -> None:
        self.seed = seed
        self.t_genuine = t_genuine
        self.t_synthetic = t_synthetic

    def fit(
        self,
        samples: Sequence[Sample],
        y: np.ndarray | None = None,
        *,
        features: np.ndarray | None = None,
        progress: ProgressFn | None = None,
    ) -> DummyDetector:
        """Learns nothing; records the class balance it was shown and fixes the given thresholds."""
        y = labels_of(samples) if y is None else np.asarray(y)
        self.n_train_ = len(y)
        self.positive_rate_ = float(np.mean(y)) if len(y) else 0.0
        self._fix_thresholds()
        self.training_info_ = {"n_train": self.n_train_, "positive_rate": self.positive_rate_}
        return self

    def _check_fitted(self) -> None:
        """Nothing is learned, so an unfitted dummy scores too (with its given thresholds)."""
        if not hasattr(self, "calibrator_"):
            self._fix_thresholds()

    def _fix_thresholds(self) -> None:
        middle = (self.t_genuine + self.t_synthetic) / 2
        self.calibrator_ = IdentityCalibrator()
        self.thresholds_ = Thresholds(self.t_genuine, self.t_synthetic, middle)
        self.validation_metrics_ = {}
        self.vetoes_ = []

    def _raw_scores(self, samples: Sequence[Sample], *, features: np.ndarray | None = None) -> np.ndarray:
        """``(n_samples,)`` scores in [0, 1): sha256 of ``seed:image-sha256`` as a fraction."""
        out = np.empty(len(samples), dtype=np.float64)
        for i, sample in enumerate(samples):
            digest = hashlib.sha256(f"{self.seed}:{sample.sha256}".encode()).digest()
            out[i] = int.from_bytes(digest[:8], "big") / 2**64
        return out

    def scores(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples,)`` scores in [0, 1), fitted or not (the score needs nothing learned)."""
        return self._raw_scores(samples)

    def _save_state(self, directory: Path) -> dict[str, Any]:
        return {"state": {"n_train_": self.n_train_, "positive_rate_": self.positive_rate_}}

    def _load_state(self, card: dict[str, Any], directory: Path) -> None:
        state = card.get("state", {})
        self.n_train_ = int(state.get("n_train_", 0))
        self.positive_rate_ = float(state.get("positive_rate_", 0.0))
