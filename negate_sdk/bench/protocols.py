"""Evaluation protocols: which rows train a detector and which rows test it.

- ``train-test``: the dataset's ``train`` and ``test`` splits; a source without both gets a seeded split
  stratified by label, source and generator (half for testing by default), recorded in the results.
- cross-dataset (``--train-on A``): every row of A trains (or only ``train_split``), B's test split tests
  (all of B when it has none).
- ``leave-one-generator-out``: one fold per generator: its images are removed from training and tested
  against the reals of the same sources.
- ``model``: a saved detector is scored on the test split (all rows when there is none); nothing trains.

Calibration and thresholds are always chosen on validation data carved from the training rows by the
detector itself; test rows are never seen before scoring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from negate_sdk.manifests import Manifest
from negate_sdk.splits import stratified_split

PROTOCOLS = ("train-test", "leave-one-generator-out")


@dataclass
class Fold:
    """One train/test pairing of a run."""

    name: str
    train: Manifest | None
    test: Manifest
    info: dict[str, Any] = field(default_factory=dict)


def split_train_test(
    manifest: Manifest, *, seed: int, test_fraction: float = 0.5
) -> tuple[Manifest, Manifest, dict[str, Any]]:
    """Train and test rows: a source's own ``train``/``test`` splits where it has both; for the other
    sources a seeded split stratified by label, source and generator. Rows of other splits in sources
    that have both (``validation`` …) are left out and counted in the returned info.
    """
    by_source: dict[str, set[str]] = {}
    for row in manifest.rows:
        by_source.setdefault(row.source, set()).add(row.split)
    own = {source for source, splits in by_source.items() if {"train", "test"} <= splits}
    train_rows = [r for r in manifest.rows if r.source in own and r.split == "train"]
    test_rows = [r for r in manifest.rows if r.source in own and r.split == "test"]
    ignored = sum(1 for r in manifest.rows if r.source in own and r.split not in ("train", "test"))
    rest = [r for r in manifest.rows if r.source not in own]
    if rest:
        y = np.array([r.label for r in rest])
        strata = [(r.label, r.source, r.generator_id) for r in rest]
        train_idx, test_idx = stratified_split(y, test_fraction, seed, strata=strata)
        train_rows += [rest[i] for i in train_idx]
        test_rows += [rest[i] for i in test_idx]
    info = {
        "split": {
            source: "dataset"
            if source in own
            else f"seeded-stratified(test_fraction={test_fraction}, seed={seed})"
            for source in sorted(by_source)
        },
        "strata": ["label", "source", "generator_id"],
        "ignored_rows": ignored,
    }
    return Manifest(manifest.header, train_rows), Manifest(manifest.header, test_rows), info


def train_test(manifest: Manifest, *, seed: int, test_fraction: float = 0.5) -> list[Fold]:
    """One fold: train on the training rows, test on the test rows."""
    train, test, info = split_train_test(manifest, seed=seed, test_fraction=test_fraction)
    return [Fold("train-test", train, test, {"protocol": "train-test", **info})]


def cross_dataset(train_on: Manifest, test_on: Manifest, *, train_split: str | None = None) -> list[Fold]:
    """One fold: all of ``train_on`` (or its ``train_split``) trains; ``test_on``'s test split tests."""
    train = (
        train_on
        if train_split is None
        else Manifest(train_on.header, [r for r in train_on if r.split == train_split])
    )
    if not len(train):
        raise ValueError(f"dataset '{train_on.id}' has no rows in split '{train_split}'")
    has_test = "test" in test_on.splits()
    test = Manifest(test_on.header, [r for r in test_on if r.split == "test"]) if has_test else test_on
    info = {
        "protocol": "cross-dataset",
        "train_dataset": train_on.provenance(),
        "train_split": train_split or "all",
        "test_split": "test" if has_test else "all",
    }
    return [Fold(f"{train_on.id}->{test_on.id}", train, test, info)]


def leave_one_generator_out(manifest: Manifest, *, seed: int, test_fraction: float = 0.5) -> list[Fold]:
    """One fold per generator: trained without it, tested on it and the reals of its sources."""
    train, test, info = split_train_test(manifest, seed=seed, test_fraction=test_fraction)
    generators = sorted({r.generator_id for r in manifest.rows if r.label == 1})
    if len(generators) < 2:
        raise ValueError(
            f"leave-one-generator-out needs two generators or more; '{manifest.id}' has {len(generators)}"
        )
    folds = []
    for generator in generators:
        sources = {r.source for r in test if r.label == 1 and r.generator_id == generator}
        fold_train = Manifest(
            manifest.header, [r for r in train if not (r.label == 1 and r.generator_id == generator)]
        )
        fold_test = Manifest(
            manifest.header,
            [
                r
                for r in test
                if (r.label == 1 and r.generator_id == generator) or (r.label == 0 and r.source in sources)
            ],
        )
        folds.append(
            Fold(
                f"heldout:{generator}", fold_train, fold_test, {"protocol": "leave-one-generator-out", **info}
            )
        )
    return folds


def model_only(manifest: Manifest) -> list[Fold]:
    """One fold with nothing to train: the test split, or every row when there is none."""
    has_test = "test" in manifest.splits()
    test = (
        Manifest(manifest.header, [r for r in manifest.rows if r.split == "test"]) if has_test else manifest
    )
    return [Fold("model", None, test, {"protocol": "model", "test_split": "test" if has_test else "all"})]
