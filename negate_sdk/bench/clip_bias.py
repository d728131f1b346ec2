"""CLIP-bias deltas: does a CLIP-based detector win mostly on generators that themselves use CLIP?

For a CLIP-based detector A and a non-CLIP detector B scored on the same images, per generator g the
accuracy delta is ``acc_A(g) − acc_B(g)``, accuracy taken over g's synthetic images and the reals of the
same sources. Generators are grouped by ``uses_clip`` (yes / no / unknown) from the generator table; the
bias is ``mean delta on CLIP generators − mean delta on non-CLIP generators``. All intervals come from a
paired bootstrap over images (both detectors resampled together).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from negate_sdk.bench.metrics import paired_bootstrap_delta


def clip_bias(
    columns_a: dict[str, np.ndarray],
    columns_b: dict[str, np.ndarray],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Per-generator and per-group deltas (A − B) and the bias, from aligned clean predictions.

    ``columns_*``: prediction columns of the two detectors on the same clean images in the same order.
    """
    if not np.array_equal(columns_a["sample_id"], columns_b["sample_id"]):
        raise ValueError("CLIP-bias deltas need both detectors' predictions on the same images, in order")
    label = columns_a["label"]
    correct_a = (columns_a["pred"] == label).astype(float)
    correct_b = (columns_b["pred"] == label).astype(float)
    generator, source, uses_clip = columns_a["generator"], columns_a["source"], columns_a["uses_clip"]
    synthetic = label == 1
    per_generator: dict[str, Any] = {}
    group_of: dict[str, str] = {}
    for g in sorted(set(generator[synthetic])):
        mine = synthetic & (generator == g)
        pool = mine | ((label == 0) & np.isin(source, list(set(source[mine]))))
        delta = paired_bootstrap_delta(
            label[pool],
            correct_a[pool],
            correct_b[pool],
            np.zeros(pool.sum()),
            {0.0: 1.0},
            n_boot=n_boot,
            seed=seed,
        )
        group_of[g] = str(uses_clip[mine][0])
        per_generator[g] = {**delta, "uses_clip": group_of[g]}
    groups: dict[str, Any] = {}
    for group in ("yes", "no", "unknown"):
        members = [g for g, grp in group_of.items() if grp == group]
        if members:
            groups[group] = _group_delta(
                label, correct_a, correct_b, generator, source, members, {}, n_boot, seed
            )
    yes = [g for g, grp in group_of.items() if grp == "yes"]
    no = [g for g, grp in group_of.items() if grp == "no"]
    bias = None
    if yes and no:
        weights = {**{g: 1.0 / len(yes) for g in yes}, **{g: -1.0 / len(no) for g in no}}
        bias = _group_delta(
            label, correct_a, correct_b, generator, source, [*yes, *no], weights, n_boot, seed
        )
    return {"per_generator": per_generator, "per_group": groups, "bias": bias}


def _group_delta(
    label, correct_a, correct_b, generator, source, members, weights, n_boot, seed
) -> dict[str, Any]:
    """Mean of per-generator deltas over ``members`` (or a signed combination when ``weights`` is given).

    Each generator is paired with its sources' reals; a real shared by several generators of the group is
    counted once per generator, so each generator's delta keeps its own accuracy definition.
    """
    index, keys = [], []
    for g in members:
        mine = (label == 1) & (generator == g)
        pool = np.flatnonzero(mine | ((label == 0) & np.isin(source, list(set(source[mine])))))
        index.append(pool)
        keys.append(np.full(len(pool), g, dtype=object))
    index = np.concatenate(index)
    keys = np.concatenate(keys)
    sign = weights or {g: 1.0 / len(members) for g in members}
    return paired_bootstrap_delta(
        label[index], correct_a[index], correct_b[index], keys, sign, n_boot=n_boot, seed=seed
    )
