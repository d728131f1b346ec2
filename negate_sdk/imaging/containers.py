"""Linear scans of image containers (JPEG, PNG, WebP, TIFF) that refuse metadata far beyond what cameras
and editors write before Pillow parses it (Pillow's header parsers go quadratic on such floods)."""

from __future__ import annotations

import struct
import zlib

from negate_sdk.imaging.errors import ImageError

# --- bounds on metadata, checked by a linear scan of the container before Pillow sees the bytes -------
# A camera writes one EXIF APP1 (at most 64 KiB), maybe an MPF APP2, XMP plus extended XMP (~1 MiB in
# 64 KiB APP1s), an ICC profile in a few APP2s and at most a few MiB of C2PA in APP11s: a few dozen
# segments.  PNG editors and generators write a handful of text chunks (a ComfyUI workflow is tens of
# KiB).  Beyond these, Pillow's JPEG header parser goes quadratic (it concatenates EXIF segments: 512 of
# them take 2.4 s); at these limits a whole open_image stays well under a second.
# JPEG APPn + COM segments; PNG ancillary chunks (APNG frame chunks excepted); WebP non-image chunks
MAX_METADATA_SEGMENTS = 256
MAX_METADATA_BYTES = 16 << 20  # their total size, and the inflated size of all PNG zTXt/iTXt text
MAX_EXIF_BYTES = 256 << 10  # one JPEG APP1 holds 64 KiB; Pillow and we parse every tag, so cap the blob
# Chunks of any kind (PNG IDAT, WebP ANMF, JPEG segments before the first scan): Pillow walks them one by
# one in Python (~1 µs each).  200 000 of libpng's 8 KiB IDATs hold more than MAX_FILE_BYTES.
MAX_CONTAINER_CHUNKS = 200_000
MAX_JPEG_STRAY_BYTES = 64 << 10  # fill/junk bytes between JPEG markers: Pillow skips them one at a time
MAX_TIFF_PAGES = 1024  # IFDs in a TIFF chain: Pillow parses every one of them to count the frames
MAX_TIFF_TAGS = 65_536  # tags in all those IFDs (a page has 15-30); Pillow reads ~300 000 a second
_INFLATE_PIECE = 64 << 10  # zTXt/iTXt text is inflated (to measure it) this many bytes at a time


# --- container structure -------------------------------------------------------------------------


def check_structure(data: bytes) -> None:
    """Refuse (``ImageError``, one line) a file whose container is far beyond what cameras and editors
    write, by a linear scan BEFORE Pillow parses it (it copies nothing; compressed PNG text is
    inflated 64 KiB at a time to be measured).

    JPEG: APPn/COM segments up to the first scan (count, bytes, EXIF bytes), all segments, stray bytes;
    PNG: ancillary chunks other than APNG frames (count, bytes, inflated zTXt/iTXt text, eXIf bytes)
    and all chunks; WebP: non-image chunks (count, bytes, EXIF bytes) and all chunks; TIFF: pages.
    Limits are the ``MAX_*`` constants of this module.  Other formats, and malformed structure the
    scan cannot follow, are left to Pillow (which stops at the same place).
    """
    if data[:3] == b"\xff\xd8\xff":
        _check_jpeg(data)
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        _check_png(data)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        _check_webp(data)
    elif data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        _check_tiff(data)


class _Tally:
    """Counts of one container's metadata, refusing the file as soon as one passes its limit."""

    def __init__(self, container: str) -> None:
        self.container = container
        self.chunks = self.metadata = self.metadata_bytes = self.exif_bytes = self.inflated = 0

    def chunk(self, what: str) -> None:
        self.chunks += 1
        if self.chunks > MAX_CONTAINER_CHUNKS:
            raise ImageError(f"{self.container} structure: over the limit of {MAX_CONTAINER_CHUNKS} {what}")

    def meta(self, size: int, what: str) -> None:
        self.metadata += 1
        self.metadata_bytes += size
        if self.metadata > MAX_METADATA_SEGMENTS:
            raise ImageError(f"{self.container} metadata: over the limit of {MAX_METADATA_SEGMENTS} {what}")
        self._bytes(self.metadata_bytes, MAX_METADATA_BYTES, f"in {what}")

    def exif(self, size: int) -> None:
        self.exif_bytes += size
        self._bytes(self.exif_bytes, MAX_EXIF_BYTES, "of EXIF")

    def text(self, size: int) -> None:
        self.inflated += size
        self._bytes(self.inflated, MAX_METADATA_BYTES, "of inflated zTXt/iTXt text")

    def _bytes(self, size: int, limit: int, what: str) -> None:
        if size > limit:
            raise ImageError(f"{self.container} metadata: over the limit of {_size_text(limit)} {what}")


def _size_text(size: int) -> str:
    return f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"


# JPEG markers Pillow reads no length for (JPG, RSTn, SOI, EOI, JPGn); below 0xC0 it stops.
_JPEG_LENGTHLESS = frozenset([0xC8, *range(0xD0, 0xDA), *range(0xF0, 0xFE)])


def _check_jpeg(data: bytes) -> None:
    """Walk the markers exactly as Pillow's JpegImageFile._open does, up to the first SOS."""
    tally, stray, pos, end = _Tally("JPEG"), 0, 2, len(data)
    while pos < end:
        if data[pos] != 0xFF:  # Pillow skips junk one byte at a time
            found = data.find(b"\xff", pos)
            stray += (found if found >= 0 else end) - pos
            pos = found if found >= 0 else end
        elif pos + 1 >= end:
            return
        elif data[pos + 1] in (0xFF, 0x00):  # a fill byte, or an escaped 0xFF
            stray += 1
            pos += 1 if data[pos + 1] == 0xFF else 2
        elif data[pos + 1] < 0xC0 or pos + 4 > end:
            return  # Pillow raises "no marker found" / the header is truncated
        else:
            marker = data[pos + 1]
            tally.chunk("segments before the image data")
            if marker in _JPEG_LENGTHLESS:
                pos += 2
                continue
            length = (data[pos + 2] << 8) | data[pos + 3]
            if 0xE0 <= marker <= 0xEF or marker == 0xFE:
                tally.meta(length, "APPn/COM segments")
                if marker == 0xE1 and data.startswith(b"Exif\x00\x00", pos + 4):
                    tally.exif(length)  # Pillow concatenates every EXIF APP1
            if marker == 0xDA:  # start of scan: Pillow hands the rest to libjpeg
                return
            pos += 4 + max(length - 2, 0)
        if stray > MAX_JPEG_STRAY_BYTES:
            limit = _size_text(MAX_JPEG_STRAY_BYTES)
            raise ImageError(f"JPEG structure: over the limit of {limit} of stray bytes between markers")


_APNG_CHUNKS = frozenset((b"acTL", b"fcTL", b"fdAT"))  # ancillary, but frames rather than metadata


def _check_png(data: bytes) -> None:
    """Walk the chunks up to IEND (as Pillow does), tallying ancillary ones."""
    tally, pos, end = _Tally("PNG"), 8, len(data)
    while pos + 8 <= end:
        length, ctype = struct.unpack_from(">I4s", data, pos)
        tally.chunk("chunks")
        if ctype == b"IEND":
            return
        if ctype[0] & 0x20 and ctype not in _APNG_CHUNKS:  # lower-case first letter: ancillary
            tally.meta(length, "text and other ancillary chunks")
            if ctype == b"eXIf":
                tally.exif(length)
            elif ctype in (b"zTXt", b"iTXt"):
                body = min(pos + 8 + length, end)
                tally.text(_inflated_size(data, pos + 8, body, ctype, MAX_METADATA_BYTES - tally.inflated))
        pos += 12 + length


def _inflated_size(data: bytes, start: int, end: int, ctype: bytes, budget: int) -> int:
    """Inflated size of the text of the zTXt/iTXt chunk ``data[start:end]``, inflating no more than
    one piece past ``budget`` (0 when the text is stored uncompressed or is not valid zlib)."""
    keyword_end = data.find(b"\x00", start, end)
    if keyword_end < 0:
        return 0
    if ctype == b"zTXt":
        text_start = keyword_end + 2  # NUL, compression method
    else:  # iTXt: NUL, compressed flag, method, language NUL, translated keyword NUL, text
        if keyword_end + 3 > end or data[keyword_end + 1] != 1:
            return 0
        language_end = data.find(b"\x00", keyword_end + 3, end)
        translated_end = data.find(b"\x00", language_end + 1, end) if language_end >= 0 else -1
        if translated_end < 0:
            return 0
        text_start = translated_end + 1
    inflater, pending, size = zlib.decompressobj(), memoryview(data)[text_start:end], 0
    try:
        while size <= budget and not inflater.eof:  # in pieces: memory stays at one piece
            piece = inflater.decompress(pending, _INFLATE_PIECE)
            pending = inflater.unconsumed_tail
            if not piece and not pending:
                break
            size += len(piece)
    except zlib.error:
        return 0  # Pillow keeps an empty text for it
    return size


_WEBP_IMAGE_CHUNKS = frozenset((b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF"))


def _check_webp(data: bytes) -> None:
    """Walk the RIFF chunks, tallying those that are not image data (EXIF, XMP, ICCP, unknown)."""
    tally, pos, end = _Tally("WebP"), 12, len(data)
    while pos + 8 <= end:
        fourcc, size = struct.unpack_from("<4sI", data, pos)
        tally.chunk("chunks")
        if fourcc not in _WEBP_IMAGE_CHUNKS:
            tally.meta(size, "metadata chunks")
            if fourcc == b"EXIF":
                tally.exif(size)
        pos += 8 + size + (size & 1)


def _check_tiff(data: bytes) -> None:
    """Follow the chain of IFDs (pages), which Pillow parses one by one to count the frames."""
    order = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")  # BigTIFF: 8-byte offsets and counts, 20-byte entries
    offset_format, count_format, entry_size = (
        (order + "Q", order + "Q", 20) if big else (order + "I", order + "H", 12)
    )
    header = 8 if big else 4
    if len(data) < header + struct.calcsize(offset_format):
        return
    (offset,) = struct.unpack_from(offset_format, data, header)
    seen: set[int] = set()
    entries = 0
    while offset and offset not in seen and offset + struct.calcsize(count_format) <= len(data):
        seen.add(offset)
        if len(seen) > MAX_TIFF_PAGES:
            raise ImageError(f"TIFF structure: over the limit of {MAX_TIFF_PAGES} pages")
        (count,) = struct.unpack_from(count_format, data, offset)
        entries += count
        if entries > MAX_TIFF_TAGS:
            raise ImageError(f"TIFF structure: over the limit of {MAX_TIFF_TAGS} tags in all pages")
        next_at = offset + struct.calcsize(count_format) + count * entry_size
        if next_at + struct.calcsize(offset_format) > len(data):
            return
        (offset,) = struct.unpack_from(offset_format, data, next_at)
