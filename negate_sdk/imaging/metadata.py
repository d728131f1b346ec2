"""Raw metadata of a decoded image for provenance plugins, with the strings kept bounded, and the JPEG
quality estimate."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import ExifTags, Image

# --- bounds on the metadata strings kept, so downstream code never sees megabytes -------------------
MAX_TEXT_CHARS = 64 << 10  # each ImageMetadata.text value (PNG chunks, comments); longer ones are cut
MAX_XMP_CHARS = 256 << 10  # ImageMetadata.xmp; an XMP packet with editing history is ~100 KiB
MAX_EXIF_TAGS = 1024  # EXIF tags kept in ImageMetadata.exif (cameras write ~100-300)

_EXIF_TEXT_LIMIT = 2000
_TEXT_KEY_CHARS = 256  # PNG keywords are at most 79 bytes; Pillow keeps whatever precedes the NUL
_ORIENTATION_TAG = 0x0112
_EXIF_IFD_TAG = 0x8769
_IFD_POINTER_TAGS = {0x8769, 0x8825, 0xA005}  # Exif, GPS and Interop sub-IFD offsets
# A JUMBF superbox ("jumb") whose description box carries the "c2pa" label within 64 bytes.  Only the
# first few "jumb" boxes are looked at: a C2PA store's outermost box comes first, and a file made of
# "jumb" repeated must not cost one search per occurrence.
_JUMBF_WINDOW = 64
_JUMBF_CANDIDATES = 64
# JPEG Annex K standard luminance quantisation table, natural (row-major) order.
_IJG_LUMA = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip


@dataclass(frozen=True)
class ImageInfo:
    """What the file header says, without decoding any pixels."""

    format: str
    mode: str
    width: int
    height: int
    n_frames: int


@dataclass
class ImageMetadata:
    """Raw metadata of a decoded image, for provenance plugins.

    ``width``/``height`` are as stored in the file (before EXIF orientation is applied).
    ``text`` holds PNG tEXt/zTXt/iTXt chunks and GIF/JPEG comments (key ``"comment"``);
    ``exif`` maps EXIF tag names (base IFD plus the Exif sub-IFD) to stringified values;
    ``jpeg_quality`` is the estimated IJG quality (1..100) of a JPEG, else ``None``.
    """

    format: str
    mode: str
    width: int
    height: int
    orientation: int
    n_frames: int
    text: dict[str, str]
    exif: dict[str, str]
    xmp: str | None
    icc_profile: bytes | None
    has_c2pa: bool
    jpeg_quality: int | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the metadata; the ICC profile is replaced by its size in bytes."""
        d = dataclasses.asdict(self)
        icc = d.pop("icc_profile")
        d["icc_profile_bytes"] = len(icc) if icc else None
        return d


def estimate_jpeg_quality(luma_table: Sequence[int]) -> int:
    """Estimate the IJG quality (1..100) a JPEG was saved with from its 64-entry luminance
    quantisation table.

    Method: for every quality 1..100, scale the Annex K standard luminance table exactly as
    libjpeg does (``scale = 5000/q`` below 50, else ``200 - 2q``; entries ``(b*scale+50)//100``
    clamped to 1..255) and return the quality whose table is closest (L1 distance).  Both
    tables are sorted before comparing, so natural and zigzag order give the same answer.
    IJG/libjpeg encoders (Pillow included) are recovered exactly; other encoders get the
    nearest IJG equivalent.
    """
    values = sorted(min(int(v), 255) for v in luma_table)
    if len(values) != 64 or values[0] < 1:
        raise ValueError("expected 64 positive quantisation values")
    # argmin keeps the first (lowest) quality among ties, as a loop from 1 to 100 would
    return int(np.argmin(np.abs(_ijg_candidates() - np.array(values)).sum(axis=1))) + 1


@functools.lru_cache(maxsize=1)
def _ijg_candidates() -> np.ndarray:
    """``(100, 64)`` sorted IJG luminance tables for qualities 1..100 (computed once)."""
    rows = []
    for q in range(1, 101):
        scale = 5000 // q if q < 50 else 200 - 2 * q
        rows.append(sorted(min(max((b * scale + 50) // 100, 1), 255) for b in _IJG_LUMA))
    return np.array(rows)


# --- metadata ------------------------------------------------------------------------------------


def _metadata(im: Image.Image, data: bytes, info: ImageInfo) -> ImageMetadata:
    """Collect metadata from an opened, loaded image (so PNG chunks after IDAT are included)."""
    try:
        exif_obj = im.getexif()
        exif = _exif_dict(exif_obj)
        orientation = exif_obj.get(_ORIENTATION_TAG, 1)
    except Exception:  # unreadable EXIF does not make the pixels unusable
        exif, orientation = {}, 1
    if not isinstance(orientation, int) or not 1 <= orientation <= 8:
        orientation = 1

    raw_text = getattr(im, "text", {})
    text = {_to_str(k, _TEXT_KEY_CHARS): _to_str(v, MAX_TEXT_CHARS) for k, v in raw_text.items()}
    if isinstance(im.info.get("comment"), (bytes, str)):
        text["comment"] = _to_str(im.info["comment"], MAX_TEXT_CHARS)

    xmp = raw_text.get("XML:com.adobe.xmp") or im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    icc = im.info.get("icc_profile")

    quality = None
    quantization = getattr(im, "quantization", None)
    if info.format in ("JPEG", "MPO") and quantization:
        with contextlib.suppress(ValueError, TypeError):
            quality = estimate_jpeg_quality(quantization.get(0) or next(iter(quantization.values())))

    return ImageMetadata(
        format=info.format,
        mode=info.mode,
        width=info.width,
        height=info.height,
        orientation=orientation,
        n_frames=info.n_frames,
        text=text,
        exif=exif,
        xmp=_to_str(xmp, MAX_XMP_CHARS) if xmp else None,
        icc_profile=bytes(icc) if icc else None,
        has_c2pa=_has_c2pa(im, data),
        jpeg_quality=quality,
    )


def _to_str(value: Any, limit: int = _EXIF_TEXT_LIMIT) -> str:
    """``value`` as text of at most ``limit`` characters (bytes decoded as UTF-8, only as many as
    that needs: a character is at most 4 bytes, so a cut character falls beyond ``limit``)."""
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value[: 4 * limit + 4]).decode("utf-8", errors="replace").rstrip("\x00")
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = str(value)
        except Exception:
            text = f"<unprintable {type(value).__name__}>"
    return text[:limit]


def _exif_dict(exif: Image.Exif) -> dict[str, str]:
    """Base IFD plus the Exif sub-IFD (Software, Make, Model, DateTimeOriginal, ...)."""
    items = itertools.chain(exif.items(), exif.get_ifd(_EXIF_IFD_TAG).items())
    kept = (item for item in items if item[0] not in _IFD_POINTER_TAGS)
    return {
        ExifTags.TAGS.get(tag, f"0x{tag:04X}"): _to_str(value)
        for tag, value in itertools.islice(kept, MAX_EXIF_TAGS)
    }


def _has_c2pa(im: Image.Image, data: bytes) -> bool:
    """True if a C2PA manifest store is embedded (format-specific container, else raw JUMBF)."""
    if im.format in ("JPEG", "MPO"):
        app11 = [payload for name, payload in getattr(im, "applist", []) if name == "APP11"]
        found = any(b"jumb" in payload and b"c2pa" in payload for payload in app11)
    elif im.format == "PNG":
        found = b"caBX" in _png_chunk_types(data)
    elif im.format == "WEBP":
        found = b"C2PA" in _riff_chunk_types(data)
    else:
        found = False
    return found or _has_c2pa_jumbf(data)


def _has_c2pa_jumbf(data: bytes) -> bool:
    """True if one of the first "jumb" boxes is followed within 64 bytes by the "c2pa" label."""
    pos = data.find(b"jumb")
    for _ in range(_JUMBF_CANDIDATES):
        if pos < 0:
            return False
        if data.find(b"c2pa", pos + 4, pos + 8 + _JUMBF_WINDOW) >= 0:
            return True
        pos = data.find(b"jumb", pos + 1)
    return False


def _png_chunk_types(data: bytes) -> Iterator[bytes]:
    """Types of the chunks after the PNG signature (length, type, data, crc) up to IEND: the stretch
    check_structure bounded (chunks after IEND are ignored by Pillow and could be countless)."""
    pos = 8
    while pos + 8 <= len(data):
        length, ctype = struct.unpack_from(">I4s", data, pos)
        yield ctype
        if ctype == b"IEND":
            return
        pos += 12 + length


def _riff_chunk_types(data: bytes) -> Iterator[bytes]:
    """FourCCs of the chunks after the RIFF/WEBP header (fourcc, size, data, pad to even)."""
    pos = 12
    while pos + 8 <= len(data):
        ctype, size = struct.unpack_from("<4sI", data, pos)
        yield ctype
        pos += 8 + size + (size & 1)
