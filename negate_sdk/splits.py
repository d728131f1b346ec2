"""Seeded, stratified splits of labelled rows: the test/train split of the harness and the validation
split detectors carve from their training data.

With ``groups`` (e.g. the sha256 of each row's bytes) a split never separates the members of a group: the
copies of one image land on one side, so no test image has a byte-identical twin in training.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np


def stratified_split(
    y: np.ndarray,
    fraction: float,
    seed: int,
    strata: Sequence[Any] | None = None,
    groups: Sequence[Hashable | None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded ``(train, validation)`` index arrays holding about ``fraction`` of each stratum in validation.

    ``y``: ``(n_samples,)`` labels. Strata default to the labels; pass e.g. ``(label, source, generator)``
    tuples to balance those too. Every stratum with at least two groups contributes at least one group to
    each side. Both arrays are sorted row indices, together ``0 .. n_samples - 1`` once each.

    ``groups``: ``(n_samples,)`` group keys; rows with equal keys land on the same side (``None`` is a
    row's own group). A group belongs to the stratum of its *first* row (lowest index), so a group whose
    rows have mixed labels or strata follows its first row and the other rows go along with it. Within a
    stratum the groups are shuffled and validation takes the prefix of the shuffled groups whose row count
    is nearest ``round(fraction * rows in stratum)`` (the shorter prefix on a tie). With ``groups=None`` or
    all groups singletons this is exactly the row-wise split: same random draws, same indices.
    """
    n = len(y)
    keys = list(y) if strata is None else list(strata)
    if len(keys) != n or (groups is not None and len(groups) != n):
        raise ValueError(
            f"y, strata and groups must have one entry per row: {n}, {len(keys)}, "
            f"{n if groups is None else len(groups)}"
        )
    members = _group_members(n, groups)  # first row -> rows of its group, in first-row order
    size_of = np.zeros(n, dtype=np.int64)
    for first, rows in members.items():
        size_of[first] = len(rows)
    rng = np.random.default_rng(seed)
    by_stratum: dict[Any, list[int]] = {}
    for first in members:
        by_stratum.setdefault(keys[first], []).append(first)
    train: list[np.ndarray] = [np.empty(0, dtype=np.int64)]
    val: list[np.ndarray] = [np.empty(0, dtype=np.int64)]
    for key in sorted(by_stratum, key=repr):
        # The draw permutes the groups' first rows exactly as the row-wise split permuted its rows.
        order = rng.permutation(np.array(by_stratum[key], dtype=np.int64))
        sizes = size_of[order]
        k = _prefix_length(sizes, fraction)
        for side, firsts in ((val, order[:k]), (train, order[k:])):
            if sizes.max() == 1:  # singletons: the first rows are the rows
                side.append(firsts)
            else:
                side.append(np.array([i for f in firsts for i in members[int(f)]], dtype=np.int64))
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def _group_members(n: int, groups: Sequence[Hashable | None] | None) -> dict[int, list[int]]:
    """``{first row of a group: its rows}``, keyed in row order; every row in exactly one group."""
    if groups is None:
        return {i: [i] for i in range(n)}
    first_of: dict[Hashable, int] = {}
    members: dict[int, list[int]] = {}
    for i, group in enumerate(groups):
        if group is None:
            members[i] = [i]
            continue
        first = first_of.setdefault(group, i)
        members.setdefault(first, []).append(i)
    return members


def _prefix_length(sizes: np.ndarray, fraction: float) -> int:
    """How many of the shuffled groups (of ``sizes`` rows each) go to validation.

    For singleton groups this is the row-wise rule: ``round(fraction * n)``, clamped to ``[1, n - 1]`` when
    there are two or more.
    """
    n_groups = len(sizes)
    target = round(fraction * int(sizes.sum()))
    reached = np.concatenate([[0], np.cumsum(sizes)])  # rows in validation for each prefix length
    low, high = (1, n_groups - 1) if n_groups >= 2 else (0, n_groups)
    candidates = reached[low : high + 1]
    return low + int(np.argmin(np.abs(candidates - target)))  # argmin: the shorter prefix on a tie
