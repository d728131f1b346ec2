"""LightGBM's model text checked in Python, so that ``lgb.Booster(model_str=...)`` never sees a bad one.

LightGBM's loader trusts its input: it jumps to each tree by the byte sizes in ``tree_sizes=`` and scans
for ``=`` and newlines without bounds, inside an OpenMP loop, so a truncated or tampered file reads past
the buffer and aborts the whole process. The layout it reads (and :meth:`Booster.model_to_string`
writes)::

    tree
    version=v4
    num_class=1
    ...  key=value header lines: num_tree_per_iteration, label_index, max_feature_idx, objective,
         feature_names, feature_infos, tree_sizes (the byte size of each tree block below)

    Tree=0                  one block per tree, exactly tree_sizes[i] bytes: key=value lines
    num_leaves=31           (num_leaves, num_cat, split_feature, threshold, left_child, right_child,
    ...                     leaf_value, ...), a blank line, then only newlines up to the next block
    end of trees

    feature_importances:    name=count lines
    parameters:             [key: value] lines up to "end of parameters"
    pandas_categorical:null

Everything is checked: the header's counts, each block's size, keys, value counts against
``num_leaves``, numbers (finite), feature and category indices, and that each tree's children form one
binary tree rooted at node 0 (a cycle would make prediction loop forever).
"""

from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import dataclass

from negate_sdk.weightfiles.files import ArtifactError

MAX_LEAVES = 131_072  # LightGBM's own upper bound on num_leaves
MAX_FEATURES = 10_000_000
MAX_CLASSES = 10_000
MAX_CATEGORY_WORDS = 10_000_000
INT32 = (-(2**31), 2**31 - 1)
_INTS = re.compile(rb"-?\d{1,19}(?: -?\d{1,19})*")
_NUMBER = rb"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d{1,4})?"
_FLOATS = re.compile(_NUMBER + rb"(?: " + _NUMBER + rb")*")
_OBJECTIVE = re.compile(rb"[a-z_]+(?: [a-z_]+:" + _NUMBER + rb")*")
_PARAMETER = re.compile(rb"\[[A-Za-z0-9_]+: [^\n]*\]")
# per feature: "none" (unused), "[min:max]" (numerical) or "a:b:c" (categories seen)
_FEATURE_INFO = re.compile(rb"none|\[" + _NUMBER + rb":" + _NUMBER + rb"\]|-?\d+(?::-?\d+)*")
_HEADER_KEYS = {
    b"version",
    b"num_class",
    b"num_tree_per_iteration",
    b"label_index",
    b"max_feature_idx",
    b"objective",
    b"average_output",
    b"feature_names",
    b"monotone_constraints",
    b"feature_infos",
    b"tree_sizes",
}
_TREE_KEYS = {
    b"num_leaves",
    b"num_cat",
    b"split_feature",
    b"split_gain",
    b"threshold",
    b"decision_type",
    b"left_child",
    b"right_child",
    b"leaf_value",
    b"leaf_weight",
    b"leaf_count",
    b"internal_value",
    b"internal_weight",
    b"internal_count",
    b"cat_boundaries",
    b"cat_threshold",
    b"is_linear",
    b"shrinkage",
}
# per-node arrays: key -> (length relative to num_leaves: 0 = num_leaves, -1 = num_leaves - 1, is float)
_NODE_ARRAYS = {
    b"split_feature": (-1, False),
    b"split_gain": (-1, True),
    b"threshold": (-1, True),
    b"decision_type": (-1, False),
    b"left_child": (-1, False),
    b"right_child": (-1, False),
    b"internal_value": (-1, True),
    b"internal_weight": (-1, True),
    b"internal_count": (-1, False),
    b"leaf_value": (0, True),
    b"leaf_weight": (0, True),
    b"leaf_count": (0, False),
}


@dataclass(frozen=True)
class LightGBMModelInfo:
    """What a checked model declares: trees, features, classes, trees per boosting iteration, objective."""

    n_trees: int
    n_features: int
    num_class: int
    num_tree_per_iteration: int
    objective: str

    @property
    def n_iterations(self) -> int:
        """Boosting iterations (trees / trees per iteration)."""
        return self.n_trees // self.num_tree_per_iteration


class _Refuse(Exception):
    """Internal: a reason, turned into one ArtifactError line by :func:`check_lightgbm_model`."""


def _ints(value: bytes, count: int, what: str, low: int = INT32[0], high: int = INT32[1]) -> list[int]:
    if count == 0 and value == b"":
        return []
    if not _INTS.fullmatch(value):
        raise _Refuse(f"{what} is not a list of integers")
    numbers = [int(v) for v in value.split(b" ")]
    if len(numbers) != count:
        raise _Refuse(f"{what} has {len(numbers)} values where {count} are needed")
    if numbers and not (low <= min(numbers) and max(numbers) <= high):
        raise _Refuse(f"{what} holds a value outside [{low}, {high}]")
    return numbers


def _floats(value: bytes, count: int, what: str) -> list[float]:
    if count == 0 and value == b"":
        return []
    if not _FLOATS.fullmatch(value):
        raise _Refuse(f"{what} is not a list of finite numbers")
    numbers = [float(v) for v in value.split(b" ")]
    if len(numbers) != count:
        raise _Refuse(f"{what} has {len(numbers)} values where {count} are needed")
    if any(v != v or v in (float("inf"), float("-inf")) for v in numbers):
        raise _Refuse(f"{what} holds a value too large for a double")
    return numbers


def _int(value: bytes, what: str, low: int, high: int) -> int:
    return _ints(value, 1, what, low, high)[0]


def _header(lines: list[bytes]) -> dict[bytes, bytes]:
    if not lines or lines[0] != b"tree":
        raise _Refuse("does not start with LightGBM's 'tree' line")
    header: dict[bytes, bytes] = {}
    for line in lines[1:]:
        if not line:
            continue
        key, sep, value = line.partition(b"=")
        if key not in _HEADER_KEYS:
            raise _Refuse(f"unexpected header line {line[:40].decode(errors='replace')!r}")
        if key in header:
            raise _Refuse(f"header key {key.decode()} appears twice")
        if b"=" in value and key not in (b"feature_names", b"monotone_constraints"):
            raise _Refuse(f"header line {key.decode()} holds more than one '='")
        if not sep and key != b"average_output":
            raise _Refuse(f"header line {key.decode()} has no value")
        header[key] = value
    return header


def _check_tree_structure(left: list[int], right: list[int], num_leaves: int, index: int) -> None:
    """Children of internal nodes ``0..n-2`` must form one binary tree rooted at 0 with all the leaves."""
    internal = num_leaves - 1
    seen_nodes = [False] * internal
    seen_leaves = [False] * num_leaves
    seen_nodes[0] = True
    stack = [0]
    while stack:
        node = stack.pop()
        for child in (left[node], right[node]):
            if child >= 0:
                if child >= internal or seen_nodes[child]:
                    raise _Refuse(f"tree {index}: node {node} has an invalid or repeated child {child}")
                seen_nodes[child] = True
                stack.append(child)
            else:
                leaf = ~child
                if leaf >= num_leaves or seen_leaves[leaf]:
                    raise _Refuse(f"tree {index}: node {node} has an invalid or repeated leaf {leaf}")
                seen_leaves[leaf] = True
    if not all(seen_nodes) or not all(seen_leaves):
        raise _Refuse(f"tree {index}: some nodes or leaves are not reachable from the root")


def _check_tree(block: bytes, index: int, n_features: int) -> None:
    first, _, rest = block.partition(b"\n")
    if first != b"Tree=%d" % index:
        raise _Refuse(f"tree {index} does not start where tree_sizes says (found {first[:20]!r})")
    body, blank, tail = rest.partition(b"\n\n")
    if not blank or tail.strip(b"\n"):
        raise _Refuse(f"tree {index}: block is not key=value lines followed by blank lines")
    fields: dict[bytes, bytes] = {}
    for line in body.split(b"\n"):
        key, sep, value = line.partition(b"=")
        if not sep or key not in _TREE_KEYS:
            raise _Refuse(f"tree {index}: unexpected line {line[:40].decode(errors='replace')!r}")
        if key in fields:
            raise _Refuse(f"tree {index}: {key.decode()} appears twice")
        fields[key] = value
    what = f"tree {index}"
    for required in (b"num_leaves", b"num_cat", b"leaf_value"):
        if required not in fields:
            raise _Refuse(f"{what} has no {required.decode()}")
    num_leaves = _int(fields[b"num_leaves"], f"{what} num_leaves", 1, MAX_LEAVES)
    num_cat = _int(fields[b"num_cat"], f"{what} num_cat", 0, num_leaves - 1)
    if fields.get(b"is_linear", b"0") != b"0":
        raise _Refuse(f"{what} is a linear tree, which is not supported")
    if b"shrinkage" in fields:
        _floats(fields[b"shrinkage"], 1, f"{what} shrinkage")
    if num_leaves > 1:
        for required in (b"split_feature", b"threshold", b"left_child", b"right_child"):
            if required not in fields:
                raise _Refuse(f"{what} has no {required.decode()}")
    arrays: dict[bytes, list] = {}
    for key, (offset, is_float) in _NODE_ARRAYS.items():
        if key not in fields or (num_leaves == 1 and key not in (b"leaf_value", b"leaf_count")):
            continue  # of a single-leaf tree LightGBM reads only these (and writes the others empty)
        count = num_leaves + offset
        label = f"{what} {key.decode()}"
        arrays[key] = _floats(fields[key], count, label) if is_float else _ints(fields[key], count, label)
    if num_leaves == 1:
        return
    if any(not 0 <= f < n_features for f in arrays[b"split_feature"]):
        raise _Refuse(f"{what} splits on a feature outside [0, {n_features})")
    decisions = arrays.get(b"decision_type", [0] * (num_leaves - 1))
    for node, decision in enumerate(decisions):
        # bit 0 categorical, bit 1 default-left, bits 2-3 missing type (0 none, 1 zero, 2 NaN)
        if not 0 <= decision <= 15 or (decision >> 2) == 3:
            raise _Refuse(f"{what} node {node} has an invalid decision_type {decision}")
        if decision & 1:
            threshold = arrays[b"threshold"][node]
            if not (threshold.is_integer() and 0 <= threshold < num_cat):
                raise _Refuse(f"{what} node {node} is categorical but its threshold is not a category index")
    if num_cat:
        for required in (b"cat_boundaries", b"cat_threshold"):
            if required not in fields:
                raise _Refuse(f"{what} has no {required.decode()}")
        bounds = _ints(
            fields[b"cat_boundaries"], num_cat + 1, f"{what} cat_boundaries", 0, MAX_CATEGORY_WORDS
        )
        if bounds[0] != 0 or any(b > a for b, a in itertools.pairwise(bounds)):
            raise _Refuse(f"{what} cat_boundaries are not non-decreasing from 0")
        _ints(fields[b"cat_threshold"], bounds[-1], f"{what} cat_threshold", 0, 2**32 - 1)
    _check_tree_structure(arrays[b"left_child"], arrays[b"right_child"], num_leaves, index)


def _check_tail(tail: bytes) -> None:
    """What follows ``end of trees``: feature importances, parameters, then the pandas_categorical line.

    LightGBM always writes the last two, so a file that stops before them was cut short.
    """
    lines = tail.split(b"\n")
    i = 0
    sections = set()
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
        elif line == b"feature_importances:":
            i += 1
            while i < len(lines) and lines[i]:
                if lines[i].count(b"=") != 1 or not _INTS.fullmatch(lines[i].rpartition(b"=")[2]):
                    raise _Refuse("a feature_importances line is not name=count")
                i += 1
        elif line == b"parameters:":
            sections.add("parameters")
            i += 1
            while i < len(lines) and lines[i] != b"end of parameters":
                if lines[i] and not _PARAMETER.fullmatch(lines[i]):
                    raise _Refuse(
                        f"parameter line {lines[i][:40].decode(errors='replace')!r} is not [key: value]"
                    )
                i += 1
            if i == len(lines):
                raise _Refuse("parameters have no 'end of parameters' line (truncated?)")
            i += 1
        elif line.startswith(b"pandas_categorical:"):
            if any(lines[i + 1 :]):
                raise _Refuse("pandas_categorical is not the last line")
            try:
                value = json.loads(line[len(b"pandas_categorical:") :])
            except (ValueError, RecursionError):
                raise _Refuse("pandas_categorical is not valid JSON (truncated?)") from None
            if value is not None and not isinstance(value, list):
                raise _Refuse("pandas_categorical is neither null nor a list")
            sections.add("pandas_categorical")
            i = len(lines)
        else:
            raise _Refuse(f"unexpected line {line[:40].decode(errors='replace')!r} after the trees")
    if sections != {"parameters", "pandas_categorical"}:
        raise _Refuse(
            "the parameters or the pandas_categorical line are missing after the trees (truncated?)"
        )


def _check(text: str) -> LightGBMModelInfo:
    if "\x00" in text or "\r" in text:
        raise _Refuse("holds a NUL or carriage-return character")
    try:
        data = text.encode("utf-8")  # LightGBM counts tree sizes in UTF-8 bytes
    except UnicodeEncodeError:
        raise _Refuse("is not encodable as UTF-8") from None
    start = data.find(b"\nTree=")
    if start < 0:
        raise _Refuse("holds no trees (truncated?)")
    start += 1
    header = _header(data[:start].split(b"\n"))
    for required in (b"version", b"num_class", b"num_tree_per_iteration", b"label_index", b"max_feature_idx"):
        if required not in header:
            raise _Refuse(f"header has no {required.decode()}")
    for required in (b"feature_names", b"feature_infos", b"tree_sizes"):
        if required not in header:
            raise _Refuse(f"header has no {required.decode()}")
    if header[b"version"] not in (b"v2", b"v3", b"v4"):
        raise _Refuse(f"unsupported model version {header[b'version'][:10].decode(errors='replace')!r}")
    num_class = _int(header[b"num_class"], "num_class", 1, MAX_CLASSES)
    per_iteration = _int(header[b"num_tree_per_iteration"], "num_tree_per_iteration", 1, MAX_CLASSES)
    _int(header[b"label_index"], "label_index", 0, MAX_FEATURES)
    n_features = _int(header[b"max_feature_idx"], "max_feature_idx", 0, MAX_FEATURES - 1) + 1
    names = header[b"feature_names"].split(b" ")
    if len(names) != n_features or not all(names):
        raise _Refuse(f"feature_names lists {len(names)} names for {n_features} features")
    infos = header[b"feature_infos"].split(b" ")
    if len(infos) != n_features or not all(_FEATURE_INFO.fullmatch(info) for info in infos):
        raise _Refuse(f"feature_infos does not describe {n_features} features")
    if b"monotone_constraints" in header:
        _ints(header[b"monotone_constraints"], n_features, "monotone_constraints", -1, 1)
    objective = header.get(b"objective", b"")
    if objective and not _OBJECTIVE.fullmatch(objective):
        raise _Refuse(f"objective {objective[:40].decode(errors='replace')!r} is not understood")
    # the objective converts num_class raw outputs per row: its count must be the header's
    name, *options = objective.split(b" ")
    declared = [o.partition(b":")[2] for o in options if o.startswith(b"num_class:")]
    if name in (b"multiclass", b"multiclassova"):
        if declared != [b"%d" % num_class] or per_iteration != num_class:
            raise _Refuse(f"objective {objective[:40].decode()!r} disagrees with num_class={num_class}")
    elif declared or num_class != 1 or per_iteration != 1:
        raise _Refuse(f"objective {objective[:40].decode()!r} needs num_class=1 and one tree per iteration")
    sizes_text = header[b"tree_sizes"]
    if not _INTS.fullmatch(sizes_text):
        raise _Refuse("tree_sizes is not a list of byte sizes")
    sizes = [int(v) for v in sizes_text.split(b" ")]
    if len(sizes) % per_iteration:
        raise _Refuse(f"{len(sizes)} trees is not a multiple of num_tree_per_iteration={per_iteration}")
    end = start + sum(sizes)
    if min(sizes) < 1 or end > len(data):
        raise _Refuse(f"tree_sizes add up to {sum(sizes)} bytes but {len(data) - start} follow (truncated?)")
    position = start
    for index, size in enumerate(sizes):
        _check_tree(data[position : position + size], index, n_features)
        position += size
    if not data.startswith(b"end of trees\n", end):
        raise _Refuse("no 'end of trees' line after the trees (truncated or altered tree_sizes?)")
    _check_tail(data[end + len(b"end of trees\n") :])
    return LightGBMModelInfo(
        n_trees=len(sizes),
        n_features=n_features,
        num_class=num_class,
        num_tree_per_iteration=per_iteration,
        objective=objective.decode(),
    )


def check_lightgbm_model(text: str, path: str | os.PathLike[str]) -> LightGBMModelInfo:
    """Check LightGBM model text (as ``model_to_string`` writes it) before ``lgb.Booster(model_str=text)``.

    Returns what the model declares; raises :class:`ArtifactError` naming ``path`` and the first problem.
    Pure Python: LightGBM need not be installed.
    """
    if not isinstance(text, str):
        raise ArtifactError(f"{path}: LightGBM model is not text")
    try:
        return _check(text)
    except _Refuse as reason:
        raise ArtifactError(f"{path}: not a valid LightGBM model: {reason}") from None
