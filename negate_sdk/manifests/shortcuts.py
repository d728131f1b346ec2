"""The format shortcut: how well a nuisance attribute alone (format, size, JPEG quality ...) tells real from
synthetic.

For each attribute the values are turned into categories (sizes and aspect ratios are binned when there are
many), and each image is scored by the share of synthetic images in its category, estimated on the other
four of five folds (a row's fold comes from a hash of its id; Laplace-smoothed towards the fold prior). The
ROC-AUC of that out-of-fold score (taken within folds) is what an honest classifier using only the attribute
would reach: about 0.5 when the attribute carries no label information, 1.0 when it separates the classes
(JPEG reals, PNG fakes). It is computed per source, and pooled when there are several sources.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from negate_sdk.manifests.sampling import row_key

NUISANCE_ATTRIBUTES = ("format", "size", "aspect", "mode", "jpeg_quality", "exif")
INFORMATIONAL_ATTRIBUTES = ("bytes_per_pixel",)  # depends on content as much as on the pipeline
N_FOLDS = 5
MAX_CATEGORIES = 64
MIN_PER_CLASS = 5
DEFAULT_THRESHOLD = 0.8
POOLED = "(all sources)"


@dataclass(frozen=True)
class ShortcutFinding:
    """The out-of-fold AUC of one attribute as a classifier of the label, in one source."""

    source: str
    attribute: str
    auc: float
    n_real: int
    n_synthetic: int
    real_top: str
    synthetic_top: str
    flagged: bool
    informational: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view."""
        return asdict(self)


def rank_auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """ROC-AUC of ``(n_samples,)`` scores against 0/1 labels (Mann-Whitney U, ties count one half).

    NaN when only one class is present.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    midranks = ends - (counts - 1) / 2.0  # average 1-based rank of each tied group
    rank_sum = midranks[inverse][labels].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def fold_of(sample_ids: Sequence[str], n_folds: int = N_FOLDS) -> np.ndarray:
    """``(n_samples,)`` fold index of each row, from a hash of its id (independent of row order)."""
    return np.array([row_key(-1, s) % n_folds for s in sample_ids], dtype=np.int64)


def out_of_fold_auc(
    categories: Sequence[str], labels: Sequence[int], folds: np.ndarray, alpha: float = 1.0
) -> float:
    """AUC of scoring each row by its category's synthetic share, learnt on the other folds.

    The AUC is taken within each fold (all its rows scored by the same estimates) and the folds are pooled
    by their number of (real, synthetic) pairs: comparing rows across folds would mix in the folds'
    different estimates, which are anti-correlated with their own labels.
    """
    labels = np.asarray(labels, dtype=np.float64)
    values, codes = np.unique(np.asarray(categories, dtype=object).astype(str), return_inverse=True)
    if len(values) < 2:
        return 0.5
    total, weight = 0.0, 0.0
    for fold in np.unique(folds):
        test = folds == fold
        train = ~test
        pairs = labels[test].sum() * (1 - labels[test]).sum()
        if pairs == 0 or not train.any():
            continue
        prior = labels[train].mean()
        n = np.bincount(codes[train], minlength=len(values))
        synthetic = np.bincount(codes[train], weights=labels[train], minlength=len(values))
        scores = ((synthetic + alpha * prior) / (n + alpha))[codes[test]]
        total += pairs * rank_auc(scores, labels[test])
        weight += pairs
    return total / weight if weight else 0.5


def _binned(values: list[float], step: float, unit: str) -> list[str]:
    return [f"~{math.floor(v / step + 0.5) * step:g}{unit}" for v in values]


def attribute_values(name: str, observations: Sequence[dict[str, Any]]) -> list[str]:
    """The category of each observation (a decoded file's metadata) for attribute ``name``."""
    if name == "format":
        return [str(o["format"]) for o in observations]
    if name == "mode":
        return [str(o["mode"]) for o in observations]
    if name == "exif":
        return ["EXIF" if o["exif"] else "no EXIF" for o in observations]
    if name == "jpeg_quality":
        return [
            f"q{o['jpeg_quality']}" if o["jpeg_quality"] is not None else "not JPEG" for o in observations
        ]
    if name == "size":
        exact = [f"{o['width']}x{o['height']}" for o in observations]
        if len(set(exact)) <= MAX_CATEGORIES:
            return exact
        return _binned([math.log2(o["width"] * o["height"]) for o in observations], 0.5, " log2 px")
    if name == "aspect":
        exact = [f"{o['width'] / o['height']:.2f}" for o in observations]
        if len(set(exact)) <= MAX_CATEGORIES:
            return exact
        return _binned([math.log2(o["width"] / o["height"]) for o in observations], 0.25, " log2 w/h")
    if name == "bytes_per_pixel":
        ratios = np.array([o["n_bytes"] / (o["width"] * o["height"]) for o in observations])
        edges = np.unique(np.quantile(ratios, np.linspace(0, 1, 11)[1:-1])) if ratios.size else []
        return [f"decile {int(i) + 1}" for i in np.searchsorted(edges, ratios, side="right")]
    raise ValueError(f"unknown attribute {name!r}")


def _top(values: list[str], k: int = 3) -> str:
    if not values:
        return ""
    counts = Counter(values).most_common()
    shown = [f"{v} {100 * n / len(values):.0f}%" for v, n in counts[:k]]
    if len(counts) > k:
        shown.append(f"+{len(counts) - k} more")
    return ", ".join(shown)


def find_shortcuts(
    observations: Sequence[dict[str, Any]],
    labels: Sequence[int],
    sources: Sequence[str],
    sample_ids: Sequence[str],
    threshold: float = DEFAULT_THRESHOLD,
) -> list[ShortcutFinding]:
    """One finding per (source, attribute) for sources with at least ``MIN_PER_CLASS`` images of each
    class, plus the pooled sources when there are several; ``flagged`` when a nuisance attribute's AUC
    reaches ``threshold``."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, source in enumerate(sources):
        groups[source].append(i)
    usable = {}
    for source, members in sorted(groups.items()):
        n_synthetic = sum(labels[i] for i in members)
        if min(n_synthetic, len(members) - n_synthetic) >= MIN_PER_CLASS:
            usable[source] = members
    if len(usable) > 1:
        usable[POOLED] = sorted(i for members in usable.values() for i in members)
    folds = fold_of(sample_ids)
    findings = []
    for source, members in usable.items():
        group_obs = [observations[i] for i in members]
        group_labels = np.array([labels[i] for i in members])
        for attribute in NUISANCE_ATTRIBUTES + INFORMATIONAL_ATTRIBUTES:
            values = attribute_values(attribute, group_obs)
            auc = float(out_of_fold_auc(values, group_labels, folds[members]))
            informational = attribute in INFORMATIONAL_ATTRIBUTES
            findings.append(
                ShortcutFinding(
                    source=source,
                    attribute=attribute,
                    auc=round(auc, 4),
                    n_real=int((group_labels == 0).sum()),
                    n_synthetic=int((group_labels == 1).sum()),
                    real_top=_top([v for v, y in zip(values, group_labels) if y == 0]),
                    synthetic_top=_top([v for v, y in zip(values, group_labels) if y == 1]),
                    flagged=bool(not informational and auc >= threshold),
                    informational=informational,
                )
            )
    return findings
