"""The grouped stratified split: groups never straddle, fractions stay near target, and without real groups
it is the row-wise split of before, index for index (seeded runs and the leaderboard depend on it)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from negate_sdk.splits import stratified_split


def rowwise_reference(y, fraction, seed, strata=None):
    """The split as it was before groups existed (copied verbatim): the reference for equality."""
    keys = list(y) if strata is None else list(strata)
    rng = np.random.default_rng(seed)
    groups: dict[Any, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    train, val = [], []
    for key in sorted(groups, key=repr):
        idx = rng.permutation(np.array(groups[key]))
        n_val = round(fraction * len(idx))
        if len(idx) >= 2:
            n_val = min(max(n_val, 1), len(idx) - 1)
        val.extend(idx[:n_val])
        train.extend(idx[n_val:])
    return np.sort(np.array(train, dtype=np.int64)), np.sort(np.array(val, dtype=np.int64))


CASES = [
    (n, fraction, seed)
    for n in (1, 2, 3, 7, 50, 333)
    for fraction in (0.1, 0.25, 0.5, 0.8)
    for seed in (0, 3)
]


@pytest.mark.parametrize(("n", "fraction", "seed"), CASES)
def test_unique_groups_give_exactly_the_rowwise_split(n, fraction, seed):
    rng = np.random.default_rng(1000 + n)
    y = rng.integers(0, 2, n)
    strata = [(int(label), f"source{int(s)}") for label, s in zip(y, rng.integers(0, 3, n))]
    unique = [f"sha{i:04d}" for i in rng.permutation(n)]  # unique keys in no particular order
    for kwargs in ({}, {"strata": strata}):
        expected = rowwise_reference(y, fraction, seed, **kwargs)
        for groups in (None, unique, [None] * n):
            got = stratified_split(y, fraction, seed, groups=groups, **kwargs)
            assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])


def random_groups(n_groups, seed, max_size=4):
    """Rows of ``n_groups`` groups of 1..max_size rows, shuffled so a group's rows are scattered."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_size + 1, n_groups)
    groups = np.repeat(np.arange(n_groups), sizes)
    return [f"g{g}" for g in rng.permutation(groups)]


def test_groups_never_straddle_and_the_split_is_a_partition():
    groups = random_groups(300, seed=1)
    n = len(groups)
    y = np.array([int(g[1:]) % 2 for g in groups])  # labels constant within a group
    train, val = stratified_split(y, 0.3, seed=5, groups=groups)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(n))
    side = {}
    for i in train:
        side.setdefault(groups[i], set()).add("train")
    for i in val:
        side.setdefault(groups[i], set()).add("val")
    assert all(len(s) == 1 for s in side.values()) and len(side) == 300


@pytest.mark.parametrize("fraction", [0.2, 0.5])
def test_fraction_per_stratum_is_within_half_the_largest_group(fraction):
    groups = random_groups(600, seed=2, max_size=3)
    n = len(groups)
    stratum_of_group = {g: (int(g[1:]) % 2, int(g[1:]) % 3) for g in set(groups)}
    strata = [stratum_of_group[g] for g in groups]
    y = np.array([s[0] for s in strata])
    _, val = stratified_split(y, fraction, seed=11, strata=strata, groups=groups)
    in_val = np.zeros(n, dtype=bool)
    in_val[val] = True
    for stratum in set(strata):
        rows = [i for i in range(n) if strata[i] == stratum]
        target = round(fraction * len(rows))
        # the nearest prefix of shuffled groups of at most 3 rows misses the target by at most 1.5 rows
        assert abs(int(in_val[rows].sum()) - target) <= 1.5


def test_hand_computed_cases():
    # two groups of two rows in one stratum: one group on each side whatever the shuffle
    train, val = stratified_split(np.zeros(4), 0.5, seed=0, groups=["a", "b", "a", "b"])
    assert sorted([train.tolist(), val.tolist()]) == [[0, 2], [1, 3]]
    # one group holding a real (row 0) and a synthetic (row 1): it belongs to row 0's stratum, alone in
    # it; the target is round(0.5 * 2) = 1 row; prefixes give 0 or 2 rows, a tie: the shorter (train)
    train, val = stratified_split(np.array([0, 1]), 0.5, seed=0, groups=["x", "x"])
    assert (train.tolist(), val.tolist()) == ([0, 1], [])
    # the mixed group follows its first row's stratum: with row 2 the only other label-0 row, the label-0
    # stratum has two groups, so one goes to each side; stratum 1 keeps nothing of its own
    train, val = stratified_split(np.array([0, 1, 0]), 0.5, seed=0, groups=["x", "x", "y"])
    assert {tuple(train.tolist()), tuple(val.tolist())} == {(0, 1), (2,)}
    # a group bigger than the target goes wholly to one side, the singletons fill the other
    y = np.zeros(6)
    train, val = stratified_split(y, 0.5, seed=4, groups=["big"] * 4 + ["s1", "s2"])
    assert sorted([len(train), len(val)]) == [2, 4] and (
        {0, 1, 2, 3} <= set(train) or {0, 1, 2, 3} <= set(val)
    )


def test_seeded_and_deterministic():
    groups = random_groups(200, seed=3)
    y = np.array([int(g[1:]) % 2 for g in groups])
    first = stratified_split(y, 0.4, seed=9, groups=groups)
    again = stratified_split(y, 0.4, seed=9, groups=list(groups))
    other = stratified_split(y, 0.4, seed=10, groups=groups)
    assert np.array_equal(first[1], again[1]) and not np.array_equal(first[1], other[1])


def test_mismatched_lengths_are_one_line_errors():
    with pytest.raises(ValueError, match=r"one entry per row: 3, 3, 2$"):
        stratified_split(np.zeros(3), 0.5, 0, groups=["a", "b"])


def test_hundred_thousand_rows_split_in_well_under_a_second():
    groups = random_groups(60_000, seed=4)
    y = np.array([len(g) % 2 for g in groups])
    strata = [(int(label), len(g)) for label, g in zip(y, groups)]
    start = time.perf_counter()
    train, val = stratified_split(y, 0.5, seed=0, strata=strata, groups=groups)
    elapsed = time.perf_counter() - start
    assert len(train) + len(val) == len(groups) > 100_000
    assert elapsed < 1.0, f"{elapsed:.2f} s"
