"""Byte-identical images among manifest rows: groups of rows with the same content sha256, the splits they
straddle, and the test images whose bytes are also in training.

Rows whose sha256 is unknown (``None``) are never grouped. Examples name rows by sample id (printable).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from negate_sdk.manifests.schema import ManifestRow

MAX_EXAMPLES = 3
ShaOf = Callable[[ManifestRow], "str | None"]


def groups_of(rows: Sequence[ManifestRow], sha_of: ShaOf) -> dict[str, list[ManifestRow]]:
    """``{sha256: rows}`` for every content held by two rows or more, in order of first appearance."""
    found: dict[str, list[ManifestRow]] = {}
    for row in rows:
        digest = sha_of(row)
        if digest is not None:
            found.setdefault(digest, []).append(row)
    return {digest: members for digest, members in found.items() if len(members) > 1}


def train_test_overlap(
    train: Sequence[ManifestRow], test: Sequence[ManifestRow], train_sha: ShaOf, test_sha: ShaOf | None = None
) -> tuple[dict[str, Any], frozenset[str]]:
    """What a fold's ``info["duplicates"]`` holds, and the sha256 of test images whose bytes are in training.

    ``n_groups_within``: contents held by two rows or more among the train and test rows together;
    ``n_rows_duplicated``: the rows of those groups; ``train_test_overlap``: contents on both sides;
    ``n_test_rows_seen``: test rows whose content is in training; ``examples``: up to three
    ``[sha256[:12], train sample id, test sample id]``, in test order. ``test_sha`` defaults to ``train_sha``
    (two manifests, as in cross-dataset folds, each have their own).
    """
    test_sha = test_sha or train_sha
    first_train: dict[str, ManifestRow] = {}
    counts: Counter[str] = Counter()
    for row in train:
        digest = train_sha(row)
        if digest is not None:
            counts[digest] += 1
            first_train.setdefault(digest, row)
    seen: dict[str, ManifestRow] = {}  # content in training -> its first test row
    n_test_rows_seen = 0
    for row in test:
        digest = test_sha(row)
        if digest is None:
            continue
        counts[digest] += 1
        if digest in first_train:
            seen.setdefault(digest, row)
            n_test_rows_seen += 1
    duplicated = [n for n in counts.values() if n > 1]
    info = {
        "n_groups_within": len(duplicated),
        "n_rows_duplicated": sum(duplicated),
        "train_test_overlap": len(seen),
        "n_test_rows_seen": n_test_rows_seen,
        "examples": [
            [digest[:12], first_train[digest].sample_id, row.sample_id]
            for digest, row in list(seen.items())[:MAX_EXAMPLES]
        ],
    }
    return info, frozenset(seen)


def split_report(rows: Sequence[ManifestRow], sha_of: ShaOf) -> dict[str, Any]:
    """Duplicates of a whole manifest, for ``negate-bench validate``.

    ``n_groups`` and ``n_rows`` of byte-identical groups; ``extra_copies`` (rows beyond the first of each
    group); ``straddling``: ``{"split+split": groups found in exactly those splits}`` for groups over two
    splits or more; ``train_test_overlap``: groups with rows in both ``train`` and ``test``;
    ``label_conflicts``: groups whose rows disagree on the label; ``examples``: up to three
    ``{"sha256": first 12 digits, "splits": [...], "sample_ids": [up to 3]}``, straddling groups first.
    """
    groups = groups_of(rows, sha_of)
    straddling: Counter[str] = Counter()
    overlap = conflicts = 0
    for members in groups.values():
        splits = sorted({r.split for r in members})
        if len(splits) > 1:
            straddling["+".join(splits)] += 1
        overlap += {"train", "test"} <= set(splits)
        conflicts += len({r.label for r in members}) > 1
    ordered = sorted(groups.items(), key=lambda kv: len({r.split for r in kv[1]}) == 1)  # stable
    return {
        "n_groups": len(groups),
        "n_rows": sum(len(m) for m in groups.values()),
        "extra_copies": sum(len(m) - 1 for m in groups.values()),
        "straddling": dict(sorted(straddling.items())),
        "train_test_overlap": overlap,
        "label_conflicts": conflicts,
        "examples": [
            {
                "sha256": digest[:12],
                "splits": sorted({r.split for r in members}),
                "sample_ids": [r.sample_id for r in members[:MAX_EXAMPLES]],
            }
            for digest, members in ordered[:MAX_EXAMPLES]
        ],
    }
