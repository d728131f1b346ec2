"""Printable text from untrusted names (file paths, table cells), for ids, messages and JSON.

A stand-in for ``negate_sdk.safetext`` (``printable`` / ``path_text``) until that module lands; the manifest
layer calls only these two functions, so swapping them is a one-line import change.

Undecodable bytes of a file name (which Python keeps as lone surrogates, ``\\udce9`` for the byte 0xE9)
are shown as ``\\xe9``; control characters (C0, DEL, C1), line and paragraph separators and bidirectional
overrides are shown as ``\\xNN`` / ``\\uNNNN``. Everything else, including non-ASCII letters, is kept, so
an ordinary name is returned unchanged and the result is the same on every run.
"""

from __future__ import annotations

import os
import unicodedata

_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by the surrogateescape handler
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with control characters, undecodable bytes and bidi overrides escaped (valid UTF-8)."""
    if text.isprintable() and text.isascii():  # the common case, checked in C
        return text
    return "".join(
        _escape(c) if c in _BIDI or unicodedata.category(c) in _HIDDEN_CATEGORIES else c for c in text
    )


def path_text(path: str | bytes | os.PathLike[str] | os.PathLike[bytes], limit: int | None = None) -> str:
    """A file path as printable text; with ``limit``, the middle of a longer one is elided (``…``)."""
    raw = os.fsdecode(path)
    text = printable(raw)
    if limit is not None and len(text) > limit:
        keep = max(limit - 1, 2) // 2
        text = f"{text[:keep]}…{text[-keep:]}"
    return text
