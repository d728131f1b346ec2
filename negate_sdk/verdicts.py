"""What detectors answer: labels, veto decisions, thresholds and verdicts (plain values, JSON-safe views).

Label convention: ``1`` = synthetic (the positive class), ``0`` = real. Scores are P(synthetic).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

SYNTHETIC = 1
REAL = 0


class Label(str, Enum):
    """The three-way verdict of a detector."""

    GENUINE = "GENUINE"
    UNCERTAIN = "UNCERTAIN"
    SYNTHETIC = "SYNTHETIC"


class VetoEffect(str, Enum):
    """What a veto may do to a verdict."""

    DOWNGRADE = "downgrade"  # may only move SYNTHETIC to UNCERTAIN (it predicts 0: "looks genuine")
    RAISE = "raise"  # may raise any verdict to SYNTHETIC on evidence (it predicts 1)


@dataclass(frozen=True)
class VetoDecision:
    """One veto's decision on one image: 1 synthetic, 0 genuine, -1 abstain, and why."""

    veto: str
    value: int
    reason: str = ""
    applied: bool = False  # set by the detector when the decision changed the verdict

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view."""
        return asdict(self)


@dataclass(frozen=True)
class Thresholds:
    """A detector's decision points on the calibrated score, chosen on validation data, never test.

    ``score < t_genuine`` is GENUINE, ``score >= t_synthetic`` SYNTHETIC, in between UNCERTAIN;
    ``t_decision`` is the single threshold used for binary predictions (accuracy).
    """

    t_genuine: float = 0.5
    t_synthetic: float = 0.5
    t_decision: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.t_genuine <= self.t_synthetic <= 1.0:
            raise ValueError(
                f"thresholds must satisfy 0 <= t_genuine <= t_synthetic <= 1, got "
                f"{self.t_genuine} and {self.t_synthetic}"
            )

    def label(self, score: float) -> Label:
        """The three-way label of one calibrated score."""
        if score >= self.t_synthetic:
            return Label.SYNTHETIC
        if score < self.t_genuine:
            return Label.GENUINE
        return Label.UNCERTAIN

    def to_dict(self) -> dict[str, float]:
        """JSON-safe view."""
        return asdict(self)


@dataclass
class Verdict:
    """A detector's answer on one image."""

    score: float  # calibrated P(synthetic)
    label: Label
    t_genuine: float
    t_synthetic: float
    sample_id: str | None = None
    vetoes: list[VetoDecision] = field(default_factory=list)
    top_features: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None
    # feature groups (extractors) that moved the score most: (group, contribution to the log-odds)
    groups: list[tuple[str, float]] = field(default_factory=list)
    novelty: str | None = None  # set when the image is unlike the training data (why, in one line)

    @property
    def reasons(self) -> list[str]:
        """Why this verdict, most decisive first: vetoes that changed it, an image unlike the training
        data, then where the score sits between the thresholds and which feature groups moved it."""
        if self.error:
            return [f"could not be judged: {self.error}"]
        reasons = [f"{d.veto}: {d.reason}" for d in self.vetoes if d.applied]
        if self.novelty:
            reasons.append(f"unlike the training data: {self.novelty}")
        if self.score >= self.t_synthetic:
            band = f"score {self.score:.3f} at or above t_synthetic {self.t_synthetic:.3f}"
        elif self.score < self.t_genuine:
            band = f"score {self.score:.3f} below t_genuine {self.t_genuine:.3f}"
        else:
            band = (
                f"score {self.score:.3f} between t_genuine {self.t_genuine:.3f} and "
                f"t_synthetic {self.t_synthetic:.3f}"
            )
        if self.groups:
            moved = ", ".join(f"{name} {value:+.2f}" for name, value in self.groups)
            band += f"; moved most by {moved} (log-odds)"
        return [*reasons, band]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view."""
        return {
            "sample_id": self.sample_id,
            "score": self.score,
            "verdict": self.label.value,
            "t_genuine": self.t_genuine,
            "t_synthetic": self.t_synthetic,
            "reasons": self.reasons,
            "vetoes": [d.to_dict() for d in self.vetoes],
            "top_features": [[name, value] for name, value in self.top_features],
            "groups": [[name, value] for name, value in self.groups],
            "novelty": self.novelty,
            "error": self.error,
        }
