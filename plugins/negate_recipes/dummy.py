"""The chance baseline: a detector whose score is a seeded hash of the image bytes.

It reads no pixels, so it also serves as a fast, deterministic test double for the harness: the same
image gets the same score in any batch, in any process, on any machine.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from negate_sdk.api import ParamsMixin, Sample, Thresholds, Verdict, labels_of
from negate_sdk.artifacts import read_card, write_card


class DummyDetector(ParamsMixin):
    """Chance baseline: P(synthetic) uniform in [0, 1), a function of ``seed`` and the image's sha256.

    ``t_genuine`` and ``t_synthetic`` bound the UNCERTAIN band of its verdicts.
    """

    name = "dummy"

    def __init__(self, seed: int = 0, t_genuine: float = 0.5, t_synthetic: float = 0.5) -> None:
        self.seed = seed
        self.t_genuine = t_genuine
        self.t_synthetic = t_synthetic

    @property
    def thresholds(self) -> Thresholds:
        """The decision thresholds (the binary threshold sits mid-band)."""
        middle = (self.t_genuine + self.t_synthetic) / 2
        return Thresholds(self.t_genuine, self.t_synthetic, middle)

    def fit(self, samples: Sequence[Sample], y: np.ndarray | None = None) -> DummyDetector:
        """Learns nothing; records the class balance it was shown."""
        y = labels_of(samples) if y is None else np.asarray(y)
        self.n_train_ = len(y)
        self.positive_rate_ = float(np.mean(y)) if len(y) else 0.0
        return self

    def scores(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples,)`` scores in [0, 1): sha256 of ``seed:image-sha256`` as a fraction."""
        out = np.empty(len(samples), dtype=np.float64)
        for i, sample in enumerate(samples):
            digest = hashlib.sha256(f"{self.seed}:{sample.sha256}".encode()).digest()
            out[i] = int.from_bytes(digest[:8], "big") / 2**64
        return out

    def predict_proba(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples, 2)`` probabilities of [real, synthetic]."""
        scores = self.scores(samples)
        return np.column_stack([1.0 - scores, scores])

    def predict(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples,)`` int labels at the mid-band threshold."""
        return (self.scores(samples) >= self.thresholds.t_decision).astype(np.int64)

    def verdicts(self, samples: Sequence[Sample]) -> list[Verdict]:
        """One verdict per sample (no vetoes, no feature attributions)."""
        thresholds = self.thresholds
        return [
            Verdict(
                score=float(score),
                label=thresholds.label(score),
                t_genuine=thresholds.t_genuine,
                t_synthetic=thresholds.t_synthetic,
                sample_id=sample.id,
            )
            for sample, score in zip(samples, self.scores(samples))
        ]

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the card (parameters only: there are no weights)."""
        state = {k: getattr(self, k) for k in ("n_train_", "positive_rate_") if hasattr(self, k)}
        write_card(directory, {"detector": self.name, "params": self.get_params(), "state": state})
        return Path(directory)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> DummyDetector:
        """Read a detector written by :meth:`save`."""
        card = read_card(directory)
        params: dict[str, Any] = card.get("params", {})
        detector = cls(**{k: params[k] for k in ("seed", "t_genuine", "t_synthetic") if k in params})
        for key, value in card.get("state", {}).items():
            setattr(detector, key, value)
        return detector
