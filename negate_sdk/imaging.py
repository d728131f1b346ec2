"""Safe decoding of untrusted image files into RGB ``uint8`` arrays plus raw metadata.

Everything that can go wrong with a file (missing, empty, not an image, too large, too small,
truncated, corrupt) is reported as a single :class:`ImageError` whose message is one line.
Only the formats in :data:`ALLOWED_FORMATS` are ever handed to a Pillow decoder, so formats that
shell out to Ghostscript (EPS, PDF) or other risky plugins are never touched.  Format detection
is by content, never by file extension.

Only the standard library, numpy and Pillow are imported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import os
import re
import stat
import struct
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import ExifTags, Image

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

_EXIF_TEXT_LIMIT = 2000
_ORIENTATION_TAG = 0x0112
_EXIF_IFD_TAG = 0x8769
_IFD_POINTER_TAGS = {0x8769, 0x8825, 0xA005}  # Exif, GPS and Interop sub-IFD offsets
# A JUMBF superbox ("jumb") whose description box carries the "c2pa" label / UUID prefix.
_C2PA_JUMBF = re.compile(rb"jumb.{0,64}?c2pa", re.DOTALL)
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
    # C-contiguous and writeable (np.asarray of a Pillow image can be a read-only view of bytes).
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
            yield Failure(source=f"<bytes #{i}>" if is_bytes else os.fsdecode(source), reason=err.reason)


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

    Refuses (``ImageError``) missing files, directories, special files, empty files and files over
    ``max_bytes`` (checked before reading).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = os.fsdecode(source)
        try:
            st = os.stat(path)
            if stat.S_ISDIR(st.st_mode):
                raise ImageError(f"not a file (is a directory): {path}")
            if not stat.S_ISREG(st.st_mode):
                raise ImageError(f"not a regular file: {path}")
            if st.st_size > max_bytes:
                raise ImageError(
                    f"file is {st.st_size / 2**20:.0f} MiB, over the {max_bytes / 2**20:.0f} MiB limit"
                )
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise ImageError(f"file not found: {path}") from None
        except OSError as err:
            raise ImageError(f"cannot read file: {path}: {err.strerror or err}") from None
    else:
        raise TypeError(f"source must be a path or bytes, not {type(source).__name__}")
    if not data:
        raise ImageError("empty file (0 bytes)")
    return data


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
    except Exception as err:
        raise ImageError(f"corrupt or truncated image: {str(err) or type(err).__name__}") from None


@contextlib.contextmanager
def _opened(data: bytes, max_pixels: int) -> Iterator[Image.Image]:
    """Open ``data`` with Pillow (allowed formats only), closing it on exit.

    Pillow's own decompression-bomb check must not pre-empt ours, so its warning is silenced and,
    if ``max_pixels`` exceeds ``Image.MAX_IMAGE_PIXELS``, Pillow's *global* limit is raised to
    ``max_pixels`` (it is never lowered).  Pillow still errors above twice its limit; that is
    converted into our "over the limit" message.
    """
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


# --- pixels --------------------------------------------------------------------------------------


def _to_rgb(im: Image.Image) -> np.ndarray:
    """Pixels of the loaded frame as ``(h, w, 3)`` uint8, alpha composited over BACKGROUND."""
    if im.mode.startswith("I"):  # "I", "I;16", "I;16B", "I;16L", ...: scale 0..65535 to 0..255
        raw = np.asarray(im)
        gray = ((np.clip(raw, 0, 65535).astype(np.uint32) + 128) // 257).astype(np.uint8)
        rgb = np.repeat(gray[..., None], 3, axis=2)
        transparent = im.info.get("transparency")
        if isinstance(transparent, int):
            alpha = np.where(raw == transparent, 0, 255).astype(np.uint8)
            return _composite(np.concatenate([rgb, alpha[..., None]], axis=2))
        return rgb
    if im.mode == "F":  # float: [0, 1] if max <= 1, else clip to [0, 255]
        values = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        if values.size and values.max() <= 1.0:
            values = values * 255.0
        gray = np.rint(np.clip(values, 0, 255)).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if im.mode == "La":  # premultiplied; Pillow can only convert it via LA
        im = im.convert("LA")
    if im.has_transparency_data:
        return _composite(np.asarray(im.convert("RGBA")))
    return np.asarray(im if im.mode == "RGB" else im.convert("RGB"))


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

    text = {str(k): str(v) for k, v in getattr(im, "text", {}).items()}
    if isinstance(im.info.get("comment"), (bytes, str)):
        text["comment"] = _to_str(im.info["comment"], limit=None)

    xmp = text.get("XML:com.adobe.xmp") or im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
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
        xmp=_to_str(xmp, limit=None) if xmp else None,
        icc_profile=bytes(icc) if icc else None,
        has_c2pa=_has_c2pa(im, data),
        jpeg_quality=quality,
    )


def _to_str(value: Any, limit: int | None = _EXIF_TEXT_LIMIT) -> str:
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", errors="replace").rstrip("\x00")
    else:
        try:
            text = str(value)
        except Exception:
            text = f"<unprintable {type(value).__name__}>"
    return text if limit is None else text[:limit]


def _exif_dict(exif: Image.Exif) -> dict[str, str]:
    """Base IFD plus the Exif sub-IFD (Software, Make, Model, DateTimeOriginal, ...)."""
    items = list(exif.items()) + list(exif.get_ifd(_EXIF_IFD_TAG).items())
    return {
        ExifTags.TAGS.get(tag, f"0x{tag:04X}"): _to_str(value)
        for tag, value in items
        if tag not in _IFD_POINTER_TAGS
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
    return found or _C2PA_JUMBF.search(data) is not None


def _png_chunk_types(data: bytes) -> Iterator[bytes]:
    """Types of the chunks after the PNG signature (length, type, data, crc)."""
    pos = 8
    while pos + 8 <= len(data):
        length, ctype = struct.unpack_from(">I4s", data, pos)
        yield ctype
        pos += 12 + length


def _riff_chunk_types(data: bytes) -> Iterator[bytes]:
    """FourCCs of the chunks after the RIFF/WEBP header (fourcc, size, data, pad to even)."""
    pos = 12
    while pos + 8 <= len(data):
        ctype, size = struct.unpack_from("<4sI", data, pos)
        yield ctype
        pos += 8 + size + (size & 1)
