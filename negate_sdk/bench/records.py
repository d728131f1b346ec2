"""Shaping a run's results: one prediction record per image, one entry per detector and fold, the CLIP-bias
comparisons, and the results document that holds them (schema in ``docs/results.md``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from negate_sdk.bench.clip_bias import clip_bias
from negate_sdk.bench.metrics import MIN_GROUP_N
from negate_sdk.bench.results import SCHEMA_VERSION, columns_from_records, group_metrics
from negate_sdk.params import json_params
from negate_sdk.sample import Sample
from negate_sdk.verdicts import Label, Verdict

MAX_LISTED_FAILURES = 200


def small_groups(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{"group": "per_generator/sd-1.4", "n": 12}, …]``: groups under :data:`MIN_GROUP_N` images."""
    out = []
    for section, groups in metrics.items():
        blocks = {"": groups} if section == "overall" else groups
        for name, block in blocks.items():
            counts = (
                [m.get("n") for m in block.values() if isinstance(m, dict)] if isinstance(block, dict) else []
            )
            n = max((c for c in counts if isinstance(c, int)), default=None)
            if n is not None and n < MIN_GROUP_N:
                out.append({"group": f"{section}/{name}".rstrip("/"), "n": n})
    return out


def prediction_record(
    sample: Sample, verdict: Verdict, detector: str, fold: str, condition: str, pred: int, seen: bool = False
) -> dict[str, Any]:
    """One row of ``predictions.parquet``: the image's labels and groups, score, prediction and verdict;
    ``seen``: the image's bytes were among the training images (flagged, left out of the metrics)."""
    attrs = sample.attrs
    real_source = attrs.get("real_source") or sample.source or "unknown"
    return {
        "sample_id": sample.id,
        "detector": detector,
        "fold": fold,
        "condition": condition,
        "label": int(sample.label),
        "generator": sample.generator or "unknown",
        "source": sample.source or "unknown",
        "real_source": str(real_source) if sample.label == 0 else "",
        "uses_clip": str(attrs.get("uses_clip", "unknown")),
        "score": float(verdict.score),
        "pred": pred,
        "verdict": verdict.label.value if isinstance(verdict.label, Label) else str(verdict.label),
        "seen_in_training": bool(seen),
        "novel": bool(verdict.novelty),  # UNCERTAIN because the image is unlike the training data
    }


def run_entry(
    name: str,
    detector: Any,
    *,
    fold: Any,
    dataset_id: str,
    uses_clip: bool,
    records: list[dict[str, Any]],
    train_failures: dict[str, str],
    test_failures: dict[str, str],
    from_cache: bool,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    """The results entry of one detector on one fold: what it is, how it was fitted, its metrics."""
    metrics = group_metrics(columns_from_records(records), n_boot=n_boot, seed=seed) if records else {}
    description = detector.describe()
    # scored on a dataset it was trained on, without this run having trained it: the numbers are optimistic
    trained_on = set(description.get("trained_on", []))
    contaminated = dataset_id in trained_on and fold.train is None
    # generators the detector's own training data held (a pretrained network trained on ProGAN, say)
    seen_generators = sorted({r["generator"] for r in records if r["label"] == 1} & trained_on)
    return {
        "detector": name,
        "fold": fold.name,
        "uses_clip": uses_clip,
        "params": json_params(detector.get_params(deep=True), strict=False),
        **description,
        "contaminated": contaminated,
        "seen_generators": seen_generators,
        "fit_from_cache": from_cache,
        # test images whose bytes were trained on: scored and flagged in the predictions, not in metrics
        "n_seen_in_training": sum(1 for r in records if r["seen_in_training"] and r["condition"] == "clean"),
        "metrics": metrics,
        "small_groups": small_groups(metrics),  # intervals too wide to mean much
        "n_failures": {"train": len(train_failures), "test": len(test_failures)},
        "failures": [
            {"sample_id": k, "reason": v} for k, v in sorted({**train_failures, **test_failures}.items())
        ][:MAX_LISTED_FAILURES],
    }


def clip_bias_entries(
    uses_clip: dict[str, bool], records: list[dict[str, Any]], folds: Sequence[Any], *, n_boot: int, seed: int
) -> list[dict[str, Any]]:
    """CLIP-bias deltas of every (CLIP detector, other detector) pair scored on the same clean images."""
    clip = [name for name, flag in uses_clip.items() if flag]
    other = [name for name, flag in uses_clip.items() if not flag]
    out = []
    for fold in folds:
        for a in clip:
            for b in other:
                cols_a = columns_from_records(_aligned(records, a, fold.name))
                cols_b = columns_from_records(_aligned(records, b, fold.name))
                if len(cols_a["label"]) == 0 or not np.array_equal(cols_a["sample_id"], cols_b["sample_id"]):
                    continue
                result = clip_bias(cols_a, cols_b, n_boot=n_boot, seed=seed)
                out.append({"clip_detector": a, "other_detector": b, "fold": fold.name, **result})
    return out


def _aligned(records: list[dict[str, Any]], detector: str, fold: str) -> list[dict[str, Any]]:
    mine = [
        r for r in records if r["detector"] == detector and r["fold"] == fold and r["condition"] == "clean"
    ]
    return sorted(mine, key=lambda r: r["sample_id"])


def results_document(
    manifest: Any,
    *,
    protocol: str,
    folds: Sequence[Any],
    conditions: list[str],
    runs: list[dict[str, Any]],
    clip: list[dict[str, Any]],
    provenance: dict[str, Any],
    failed: list[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The ``results.json`` document of one dataset; ``failed`` lists the detectors that could not finish
    a fold (``{"detector", "fold", "stage", "reason"}``)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dataset": {"id": manifest.id, **manifest.provenance()},
        "protocol": {
            "name": protocol,
            "folds": [
                {
                    "name": f.name,
                    "n_train": 0 if f.train is None else len(f.train),
                    "n_test": len(f.test),
                    **f.info,
                }
                for f in folds
            ],
            "conditions": conditions,
        },
        "runs": runs,
        "failed": list(failed),
        "clip_bias": clip,
        "provenance": provenance,
    }
