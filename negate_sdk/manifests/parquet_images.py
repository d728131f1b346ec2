"""Images stored inside Parquet files (the Hugging Face layout), read one row at a time, on demand.

A ``parquet-row`` locator ``"core/test-00000-of-00005.parquet#17"`` names row 17 of that file, relative to a
root that is a local folder (an offline mirror, the Hugging Face cache) or ``hf://datasets/<repo>@<rev>``
(read remotely with ``huggingface_hub.HfFileSystem``). Parquet is read a row group at a time; the last row
group read is kept, so iterating rows in file order reads each row group once. Nothing else is cached.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from functools import partial
from pathlib import Path
from typing import Any

from negate_sdk import imaging
from negate_sdk.api import Sample
from negate_sdk.safetext import path_text, printable

HF_SCHEME = "hf://"
_MAX_OPEN_FILES = 8
_MAX_ROW_GROUPS = 1
_lock = threading.Lock()
_files: OrderedDict[tuple[str, str], tuple[Any, list[int]]] = OrderedDict()
_groups: OrderedDict[tuple[str, str, str, int], list[Any]] = OrderedDict()


def split_locator(locator: str) -> tuple[str, int]:
    """``"dir/file.parquet#17"`` → ``("dir/file.parquet", 17)``; ValueError for anything else."""
    file, sep, row = locator.rpartition("#")
    if not sep or not file or not row.isdigit():
        raise ValueError(f"not a parquet-row locator: {locator!r}")
    return file, int(row)


def open_binary(root: str, relpath: str) -> Any:
    """A binary file object for ``relpath`` under ``root`` (a local folder or an ``hf://`` URL)."""
    if root.startswith(HF_SCHEME):
        from huggingface_hub import HfFileSystem

        return HfFileSystem().open(f"{root[len(HF_SCHEME) :]}/{relpath}", "rb")
    return open(Path(root) / relpath, "rb")


def _parquet_file(root: str, relpath: str) -> tuple[Any, list[int]]:
    """The open ParquetFile and the first row of each row group (cached, a few files at most)."""
    key = (root, relpath)
    if key in _files:
        _files.move_to_end(key)
        return _files[key]
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(open_binary(root, relpath))
    except FileNotFoundError:
        raise imaging.ImageError(f"file not found: {path_text(relpath)} (under {path_text(root)})") from None
    except OSError as err:
        reason = printable(str(err).splitlines()[0] if str(err) else type(err).__name__, 200)
        raise imaging.ImageError(f"cannot read {path_text(relpath)}: {reason}") from None
    starts, total = [], 0
    for i in range(handle.metadata.num_row_groups):
        starts.append(total)
        total += handle.metadata.row_group(i).num_rows
    starts.append(total)
    _files[key] = (handle, starts)
    while len(_files) > _MAX_OPEN_FILES:
        _files.popitem(last=False)
    return handle, starts


def _cell_bytes(value: Any, root: str, where: str) -> bytes:
    """Image bytes from an ``image`` cell: a ``{"bytes", "path"}`` struct or raw binary."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, dict):
        if value.get("bytes"):
            return bytes(value["bytes"])
        if value.get("path"):
            with open_binary(root, str(value["path"])) as handle:
                return handle.read()
    raise imaging.ImageError(f"{where}: no image bytes in this row")


def read_image_bytes(root: str, locator: str, column: str = "image") -> bytes:
    """The encoded image bytes of one ``parquet-row`` locator; ImageError with one line if unreadable."""
    relpath, row = split_locator(locator)
    with _lock:
        handle, starts = _parquet_file(root, relpath)
        if not 0 <= row < starts[-1]:
            raise imaging.ImageError(f"{locator}: row {row} is out of range ({starts[-1]} rows)")
        group = bisect.bisect_right(starts, row) - 1
        key = (root, relpath, column, group)
        if key not in _groups:
            if column not in handle.schema_arrow.names:
                raise imaging.ImageError(f"{relpath} has no column '{column}'")
            _groups[key] = handle.read_row_group(group, columns=[column]).column(0).to_pylist()
            while len(_groups) > _MAX_ROW_GROUPS:
                _groups.popitem(last=False)
        value = _groups[key][row - starts[group]]
    return _cell_bytes(value, root, locator)


def clear_cache() -> None:
    """Close cached Parquet files and drop the cached row group."""
    with _lock:
        _files.clear()
        _groups.clear()


class ParquetRowSample(Sample):
    """A :class:`negate_sdk.Sample` whose bytes are one row of a Parquet file, read on first use.

    The row is read through the base class's ``loader``, so :meth:`release` drops the bytes and pixels
    (they are read again when needed) and pickling carries only the root, the locator and the labels.
    """

    def __init__(self, id: str, *, root: str, locator: str, column: str = "image", **fields: Any) -> None:
        split_locator(locator)  # fail early on a malformed locator
        super().__init__(id, loader=partial(read_image_bytes, str(root), locator, column), **fields)
        self.root = str(root)
        self.locator = locator
        self.column = column

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe identity of the sample, with its root and locator."""
        data = super().to_dict()
        data.update(root=self.root, locator=self.locator)
        return data
