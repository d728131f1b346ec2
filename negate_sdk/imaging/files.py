"""Reading an image file's bytes safely: regular files only (never blocking on a FIFO, never reading a
device), a size limit checked before and while reading, one-line errors with printable names."""

from __future__ import annotations

import errno
import os
import stat

from negate_sdk.imaging.errors import ImageError
from negate_sdk.safetext import path_text, printable

MAX_FILE_BYTES = 1 << 30  # 1 GiB: no image a detector should see is larger; checked before reading
SHOWN_PATH_CHARS = 240  # file names in error messages: longer ones keep their start and end


# --- reading and opening -------------------------------------------------------------------------


def read_bytes(source: str | os.PathLike | bytes, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """Return the file's bytes (read once, so hashing and decoding see the same bytes).

    Refuses (``ImageError``, one line naming the file in printable form) missing files, directories,
    FIFOs, devices and sockets (a FIFO never blocks: the file is opened non-blocking and the opened
    descriptor checked), unreadable files, names the OS cannot take (NUL byte, too long), empty files
    and files over ``max_bytes`` (checked before reading, and again while reading).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        data = _read_file(source, max_bytes)
    else:
        raise TypeError(f"source must be a path or bytes, not {type(source).__name__}")
    if not data:
        raise ImageError("empty file (0 bytes)")
    return data


# What a path that is not a regular file is, for the refusal message.
_FILE_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
# Non-blocking so that a FIFO swapped in after the stat cannot hang the open (fstat then refuses it);
# no controlling terminal from a tty; not inherited by child processes.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def _read_file(source: str | os.PathLike, max_bytes: int) -> bytes:
    """Bytes of a regular file; any failure is an ImageError naming the file (see read_bytes)."""
    path = os.fspath(source)
    shown = path_text(path, limit=SHOWN_PATH_CHARS)
    if "\0" in (path if isinstance(path, str) else path.decode("latin-1")):
        raise ImageError(f"invalid file name (contains a NUL byte): {shown}")
    try:
        # stat first: a device is refused without being opened (opening some has side effects)
        _check_regular(os.stat(path), shown, max_bytes)
        fd = os.open(path, _OPEN_FLAGS)
        try:
            st = os.fstat(fd)  # the path may have been replaced since the stat
            _check_regular(st, shown, max_bytes)
            return _read_fd(fd, st.st_size, shown, max_bytes)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise ImageError(f"file not found: {shown}") from None
    except PermissionError:
        raise ImageError(f"permission denied: {shown}") from None
    except UnicodeError:  # a str name with a lone surrogate that is not an escaped byte
        raise ImageError(f"invalid file name (cannot be encoded for the OS): {shown}") from None
    except OSError as err:
        why = (
            "file name too long" if err.errno == errno.ENAMETOOLONG else (err.strerror or type(err).__name__)
        )
        raise ImageError(f"cannot read file: {shown}: {printable(why, limit=200)}") from None


def _check_regular(st: os.stat_result, shown: str, max_bytes: int) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"not a file (is a directory): {shown}")
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _FILE_KINDS if test(st.st_mode)), "a special file")
        raise ImageError(f"not a regular file (is {kind}): {shown}")
    if st.st_size > max_bytes:
        raise ImageError(
            f"file is {st.st_size / 2**20:.0f} MiB, over the {max_bytes / 2**20:.0f} MiB limit: {shown}"
        )


def _read_fd(fd: int, size: int, shown: str, max_bytes: int) -> bytes:
    """Read a regular file's descriptor to its end, refusing it once it exceeds ``max_bytes``
    (it may be growing, or be a /proc-like file whose size says 0)."""
    parts = [os.read(fd, size)] if size else []  # one call reads a regular file whole
    total = sum(map(len, parts))
    while True:
        chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            raise ImageError(f"file is over the {max_bytes / 2**20:.0f} MiB limit: {shown}")
    return parts[0] if len(parts) == 1 else b"".join(parts)
