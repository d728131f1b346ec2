"""Run the registered detectors end to end on the dev image sets, per source (until `negate-bench run`).

For each source in the manifest: train on its train split (or a seeded half when it has none), test on the
rest, and print ROC-AUC and accuracy per detector. Unreadable images are reported and skipped.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table
from sklearn.metrics import roc_auc_score

import negate_sdk
from negate_sdk import ImageError, Sample


def load_rows(root: Path) -> dict[str, list[dict[str, str]]]:
    """Manifest rows grouped by source."""
    with open(root / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_source = defaultdict(list)
    for row in rows:
        by_source[row["source"]].append(row)
    return by_source


def split(rows: list[dict[str, str]], seed: int) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The manifest's train/test split, or a seeded stratified half when there is none."""
    if {r["split"] for r in rows} >= {"train", "test"}:
        return [r for r in rows if r["split"] == "train"], [r for r in rows if r["split"] == "test"]
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in ("real", "synthetic"):
        group = [r for r in rows if r["label"] == label]
        order = rng.permutation(len(group))
        half = len(group) // 2
        train += [group[i] for i in order[:half]]
        test += [group[i] for i in order[half:]]
    return train, test


def to_samples(root: Path, rows: list[dict[str, str]], what: str, console: Console) -> list[Sample]:
    """Decode samples, reporting (not raising on) unreadable files."""
    samples = []
    for row in track(rows, description=what, console=console, transient=True):
        sample = Sample.from_path(root / row["path"], id=row["path"], label=int(row["label"] == "synthetic"))
        try:
            sample.decode()
        except ImageError as err:
            console.print(f"[yellow]skipped {row['path']}: {err}")
            continue
        samples.append(sample)
    return samples


def main() -> None:
    """Train and score each detector per source; print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--detectors", default="dummy,example_colour_logistic")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    console = Console()
    if not (args.data / "manifest.csv").is_file():
        raise SystemExit(f"error: no manifest.csv in {args.data}; pass --data DIR")
    table = Table(title=f"dev sets in {args.data}")
    for column in ("source", "detector", "n train", "n test", "ROC-AUC", "accuracy"):
        table.add_column(column)
    for source, rows in sorted(load_rows(args.data).items()):
        train_rows, test_rows = split(rows, args.seed)
        train = to_samples(args.data, train_rows, f"{source}: decode train", console)
        test = to_samples(args.data, test_rows, f"{source}: decode test", console)
        y_test = np.array([s.label for s in test])
        for name in args.detectors.split(","):
            detector = negate_sdk.create_detector(name).fit(train)
            scores = detector.predict_proba(test)[:, 1]
            accuracy = float(np.mean(detector.predict(test) == y_test))
            table.add_row(
                source,
                name,
                str(len(train)),
                str(len(test)),
                f"{roc_auc_score(y_test, scores):.3f}",
                f"{accuracy:.3f}",
            )
    console.print(table)


if __name__ == "__main__":
    main()
