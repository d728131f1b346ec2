r"""Printable text from untrusted strings (file names, metadata) for terminals, JSON and Parquet.

:func:`printable` replaces every character that could move the cursor, retitle or clear a terminal,
reorder a line (bidi controls), break it in two, or fail to encode as UTF-8 (lone surrogates) with a
visible escape.  Everything else (accents, CJK, emoji) passes unchanged::

    printable("\x1b[2J")          == "\\x1b[2J"      # ESC shown, so the sequence is inert
    printable("caf\udce9.jpg")    == "caf\\xe9.jpg"  # the undecodable byte 0xE9 of a file name
    printable("a\u202ebc")        == "a\\u202ebc"    # right-to-left override

The escapes are:

=========================  ==================================================================
``\\``                      a backslash (escaped so that no two inputs ever print the same)
``\t`` ``\n`` ``\r``        tab, line feed, carriage return
``\xNN`` (NN < 80)          other C0 controls and DEL (U+0000-U+001F, U+007F)
``\xNN`` (NN >= 80)         a byte that was not UTF-8 in a file name (U+DC80-U+DCFF, as
                            ``surrogateescape`` decodes it)
``\uNNNN``                  C1 controls (U+0080-U+009F), bidi marks and overrides (U+061C,
                            U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), line and paragraph
                            separators (U+2028, U+2029) and any other lone surrogate
=========================  ==================================================================

The mapping is a pure function of its input (ids of samples may be derived from it) and, without a
``limit``, injective: real C1 characters use ``\u0080``-``\u009f`` precisely so that they never
print like an undecodable byte.  Only the standard library is imported.
"""

from __future__ import annotations

import os
import re

__all__ = ["ELLIPSIS", "path_text", "printable"]

ELLIPSIS = "\u2026"  # marks where a limited text was cut

# One character per match, so cutting the *input* anywhere never splits an escape.
_UNSAFE = re.compile("[\\\\\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(char: str) -> str:
    """The escape of one unsafe character (see the module docstring for the table)."""
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x80:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte of an undecodable name
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def _escape_match(match: re.Match[str]) -> str:
    return _escape(match.group())


def _head(text: str, budget: int) -> str:
    """The printable form of the longest prefix of ``text`` that fits in ``budget`` characters."""
    pieces, used = [], 0
    for char in text[:budget]:  # every character prints as at least one character
        piece = _escape(char) if _UNSAFE.match(char) else char
        if used + len(piece) > budget:
            break
        pieces.append(piece)
        used += len(piece)
    return "".join(pieces)


def _tail(text: str, budget: int) -> str:
    """The printable form of the longest suffix of ``text`` that fits in ``budget`` characters."""
    pieces, used = [], 0
    for char in reversed(text[-budget:] if budget else ""):
        piece = _escape(char) if _UNSAFE.match(char) else char
        if used + len(piece) > budget:
            break
        pieces.append(piece)
        used += len(piece)
    return "".join(reversed(pieces))


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1 character, got {limit}")


def printable(text: str, limit: int | None = None) -> str:
    r"""``text`` with control characters, bidi controls and lone surrogates escaped (table above).

    The result is valid UTF-8, holds no terminal control and no line break, and is the same for the
    same input.  With ``limit``, a result longer than ``limit`` characters is cut (never inside an
    escape) and ends with ``…``, so it is at most ``limit`` characters long; only the first
    ``limit + 1`` characters of ``text`` are looked at, so a huge text costs no more than a short one.
    """
    _check_limit(limit)
    if limit is None:
        return _UNSAFE.sub(_escape_match, text)
    shown = _UNSAFE.sub(_escape_match, text[: limit + 1])
    if len(shown) <= limit and len(text) <= limit:
        return shown
    return _head(text, limit - 1) + ELLIPSIS


def path_text(path: str | bytes | os.PathLike, limit: int | None = None) -> str:
    r"""A file name or path as printable text (see :func:`printable`).

    ``bytes`` names are decoded as UTF-8 with ``surrogateescape`` whatever the locale, so a Latin-1
    ``b"caf\xe9.jpg"`` and the ``str`` Python lists for it (``"caf\udce9.jpg"``) both give
    ``"caf\\xe9.jpg"``.  With ``limit``, a longer result keeps its start and, mostly, its end (where
    the file name is) around one ``…``.
    """
    _check_limit(limit)
    raw = os.fspath(path)
    text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
    if limit is None:
        return printable(text)
    if len(text) <= limit:
        shown = printable(text)
        if len(shown) <= limit:
            return shown
    head = (limit - 1) // 3  # the end of a path (the file name) is usually the part that matters
    return _head(text, head) + ELLIPSIS + _tail(text, limit - 1 - head)
