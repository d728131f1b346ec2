"""Views of an image for a network: aspect-preserving resize, centre crop, optional multi-crop, and the
inverted, saturation-boosted colour view.

Works on ``uint8`` pixels with Pillow and numpy only, so it runs in DataLoader workers without torch;
normalisation (mean/std) happens later on the model's device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

_RESAMPLE = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}


@dataclass(frozen=True)
class ViewSpec:
    """How to cut views for a model with square ``size`` inputs.

    The global view resizes the short side to ``floor(size / crop_pct)`` (timm's rule) and takes the
    centre ``size`` square. With ``multi_crop = n >= 2``, ``n x n`` further ``size`` squares are cut from
    the image resized so its short side is ``n * size`` (never enlarged beyond its own resolution), so
    fine detail of large images is seen at close to native scale; the embedding is the mean over views.
    ``resize=False``: no resampling at all, the centre ``size`` square at native resolution, a smaller
    image padded with zeros (torchvision's ``CenterCrop`` alone, as forensic detectors are run).
    ``pad=False`` (with ``resize=False``): no padding either; a smaller image gives the centre square of
    its own short side, so views differ in size (for networks that pool over any input size).
    """

    size: int
    crop_pct: float = 0.875
    interpolation: str = "bicubic"
    multi_crop: int = 1
    resize: bool = True
    pad: bool = True

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"view size must be positive, got {self.size}")
        if not 0 < self.crop_pct <= 1:
            raise ValueError(f"crop_pct must be in (0, 1], got {self.crop_pct}")
        if self.interpolation not in _RESAMPLE:
            raise ValueError(f"unknown interpolation {self.interpolation!r}; one of {', '.join(_RESAMPLE)}")
        if self.multi_crop < 1:
            raise ValueError(f"multi_crop must be >= 1, got {self.multi_crop}")
        if not self.resize and self.multi_crop != 1:
            raise ValueError(
                "a native-resolution view (resize=False) is one centre crop: multi_crop must be 1"
            )
        if self.resize and not self.pad:
            raise ValueError("pad=False applies to native-resolution views only (resize=False)")

    @property
    def resize_size(self) -> int:
        """Short side of the global view before the centre crop."""
        return max(self.size, math.floor(self.size / self.crop_pct))


def resize_short_side(pixels: np.ndarray, short: int, interpolation: str = "bicubic") -> np.ndarray:
    """``(height, width, 3)`` uint8 resized so its shorter side is ``short``, aspect ratio kept.

    The longer side is ``int(short * long / short_side)`` as in torchvision's ``Resize(int)``.
    """
    height, width = pixels.shape[:2]
    if min(height, width) == short:
        return pixels
    if height <= width:
        new_h, new_w = short, max(1, int(short * width / height))
    else:
        new_h, new_w = max(1, int(short * height / width)), short
    image = Image.fromarray(pixels).resize((new_w, new_h), resample=_RESAMPLE[interpolation])
    return np.asarray(image)


def centre_crop(pixels: np.ndarray, size: int) -> np.ndarray:
    """The centre ``(size, size, 3)`` square (offsets rounded as torchvision's ``CenterCrop``)."""
    height, width = pixels.shape[:2]
    top = round((height - size) / 2.0)
    left = round((width - size) / 2.0)
    return pixels[top : top + size, left : left + size]


def center_crop_pad(pixels: np.ndarray, size: int) -> np.ndarray:
    """The centre ``(size, size, 3)`` square at native resolution, as torchvision's ``CenterCrop(size)``:
    a side shorter than ``size`` is first padded with zeros (``(size - side) // 2`` before, the rest
    after), then the crop starts at ``round((side - size) / 2)``."""
    height, width = pixels.shape[:2]
    if height < size or width < size:
        pad_h, pad_w = max(0, size - height), max(0, size - width)
        pixels = np.pad(pixels, ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    return np.ascontiguousarray(centre_crop(pixels, size))


def grid_offsets(length: int, size: int, n: int) -> list[int]:
    """``n`` start offsets of windows of ``size`` spread evenly over ``length`` (first at 0, last flush)."""
    if n == 1 or length <= size:
        return [max(0, (length - size) // 2)]
    return [round(float(v)) for v in np.linspace(0, length - size, n)]


def make_views(pixels: np.ndarray, spec: ViewSpec) -> np.ndarray:
    """``(n_views, size, size, 3)`` uint8 views of one ``(height, width, 3)`` uint8 image.

    ``n_views`` is 1, or ``1 + multi_crop**2`` when the image is larger than the global view.
    """
    if not spec.resize:
        if not spec.pad:
            return np.ascontiguousarray(centre_crop(pixels, min(spec.size, *pixels.shape[:2])))[None]
        return center_crop_pad(pixels, spec.size)[None]
    views = [centre_crop(resize_short_side(pixels, spec.resize_size, spec.interpolation), spec.size)]
    short = min(pixels.shape[:2])
    n = spec.multi_crop
    if n >= 2 and short > spec.resize_size:
        # Downscale to n*size on the short side at most; never enlarge (that would invent detail).
        target = min(short, n * spec.size)
        scaled = resize_short_side(pixels, target, spec.interpolation)
        height, width = scaled.shape[:2]
        for top in grid_offsets(height, spec.size, n):
            for left in grid_offsets(width, spec.size, n):
                views.append(scaled[top : top + spec.size, left : left + spec.size])
    return np.ascontiguousarray(np.stack(views))


def inverted_saturated(rgb: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(view, clipped, saturation)`` of ``(h, w, 3)`` uint8 RGB: the ``(3, h, w)`` float32 view planes in
    [0, 255], where the boosted saturation was clipped, and the view's HSV saturation.

    Equal to an HSV round trip (``colorsys``) with saturation multiplied by ``factor`` and clipped at 1,
    computed without one: with hue and value fixed each channel is ``v (1 - s ramp(h))``, so scaling s by
    ``r = min(factor, 1 / s)`` maps a channel ``c`` to ``v - (v - c) r``.
    """
    planes = np.float32(255.0) - np.moveaxis(rgb, 2, 0).astype(np.float32)  # inverted, (3, h, w)
    value = np.maximum(np.maximum(planes[0], planes[1]), planes[2])
    chroma = value - np.minimum(np.minimum(planes[0], planes[1]), planes[2])
    saturation = chroma / (value + (value == 0))
    boosted = saturation * np.float32(factor)
    clipped = boosted > 1
    ratio = np.minimum(np.float32(factor), value / (chroma + (chroma == 0)))  # greys: chroma 0, ratio moot
    view = np.empty_like(planes)
    for plane, out in zip(planes, view):  # in place: one allocation instead of three full temporaries
        np.subtract(value, plane, out=out)
        out *= ratio
        np.subtract(value, out, out=out)
    return view, clipped, np.minimum(boosted, np.float32(1.0))
