"""Safe decoding of untrusted image files into RGB ``uint8`` arrays plus raw metadata.

Everything that can go wrong with a file (missing, empty, not an image, too large, too small,
truncated, corrupt, metadata far beyond what cameras write) is reported as a single
:class:`ImageError` whose message is one line, with file names in printable form
(:func:`negate_sdk.safetext.path_text`).  Time and memory per file are bounded: container structure
is checked by a linear scan before Pillow parses it, pixels are converted in row blocks, and the
metadata strings kept are capped.
Only the formats in :data:`ALLOWED_FORMATS` are ever handed to a Pillow decoder, so formats that
shell out to Ghostscript (EPS, PDF) or other risky plugins are never touched.  Format detection
is by content, never by file extension.

Only the standard library, numpy and Pillow are imported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import io
import itertools
import os
import stat
import struct
import warnings
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import ExifTags, Image

from negate_sdk.safetext import path_text, printable

DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP
MIN_SIDE = 8
MAX_FILE_BYTES = 1 << 30  # 1 GiB: no image a detector should see is larger; checked before reading
# Transparent pixels are composited over a fixed white background: the result is deterministic
# (the same file always gives the same pixels) and matches how browsers and viewers show it.
BACKGROUND = (255, 255, 255)
# Formats handed to Pillow.  "AVIF" and "HEIF" are added at call time if a Pillow plugin for them
# is registered (see _formats); EPS/PDF/etc. are never allowed (they would run Ghostscript).
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "MPO")
_OPTIONAL_FORMATS = ("AVIF", "HEIF")

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
# --- bounds on the metadata strings kept, so downstream code never sees megabytes -------------------
MAX_TEXT_CHARS = 64 << 10  # each ImageMetadata.text value (PNG chunks, comments); longer ones are cut
MAX_XMP_CHARS = 256 << 10  # ImageMetadata.xmp; an XMP packet with editing history is ~100 KiB
MAX_EXIF_TAGS = 1024  # EXIF tags kept in ImageMetadata.exif (cameras write ~100-300)
SHOWN_PATH_CHARS = 240  # file names in error messages: longer ones keep their start and end
# Pixels are converted to RGB in blocks of rows of about this many pixels, so the only full-size array
# besides Pillow's decoded image is the result (a 1-bit 100 MP PNG no longer needs 1 GB).
_BLOCK_PIXELS = 1 << 20

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
_INFLATE_PIECE = 64 << 10  # zTXt/iTXt text is inflated (to measure it) this many bytes at a time
# JPEG Annex K standard luminance quantisation table, natural (row-major) order.
_IJG_LUMA = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip


class ImageError(ValueError):
    """An image was refused; ``str(err)`` is ONE line, e.g.
    ``'corrupt or truncated image: image file is truncated'``.  The same text is in ``.reason``."""

    def __init__(self, reason: str) -> None:
        self.reason = " ".join(str(reason).split())
        super().__init__(self.reason)


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


@dataclass
class DecodedImage:
    """``pixels`` is a C-contiguous, writeable ``(height, width, 3)`` uint8 RGB array with EXIF
    orientation applied (so height/width may be swapped relative to ``metadata``)."""

    pixels: np.ndarray
    metadata: ImageMetadata


@dataclass(frozen=True)
class Failure:
    """A source that :func:`open_many` could not decode, with the one-line reason."""

    source: str  # path, or "<bytes #i>" for the i-th bytes source
    reason: str


def probe(
    source: str | os.PathLike | bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int = MIN_SIDE
) -> ImageInfo:
    """Header-only check: raises ImageError for the same refusal reasons that can be known
    without decoding (unreadable, empty, unsupported format, too many pixels, side too small)."""
    data = read_bytes(source)
    with _translate_errors(), _opened(data, max_pixels) as im:
        return _check_header(im, max_pixels, min_side)


def open_image(
    source: str | os.PathLike | bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int = MIN_SIDE
) -> DecodedImage:
    """Decode the first frame of an image file (path or bytes) into ``(h, w, 3)`` uint8 RGB.

    Alpha is composited over :data:`BACKGROUND`, 16-bit and float images are scaled to 8 bit,
    and EXIF orientation is applied.  Raises :class:`ImageError` (one-line reason) for anything
    that is not a decodable, supported image within ``max_pixels`` and ``min_side``.
    """
    data = read_bytes(source)
    with _translate_errors(), _opened(data, max_pixels) as im:
        info = _check_header(im, max_pixels, min_side)
        im.load()  # first frame only
        pixels = _to_rgb(im)
        metadata = _metadata(im, data, info)
    # _to_rgb's result is C-contiguous and writeable; a rotated or flipped view is copied once.
    pixels = np.require(
        _apply_orientation(pixels, metadata.orientation), np.uint8, ["C_CONTIGUOUS", "WRITEABLE"]
    )
    return DecodedImage(pixels=pixels, metadata=metadata)


def open_many(sources: Iterable[str | os.PathLike | bytes], **kw: Any) -> Iterator[DecodedImage | Failure]:
    """Decode each source with :func:`open_image` (``kw`` is passed through); a bad file yields
    a :class:`Failure` with its reason and the batch goes on.  Order is preserved."""
    for i, source in enumerate(sources):
        try:
            yield open_image(source, **kw)
        except ImageError as err:
            is_bytes = isinstance(source, (bytes, bytearray, memoryview))
            yield Failure(source=f"<bytes #{i}>" if is_bytes else path_text(source), reason=err.reason)


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


def _formats() -> tuple[str, ...]:
    """The allowed formats Pillow can open right now (AVIF/HEIF only if a plugin is registered).

    Unregistered names must be left out: Image.open raises KeyError for them.  MPO is opened by
    the JPEG opener, so it is dropped here but still recognised (im.format == "MPO").
    """
    Image.init()
    return tuple(f for f in ALLOWED_FORMATS + _OPTIONAL_FORMATS if f in Image.OPEN)


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.1f} MP" if pixels >= 100_000 else f"{pixels / 1e6:.4g} MP"


def _too_large(width: int, height: int, max_pixels: int) -> ImageError:
    size = _megapixels(width * height)
    return ImageError(f"image is {width}×{height} ({size}), over the {_megapixels(max_pixels)} limit")


@contextlib.contextmanager
def _translate_errors() -> Iterator[None]:
    """Turn whatever Pillow raises on hostile input into a one-line ImageError.

    Pillow plugins raise many exception types on malformed files (OSError, SyntaxError,
    struct.error, EOFError, IndexError, ZeroDivisionError, ...), so everything is caught here.
    """
    try:
        yield
    except ImageError:
        raise
    except Image.DecompressionBombError as err:
        raise ImageError(f"image too large: {err}") from None
    except MemoryError:
        raise ImageError("out of memory while decoding image") from None
    except Exception as err:  # Pillow's messages may quote bytes of the file: keep them printable
        raise ImageError(
            f"corrupt or truncated image: {printable(str(err) or type(err).__name__, 300)}"
        ) from None


@contextlib.contextmanager
def _opened(data: bytes, max_pixels: int) -> Iterator[Image.Image]:
    """Open ``data`` with Pillow (allowed formats only), closing it on exit.

    The container's structure is checked first (:func:`check_structure`), so Pillow never parses
    a file whose metadata is far beyond what cameras write.

    Pillow's own decompression-bomb check must not pre-empt ours, so its warning is silenced and,
    if ``max_pixels`` exceeds ``Image.MAX_IMAGE_PIXELS``, Pillow's *global* limit is raised to
    ``max_pixels`` (it is never lowered).  Pillow still errors above twice its limit; that is
    converted into our "over the limit" message.
    """
    check_structure(data)
    if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = max_pixels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=_formats())
        except Image.UnidentifiedImageError:
            raise ImageError("not a supported image (unrecognised format)") from None
        except Image.DecompressionBombError:
            size = _size_without_bomb_check(data)
            if size is None:
                raise ImageError(f"image is over the {_megapixels(max_pixels)} limit") from None
            raise _too_large(*size, max_pixels) from None
        with im:
            yield im


def _size_without_bomb_check(data: bytes) -> tuple[int, int] | None:
    """Header size via the registered plugin factories (which, unlike Image.open, do not run
    the decompression-bomb check).  Only used to word the refusal of a huge image."""
    for fmt in _formats():
        factory, accept = Image.OPEN.get(fmt, (None, None))
        ok = factory is not None and (not accept or accept(data[:16]))
        if not ok or isinstance(ok, str):
            continue
        try:
            with factory(io.BytesIO(data), "") as im:
                return im.size
        except Exception:
            continue
    return None


def _check_header(im: Image.Image, max_pixels: int, min_side: int) -> ImageInfo:
    width, height = im.size
    if width * height > max_pixels:
        raise _too_large(width, height, max_pixels)
    if min(width, height) < min_side:
        raise ImageError(f"image is {width}×{height}, under the {min_side} px minimum side")
    return ImageInfo(str(im.format), im.mode, width, height, int(getattr(im, "n_frames", 1)))


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


# --- pixels --------------------------------------------------------------------------------------


def _to_rgb(im: Image.Image) -> np.ndarray:
    """Pixels of the loaded frame as a C-contiguous, writeable ``(h, w, 3)`` uint8 array, alpha
    composited over BACKGROUND.

    Converted in blocks of rows written into the result, so besides Pillow's decoded image and the
    result only one block's intermediates exist at a time (``convert("RGB")`` of a whole 100 MP
    image would add a 400 MB RGBX copy and a 300 MB bytes copy).  Every conversion is per pixel,
    except the float scale, which is decided on the whole image first.
    """
    width, height = im.size
    rows = max(1, _BLOCK_PIXELS // max(width, 1))
    blocks = [(top, min(height, top + rows)) for top in range(0, height, rows)]

    def block(top: int, bottom: int) -> Image.Image:
        return im if (top, bottom) == (0, height) else im.crop((0, top, width, bottom))

    unit_floats = im.mode == "F" and all(_float_max(block(t, b)) <= 1.0 for t, b in blocks)
    out = np.empty((height, width, 3), dtype=np.uint8)
    for top, bottom in blocks:
        out[top:bottom] = _block_to_rgb(block(top, bottom), unit_floats)
    return out


def _float_max(im: Image.Image) -> float:
    values = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=255.0, neginf=0.0)
    return float(values.max()) if values.size else 0.0


def _block_to_rgb(im: Image.Image, unit_floats: bool) -> np.ndarray:
    """``(rows, w, 3)`` uint8 pixels of one block of rows; ``unit_floats``: an "F" image is in [0, 1]."""
    if im.mode.startswith("I"):  # "I", "I;16", "I;16B", "I;16L", ...: scale 0..65535 to 0..255
        raw = np.asarray(im)
        gray = ((np.clip(raw, 0, 65535).astype(np.uint32) + 128) // 257).astype(np.uint8)
        rgb = np.repeat(gray[..., None], 3, axis=2)
        transparent = im.info.get("transparency")
        if isinstance(transparent, int):
            alpha = np.where(raw == transparent, 0, 255).astype(np.uint8)
            return _composite(np.concatenate([rgb, alpha[..., None]], axis=2))
        return rgb
    if im.mode == "F":  # float: [0, 1] scaled to [0, 255] (decided on the whole image), else clipped
        values = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        if unit_floats:
            values = values * 255.0
        gray = np.rint(np.clip(values, 0, 255)).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if im.mode == "La":  # premultiplied; Pillow can only convert it via LA
        im = im.convert("LA")
    if im.has_transparency_data:
        return _composite(np.asarray(im.convert("RGBA")))
    rgb = im if im.mode == "RGB" else im.convert("RGB")
    # frombuffer of the packed bytes: np.asarray goes through __array_interface__, a little slower
    return np.frombuffer(rgb.tobytes(), dtype=np.uint8).reshape(rgb.height, rgb.width, 3)


def _composite(rgba: np.ndarray) -> np.ndarray:
    """``round(c*a/255 + bg*(255-a)/255)`` in integers; fits uint16 (max 255*255 + 127)."""
    color = rgba[..., :3].astype(np.uint16)
    alpha = rgba[..., 3:4].astype(np.uint16)
    background = np.array(BACKGROUND, dtype=np.uint16)
    return ((color * alpha + background * (255 - alpha) + 127) // 255).astype(np.uint8)


def _apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to ``(h, w, 3)`` pixels, same as ImageOps.exif_transpose."""
    transforms = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),  # rotate 90° clockwise
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
        8: lambda a: np.rot90(a, 1),  # rotate 90° counter-clockwise
    }
    transform = transforms.get(orientation)
    return transform(pixels) if transform else pixels


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
