"""Weight-file names, bounded reads, strict JSON, finite arrays; each refusal one ``ArtifactError`` line."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_MAX_BYTES = 4 << 30  # 4 GiB: above any head or veto this project saves, below a memory blow-up
JSON_MAX_BYTES = 256 << 20
# characters a weight-file name never needs; ':' would name a drive on Windows, controls break log lines
_FORBIDDEN = set("/\\:\x00") | {chr(c) for c in range(32)} | {"\x7f"}
_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFLNK: "a symlink",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


class ArtifactError(ValueError):
    """A detector folder or weight file that cannot be trusted or read; ``str(err)`` is one line."""


def is_plain_name(name: object) -> bool:
    """True for a non-empty file name with no folder part: no ``/``, ``\\``, ``:``, ``..``, NUL or control
    characters, not absolute."""
    return (
        isinstance(name, str)
        and bool(name)
        and not (_FORBIDDEN & set(name))
        and ".." not in name
        and name != "."
        and not os.path.isabs(name)
        and Path(name).name == name
    )


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def artifact_path(directory: str | os.PathLike[str], name: object) -> Path:
    """``directory / name`` for a weight-file ``name`` read from a card or a head's state.

    ``name`` must be a plain file name (a non-empty string without ``/``, ``\\``, ``:``, ``..``, NUL or
    control characters; not absolute) naming a regular file directly inside ``directory``: not a symlink
    (even one pointing inside), FIFO, device or folder. Raises :class:`ArtifactError` naming the problem.
    """
    directory = Path(directory)
    if not isinstance(name, str) or not name:
        raise ArtifactError(f"{directory}: weight file name {name!r} is not a non-empty string")
    if not is_plain_name(name):
        raise ArtifactError(f"{directory}: weight file name {name!r} is not a plain file name")
    path = directory / name
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        raise ArtifactError(f"{path}: weight file is missing") from None
    except OSError as err:
        raise ArtifactError(
            f"{path}: weight file cannot be read ({err.strerror or type(err).__name__})"
        ) from None
    if not stat.S_ISREG(mode):
        raise ArtifactError(f"{path}: weight file is {_kind(mode)}, not a regular file")
    return path


def read_bytes(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; never blocks on a FIFO nor follows a symlink."""
    path = Path(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise ArtifactError(f"{path}: cannot be read ({err.strerror or type(err).__name__})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ArtifactError(f"{path}: weight file is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > max_bytes:
            raise ArtifactError(f"{path}: {info.st_size} bytes, more than the {max_bytes} allowed")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew while being read
        raise ArtifactError(f"{path}: more than the {max_bytes} bytes allowed")
    return data


def read_text(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """A UTF-8 text file of at most ``max_bytes`` (newlines kept exactly as stored)."""
    data = read_bytes(path, max_bytes=max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ArtifactError(f"{path}: not UTF-8 text (byte {err.start})") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:  # json.loads would silently keep the last one
            raise ValueError(f"duplicate key {key[:60]!r}")
        out[key] = value
    return out


def loads_json(text: str | bytes, where: str) -> Any:
    """Parse strict JSON: no NaN/Infinity literals, no duplicate keys; too deep a nesting is refused."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as err:
        raise ArtifactError(
            f"{where}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno})"
        ) from None
    except RecursionError:
        raise ArtifactError(f"{where}: JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as err:  # NaN, duplicates, integers of thousands of digits
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ArtifactError(f"{where}: not valid JSON ({first})") from None


def read_json(path: str | os.PathLike[str], *, max_bytes: int = JSON_MAX_BYTES) -> Any:
    """A strict JSON file (see :func:`loads_json`) of at most ``max_bytes``."""
    return loads_json(read_text(path, max_bytes=max_bytes), str(path))


def _is_number(value: object) -> bool:
    return type(value) in (int, float)  # bool is an int subclass, but not a weight


def float_array(value: object, where: str, shape: tuple[int, ...]) -> np.ndarray:
    """A finite float64 array of exactly ``shape`` from a JSON value (nested lists of numbers).

    Refuses anything else with one line naming ``where``: strings, booleans, nulls, ragged or misshapen
    lists, NaN or infinite values (JSON parses ``1e999`` as infinity).
    """
    try:
        array = np.asarray(value, dtype=object)
    except ValueError:  # ragged nesting
        raise ArtifactError(f"{where}: not an array of shape {shape}") from None
    if array.shape != shape:
        raise ArtifactError(f"{where}: shape {array.shape} where {shape} was expected")
    if not all(_is_number(v) for v in array.flat):
        raise ArtifactError(f"{where}: holds values that are not numbers")
    try:
        numbers = array.astype(np.float64)
    except OverflowError:
        raise ArtifactError(f"{where}: holds a number too large for float64") from None
    if not np.all(np.isfinite(numbers)):
        raise ArtifactError(f"{where}: holds NaN or infinite values")
    return numbers


def int_value(value: object, where: str, low: int, high: int) -> int:
    """An integer in ``[low, high]`` from a JSON value (not a bool, not a float)."""
    if type(value) is not int or not low <= value <= high:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "…"
        raise ArtifactError(f"{where}: {shown} is not an integer in [{low}, {high}]")
    return value


def tree_problem(
    left: np.ndarray,
    right: np.ndarray,
    feature: np.ndarray,
    n_features: int,
    *,
    threshold: np.ndarray | None = None,
    parents: np.ndarray | None = None,
) -> str | None:
    """What is wrong with a binary decision tree stored as node arrays, or None when it is sound.

    ``left``/``right``: ``(n_nodes,)`` child indices, ``-1`` at leaves. Every split must use a feature in
    ``[0, n_features)`` (and a finite ``threshold`` when given), every child be a later node reached once
    (whose ``parents`` entry, when given, names its parent), and every node be reachable from the root,
    so native code that walks the tree can neither loop nor index out of bounds.
    """
    n = len(left)
    seen = np.zeros(n, dtype=bool)
    seen[0] = True
    stack = [0]
    while stack:
        node = stack.pop()
        a, b = int(left[node]), int(right[node])
        if a == -1 and b == -1:
            continue
        if not 0 <= feature[node] < n_features:
            return f"node {node} splits on feature {feature[node]}, outside [0, {n_features})"
        if threshold is not None and not np.isfinite(threshold[node]):
            return f"node {node} has a non-finite threshold"
        for child in (a, b):
            if not 0 < child < n or seen[child] or (parents is not None and parents[child] != node):
                return f"node {node} has an invalid or repeated child {child}"
            seen[child] = True
            stack.append(child)
    if not seen.all():
        return f"{int((~seen).sum())} nodes are not reachable from the root"
    return None
