"""safetensors files checked in Python before any loader sees them; a numpy reader that needs no torch.

The format: an 8-byte little-endian header length ``N``, ``N`` bytes of JSON (``{name: {"dtype", "shape",
"data_offsets": [begin, end]}}`` plus an optional ``"__metadata__"`` of strings, padded with spaces), then
the data buffer. Offsets are relative to the buffer; tensors tile it exactly, without gaps or overlaps,
and nothing follows it (the reference implementation refuses the same files).
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from negate_sdk.weightfiles.files import DEFAULT_MAX_BYTES, ArtifactError, loads_json

MAX_HEADER_BYTES = 100_000_000  # the reference implementation's own limit
MAX_DIMS = 64
# dtype -> (itemsize, numpy dtype or None when numpy has no such type)
DTYPES: dict[str, tuple[int, str | None]] = {
    "BOOL": (1, "?"),
    "U8": (1, "u1"),
    "I8": (1, "i1"),
    "F8_E5M2": (1, None),
    "F8_E4M3": (1, None),
    "I16": (2, "<i2"),
    "U16": (2, "<u2"),
    "F16": (2, "<f2"),
    "BF16": (2, None),
    "I32": (4, "<i4"),
    "U32": (4, "<u4"),
    "F32": (4, "<f4"),
    "I64": (8, "<i8"),
    "U64": (8, "<u8"),
    "F64": (8, "<f8"),
    "C64": (8, "<c8"),
}


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of a checked file: dtype name, shape, and its ``[start, end)`` byte span in the file."""

    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


def _open_regular(path: Path) -> Any:
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        handle = os.fdopen(os.open(path, flags), "rb")
    except OSError as err:
        raise ArtifactError(f"{path}: cannot be read ({err.strerror or type(err).__name__})") from None
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        handle.close()
        raise ArtifactError(f"{path}: not a regular file")
    return handle


def _entry(name: str, spec: object, where: str) -> tuple[str, tuple[int, ...], int, int]:
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data_offsets"}:
        raise ArtifactError(f"{where}: tensor {name[:60]!r} needs exactly dtype, shape and data_offsets")
    dtype, shape, offsets = spec["dtype"], spec["shape"], spec["data_offsets"]
    if dtype not in DTYPES:
        raise ArtifactError(f"{where}: tensor {name[:60]!r} has unknown dtype {str(dtype)[:20]!r}")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_DIMS
        or not all(type(d) is int and d >= 0 for d in shape)
    ):
        raise ArtifactError(f"{where}: tensor {name[:60]!r} has an invalid shape {str(shape)[:60]}")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(o) is int for o in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise ArtifactError(f"{where}: tensor {name[:60]!r} has invalid data_offsets {str(offsets)[:60]}")
    nbytes = math.prod(shape) * DTYPES[dtype][0]
    if offsets[1] - offsets[0] != nbytes:
        raise ArtifactError(
            f"{where}: tensor {name[:60]!r} of shape {tuple(shape)} {dtype} needs {nbytes} bytes "
            f"but spans {offsets[1] - offsets[0]}"
        )
    return dtype, tuple(shape), offsets[0], offsets[1]


def check_safetensors(
    path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> dict[str, TensorEntry]:
    """Check a ``.safetensors`` file's structure without reading its data; return its tensors by name.

    Refused with :class:`ArtifactError`: a file over ``max_bytes`` or too short; a header length beyond the
    file or :data:`MAX_HEADER_BYTES`; a header that is not strict JSON (bounded depth, no duplicate keys)
    of the expected form; an unknown dtype; a shape whose size times the item size differs from its byte
    span; spans that leave gaps, overlap, or do not end exactly at the end of the file.
    """
    path = Path(path)
    with _open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            raise ArtifactError(f"{path}: {size} bytes, more than the {max_bytes} allowed")
        if size < 8:
            raise ArtifactError(f"{path}: {size} bytes, too short for a safetensors header")
        header_len = int.from_bytes(handle.read(8), "little")
        if header_len > size - 8 or header_len > MAX_HEADER_BYTES:
            raise ArtifactError(
                f"{path}: safetensors header length {header_len} exceeds the file "
                f"({size} bytes) or the {MAX_HEADER_BYTES}-byte limit"
            )
        raw = handle.read(header_len)
    if len(raw) != header_len:
        raise ArtifactError(f"{path}: file changed while being read")
    if not raw.startswith(b"{"):
        raise ArtifactError(f"{path}: safetensors header does not start with '{{'")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ArtifactError(f"{path}: safetensors header is not UTF-8") from None
    header = loads_json(text.rstrip(" "), f"{path}: safetensors header")
    if not isinstance(header, dict):
        raise ArtifactError(f"{path}: safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ArtifactError(f"{path}: safetensors __metadata__ is not a map of strings")
    entries = {name: _entry(name, spec, str(path)) for name, spec in header.items()}
    buffer_start, buffer_len = 8 + header_len, size - 8 - header_len
    position = 0
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda item: (item[1][2], item[1][3])):
        if begin != position:
            what = "overlaps the previous tensor" if begin < position else "leaves a gap before it"
            raise ArtifactError(f"{path}: tensor {name[:60]!r} at offset {begin} {what}")
        position = end
    if position != buffer_len:
        raise ArtifactError(
            f"{path}: tensors cover {position} bytes but the data buffer holds {buffer_len} "
            f"({'trailing bytes' if position < buffer_len else 'truncated'})"
        )
    return {
        name: TensorEntry(dtype, shape, buffer_start + begin, buffer_start + end)
        for name, (dtype, shape, begin, end) in entries.items()
    }


def read_safetensors(
    path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> dict[str, np.ndarray]:
    """Tensors of a checked (:func:`check_safetensors`) file as writable numpy arrays, in header order.

    BF16 is widened to float32 exactly (its bits are the top half of a float32); the FP8 types have no
    numpy equivalent and are refused (use :func:`load_safetensors_torch`).
    """
    path = Path(path)
    entries = check_safetensors(path, max_bytes=max_bytes)
    out: dict[str, np.ndarray] = {}
    with _open_regular(path) as handle:
        for name, entry in entries.items():
            code = DTYPES[entry.dtype][1]
            if entry.dtype == "BF16":
                code = "<u2"
            if code is None:
                raise ArtifactError(f"{path}: tensor {name[:60]!r} is {entry.dtype}, which numpy cannot hold")
            array = np.empty(entry.shape, dtype=np.dtype(code))
            handle.seek(entry.start)
            if handle.readinto(memoryview(array.reshape(-1).view(np.uint8))) != entry.end - entry.start:
                raise ArtifactError(f"{path}: file changed while being read")
            if entry.dtype == "BF16":
                array = (array.astype("<u4") << 16).view("<f4")
            out[name] = array
    return out


def load_safetensors_torch(
    path: str | os.PathLike[str], *, device: str = "cpu", max_bytes: int = DEFAULT_MAX_BYTES
) -> dict[str, Any]:
    """``safetensors.torch.load_file`` after :func:`check_safetensors`; loader errors become ArtifactError."""
    check_safetensors(path, max_bytes=max_bytes)
    from safetensors.torch import load_file  # imports torch: only here, never on ``import negate_sdk``

    try:
        return load_file(str(path), device=device)
    except Exception as err:  # the check passed, so this is a file changed since, or an unknown corner
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ArtifactError(f"{path}: safetensors cannot load it ({first[:200]})") from None
