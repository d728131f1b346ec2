"""The example plugin's components: plain objects following negate's contracts."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from negate_sdk.api import BaseExtractor, ParamsMixin, Sample, Thresholds, Verdict, labels_of
from negate_sdk.artifacts import read_card, write_card


class ColourMoments(BaseExtractor):
    """Mean and standard deviation of each RGB channel, scaled to [0, 1]."""

    name = "example_colour_moments"
    version = "1"

    def feature_names(self) -> list[str]:
        """``mean_r, mean_g, mean_b, std_r, std_g, std_b``."""
        return [f"{stat}_{c}" for stat in ("mean", "std") for c in "rgb"]

    def features(self, pixels: np.ndarray) -> np.ndarray:
        """``(6,)`` channel means then channel standard deviations of one image."""
        values = pixels.reshape(-1, 3).astype(np.float64) / 255.0
        return np.concatenate([values.mean(axis=0), values.std(axis=0)])


class ColourLogisticDetector(ParamsMixin):
    """Colour moments, standardised, into a logistic regression; thresholds at ``threshold``."""

    name = "example_colour_logistic"

    def __init__(self, C: float = 1.0, threshold: float = 0.5) -> None:
        self.C = C
        self.threshold = threshold

    def _features(self, samples: Sequence[Sample]) -> np.ndarray:
        return ColourMoments().transform(samples).astype(np.float64)

    def fit(self, samples: Sequence[Sample], y: np.ndarray | None = None) -> ColourLogisticDetector:
        """Fit the scaler and the logistic regression on labelled samples."""
        from sklearn.linear_model import LogisticRegression

        y = labels_of(samples) if y is None else np.asarray(y)
        X = self._features(samples)
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0) + 1e-12
        model = LogisticRegression(C=self.C).fit((X - self.mean_) / self.scale_, y)
        self.coef_ = model.coef_.ravel()
        self.intercept_ = float(model.intercept_[0])
        return self

    def predict_proba(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples, 2)`` probabilities of [real, synthetic]."""
        z = ((self._features(samples) - self.mean_) / self.scale_) @ self.coef_ + self.intercept_
        p = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1.0 - p, p])

    def predict(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples,)`` labels at ``threshold``."""
        return (self.predict_proba(samples)[:, 1] >= self.threshold).astype(np.int64)

    @property
    def thresholds(self) -> Thresholds:
        """One threshold for all three decision points (no UNCERTAIN band); the harness reads it."""
        return Thresholds(self.threshold, self.threshold, self.threshold)

    def verdicts(self, samples: Sequence[Sample]) -> list[Verdict]:
        """SYNTHETIC at or above ``threshold``, GENUINE below (no UNCERTAIN band)."""
        t = self.thresholds
        scores = self.predict_proba(samples)[:, 1]
        return [
            Verdict(float(s), t.label(s), t.t_genuine, t.t_synthetic, sample_id=sample.id)
            for sample, s in zip(samples, scores)
        ]

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the weights as JSON next to the card."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        weights = {
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_,
        }
        (directory / "weights.json").write_text(json.dumps(weights))
        write_card(directory, {"detector": self.name, "params": self.get_params()})
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> ColourLogisticDetector:
        """Read a detector written by :meth:`save`."""
        card = read_card(directory)
        detector = cls(**card["params"])
        weights = json.loads((Path(directory) / "weights.json").read_text())
        detector.mean_ = np.asarray(weights["mean"])
        detector.scale_ = np.asarray(weights["scale"])
        detector.coef_ = np.asarray(weights["coef"])
        detector.intercept_ = float(weights["intercept"])
        return detector
