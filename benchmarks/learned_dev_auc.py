"""Per-source ROC-AUC of EfficientNet-Lite0 embeddings + logistic regression on the dev image sets.

For each source of ``manifest.csv``: a seeded stratified half of its images trains a standardised
logistic regression on the 1280-d embedding, the other half tests it. Sources are never pooled (image
size alone would separate them). Prints one line per source with a bootstrap 95% interval, and writes
the numbers as JSON with ``--out``.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/learned_dev_auc.py --data ../shared/datasets
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from rich.progress import track
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from negate_sdk import Sample, create_extractor

CHUNK = 512  # images per transform call: progress shows, workers stay busy


def stratified_halves(rows: list[dict[str, str]], seed: int) -> tuple[list[int], list[int]]:
    """Indices of a seeded half of each label (train) and the rest (test)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in ("real", "synthetic"):
        members = np.array([i for i, row in enumerate(rows) if row["label"] == label])
        rng.shuffle(members)
        half = len(members) // 2
        train += members[:half].tolist()
        test += members[half:].tolist()
    return sorted(train), sorted(test)


def bootstrap_auc(y: np.ndarray, scores: np.ndarray, seed: int, n: int = 1000) -> tuple[float, float]:
    """95% percentile interval of the ROC-AUC over ``n`` resamples of the test set."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n):
        pick = rng.integers(0, len(y), len(y))
        if len(np.unique(y[pick])) == 2:
            values.append(roc_auc_score(y[pick], scores[pick]))
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def main() -> None:
    """Embed every dev image once, then fit and score one probe per source."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--extractor", default="timm_efficientnet_lite0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    with open(args.data / "manifest.csv", newline="") as handle:
        by_source: dict[str, list[dict[str, str]]] = defaultdict(list)
        for row in csv.DictReader(handle):
            by_source[row["source"]].append(row)
    extractor = create_extractor(args.extractor, device="cpu", num_workers=args.num_workers, batch_size=32)
    results = {}
    for source, rows in sorted(by_source.items()):
        start = time.perf_counter()
        samples = [Sample.from_path(args.data / row["path"], sha256=row["sha256"]) for row in rows]
        chunks = [samples[i : i + CHUNK] for i in range(0, len(samples), CHUNK)]
        X = np.vstack([extractor.transform(chunk) for chunk in track(chunks, description=f"{source:18s}")])
        seconds = time.perf_counter() - start
        y = np.array([row["label"] == "synthetic" for row in rows], dtype=int)
        train, test = stratified_halves(rows, args.seed)
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))
        probe.fit(X[train], y[train])
        scores = probe.predict_proba(X[test])[:, 1]
        auc = roc_auc_score(y[test], scores)
        low, high = bootstrap_auc(y[test], scores, args.seed)
        results[source] = {
            "auc": round(auc, 4),
            "ci95": [round(low, 4), round(high, 4)],
            "n_train": len(train),
            "n_test": len(test),
            "images_per_second": round(len(rows) / seconds, 1),
        }
        print(
            f"{source:18s} AUC {auc:.3f} [{low:.3f}, {high:.3f}]  train {len(train)} test {len(test)}  "
            f"({len(rows) / seconds:.1f} images/s)",
            flush=True,
        )
    if args.out:
        record = {
            "extractor": extractor.cache_key,
            "seed": args.seed,
            "protocol": "stratified halves per source",
        }
        args.out.write_text(json.dumps({**record, "sources": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
