"""Deterministic, seeded, stratified selection of manifest rows.

Every row gets a key ``sha256(f"{seed}:{sample_id}")``; a selection keeps the rows with the smallest keys in
each group. The choice of one row therefore depends only on the seed and its id, not on the other rows or
their order: the same images are picked on every machine, and adding rows to a dataset leaves the earlier
picks of a group in place unless a new row outranks them.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Hashable, Sequence

from negate_sdk.manifests.schema import ManifestRow


def row_key(seed: int, sample_id: str) -> int:
    """The 64-bit sampling key of one row."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()[:8], "big")


def _smallest(indices: list[int], keys: list[int], k: int) -> list[int]:
    if k >= len(indices):
        return indices
    return sorted(indices, key=keys.__getitem__)[:k]


def allocate(sizes: dict[Hashable, int], total: int) -> dict[Hashable, int]:
    """Split ``total`` across groups in proportion to ``sizes`` (largest remainder, ties by group order).

    Never gives a group more than its size; the result sums to ``min(total, sum(sizes))``.
    """
    available = sum(sizes.values())
    if total >= available:
        return dict(sizes)
    exact = {g: total * n / available for g, n in sizes.items()}
    quota = {g: int(v) for g, v in exact.items()}
    left = total - sum(quota.values())
    order = sorted(sizes, key=lambda g: (-(exact[g] - quota[g]), str(g)))
    for group in order[:left]:
        quota[group] += 1
    return quota


def select(
    rows: Sequence[ManifestRow],
    *,
    limit: int | None = None,
    per_generator: int | None = None,
    seed: int = 0,
    stratify: Sequence[str] = ("label", "source", "generator_id"),
) -> list[int]:
    """Indices (ascending) of the rows kept: at most ``per_generator`` per generator id (reals count as
    generator ``"none"``), then at most ``limit`` in all, allocated to the ``stratify`` groups in proportion
    to their sizes."""
    if (limit is not None and limit < 0) or (per_generator is not None and per_generator < 0):
        raise ValueError("limit and per_generator must be non-negative")
    keys = [row_key(seed, row.sample_id) for row in rows]
    kept = list(range(len(rows)))
    if per_generator is not None:
        groups: dict[str, list[int]] = defaultdict(list)
        for i in kept:
            groups[rows[i].generator_id].append(i)
        kept = sorted(i for members in groups.values() for i in _smallest(members, keys, per_generator))
    if limit is not None and limit < len(kept):
        strata: dict[tuple, list[int]] = defaultdict(list)
        for i in kept:
            strata[tuple(getattr(rows[i], name) for name in stratify)].append(i)
        quota = allocate({g: len(m) for g, m in sorted(strata.items(), key=lambda kv: str(kv[0]))}, limit)
        kept = sorted(i for g, members in strata.items() for i in _smallest(members, keys, quota[g]))
    return kept
