"""XGBoost's UBJSON model files checked in Python, so ``Booster.load_model`` never sees a bad one.

XGBoost's UBJSON reader trusts the lengths it reads: a damaged file makes it copy past the buffer
(a segfault), allocate a length read from garbage (``std::bad_alloc``, or the kernel's OOM killer), or
recurse until the stack runs out. And a well-formed file can still describe trees whose child or feature
indices point outside their arrays, which prediction would follow. So the file is parsed here with
every length checked against the bytes left, nesting bounded, nothing after the top-level object, and
then the model is checked: a ``gbtree`` booster whose trees each form one binary tree rooted at node 0,
whose split features exist, whose numbers are finite, and whose bookkeeping (tree counts, iteration
boundaries, output groups) agrees. Categorical splits and multi-target trees are refused (the heads
never write them).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from negate_sdk.weightfiles.files import ArtifactError, tree_problem

MAX_DEPTH = 32
MAX_FEATURES = 10_000_000
MAX_GROUPS = 10_000
ROOT_PARENT = 2**31 - 1  # XGBoost stores the root's parent as int32 max (no parent)
# the typed arrays XGBoost's reader understands: marker -> big-endian numpy dtype
_TYPED = {b"d": ">f4", b"U": "u1", b"l": ">i4", b"L": ">i8"}
_SCALARS = {b"i": ">i1", b"U": "u1", b"I": ">i2", b"l": ">i4", b"L": ">i8", b"d": ">f4", b"C": "i1"}
_BASE_SCORE = re.compile(r"\[?-?[0-9.]+(?:[eE][-+]?[0-9]+)?(?:,-?[0-9.]+(?:[eE][-+]?[0-9]+)?)*\]?")
_NODE_INTS = ("left_children", "right_children", "parents", "split_indices")
_NODE_FLOATS = ("split_conditions", "base_weights", "loss_changes", "sum_hessian")
_CATEGORY_FIELDS = ("categories", "categories_nodes", "categories_segments", "categories_sizes")
_CATS = {"enc", "feature_segments", "sorted_idx"}


class _Refuse(Exception):
    """Internal: a reason, turned into one ArtifactError line by :func:`check_xgboost_model`."""


@dataclass(frozen=True)
class XGBoostModelInfo:
    """What a checked model declares: trees, boosting rounds, features, output groups, objective."""

    n_trees: int
    n_rounds: int
    n_features: int
    n_groups: int
    objective: str


class _Reader:
    """A strict reader of the UBJSON subset XGBoost writes; every length is checked before it is used."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise _Refuse(f"needs {n} bytes at offset {self.pos} but the file ends at {len(self.data)}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def peek(self) -> bytes:
        if self.pos >= len(self.data):
            raise _Refuse(f"ends early, at offset {self.pos}")
        return self.data[self.pos : self.pos + 1]

    def length(self) -> int:
        if self.take(1) != b"L":
            raise _Refuse(f"expected a 64-bit length at offset {self.pos - 1}")
        n = int.from_bytes(self.take(8), "big", signed=True)
        if n < 0 or n > len(self.data) - self.pos:
            raise _Refuse(
                f"length {n} at offset {self.pos - 8} is more than the {len(self.data) - self.pos} bytes left"
            )
        return n

    def string(self) -> str:
        raw = self.take(self.length())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Refuse(f"a string before offset {self.pos} is not UTF-8") from None

    def value(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise _Refuse(f"nested more than {MAX_DEPTH} levels deep")
        marker = self.take(1)
        if marker == b"{":
            out: dict[str, Any] = {}
            while self.peek() != b"}":
                key = self.string()
                if key in out:
                    raise _Refuse(f"duplicate key {key[:40]!r}")
                out[key] = self.value(depth + 1)
            self.take(1)
            return out
        if marker == b"[":
            return self.array(depth)
        if marker in _SCALARS:
            dtype = np.dtype(_SCALARS[marker])
            return np.frombuffer(self.take(dtype.itemsize), dtype)[0].item()
        if marker == b"S":
            return self.string()
        if marker in (b"Z", b"T", b"F"):
            return {b"Z": None, b"T": True, b"F": False}[marker]
        raise _Refuse(f"unsupported UBJSON marker {marker!r} at offset {self.pos - 1}")

    def array(self, depth: int) -> Any:
        if self.peek() == b"$":
            self.take(1)
            kind = self.take(1)
            if kind not in _TYPED or self.take(1) != b"#":
                raise _Refuse(f"unsupported typed array at offset {self.pos - 2}")
            dtype = np.dtype(_TYPED[kind])
            if self.peek() != b"L":
                raise _Refuse(f"expected a 64-bit count at offset {self.pos}")
            self.take(1)
            n = int.from_bytes(self.take(8), "big", signed=True)
            if n < 0 or n * dtype.itemsize > len(self.data) - self.pos:
                raise _Refuse(f"typed array of {n} items at offset {self.pos - 8} runs past the end")
            return np.frombuffer(self.take(n * dtype.itemsize), dtype).astype(dtype.newbyteorder("="))
        if self.peek() == b"#":
            self.take(1)
            return [self.value(depth + 1) for _ in range(self.length())]  # each item takes >= 1 byte
        items = []
        while self.peek() != b"]":
            items.append(self.value(depth + 1))
        self.take(1)
        return items


def parse_ubjson(data: bytes) -> Any:
    """Parse UBJSON as XGBoost writes it into dicts, lists, numpy arrays (typed arrays) and scalars.

    Raises ``ValueError`` naming the offset of the first problem; nothing may follow the top-level value.
    """
    reader = _Reader(data)
    try:
        value = reader.value(0)
        if reader.pos != len(data):
            raise _Refuse(f"{len(data) - reader.pos} bytes follow the model")
    except _Refuse as reason:
        raise ValueError(str(reason)) from None
    return value


def _obj(parent: Any, key: str, where: str) -> dict[str, Any]:
    value = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(value, dict):
        raise _Refuse(f"{where}{key} is missing or not an object")
    return value


def _int_text(value: Any, what: str, low: int, high: int) -> int:
    """XGBoost keeps parameters as decimal strings."""
    if not isinstance(value, str) or not re.fullmatch(r"-?\d{1,12}", value) or not low <= int(value) <= high:
        raise _Refuse(f"{what} is {str(value)[:30]!r}, not an integer in [{low}, {high}]")
    return int(value)


def _ints(value: Any, count: int, what: str) -> np.ndarray:
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu":
        array = value.astype(np.int64)
    elif isinstance(value, list) and all(type(v) is int for v in value):
        array = np.asarray(value, dtype=np.int64) if value else np.zeros(0, np.int64)
    else:
        raise _Refuse(f"{what} is not an array of integers")
    if len(array) != count:
        raise _Refuse(f"{what} has {len(array)} items where {count} are needed")
    return array


def _floats(value: Any, count: int, what: str) -> np.ndarray:
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        array = value.astype(np.float64)
    elif isinstance(value, list) and all(type(v) in (int, float) for v in value):
        array = np.asarray(value, dtype=np.float64) if value else np.zeros(0)
    else:
        raise _Refuse(f"{what} is not an array of numbers")
    if len(array) != count:
        raise _Refuse(f"{what} has {len(array)} items where {count} are needed")
    if not np.all(np.isfinite(array)):
        raise _Refuse(f"{what} holds NaN or infinite values")
    return array


def _empty(value: Any) -> bool:
    return isinstance(value, (list, np.ndarray)) and len(value) == 0


def _check_tree(tree: Any, index: int, n_features: int) -> None:
    what = f"tree {index}"
    if not isinstance(tree, dict):
        raise _Refuse(f"{what} is not an object")
    if tree.get("id") != index:
        raise _Refuse(f"{what} has id {str(tree.get('id'))[:20]}")
    param = _obj(tree, "tree_param", f"{what} ")
    n = _int_text(param.get("num_nodes"), f"{what} num_nodes", 1, 2**31 - 2)
    _int_text(param.get("num_deleted"), f"{what} num_deleted", 0, 0)
    _int_text(param.get("size_leaf_vector", "1"), f"{what} size_leaf_vector", 0, 1)
    if _int_text(param.get("num_feature"), f"{what} num_feature", 1, MAX_FEATURES) != n_features:
        raise _Refuse(f"{what} num_feature differs from the learner's {n_features}")
    ints = {key: _ints(tree.get(key), n, f"{what} {key}") for key in _NODE_INTS}
    for key in _NODE_FLOATS:
        _floats(tree.get(key), n, f"{what} {key}")
    default_left = _ints(tree.get("default_left"), n, f"{what} default_left")
    split_type = _ints(tree.get("split_type"), n, f"{what} split_type")
    if np.any((default_left != 0) & (default_left != 1)):
        raise _Refuse(f"{what} default_left holds values other than 0 and 1")
    if np.any(split_type != 0) or not all(_empty(tree.get(key)) for key in _CATEGORY_FIELDS):
        raise _Refuse(f"{what} has categorical splits, which are not supported")
    left, right, parents = ints["left_children"], ints["right_children"], ints["parents"]
    features = ints["split_indices"]
    if parents[0] != ROOT_PARENT:
        raise _Refuse(f"{what} root has a parent")
    problem = tree_problem(left, right, features, n_features, parents=parents)
    if problem:
        raise _Refuse(f"{what} {problem}")


def _check_model(doc: Any) -> XGBoostModelInfo:
    if not isinstance(doc, dict):
        raise _Refuse("the top level is not an object")
    learner = _obj(doc, "learner", "")
    params = _obj(learner, "learner_model_param", "learner.")
    n_features = _int_text(params.get("num_feature"), "num_feature", 1, MAX_FEATURES)
    num_class = _int_text(params.get("num_class", "0"), "num_class", 0, MAX_GROUPS)
    _int_text(params.get("num_target", "1"), "num_target", 1, 1)
    base_score = params.get("base_score", "0")
    if not isinstance(base_score, str) or not _BASE_SCORE.fullmatch(base_score):
        raise _Refuse(f"base_score {str(base_score)[:30]!r} is not a number")
    scores = [float(v) for v in base_score.strip("[]").split(",")]
    if not all(math.isfinite(v) for v in scores) or len(scores) not in (1, max(num_class, 1)):
        raise _Refuse(f"base_score {base_score[:30]!r} does not fit {max(num_class, 1)} outputs")
    objective = _obj(learner, "objective", "learner.").get("name")
    if not isinstance(objective, str):
        raise _Refuse("the objective has no name")
    for key in ("feature_names", "feature_types"):
        names = learner.get(key, [])
        if not isinstance(names, list) or not all(isinstance(v, str) for v in names):
            raise _Refuse(f"{key} is not a list of strings")
        if names and len(names) != n_features:
            raise _Refuse(f"{key} lists {len(names)} features for {n_features}")
    booster = _obj(learner, "gradient_booster", "learner.")
    if booster.get("name") != "gbtree":
        raise _Refuse(f"booster {str(booster.get('name'))[:20]!r} is not gbtree, the only one supported")
    model = _obj(booster, "model", "gradient_booster.")
    trees = model.get("trees")
    if not isinstance(trees, list) or not trees:
        raise _Refuse("the model holds no trees")
    tree_param = _obj(model, "gbtree_model_param", "model.")
    if _int_text(tree_param.get("num_trees"), "num_trees", 0, 2**31 - 1) != len(trees):
        raise _Refuse(f"num_trees disagrees with the {len(trees)} trees stored")
    _int_text(tree_param.get("num_parallel_tree", "1"), "num_parallel_tree", 1, 2**31 - 1)
    n_groups = max(num_class, 1)
    groups = _ints(model.get("tree_info"), len(trees), "tree_info")
    if np.any(groups < 0) or np.any(groups >= n_groups):
        raise _Refuse(f"tree_info assigns a tree to an output outside [0, {n_groups})")
    bounds = model.get("iteration_indptr")
    bounds = _ints(bounds, len(bounds) if isinstance(bounds, (list, np.ndarray)) else -1, "iteration_indptr")
    if len(bounds) < 2 or bounds[0] != 0 or bounds[-1] != len(trees) or np.any(np.diff(bounds) < 1):
        raise _Refuse("iteration_indptr does not split the trees into boosting rounds")
    cats = model.get("cats", {"enc": []})  # XGBoost before 3.1 wrote no "cats"
    if not isinstance(cats, dict) or not set(cats) <= _CATS or "enc" not in cats:
        raise _Refuse("the model's categorical encodings (cats) are malformed")
    if not all(_empty(v) for v in cats.values()):
        raise _Refuse("the model has categorical encodings, which are not supported")
    for index, tree in enumerate(trees):
        _check_tree(tree, index, n_features)
    return XGBoostModelInfo(
        n_trees=len(trees),
        n_rounds=len(bounds) - 1,
        n_features=n_features,
        n_groups=n_groups,
        objective=objective,
    )


def check_xgboost_model(data: bytes, path: str | os.PathLike[str]) -> XGBoostModelInfo:
    """Check an XGBoost model saved as UBJSON (``booster.save_model("m.ubj")``) before loading it.

    Returns what the model declares; raises :class:`ArtifactError` naming ``path`` and the first problem.
    Pure Python: XGBoost need not be installed. Load the very bytes checked
    (``booster.load_model(bytearray(data))``), not the file again.
    """
    try:
        doc = parse_ubjson(bytes(data))
    except ValueError as reason:
        raise ArtifactError(f"{path}: not a valid XGBoost UBJSON model: {reason}") from None
    try:
        return _check_model(doc)
    except _Refuse as reason:
        raise ArtifactError(f"{path}: not a valid XGBoost model: {reason}") from None
