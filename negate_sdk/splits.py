"""Seeded, stratified splits of labelled rows: the test/train split of the harness and the validation
split detectors carve from their training data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def stratified_split(
    y: np.ndarray, fraction: float, seed: int, strata: Sequence[Any] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded ``(train, validation)`` index arrays holding ``fraction`` of each stratum in validation.

    Strata default to the labels; pass e.g. ``(label, source, generator)`` tuples to balance those too.
    Every stratum with at least two members contributes at least one image to each side.
    """
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
