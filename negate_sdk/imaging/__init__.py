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
import io
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from negate_sdk.imaging.containers import check_structure
from negate_sdk.imaging.errors import ImageError
from negate_sdk.imaging.files import MAX_FILE_BYTES, read_bytes
from negate_sdk.imaging.metadata import ImageInfo, ImageMetadata, _metadata, estimate_jpeg_quality
from negate_sdk.imaging.pixels import BACKGROUND, _apply_orientation, _to_rgb
from negate_sdk.safetext import path_text, printable

__all__ = [
    "ALLOWED_FORMATS",
    "BACKGROUND",
    "DEFAULT_MAX_PIXELS",
    "MAX_FILE_BYTES",
    "MIN_SIDE",
    "DecodedImage",
    "Failure",
    "ImageError",
    "ImageInfo",
    "ImageMetadata",
    "check_structure",
    "estimate_jpeg_quality",
    "open_image",
    "open_many",
    "probe",
    "read_bytes",
]

DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP
MIN_SIDE = 8
# Formats handed to Pillow.  "AVIF" and "HEIF" are added at call time if a Pillow plugin for them
# is registered (see _formats); EPS/PDF/etc. are never allowed (they would run Ghostscript).
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "MPO")
_OPTIONAL_FORMATS = ("AVIF", "HEIF")


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
