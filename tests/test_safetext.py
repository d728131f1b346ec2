"""negate_sdk.safetext: exact escapes of hostile strings and file names, written out by hand."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from negate_sdk.safetext import ELLIPSIS, path_text, printable


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain name.jpg", "plain name.jpg"),
        ("café 日本 😀.png", "café 日本 😀.png"),  # printable non-ASCII passes unchanged
        ("\x1b[2J", "\\x1b[2J"),  # clear screen: ESC shown, the rest harmless
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),  # set window title, ended by BEL
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("tab\there", "tab\\there"),
        ("two\nlines\r\n", "two\\nlines\\r\\n"),
        ("nul\x00del\x7f", "nul\\x00del\\x7f"),
        ("c1\x85\x9b", "c1\\u0085\\u009b"),  # NEL and CSI: C1 controls, as \u so never like a byte
        ("a\u202ecod.exe", "a\\u202ecod.exe"),  # right-to-left override
        ("\u202a\u202b\u202c\u202d", "\\u202a\\u202b\\u202c\\u202d"),
        ("\u2066x\u2067y\u2068z\u2069", "\\u2066x\\u2067y\\u2068z\\u2069"),  # bidi isolates
        ("\u200e\u200f\u061c", "\\u200e\\u200f\\u061c"),  # bidi marks
        ("line\u2028sep\u2029", "line\\u2028sep\\u2029"),
        ("caf\udce9.jpg", "caf\\xe9.jpg"),  # surrogateescape of the Latin-1 byte 0xE9
        ("\ud800\udfff", "\\ud800\\udfff"),  # other lone surrogates
        ("C:\\dir\\x1b", "C:\\\\dir\\\\x1b"),  # a real backslash never looks like an escape
    ],
)
def test_printable_exact(text, expected):
    assert printable(text) == expected
    assert printable(text) == printable(text)  # stable
    expected.encode("utf-8")  # always valid UTF-8
    assert json.loads(json.dumps(printable(text), ensure_ascii=False)) == expected


def test_printable_is_injective_on_lookalikes():
    # A real ESC, a surrogate-escaped byte, a C1 character and the literal text "\x1b" all differ.
    variants = ["\x1b", "\udc9b", "\x9b", "\\x1b", "\\\x1b", "\\\\x1b"]
    shown = [printable(v) for v in variants]
    assert shown == ["\\x1b", "\\x9b", "\\u009b", "\\\\x1b", "\\\\\\x1b", "\\\\\\\\x1b"]
    assert len(set(shown)) == len(variants)


def test_printable_limit_cuts_between_escapes():
    assert printable("abcdefghij", 5) == "abcd" + ELLIPSIS
    assert printable("abcde", 5) == "abcde"
    assert printable("\x1b\x1b\x1b", 12) == "\\x1b\\x1b\\x1b"
    # 3 escapes need 12 characters: with 11, two escapes and the ellipsis (never a cut "\x1")
    assert printable("\x1b\x1b\x1b", 11) == "\\x1b\\x1b" + ELLIPSIS
    assert printable("\x1b\x1b\x1b", 6) == "\\x1b" + ELLIPSIS
    assert printable("ab\x1b", 4) == "ab" + ELLIPSIS
    with pytest.raises(ValueError, match="at least 1"):
        printable("x", 0)


def test_printable_limit_reads_only_a_prefix():
    huge = "\x1b" * 10_000_000  # 10 M control characters
    start = time.perf_counter()
    shown = printable(huge, 100)
    assert time.perf_counter() - start < 0.05
    assert shown == "\\x1b" * 24 + ELLIPSIS and len(shown) == 97


def test_path_text_of_bytes_and_surrogate_names():
    latin1 = b"caf\xe9.jpg"
    assert path_text(latin1) == "caf\\xe9.jpg"
    assert path_text(os.fsdecode(latin1)) == "caf\\xe9.jpg"
    assert path_text(Path(os.fsdecode(latin1))) == "caf\\xe9.jpg"
    assert path_text("caf\u00e9.jpg") == "café.jpg"  # the UTF-8 name prints as itself
    assert path_text(b"caf\xc3\xa9.jpg") == "café.jpg"
    assert path_text(b"dir/\x1b[2Jx.png") == "dir/\\x1b[2Jx.png"


def test_path_text_limit_keeps_start_and_end():
    path = "/data/" + "d" * 300 + "/photo.jpg"
    shown = path_text(path, limit=40)
    assert shown == "/data/ddddddd" + ELLIPSIS + "d" * 16 + "/photo.jpg"
    assert len(shown) == 40
    assert path_text("/short.png", limit=40) == "/short.png"
    escaped = path_text("\x1b" * 30 + ".png", limit=20)
    # head budget 6 holds one escape, tail budget 13 holds two and ".png"
    assert escaped == "\\x1b" + ELLIPSIS + "\\x1b\\x1b.png"
