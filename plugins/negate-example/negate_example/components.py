"""The example plugin's components: plain objects following negate's contracts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from negate_sdk.api import BaseExtractor, Sample
from negate_sdk.artifacts import artifact_path
from negate_sdk.detectors import BaseDetector


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


class ColourLogisticDetector(BaseDetector):
    """Colour moments, standardised, into a logistic regression.

    A third-party detector on the SDK's detector core: it says how to train its scorer and how to score;
    the core carves the validation split, calibrates, chooses the two thresholds, applies vetoes, saves
    and loads it (``weights.json`` beside the card, no pickle).
    """

    name = "example_colour_logistic"

    def __init__(
        self,
        C: float = 1.0,
        calibration: str = "sigmoid",
        target_fpr: float = 0.01,
        target_miss: float = 0.05,
        validation_fraction: float = 0.2,
        vetoes: Sequence = (),
        random_state: int = 0,
    ) -> None:
        self.C = C
        self.calibration = calibration
        self.target_fpr = target_fpr
        self.target_miss = target_miss
        self.validation_fraction = validation_fraction
        self.vetoes = vetoes
        self.random_state = random_state

    def _features(self, samples: Sequence[Sample]) -> np.ndarray:
        return ColourMoments().transform(samples).astype(np.float64)

    def _fit_scorer(self, samples, y, train, val, *, features=None, progress=None) -> dict:
        """Fit the scaler and the logistic regression on the training rows."""
        from sklearn.linear_model import LogisticRegression

        X = self._features([samples[i] for i in train])
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0) + 1e-12
        model = LogisticRegression(C=self.C).fit((X - self.mean_) / self.scale_, y[train])
        self.coef_ = model.coef_.ravel()
        self.intercept_ = float(model.intercept_[0])
        return {}

    def _raw_scores(self, samples: Sequence[Sample], *, features: np.ndarray | None = None) -> np.ndarray:
        """``(n_samples,)`` P(synthetic) of the logistic regression, before calibration."""
        z = ((self._features(samples) - self.mean_) / self.scale_) @ self.coef_ + self.intercept_
        return 1.0 / (1.0 + np.exp(-z))

    def _save_state(self, directory: Path) -> dict:
        """Write the weights as JSON next to the card; the card records the file's name."""
        weights = {
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_,
        }
        (directory / "weights.json").write_text(json.dumps(weights))
        return {"weights": "weights.json"}

    def _load_state(self, card: dict, directory: Path) -> None:
        """Read the weights back (the core has checked the file against the card's sha256)."""
        weights = json.loads(artifact_path(directory, card["weights"]).read_text())
        self.mean_ = np.asarray(weights["mean"], dtype=np.float64)
        self.scale_ = np.asarray(weights["scale"], dtype=np.float64)
        self.coef_ = np.asarray(weights["coef"], dtype=np.float64)
        self.intercept_ = float(weights["intercept"])
        if not self.mean_.shape == self.scale_.shape == self.coef_.shape == (6,):
            raise ValueError(f"{directory}: weights.json holds arrays of the wrong shape")
