"""Detection metrics with seeded bootstrap 95% intervals, computed with weights.

Every metric is written once, for sample weights ``w``: the plain value uses ``w = 1``; a bootstrap
replicate uses the multinomial counts of a resample. Ties in scores are grouped so ROC-based metrics
match scikit-learn's. Label 1 = synthetic; ``score`` is the calibrated P(synthetic); ``pred`` the binary
decision at the detector's stored threshold; ``uncertain`` whether the three-way verdict was UNCERTAIN.

Never computed here: a threshold tuned on the test labels ("oracle accuracy").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

N_BINS_ECE = 15
# Below this many images a metric's interval is too wide to compare detectors by (a 95% interval on a rate
# measured on 30 images spans about ±0.18 at 50%): such metrics carry ``small_n`` and are marked in tables.
MIN_GROUP_N = 30
Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile
METRICS = (
    "auc",
    "ap",
    "accuracy",
    "balanced_accuracy",
    "tpr",
    "fpr",
    "tpr_at_fpr_1",
    "tpr_at_fpr_5",
    "eer",
    "brier",
    "ece",
    "uncertain_rate",
    # verdict shares per class: what a user sees (GENUINE / UNCERTAIN / SYNTHETIC after vetoes)
    "synthetic_share_real",
    "uncertain_share_real",
    "synthetic_share_fake",
    "uncertain_share_fake",
    # of those, UNCERTAIN because the image is unlike the training data (out-of-distribution abstention)
    "novel_share_real",
    "novel_share_fake",
)


@dataclass(frozen=True)
class Prepared:
    """Inputs sorted by descending score with tie groups, shared by every metric of one evaluation."""

    y: np.ndarray  # (n,) 0/1, in sorted order
    score: np.ndarray  # (n,)
    pred: np.ndarray  # (n,) 0/1
    uncertain: np.ndarray  # (n,) bool
    synthetic: np.ndarray  # (n,) bool: the three-way verdict was SYNTHETIC
    novel: np.ndarray  # (n,) bool: the verdict says the image is unlike the training data
    group_starts: np.ndarray  # (n_groups,) start index of each run of tied scores
    bins: np.ndarray  # (n,) ECE bin of each score


def prepare(
    y: np.ndarray,
    score: np.ndarray,
    pred: np.ndarray,
    uncertain: np.ndarray | None = None,
    synthetic: np.ndarray | None = None,
    novel: np.ndarray | None = None,
) -> Prepared:
    """Sort once by descending score and find tie groups and calibration bins."""
    y = np.asarray(y, dtype=np.int64)
    score = np.asarray(score, dtype=np.float64)
    order = np.argsort(-score, kind="mergesort")
    score_sorted = score[order]
    starts = np.flatnonzero(np.r_[True, score_sorted[1:] != score_sorted[:-1]])
    uncertain = np.zeros(len(y), bool) if uncertain is None else np.asarray(uncertain, bool)
    # without verdicts, a SYNTHETIC verdict is a positive binary decision
    synthetic = np.asarray(pred, bool) if synthetic is None else np.asarray(synthetic, bool)
    novel = np.zeros(len(y), bool) if novel is None else np.asarray(novel, bool)
    bins = np.minimum((score_sorted * N_BINS_ECE).astype(np.int64), N_BINS_ECE - 1)
    return Prepared(y[order], score_sorted, np.asarray(pred)[order], uncertain[order], synthetic[order],
                    novel[order], starts, bins)  # fmt: skip


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def _roc(p: Prepared, W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-replicate cumulative positives / negatives at each tie-group threshold, and class totals.

    ``W`` is ``(n_rep, n)``; returns ``tp, fp`` of shape ``(n_rep, n_groups)`` and ``P, N`` ``(n_rep, 1)``.
    """
    pos = np.add.reduceat(W * p.y, p.group_starts, axis=1)
    neg = np.add.reduceat(W * (1 - p.y), p.group_starts, axis=1)
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    return tp, fp, tp[:, -1:], fp[:, -1:]


def _auc(p: Prepared, W: np.ndarray) -> np.ndarray:
    tp, fp, P, N = _roc(p, W)
    tpr, fpr = _safe_div(tp, P), _safe_div(fp, N)
    tpr = np.concatenate([np.zeros((len(W), 1)), tpr], axis=1)
    fpr = np.concatenate([np.zeros((len(W), 1)), fpr], axis=1)
    return np.sum(np.diff(fpr, axis=1) * (tpr[:, 1:] + tpr[:, :-1]) / 2, axis=1)


def _ap(p: Prepared, W: np.ndarray) -> np.ndarray:
    tp, fp, P, _ = _roc(p, W)
    precision = _safe_div(tp, tp + fp)
    recall = _safe_div(tp, P)
    recall = np.concatenate([np.zeros((len(W), 1)), recall], axis=1)
    return np.nansum(np.diff(recall, axis=1) * precision, axis=1) + np.where(P[:, 0] > 0, 0.0, np.nan)


def _tpr_at_fpr(target: float) -> Callable[[Prepared, np.ndarray], np.ndarray]:
    def metric(p: Prepared, W: np.ndarray) -> np.ndarray:
        tp, fp, P, N = _roc(p, W)
        tpr, fpr = _safe_div(tp, P), _safe_div(fp, N)
        ok = fpr <= target + 1e-12
        return np.where(ok, tpr, 0.0).max(axis=1) + np.where((P[:, 0] > 0) & (N[:, 0] > 0), 0.0, np.nan)

    return metric


def _eer(p: Prepared, W: np.ndarray) -> np.ndarray:
    tp, fp, P, N = _roc(p, W)
    fpr = np.concatenate([np.zeros((len(W), 1)), _safe_div(fp, N)], axis=1)
    fnr = 1.0 - np.concatenate([np.zeros((len(W), 1)), _safe_div(tp, P)], axis=1)
    diff = fnr - fpr  # decreasing along thresholds; the EER is where it crosses zero
    k = np.clip(np.argmax(diff <= 0, axis=1), 1, diff.shape[1] - 1)
    rows = np.arange(len(W))
    d0, d1 = diff[rows, k - 1], diff[rows, k]
    t = np.where(d0 != d1, d0 / np.where(d0 != d1, d0 - d1, 1), 0.0)
    eer = fpr[rows, k - 1] + t * (fpr[rows, k] - fpr[rows, k - 1])
    return np.where((P[:, 0] > 0) & (N[:, 0] > 0), eer, np.nan)


def _weighted_mean(values_fn: Callable[[Prepared], np.ndarray], mask_fn=None):
    def metric(p: Prepared, W: np.ndarray) -> np.ndarray:
        values = values_fn(p)
        weights = W if mask_fn is None else W * mask_fn(p)
        return _safe_div(weights @ values, weights.sum(axis=1))

    return metric


def _balanced_accuracy(p: Prepared, W: np.ndarray) -> np.ndarray:
    tpr = _weighted_mean(lambda q: (q.pred == 1).astype(float), lambda q: q.y == 1)(p, W)
    tnr = _weighted_mean(lambda q: (q.pred == 0).astype(float), lambda q: q.y == 0)(p, W)
    return (tpr + tnr) / 2


def _ece(p: Prepared, W: np.ndarray) -> np.ndarray:
    onehot = np.zeros((len(p.y), N_BINS_ECE))
    onehot[np.arange(len(p.y)), p.bins] = 1.0
    count = W @ onehot
    confidence = (W * p.score) @ onehot
    positives = (W * p.y) @ onehot
    total = count.sum(axis=1)
    return _safe_div(np.abs(confidence - positives).sum(axis=1), total)


METRIC_FUNCTIONS: dict[str, Callable[[Prepared, np.ndarray], np.ndarray]] = {
    "auc": _auc,
    "ap": _ap,
    "accuracy": _weighted_mean(lambda p: (p.pred == p.y).astype(float)),
    "balanced_accuracy": _balanced_accuracy,
    "tpr": _weighted_mean(lambda p: (p.pred == 1).astype(float), lambda p: p.y == 1),
    "fpr": _weighted_mean(lambda p: (p.pred == 1).astype(float), lambda p: p.y == 0),
    "tpr_at_fpr_1": _tpr_at_fpr(0.01),
    "tpr_at_fpr_5": _tpr_at_fpr(0.05),
    "eer": _eer,
    "brier": _weighted_mean(lambda p: (p.score - p.y) ** 2),
    "ece": _ece,
    "uncertain_rate": _weighted_mean(lambda p: p.uncertain.astype(float)),
    "synthetic_share_real": _weighted_mean(lambda p: p.synthetic.astype(float), lambda p: p.y == 0),
    "uncertain_share_real": _weighted_mean(lambda p: p.uncertain.astype(float), lambda p: p.y == 0),
    "synthetic_share_fake": _weighted_mean(lambda p: p.synthetic.astype(float), lambda p: p.y == 1),
    "uncertain_share_fake": _weighted_mean(lambda p: p.uncertain.astype(float), lambda p: p.y == 1),
    "novel_share_real": _weighted_mean(lambda p: p.novel.astype(float), lambda p: p.y == 0),
    "novel_share_fake": _weighted_mean(lambda p: p.novel.astype(float), lambda p: p.y == 1),
}
NEEDS_BOTH_CLASSES = {"auc", "ap", "balanced_accuracy", "tpr_at_fpr_1", "tpr_at_fpr_5", "eer"}
# Shares of ``n`` images (successes out of trials): when every image or none counts, every bootstrap
# resample gives the same share and the interval collapses to a point; these get Wilson intervals then.
RATES = {"accuracy", "tpr", "fpr", "uncertain_rate", "synthetic_share_real", "uncertain_share_real",
         "synthetic_share_fake", "uncertain_share_fake", "novel_share_real", "novel_share_fake"}  # fmt: skip


def wilson_interval(successes: int, n: int, z: float = Z_95) -> list[float | None]:
    """The Wilson score interval ``[lo, hi]`` of a proportion (95% by default); ``[None, None]`` for n = 0.

    Unlike the bootstrap it does not collapse when every trial or none succeeds: 0 of 10 gives
    ``[0, 0.278]``, 4 of 4 ``[0.510, 1]``.
    """
    if n <= 0:
        return [None, None]
    share, z2 = successes / n, z * z
    centre = (share + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * np.sqrt(share * (1 - share) / n + z2 / (4 * n * n))
    lo = 0.0 if successes == 0 else max(0.0, float(centre - half))
    hi = 1.0 if successes == n else min(1.0, float(centre + half))
    return [lo, hi]


def _finite(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def compute_metrics(
    y: np.ndarray,
    score: np.ndarray,
    pred: np.ndarray,
    uncertain: np.ndarray | None = None,
    synthetic: np.ndarray | None = None,
    novel: np.ndarray | None = None,
    *,
    metrics: tuple[str, ...] = METRICS,
    n_boot: int = 1000,
    seed: int = 0,
    block: int | None = None,
) -> dict[str, dict[str, Any]]:
    """``{metric: {"value", "ci": [lo, hi], "n", "small_n"}}`` for one evaluation set (any ``n``).

    Intervals are percentile bootstrap intervals over ``n_boot`` resamples drawn with a generator seeded
    by ``seed`` (the same seed gives the same intervals); a rate (:data:`RATES`) at 0 or 1, or whose
    resamples mostly lack its class, gets the Wilson interval instead (the bootstrap would collapse to a
    point). A metric that is undefined for the set (AUC with one class) is ``None``. ``n`` counts the
    images the metric is about (reals for ``fpr``, synthetics for ``tpr``); ``small_n`` is true when it is
    under :data:`MIN_GROUP_N`.
    """
    y = np.asarray(y, dtype=np.int64)
    n = len(y)
    n_real, n_fake = int(np.sum(y == 0)), int(np.sum(y == 1))
    counts = {"tpr": n_fake, "fpr": n_real, "synthetic_share_real": n_real, "uncertain_share_real": n_real,
              "synthetic_share_fake": n_fake, "uncertain_share_fake": n_fake, "novel_share_real": n_real,
              "novel_share_fake": n_fake}  # fmt: skip
    out: dict[str, dict[str, Any]] = {}
    if n == 0:
        return {m: {"value": None, "ci": [None, None], "n": 0, "small_n": True} for m in metrics}
    p = prepare(y, score, pred, uncertain, synthetic, novel)
    block = block or max(1, min(200, 4_000_000 // n))  # bound each (block, n) weight matrix to ~32 MB
    ones = np.ones((1, n))
    values = {m: METRIC_FUNCTIONS[m](p, ones)[0] for m in metrics}
    replicates = {m: [] for m in metrics}
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, block):
        size = min(block, n_boot - start)
        W = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float64)
        for m in metrics:
            replicates[m].append(METRIC_FUNCTIONS[m](p, W))
    for m in metrics:
        reps = np.concatenate(replicates[m]) if replicates[m] else np.array([])
        reps = reps[np.isfinite(reps)]
        value = _finite(values[m])
        trials = counts.get(m, n)
        if value is None:
            ci = [None, None]
        elif m in RATES and (value in (0.0, 1.0) or len(reps) < max(10, n_boot // 2)):
            ci = wilson_interval(round(value * trials), trials)
        elif len(reps) < max(10, n_boot // 2):
            ci = [None, None]
        else:
            ci = [float(np.percentile(reps, 2.5)), float(np.percentile(reps, 97.5))]
        out[m] = {"value": value, "ci": ci, "n": trials, "small_n": trials < MIN_GROUP_N}
    return out


def paired_bootstrap_delta(
    y: np.ndarray,
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    groups: np.ndarray,
    group_sign: dict[Any, float],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """A signed combination of per-group accuracy differences (A − B), with a paired bootstrap interval.

    ``correct_a`` / ``correct_b``: ``(n,)`` 0/1 per image for two detectors on the same images;
    ``groups``: ``(n,)`` group key per image; ``group_sign``: weight of each group's mean difference
    (e.g. ``+1/k`` for the k CLIP generators, ``-1/m`` for the m non-CLIP ones). Images are resampled
    jointly for both detectors (a paired bootstrap).
    """
    diff = np.asarray(correct_a, float) - np.asarray(correct_b, float)
    keys = [g for g in group_sign if np.any(groups == g)]
    masks = np.stack([groups == g for g in keys]).astype(float)  # (k, n)
    signs = np.array([group_sign[g] for g in keys])

    def combine(W: np.ndarray) -> np.ndarray:
        means = _safe_div((W * diff) @ masks.T, W @ masks.T)  # (n_rep, k)
        return means @ signs

    n = len(diff)
    value = float(combine(np.ones((1, n)))[0])
    rng = np.random.default_rng(seed)
    reps = []
    block = max(1, min(200, 4_000_000 // max(n, 1)))
    for start in range(0, n_boot, block):
        W = rng.multinomial(n, np.full(n, 1.0 / n), size=min(block, n_boot - start)).astype(float)
        reps.append(combine(W))
    reps = np.concatenate(reps)
    reps = reps[np.isfinite(reps)]
    ci = [float(np.percentile(reps, 2.5)), float(np.percentile(reps, 97.5))] if len(reps) else [None, None]
    return {"value": _finite(value), "ci": ci, "n": n}
