"""Tree ensembles scored in numpy: random forests and LightGBM boosters, with exact TreeSHAP attributions.

Why not the libraries' own predict: scoring a saved detector then needs neither scikit-learn nor LightGBM
(importing them is over a second of a one-image ``negate check``), a weight file never reaches a native tree
walker, and a head scores the same whether it was just fitted or loaded from disk.

A :class:`TreeEnsemble` holds every node of every tree in flat arrays (children as absolute indices, ``-1``
at leaves). Each split sends a row left when ``x <= threshold``; a missing value (NaN, or zero for
LightGBM's "zero" missing type) goes the node's default way, as LightGBM and scikit-learn decide it.
Forests average their trees' leaf values, boosters add them. :meth:`TreeEnsemble.contributions` is
path-dependent TreeSHAP (Lundberg et al. 2020) computed for all leaves at once: for a leaf whose path
tests the distinct features ``j`` with cover fractions ``z_j`` and "x follows the path" indicators
``o_j``, feature ``j`` receives ``v (o_j - z_j) sum_k k!(m-1-k)!/m! [t^k] prod_{i != j} (z_i + o_i t)``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from math import factorial
from typing import Any

import numpy as np

from negate_sdk.artifacts import ArtifactError
from negate_sdk.weightfiles.files import tree_problem

MISSING_NONE, MISSING_ZERO, MISSING_NAN = 0, 1, 2
ZERO_THRESHOLD = 1e-35  # LightGBM's kZeroThreshold: |x| at or below it counts as zero
SHAP_CHUNK = 8  # rows per TreeSHAP step (memory ~ rows x leaves x depth²)
_INT_ARRAYS = ("feature", "left", "right", "roots")
_FLOAT_ARRAYS = ("threshold", "value", "cover")
_BYTE_ARRAYS = ("default_left", "missing")


@dataclass
class TreeEnsemble:
    """Flat node arrays of a tree ensemble over ``n_features`` columns (see the module docstring)."""

    feature: np.ndarray  # (nodes,) int32, -1 at leaves
    threshold: np.ndarray  # (nodes,) float64
    left: np.ndarray  # (nodes,) int32 absolute index, -1 at leaves
    right: np.ndarray
    value: np.ndarray  # (nodes,) float64, the output at leaves
    cover: np.ndarray  # (nodes,) float64, training rows (or weight) reaching the node
    default_left: np.ndarray  # (nodes,) bool: where a missing value goes
    missing: np.ndarray  # (nodes,) uint8: MISSING_NONE / MISSING_ZERO / MISSING_NAN
    roots: np.ndarray  # (trees,) int32, each tree's nodes run from its root to the next root
    n_features: int
    average: bool = False  # forests average the trees, boosters add them
    float32_inputs: bool = False  # scikit-learn compares float32 features with float64 thresholds
    _paths: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    # -- scoring -----------------------------------------------------------------------------------

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X has shape {X.shape}; the trees read {self.n_features} features")
        return X.astype(np.float32).astype(np.float64) if self.float32_inputs else X

    def _goes_left(self, x: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """Whether values ``x`` go left at ``nodes`` (same shapes)."""
        missing = self.missing[nodes]
        nan = np.isnan(x)
        x = np.where(nan & (missing != MISSING_NAN), 0.0, x)  # LightGBM reads NaN as 0 unless NaN is missing
        is_missing = ((missing == MISSING_ZERO) & (np.abs(x) <= ZERO_THRESHOLD)) | (
            (missing == MISSING_NAN) & nan
        )
        return np.where(is_missing, self.default_left[nodes], x <= self.threshold[nodes])

    def leaves(self, X: np.ndarray) -> np.ndarray:
        """``(n_samples, n_trees)`` index of the leaf each row reaches in each tree."""
        X = self._prepare(X)
        n_trees = len(self.roots)
        nodes = np.tile(self.roots, len(X))  # (row, tree) pairs, row-major
        active = np.arange(len(nodes))  # the pairs still at a split: only they move on
        while active.size:
            at = nodes[active]
            feature = self.feature[at]
            split = feature >= 0
            active, at, feature = active[split], at[split], feature[split]
            left = self._goes_left(X[active // n_trees, feature], at)
            nodes[active] = np.where(left, self.left[at], self.right[at])
        return nodes.reshape(len(X), n_trees)

    def raw(self, X: np.ndarray) -> np.ndarray:
        """``(n_samples,)`` sum (boosters) or mean (forests) of the trees' leaf values."""
        values = self.value[self.leaves(X)]
        return values.mean(axis=1) if self.average else values.sum(axis=1)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """``(n_samples, n_features)`` TreeSHAP values of :meth:`raw` (path-dependent, exact)."""
        X = self._prepare(X)
        paths = self._leaf_paths()
        out = np.zeros((len(X), self.n_features))
        for start in range(0, len(X), SHAP_CHUNK):
            out[start : start + SHAP_CHUNK] = self._shap(X[start : start + SHAP_CHUNK], paths)
        return out / len(self.roots) if self.average else out

    def _shap(self, X: np.ndarray, paths: dict[str, Any]) -> np.ndarray:
        n = len(X)
        splits = np.flatnonzero(self.feature >= 0)
        goes_left = np.zeros((n, len(self.feature)), dtype=bool)
        at = np.broadcast_to(splits, (n, len(splits)))
        goes_left[:, splits] = self._goes_left(X[:, self.feature[splits]], at)
        out = np.zeros((n, self.n_features))
        for begin, end, m, depth in paths["groups"]:  # leaves with m distinct features, paths <= depth long
            step_node = paths["step_node"][begin:end, :depth]
            # o_j: the row follows every step of the path that tests slot j's feature
            strays = (goes_left[:, np.maximum(step_node, 0)] != paths["step_left"][begin:end, :depth]) & (
                step_node >= 0
            )
            n_leaves = end - begin
            flat = (np.arange(n * n_leaves)[:, None] * m).reshape(n, n_leaves, 1)
            flat = flat + paths["step_slot"][begin:end, :depth]
            counts = np.bincount(flat.ravel(), weights=strays.ravel(), minlength=n * n_leaves * m)
            one = (counts.reshape(n, n_leaves, m) == 0).astype(np.float64)
            zero = np.broadcast_to(paths["slot_zero"][begin:end, :m], one.shape)
            # P(t) = prod_j (z_j + o_j t), coefficients by ascending power
            poly = np.zeros((n, n_leaves, m + 1))
            poly[..., 0] = 1.0
            for j in range(m):
                poly[..., 1:] = zero[..., j : j + 1] * poly[..., 1:] + one[..., j : j + 1] * poly[..., :-1]
                poly[..., 0] *= zero[..., j]
            weights = paths["weights"][m]
            # slots the row does not follow (o_j = 0): P / z_j, so their weight is sum_k w_k p_k / z_j
            off_path = poly[..., :m] @ weights
            phi = np.empty((n, n_leaves, m))
            for j in range(m):
                z, o = zero[..., j], one[..., j]
                # slots it follows (o_j = 1): P / (z_j + t) by synthetic division, weighted as it goes
                carry, total = poly[..., m], np.zeros((n, n_leaves))
                for k in range(m - 1, -1, -1):
                    total += weights[k] * carry
                    carry = poly[..., k] - z * carry
                on_path = total
                phi[..., j] = np.where(o > 0, (1.0 - z) * on_path, -off_path)
            phi *= paths["leaf_value"][None, begin:end, None]
            columns = np.broadcast_to(paths["slot_feature"][begin:end, :m], phi.shape)
            index = (np.arange(n)[:, None, None] * self.n_features + columns).ravel()
            out += np.bincount(index, weights=phi.ravel(), minlength=n * self.n_features).reshape(n, -1)
        return out

    def _leaf_paths(self) -> dict[str, Any]:
        """Per leaf (sorted by ``m``, its number of distinct features): its path's steps (parent node, went
        left, feature slot), its distinct features and their products of cover fractions; the Shapley
        weights ``k!(m-1-k)!/m!`` per ``m``; and the ranges of leaves sharing ``m``."""
        if self._paths is not None:
            return self._paths
        records: list[tuple[int, int, list[tuple[int, bool]]]] = []
        stack = [(int(root), []) for root in self.roots]
        while stack:
            node, path = stack.pop()
            if self.feature[node] < 0:
                if path:  # a single-leaf tree adds nothing to any feature
                    records.append((len({int(self.feature[p]) for p, _ in path}), node, path))
                continue
            stack.append((int(self.left[node]), [*path, (node, True)]))
            stack.append((int(self.right[node]), [*path, (node, False)]))
        records.sort(key=lambda record: record[0])
        depth = max([1, *(len(path) for _, _, path in records)])
        shape = (len(records), depth)
        step_node, step_left = np.full(shape, -1, dtype=np.int64), np.zeros(shape, dtype=bool)
        step_slot, slot_feature = np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64)
        slot_zero, leaf_value = np.ones(shape), np.empty(len(records))
        groups: list[tuple[int, int, int, int]] = []
        for i, (m, leaf, path) in enumerate(records):
            if not groups or groups[-1][2] != m:
                groups.append((i, i, m, 0))
            begin, _, _, longest = groups[-1]
            groups[-1] = (begin, i + 1, m, max(longest, len(path)))
            leaf_value[i] = self.value[leaf]
            slots: dict[int, int] = {}
            for k, (node, went_left) in enumerate(path):
                child = self.left[node] if went_left else self.right[node]
                slot = slots.setdefault(int(self.feature[node]), len(slots))
                step_node[i, k], step_left[i, k], step_slot[i, k] = node, went_left, slot
                slot_feature[i, slot] = self.feature[node]
                parent_cover = self.cover[node]
                slot_zero[i, slot] *= self.cover[child] / parent_cover if parent_cover > 0 else 0.0
        weights = {
            m: np.array([factorial(k) * factorial(m - 1 - k) / factorial(m) for k in range(m)])
            for _, _, m, _ in groups
        }
        self._paths = {
            "step_node": step_node,
            "step_left": step_left,
            "step_slot": step_slot,
            "slot_feature": slot_feature,
            "slot_zero": slot_zero,
            "leaf_value": leaf_value,
            "weights": weights,
            "groups": groups,
        }
        return self._paths

    # -- persistence -------------------------------------------------------------------------------

    def arrays(self) -> dict[str, np.ndarray]:
        """The node arrays, for a safetensors file (:meth:`from_arrays` reads them back)."""
        out = {name: np.ascontiguousarray(getattr(self, name), dtype=np.int32) for name in _INT_ARRAYS}
        out.update(
            {name: np.ascontiguousarray(getattr(self, name), dtype=np.float64) for name in _FLOAT_ARRAYS}
        )
        out.update({name: np.ascontiguousarray(getattr(self, name), dtype=np.uint8) for name in _BYTE_ARRAYS})
        return out

    def layout(self) -> dict[str, Any]:
        """The JSON-safe rest: how trees combine and what the features are compared as."""
        return {"average": self.average, "float32_inputs": self.float32_inputs}

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], layout: Any, n_features: int, where: str
    ) -> TreeEnsemble:
        """Rebuild from :meth:`arrays` and :meth:`layout`, checking every array and every tree's structure
        (features in range, finite thresholds and values, children inside their own tree, no cycles)."""
        expected = {*_INT_ARRAYS, *_FLOAT_ARRAYS, *_BYTE_ARRAYS}
        if set(arrays) != expected:
            raise ArtifactError(
                f"{where}: holds {sorted(arrays)[:12]}, not the tree arrays {sorted(expected)}"
            )
        if not isinstance(layout, dict) or set(layout) != {"average", "float32_inputs"}:
            raise ArtifactError(f"{where}: the tree layout is not {{average, float32_inputs}}")
        if not all(isinstance(layout[key], bool) for key in layout):
            raise ArtifactError(f"{where}: the tree layout's values are not true/false")
        kinds = {**dict.fromkeys(_INT_ARRAYS, np.int32), **dict.fromkeys(_FLOAT_ARRAYS, np.float64)}
        kinds.update(dict.fromkeys(_BYTE_ARRAYS, np.uint8))
        for name, dtype in kinds.items():
            if arrays[name].dtype != dtype or arrays[name].ndim != 1:
                raise ArtifactError(
                    f"{where}: {name} is {arrays[name].dtype} {arrays[name].shape}, not 1-d {dtype}"
                )
        n_nodes = len(arrays["feature"])
        if any(len(arrays[name]) != n_nodes for name in expected - {"roots"}) or n_nodes == 0:
            raise ArtifactError(f"{where}: the node arrays differ in length or are empty")
        if not all(np.isfinite(arrays[name]).all() for name in _FLOAT_ARRAYS) or (arrays["cover"] < 0).any():
            raise ArtifactError(f"{where}: thresholds, values or covers are not finite (or covers negative)")
        if arrays["missing"].max() > MISSING_NAN or arrays["default_left"].max() > 1:
            raise ArtifactError(f"{where}: missing-value settings are out of range")
        roots = arrays["roots"].astype(np.int64)
        bounds = np.append(roots, n_nodes)
        if len(roots) == 0 or roots[0] != 0 or (np.diff(bounds) <= 0).any():
            raise ArtifactError(f"{where}: tree roots are not increasing node offsets from 0")
        for t, (begin, end) in enumerate(itertools.pairwise(bounds)):
            local = [
                np.where(arrays[side][begin:end] < 0, -1, arrays[side][begin:end] - begin)
                for side in ("left", "right")
            ]
            leaves = (local[0] == -1) & (local[1] == -1)
            if ((local[0] == -1) != (local[1] == -1)).any() or (
                arrays["feature"][begin:end][leaves] != -1
            ).any():
                raise ArtifactError(f"{where}: tree {t} has a node with one child, or a leaf with a feature")
            problem = tree_problem(local[0], local[1], arrays["feature"][begin:end], n_features)
            if problem:
                raise ArtifactError(f"{where}: tree {t} {problem}")
        return cls(
            feature=arrays["feature"].astype(np.int64),
            threshold=arrays["threshold"],
            left=arrays["left"].astype(np.int64),
            right=arrays["right"].astype(np.int64),
            value=arrays["value"],
            cover=arrays["cover"],
            default_left=arrays["default_left"].astype(bool),
            missing=arrays["missing"],
            roots=roots,
            n_features=n_features,
            **layout,
        )

    # -- from the libraries' models ----------------------------------------------------------------

    @classmethod
    def from_forest(cls, model: Any) -> TreeEnsemble:
        """A fitted binary ``RandomForestClassifier``: each leaf's value is its share of class 1."""
        parts: dict[str, list[np.ndarray]] = {
            name: [] for name in ("feature", "threshold", "left", "right", "value", "cover", "default_left")
        }
        roots, offset = [], 0
        for estimator in model.estimators_:
            tree = estimator.tree_
            leaf = tree.children_left == -1
            counts = tree.value[:, 0, :]
            totals = counts.sum(axis=1)
            parts["feature"].append(np.where(leaf, -1, tree.feature))
            parts["threshold"].append(np.where(leaf, 0.0, tree.threshold))
            parts["left"].append(np.where(leaf, -1, tree.children_left + offset))
            parts["right"].append(np.where(leaf, -1, tree.children_right + offset))
            parts["value"].append(np.where(leaf, counts[:, 1] / np.where(totals > 0, totals, 1.0), 0.0))
            parts["cover"].append(np.asarray(tree.weighted_n_node_samples, dtype=np.float64))
            parts["default_left"].append(
                np.asarray(getattr(tree, "missing_go_to_left", np.zeros(len(leaf))), dtype=bool)
            )
            roots.append(offset)
            offset += tree.node_count
        joined = {name: np.concatenate(values) for name, values in parts.items()}
        return cls(
            **joined,
            missing=np.full(offset, MISSING_NAN, dtype=np.uint8),
            roots=np.asarray(roots, dtype=np.int64),
            n_features=int(model.n_features_in_),
            average=True,
            float32_inputs=True,
        )

    @classmethod
    def from_lightgbm(cls, text: str, n_trees: int | None = None) -> tuple[TreeEnsemble, float]:
        """The first ``n_trees`` trees of LightGBM model text already checked by
        :func:`~negate_sdk.weightfiles.check_lightgbm_model`, and the binary objective's sigmoid slope."""
        data = text.encode("utf-8")
        start = data.find(b"\nTree=") + 1
        lines = data[:start].split(b"\n")
        header = dict(line.partition(b"=")[::2] for line in lines if b"=" in line)
        objective = header.get(b"objective", b"binary").split(b" ")
        sigmoid = next((float(o[8:]) for o in objective if o.startswith(b"sigmoid:")), 1.0)
        sizes = [int(size) for size in header[b"tree_sizes"].split(b" ")]
        n_features = int(header[b"max_feature_idx"]) + 1
        parts: dict[str, list[np.ndarray]] = {
            name: []
            for name in ("feature", "threshold", "left", "right", "value", "cover", "default_left", "missing")
        }
        roots, offset, position = [], 0, start
        for size in sizes[: len(sizes) if n_trees is None else n_trees]:
            block = data[position : position + size].split(b"\n\n")[0].split(b"\n")[1:]
            position += size
            fields = {key: value for key, _, value in (line.partition(b"=") for line in block)}
            n_leaves = int(fields[b"num_leaves"])
            if int(fields[b"num_cat"]):
                raise ArtifactError("LightGBM model: categorical splits are not supported by negate's trees")
            n_split = n_leaves - 1

            def numbers(
                key: bytes, dtype: Any, count: int, fill: float = 0, fields: dict[bytes, bytes] = fields
            ) -> np.ndarray:
                if count == 0 or key not in fields:
                    return np.full(count, fill, dtype=dtype)
                return np.array(fields[key].split(b" "), dtype=dtype)

            decision = numbers(b"decision_type", np.int64, n_split)
            children = [numbers(key, np.int64, n_split) for key in (b"left_child", b"right_child")]
            # internal nodes first, then leaves; a negative child -c-1 is leaf c
            absolute = [np.where(c >= 0, c, n_split + (-c - 1)) + offset for c in children]
            parts["feature"].append(
                np.concatenate([numbers(b"split_feature", np.int64, n_split), np.full(n_leaves, -1)])
            )
            parts["threshold"].append(
                np.concatenate([numbers(b"threshold", np.float64, n_split), np.zeros(n_leaves)])
            )
            parts["left"].append(np.concatenate([absolute[0], np.full(n_leaves, -1)]))
            parts["right"].append(np.concatenate([absolute[1], np.full(n_leaves, -1)]))
            parts["value"].append(
                np.concatenate([np.zeros(n_split), numbers(b"leaf_value", np.float64, n_leaves)])
            )
            parts["cover"].append(
                np.concatenate(
                    [
                        numbers(b"internal_count", np.float64, n_split, 1),
                        numbers(b"leaf_count", np.float64, n_leaves, 1),
                    ]
                )
            )
            parts["default_left"].append(np.concatenate([(decision & 2) > 0, np.zeros(n_leaves, dtype=bool)]))
            parts["missing"].append(
                np.concatenate([(decision >> 2) & 3, np.zeros(n_leaves, dtype=np.int64)]).astype(np.uint8)
            )
            roots.append(offset)
            offset += n_split + n_leaves
        joined = {name: np.concatenate(values) for name, values in parts.items()}
        ensemble = cls(
            **joined,
            roots=np.asarray(roots, dtype=np.int64),
            n_features=n_features,
            average=b"average_output" in lines,
        )
        return ensemble, sigmoid
