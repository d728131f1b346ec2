"""Pixels of a decoded Pillow image as ``(h, w, 3)`` uint8 RGB: alpha composited over a fixed white
background, 16-bit and float scaled, converted in row blocks, EXIF orientation applied."""

from __future__ import annotations

import numpy as np
from PIL import Image

# Transparent pixels are composited over a fixed white background: the result is deterministic
# (the same file always gives the same pixels) and matches how browsers and viewers show it.
BACKGROUND = (255, 255, 255)
# Pixels are converted to RGB in blocks of rows of about this many pixels, so the only full-size array
# besides Pillow's decoded image is the result (a 1-bit 100 MP PNG no longer needs 1 GB).
_BLOCK_PIXELS = 1 << 20


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
