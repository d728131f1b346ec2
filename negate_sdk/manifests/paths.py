"""File paths a manifest can name but the operating system cannot open, found before anything is opened.

A table cell may hold a NUL byte, a path longer than the OS allows, or text no file system encoding can
represent: each makes ``open()`` raise something other than ``OSError`` or fail with a path too long to
show. :func:`path_problem` says which, in words, so the row is reported unreadable and the rest go on.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from negate_sdk import imaging
from negate_sdk.safetext import path_text, printable

MESSAGE_PATH_CHARS = 160  # longer paths are elided in messages: the start and the end name the file


@functools.lru_cache(maxsize=1)
def os_limits() -> tuple[int, int]:
    """``(PATH_MAX, NAME_MAX)`` in bytes for this system (4096 and 255 when it does not say)."""

    def query(name: str, default: int) -> int:
        try:
            return int(os.pathconf("/", name))
        except (AttributeError, OSError, ValueError):  # pathconf is POSIX-only
            return default

    return query("PC_PATH_MAX", 4096), query("PC_NAME_MAX", 255)


def path_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be opened whatever is on disk (a NUL byte, over the OS limits), or None."""
    text = os.fspath(path)
    if "\x00" in text:
        return "the path contains a NUL byte"
    try:
        raw = os.fsencode(text)
    except UnicodeEncodeError:
        return "the path is not representable in the file system's encoding"
    path_max, name_max = os_limits()
    if len(raw) >= path_max:  # PATH_MAX counts the terminating NUL
        return f"the path is longer than the OS limit ({path_max - 1} bytes)"
    longest = max((len(part) for part in raw.split(os.sep.encode())), default=0)
    if longest > name_max:
        return f"a name in the path is longer than the OS limit ({name_max} bytes)"
    return None


def message_path(path: str | os.PathLike[str]) -> str:
    """``path`` as it appears in a one-line message: printable, and elided in the middle when long."""
    return path_text(path, limit=MESSAGE_PATH_CHARS)


def refuse(path: str, reason: str) -> bytes:
    """A sample loader for a path that cannot be opened: raises the one-line ``ImageError``."""
    raise imaging.ImageError(f"cannot open {message_path(path)}: {reason}")


def read_file_bytes(path: str | os.PathLike[str]) -> bytes:
    """``imaging.read_bytes`` with the path checked first and named printably in every error."""
    problem = path_problem(path)
    if problem is not None:
        refuse(os.fspath(path), problem)
    try:
        return imaging.read_bytes(Path(path))
    except imaging.ImageError as err:
        # imaging names the path as given (whitespace collapsed): show the printable, elided form instead
        raw = os.fsdecode(os.fspath(path))
        reason = str(err).replace(" ".join(raw.split()), message_path(raw))
        raise imaging.ImageError(printable(reason)) from None
