"""Per-source ROC-AUC of ``handcrafted`` features + LightGBM on the dev image sets (reproducible).

For each source in ``manifest.csv``: train a seeded LightGBM on one half, score the other half, report
ROC-AUC with a bootstrap 95% interval. CIFAKE keeps the manifest's own train/test split; the other sources
are split into seeded stratified halves. Features are extracted once, in a process pool, from the pixels
only (never from paths). ``--per-family`` adds one model per feature family (same splits) to show where
the signal is.

    .venv/bin/python benchmarks/handcrafted_dev_auc.py --data ../shared/datasets [--per-family]
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sklearn.metrics import roc_auc_score

from negate_handcrafted.parallel import transform_parallel
from negate_handcrafted.union import FAMILY_NAMES, HandcraftedUnion
from negate_sdk import ImageError, Sample


def read_manifest(root: Path) -> list[dict[str, str]]:
    """Rows of ``manifest.csv``."""
    with open(root / "manifest.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def split_rows(rows: list[dict[str, str]], seed: int) -> tuple[list[int], list[int], str]:
    """Indices of train and test rows: the manifest's split when it has one, else seeded stratified halves."""
    splits = {row["split"] for row in rows}
    if {"train", "test"} <= splits:
        train = [i for i, row in enumerate(rows) if row["split"] == "train"]
        test = [i for i, row in enumerate(rows) if row["split"] == "test"]
        return train, test, "manifest train/test"
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in ("real", "synthetic"):
        members = [i for i, row in enumerate(rows) if row["label"] == label]
        order = rng.permutation(len(members))
        half = len(members) // 2
        train += [members[j] for j in order[:half]]
        test += [members[j] for j in order[half:]]
    return sorted(train), sorted(test), f"stratified halves (seed {seed})"


def readable_samples(
    root: Path, rows: list[dict[str, str]], console: Console
) -> tuple[list[Sample], list[int]]:
    """Path-backed samples of the rows whose image decodes, and their row indices (others are reported)."""
    samples, kept = [], []
    for i, row in enumerate(rows):
        sample = Sample.from_path(root / row["path"], id=row["path"], label=int(row["label"] == "synthetic"))
        try:
            sample.decode()
        except ImageError as err:
            console.print(f"[yellow]skipped {row['path']}: {err}")
            continue
        sample.release()
        samples.append(sample)
        kept.append(i)
    return samples, kept


def bootstrap_auc(y: np.ndarray, score: np.ndarray, seed: int, rounds: int = 1000) -> tuple[float, float]:
    """95% percentile bootstrap interval of the ROC-AUC (resampling test images)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        index = rng.integers(0, len(y), len(y))
        if len(np.unique(y[index])) == 2:
            values.append(roc_auc_score(y[index], score[index]))
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def fit_score(X_train, y_train, X_test, seed: int) -> np.ndarray:
    """P(synthetic) of the test rows from a seeded LightGBM trained on the train rows."""
    from lightgbm import LGBMClassifier

    model = LGBMClassifier(
        n_estimators=400,
        learning_rate=0.05,
        num_leaves=31,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.5,
        random_state=seed,
        n_jobs=1,
        verbose=-1,
    )
    return model.fit(X_train, y_train).predict_proba(X_test)[:, 1]


def main() -> None:
    """Extract, train and print the per-source table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument("--per-family", action="store_true", help="also one model per feature family")
    args = parser.parse_args()
    console = Console(width=110)
    rows = read_manifest(args.data)
    samples, kept = readable_samples(args.data, rows, console)
    rows = [rows[i] for i in kept]
    extractor = HandcraftedUnion()
    start = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("handcrafted features", total=len(samples))
        X = transform_parallel(
            extractor, samples, n_jobs=args.n_jobs, progress=lambda stage, n, total: progress.advance(task, n)
        )
    elapsed = time.perf_counter() - start
    console.print(f"extracted {X.shape[1]} features from {len(samples)} images in {elapsed:.0f} s")
    y = np.array([int(row["label"] == "synthetic") for row in rows])
    names = np.asarray(extractor.get_feature_names_out())
    by_source = defaultdict(list)
    for i, row in enumerate(rows):
        by_source[row["source"]].append(i)

    table = Table(title="handcrafted + LightGBM, per source (test half)")
    for column in ("source", "split", "n train", "n test", "AUC", "95% CI"):
        table.add_column(column)
    family_table = Table(title="AUC per feature family (same splits)")
    family_table.add_column("family")
    for source in sorted(by_source):
        family_table.add_column(source)
    family_scores: dict[str, list[str]] = defaultdict(list)
    for source in sorted(by_source):
        index = np.asarray(by_source[source])
        train, test, how = split_rows([rows[i] for i in index], args.seed)
        train, test = index[train], index[test]
        score = fit_score(X[train], y[train], X[test], args.seed)
        auc = roc_auc_score(y[test], score)
        low, high = bootstrap_auc(y[test], score, args.seed)
        table.add_row(source, how, str(len(train)), str(len(test)), f"{auc:.3f}", f"[{low:.3f}, {high:.3f}]")
        if args.per_family:
            for family in FAMILY_NAMES:
                columns = np.flatnonzero(np.char.startswith(names.astype(str), f"{family}__"))
                family_score = fit_score(X[train][:, columns], y[train], X[test][:, columns], args.seed)
                family_scores[family].append(f"{roc_auc_score(y[test], family_score):.3f}")
    console.print(table)
    if args.per_family:
        for family in FAMILY_NAMES:
            family_table.add_row(family, *family_scores[family])
        console.print(family_table)


if __name__ == "__main__":
    main()
