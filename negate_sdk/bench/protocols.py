"""Evaluation protocols: which rows train a detector and which rows test it.

- ``train-test``: the dataset's ``train`` and ``test`` splits; a source without both gets a seeded split
  stratified by label, source and generator (half for testing by default), recorded in the results.
- cross-dataset (``--train-on A``): every row of A trains (or only ``train_split``), B's test split tests
  (all of B when it has none).
- ``leave-one-generator-out``: one fold per generator: its images are removed from training and tested
  against the reals of the same sources.
- ``leave-one-source-out``: one fold per source: trained on every other source's training rows, tested
  on the held-out source's test rows (a dev-visible proxy for images from sources never seen: other
  cameras, other generators, other pipelines).
- ``temporal`` (``cutoff``): AI-GenBench's "next period" evaluation: training (or a pretrained detector's
  calibration) sees only generators released before the cutoff date (the generator table's
  ``release_date``), the test only those released on or after it, each side with its reals.
- ``model``: a saved detector is scored on the test split (all rows when there is none); nothing trains.

Calibration and thresholds are always chosen on validation data carved from the training rows by the
detector itself; test rows are never seen before scoring.

Byte-identical images: a seeded split groups rows by the sha256 of their bytes (the manifest's ``sha256``
column, else hashed from the files once, see :mod:`negate_sdk.manifests.content`), so every copy of an
image lands on one side. A dataset's own ``train``/``test`` splits, and two datasets in a cross-dataset
fold, are taken as they are: images they share cannot be moved, so each fold reports them
(``info["duplicates"]``) and lists their sha256 in :attr:`Fold.seen_in_training`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from negate_sdk.manifests import Manifest
from negate_sdk.manifests.content import ContentHashes, content_hashes
from negate_sdk.manifests.duplicates import train_test_overlap
from negate_sdk.splits import stratified_split

PROTOCOLS = ("train-test", "leave-one-generator-out", "leave-one-source-out", "temporal")


@dataclass
class Fold:
    """One train/test pairing of a run.

    ``seen_in_training``: sha256 of the test images whose bytes are also among the training rows (the
    runner flags their predictions); ``info["duplicates"]`` counts them (see
    :func:`negate_sdk.manifests.duplicates.train_test_overlap`).
    """

    name: str
    train: Manifest | None
    test: Manifest
    info: dict[str, Any] = field(default_factory=dict)
    seen_in_training: frozenset[str] = frozenset()


def _overlap(
    train: Manifest, test: Manifest, hashes: ContentHashes, test_hashes: ContentHashes | None = None
) -> tuple[dict[str, Any], frozenset[str]]:
    """``info["duplicates"]`` of a fold (with where its hashes came from) and its seen-in-training set."""
    test_hashes = test_hashes or hashes
    report, seen = train_test_overlap(train.rows, test.rows, hashes.of, test_hashes.of)
    origins = Counter(hashes.origin(r) for r in train.rows) + Counter(
        test_hashes.origin(r) for r in test.rows
    )
    report["sha256_from"] = {key: origins[key] for key in ContentHashes.ORIGINS}
    return report, seen


def _own_splits(manifest: Manifest) -> set[str]:
    """The sources that have both a ``train`` and a ``test`` split of their own."""
    by_source: dict[str, set[str]] = {}
    for row in manifest.rows:
        by_source.setdefault(row.source, set()).add(row.split)
    return {source for source, splits in by_source.items() if {"train", "test"} <= splits}


def split_train_test(
    manifest: Manifest, *, seed: int, test_fraction: float = 0.5, hashes: ContentHashes | None = None
) -> tuple[Manifest, Manifest, dict[str, Any]]:
    """Train and test rows: a source's own ``train``/``test`` splits where it has both; for the other
    sources a seeded split stratified by label, source and generator and grouped by content sha256
    (``hashes``; by default computed from the files for rows whose sha256 the manifest does not state).
    Rows of other splits in sources that have both (``validation`` …) are left out and counted in the info.
    """
    own = _own_splits(manifest)
    train_rows = [r for r in manifest.rows if r.source in own and r.split == "train"]
    test_rows = [r for r in manifest.rows if r.source in own and r.split == "test"]
    ignored = sum(1 for r in manifest.rows if r.source in own and r.split not in ("train", "test"))
    rest = [r for r in manifest.rows if r.source not in own]
    if rest:
        hashes = hashes or content_hashes(manifest, rest)
        y = np.array([r.label for r in rest])
        strata = [(r.label, r.source, r.generator_id) for r in rest]
        groups = [hashes.of(r) for r in rest]  # None (unknown, unreadable) is a row's own group
        train_idx, test_idx = stratified_split(y, test_fraction, seed, strata=strata, groups=groups)
        train_rows += [rest[i] for i in train_idx]
        test_rows += [rest[i] for i in test_idx]
    info = {
        "split": {
            source: "dataset"
            if source in own
            else f"seeded-stratified(test_fraction={test_fraction}, seed={seed})"
            for source in sorted({r.source for r in manifest.rows})
        },
        "strata": ["label", "source", "generator_id"],
        "groups": "content sha256",
        "ignored_rows": ignored,
    }
    return Manifest(manifest.header, train_rows), Manifest(manifest.header, test_rows), info


def _hash_placed_rows(manifest: Manifest) -> ContentHashes:
    """Content hashes of the rows :func:`split_train_test` places (not the other splits it leaves out)."""
    own = _own_splits(manifest)
    return content_hashes(
        manifest, [r for r in manifest.rows if r.source not in own or r.split in ("train", "test")]
    )


def train_test(manifest: Manifest, *, seed: int, test_fraction: float = 0.5) -> list[Fold]:
    """One fold: train on the training rows, test on the test rows."""
    hashes = _hash_placed_rows(manifest)
    train, test, info = split_train_test(manifest, seed=seed, test_fraction=test_fraction, hashes=hashes)
    duplicates, seen = _overlap(train, test, hashes)
    info = {"protocol": "train-test", **info, "duplicates": duplicates}
    return [Fold("train-test", train, test, info, seen)]


def cross_dataset(train_on: Manifest, test_on: Manifest, *, train_split: str | None = None) -> list[Fold]:
    """One fold: all of ``train_on`` (or its ``train_split``) trains; ``test_on``'s test split tests.

    Test images whose bytes are among the training dataset's rows are reported, not removed.
    """
    train = (
        train_on
        if train_split is None
        else Manifest(train_on.header, [r for r in train_on if r.split == train_split])
    )
    if not len(train):
        raise ValueError(f"dataset '{train_on.id}' has no rows in split '{train_split}'")
    has_test = "test" in test_on.splits()
    test = Manifest(test_on.header, [r for r in test_on if r.split == "test"]) if has_test else test_on
    train_hashes = content_hashes(train_on, train.rows)
    duplicates, seen = _overlap(train, test, train_hashes, content_hashes(test_on, test.rows))
    info = {
        "protocol": "cross-dataset",
        "train_dataset": train_on.provenance(),
        "train_split": train_split or "all",
        "test_split": "test" if has_test else "all",
        "duplicates": duplicates,
    }
    return [Fold(f"{train_on.id}->{test_on.id}", train, test, info, seen)]


def leave_one_generator_out(manifest: Manifest, *, seed: int, test_fraction: float = 0.5) -> list[Fold]:
    """One fold per generator: trained without it, tested on it and the reals of its sources."""
    hashes = _hash_placed_rows(manifest)
    train, test, info = split_train_test(manifest, seed=seed, test_fraction=test_fraction, hashes=hashes)
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
        duplicates, seen = _overlap(fold_train, fold_test, hashes)
        fold_info = {"protocol": "leave-one-generator-out", **info, "duplicates": duplicates}
        folds.append(Fold(f"heldout:{generator}", fold_train, fold_test, fold_info, seen))
    return folds


def leave_one_source_out(manifest: Manifest, *, seed: int, test_fraction: float = 0.5) -> list[Fold]:
    """One fold per source: train on the other sources' training rows, test on its test rows."""
    hashes = _hash_placed_rows(manifest)
    train, test, info = split_train_test(manifest, seed=seed, test_fraction=test_fraction, hashes=hashes)
    sources = sorted({r.source for r in manifest.rows})
    if len(sources) < 2:
        raise ValueError(
            f"leave-one-source-out needs two sources or more; '{manifest.id}' has {len(sources)}"
        )
    folds = []
    for source in sources:
        fold_train = Manifest(manifest.header, [r for r in train if r.source != source])
        fold_test = Manifest(manifest.header, [r for r in test if r.source == source])
        duplicates, seen = _overlap(fold_train, fold_test, hashes)
        fold_info = {"protocol": "leave-one-source-out", **info, "held_out_source": source,
                     "duplicates": duplicates}  # fmt: skip
        folds.append(Fold(f"heldout-source:{source}", fold_train, fold_test, fold_info, seen))
    return folds


def release_dates(generators: set[str], table: str | None = None) -> dict[str, str | None]:
    """``{generator id: release date (YYYY-MM-DD or YYYY-MM) or None}`` from the generator table."""
    from negate_sdk.manifests.generators import get_generator

    return {g: get_generator(g, table).release_date for g in sorted(generators)}


def temporal(
    manifest: Manifest, *, cutoff: str, seed: int, test_fraction: float = 0.5, generators: str | None = None
) -> list[Fold]:
    """One fold: generators released before ``cutoff`` (``YYYY-MM-DD``) train, the later ones test.

    Rows are first split as for train-test (the dataset's own splits, else seeded and grouped by content);
    the training side keeps its reals and the synthetics of earlier generators, the test side its reals
    and the synthetics of generators released on or after the cutoff. Synthetics whose generator has no
    release date are left out and counted. ``generators`` names another generator table (a path).
    """
    if not _is_date(cutoff):
        raise ValueError(f"--cutoff {cutoff!r} is not a date (YYYY-MM-DD)")
    hashes = _hash_placed_rows(manifest)
    train, test, info = split_train_test(manifest, seed=seed, test_fraction=test_fraction, hashes=hashes)
    dates = release_dates({r.generator_id for r in manifest.rows if r.label == 1}, generators)
    before = {g for g, d in dates.items() if d is not None and d < cutoff}
    after = {g for g, d in dates.items() if d is not None and d >= cutoff}
    if not before or not after:
        raise ValueError(
            f"temporal protocol: '{manifest.id}' has {len(before)} generator(s) released before {cutoff} and "
            f"{len(after)} on or after it; it needs both"
        )
    fold_train = Manifest(manifest.header, [r for r in train if r.label == 0 or r.generator_id in before])
    fold_test = Manifest(manifest.header, [r for r in test if r.label == 0 or r.generator_id in after])
    undated = sorted(g for g, d in dates.items() if d is None)
    order = sorted((d, g) for g, d in dates.items() if d is not None)
    duplicates, seen = _overlap(fold_train, fold_test, hashes)
    fold_info = {
        "protocol": "temporal",
        **info,
        "cutoff": cutoff,
        "generators": [
            {"generator": g, "release_date": d, "side": "train" if g in before else "test"} for d, g in order
        ],
        "undated_generators": undated,
        "n_undated_rows": sum(1 for r in manifest.rows if r.label == 1 and r.generator_id in undated),
        "duplicates": duplicates,
    }
    return [Fold(f"before:{cutoff}", fold_train, fold_test, fold_info, seen)]


def _is_date(text: str) -> bool:
    import datetime

    try:
        datetime.date.fromisoformat(text)
    except (TypeError, ValueError):
        return False
    return True


def model_only(manifest: Manifest) -> list[Fold]:
    """One fold with nothing to train: the test split, or every row when there is none."""
    has_test = "test" in manifest.splits()
    test = (
        Manifest(manifest.header, [r for r in manifest.rows if r.split == "test"]) if has_test else manifest
    )
    return [Fold("model", None, test, {"protocol": "model", "test_split": "test" if has_test else "all"})]
