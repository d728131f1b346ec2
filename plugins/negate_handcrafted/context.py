"""The analysis context: one image's shared intermediates, each computed at most once, on first use.

Every handcrafted family reads the image through an :class:`AnalysisContext`: the working crop (uint8
RGB), grayscale float32, the Fourier spectrum of its periodic component and the power spectrum, Sobel
gradients and an edge map. The ``handcrafted`` union builds one context per image, so these are shared by
all families; a family used alone builds its own and computes only what it reads.

Pixel budget: images of at most ``max_pixels`` pixels are analysed whole, at native resolution. Larger
ones are analysed on a centred crop with the same aspect ratio and at most ``max_pixels`` pixels, its
offsets rounded down to multiples of 16 so the crop keeps the JPEG block grid of the original. Nothing is
ever resampled (resampling destroys the high-frequency traces the features look for) and nothing is
squashed to a square. Images smaller than :data:`MIN_SIDE` pixels on a side are edge-padded up to it.

Two budgets: the spectrum and the families that summarise the whole image (spectral, patch, and the
grid-sampled LBP, colour and GLCM) read the working crop of at most ``max_pixels`` (default 512 x 512);
the families whose cost is many passes per pixel or many transforms (residual, wavelet, Gabor, HOG,
edges, invert-saturate, JPEG ghost) read :attr:`AnalysisContext.detail`, its centred crop of at most
:data:`DETAIL_PIXELS` (256 x 256), which is the same image when the working crop is that small.
"""

from __future__ import annotations

import math
from functools import cached_property, lru_cache

import numpy as np
import scipy.fft

from negate_handcrafted.stats import row_strips

DEFAULT_MAX_PIXELS = 512 * 512
DETAIL_PIXELS = 256 * 256  # budget of the per-pixel-heavy families (residual, wavelet, texture, edges, ...)
MIN_SIDE = 8
GRID_ALIGN = 16  # crop offsets keep the 8x8 (and 16x16 chroma) JPEG grid of the original
EDGE_THRESHOLD = 8.0  # grey levels per pixel: a step of >= 16 grey levels is an edge
STRONG_EDGE_THRESHOLD = 24.0
_LUMA_WEIGHTS = np.array([299.0, 587.0, 114.0], dtype=np.float32)


def crop_box(height: int, width: int, max_pixels: int) -> tuple[int, int, int, int]:
    """``(top, left, crop_h, crop_w)`` of the centred aspect-preserving crop of at most ``max_pixels``.

    The crop has ``floor(H*s) x floor(W*s)`` pixels with ``s = sqrt(max_pixels / (H*W))``; its offsets are
    multiples of 16. Images within the budget give the whole image.
    """
    if max_pixels < MIN_SIDE * MIN_SIDE:
        raise ValueError(f"max_pixels must be at least {MIN_SIDE * MIN_SIDE}, got {max_pixels}")
    if height * width <= max_pixels:
        return 0, 0, height, width
    scale = math.sqrt(max_pixels / (height * width))
    crop_h = max(min(MIN_SIDE, height), min(height, int(height * scale)))
    crop_w = max(min(MIN_SIDE, width), min(width, int(width * scale)))
    if crop_h * crop_w > max_pixels:  # extreme aspect ratios: the short side stopped at MIN_SIDE
        if crop_h <= crop_w:
            crop_w = max_pixels // crop_h
        else:
            crop_h = max_pixels // crop_w
    top = (height - crop_h) // 2 // GRID_ALIGN * GRID_ALIGN
    left = (width - crop_w) // 2 // GRID_ALIGN * GRID_ALIGN
    return top, left, crop_h, crop_w


def working_crop(pixels: np.ndarray, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The ``(h, w, 3)`` uint8 region analysed: the whole image, or its :func:`crop_box`.

    Images under :data:`MIN_SIDE` px on a side are edge-padded up to it.
    """
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"expected (height, width, 3) uint8 pixels, got {pixels.dtype} {pixels.shape}")
    top, left, crop_h, crop_w = crop_box(pixels.shape[0], pixels.shape[1], max_pixels)
    pixels = pixels[top : top + crop_h, left : left + crop_w]
    if min(pixels.shape[:2]) < MIN_SIDE:
        pad_h = max(0, MIN_SIDE - pixels.shape[0])
        pad_w = max(0, MIN_SIDE - pixels.shape[1])
        pixels = np.pad(pixels, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return np.ascontiguousarray(pixels)


def grayscale(rgb: np.ndarray) -> np.ndarray:
    """``(h, w)`` float32 ITU-R BT.601 luma (the JPEG Y channel, unrounded) of ``(h, w, 3)`` uint8 RGB.

    ``(299 R + 587 G + 114 B) / 1000`` with integer products and sums below 2**24, exact in float32, so a
    grey pixel maps exactly to its value. Converted in strips: no full-size float copy of the RGB.
    """
    height, width = rgb.shape[:2]
    flat = rgb.reshape(-1, 3)
    gray = np.empty(height * width, dtype=np.float32)
    step = 8192  # pixels per strip: the float32 copy stays under 100 KB
    for start in range(0, flat.shape[0], step):
        chunk = slice(start, start + step)
        np.matmul(flat[chunk].astype(np.float32), _LUMA_WEIGHTS, out=gray[chunk])
    gray /= np.float32(1000.0)
    return gray.reshape(height, width)


def sampling_stride(shape: tuple[int, ...], budget: int) -> int:
    """The smallest stride ``s`` so the ``[::s, ::s]`` grid of ``shape`` has at most ``budget`` points."""
    height, width = shape[:2]
    stride = max(1, math.ceil(math.sqrt(height * width / budget)))
    while math.ceil(height / stride) * math.ceil(width / stride) > budget:
        stride += 1
    return stride


@lru_cache(maxsize=32)
def frequency_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For the ``(height, width//2 + 1)`` rfft2 layout: ``fy``, ``fx``, radius (cycles/px) and weight.

    ``weight`` is 2 for columns standing for a pair of conjugate frequencies and 1 for the zero (and
    even-width Nyquist) column, so weighted sums over the half plane equal sums over the full plane.
    Arrays are float32 and read-only (they are shared between images of the same shape).
    """
    fy = scipy.fft.fftfreq(height).astype(np.float32)[:, None]
    fx = scipy.fft.rfftfreq(width).astype(np.float32)[None, :]
    radius = np.sqrt(fy**2 + fx**2).astype(np.float32)
    weight = np.full(fx.shape, 2.0, dtype=np.float32)
    weight[0, 0] = 1.0
    if width % 2 == 0:
        weight[0, -1] = 1.0
    fy_full = np.broadcast_to(fy, radius.shape)
    fx_full = np.broadcast_to(fx, radius.shape)
    weight_full = np.ascontiguousarray(np.broadcast_to(weight, radius.shape))
    for array in (radius, weight_full):
        array.setflags(write=False)
    return fy_full, fx_full, radius, weight_full


@lru_cache(maxsize=32)
def _periodic_terms(height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Moisan's factors for an rfft2 of ``(height, width)``: row and column terms, 1 / denominator."""
    q = np.arange(height)[:, None]
    r = np.arange(width // 2 + 1)[None, :]
    row_term = (1.0 - np.exp(2j * np.pi * q / height)).astype(np.complex64)  # (height, 1)
    col_term = (1.0 - np.exp(2j * np.pi * r / width)).astype(np.complex64)  # (1, width//2+1)
    denominator = 2.0 * np.cos(2 * np.pi * q / height) + 2.0 * np.cos(2 * np.pi * r / width) - 4.0
    denominator[0, 0] = 1.0
    inverse = (1.0 / denominator).astype(np.float32)
    inverse[0, 0] = 0.0  # the smooth part has zero mean: the periodic part keeps the image's mean
    inverse_pairs = np.repeat(inverse, 2, axis=1)  # matches the (real, imag) float32 view of complex64
    return row_term, col_term, inverse_pairs


def periodic_spectrum(gray: np.ndarray) -> np.ndarray:
    """``(..., h, w//2+1)`` complex64 rfft2 of the periodic component of ``(..., h, w)`` float32 images.

    The periodic component (Moisan 2011) equals the image minus a smooth harmonic part that absorbs the
    mismatch between opposite borders, so its spectrum has no "+"-shaped leakage from the image edges and
    needs no window. The smooth part's spectrum is built in closed form from the border differences: the
    boundary image's transform is the rank-2 product ``[rows, cols] @ [rfft(row_diff); col_terms]``.
    Leading dimensions are a batch (the patch family transforms its tiles in one call).
    """
    height, width = gray.shape[-2:]
    spectrum = scipy.fft.rfft2(gray)
    row_term, col_term, inverse = _periodic_terms(height, width)
    row_diff = gray[..., -1, :] - gray[..., 0, :]  # boundary image: v[0, :] = row_diff, v[-1, :] = -row_diff
    col_diff = gray[..., :, -1] - gray[..., :, 0]
    batch = gray.shape[:-2]
    left = np.concatenate(
        [
            np.broadcast_to(row_term, (*batch, height, 1)),
            scipy.fft.fft(col_diff).astype(np.complex64)[..., None],
        ],
        axis=-1,
    )
    right = np.concatenate(
        [
            scipy.fft.rfft(row_diff).astype(np.complex64)[..., None, :],
            np.broadcast_to(col_term, (*batch, 1, width // 2 + 1)),
        ],
        axis=-2,
    )
    rows_per_strip = max(1, 8192 // (width // 2 + 1))
    for start in range(0, height, rows_per_strip):  # strips keep the correction's temporaries in cache
        rows = slice(start, start + rows_per_strip)
        smooth = left[..., rows, 0:1] * right[..., 0:1, :]  # the rank-2 product, as two outer products
        smooth += left[..., rows, 1:2] * right[..., 1:2, :]
        smooth.view(np.float32)[...] *= inverse[rows]
        spectrum[..., rows, :] -= smooth
    return spectrum.astype(np.complex64, copy=False)


class AnalysisContext:
    """Shared, lazily computed intermediates of one image (see the module docstring for the budget).

    Attributes are computed on first access and cached: ``rgb`` ``(h, w, 3)`` uint8, ``gray`` ``(h, w)``
    float32 in [0, 255], ``spectrum`` ``(h, w//2+1)`` complex64, ``power`` ``(h, w//2+1)`` float32,
    ``gx``/``gy``/``gradient_magnitude`` ``(h, w)`` float32 and ``edges`` ``(h, w)`` bool.
    """

    def __init__(self, pixels: np.ndarray, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.max_pixels = max_pixels
        self.rgb = working_crop(pixels, max_pixels)
        self._crops: dict[int, AnalysisContext] = {}

    @property
    def shape(self) -> tuple[int, int]:
        """``(h, w)`` of the working crop."""
        return self.rgb.shape[0], self.rgb.shape[1]

    @property
    def n_pixels(self) -> int:
        """Pixels in the working crop."""
        return self.rgb.shape[0] * self.rgb.shape[1]

    def crop(self, max_pixels: int) -> AnalysisContext:
        """The context of a centred, grid-aligned sub-crop of at most ``max_pixels`` (``self`` if it fits).

        The sub-context reuses this context's grayscale (a slice) when it is already computed.
        """
        if self.n_pixels <= max_pixels:
            return self
        if max_pixels not in self._crops:
            child = AnalysisContext(self.rgb, max_pixels=max_pixels)
            if "gray" in self.__dict__:
                top, left, crop_h, crop_w = crop_box(*self.shape, max_pixels)
                child.__dict__["gray"] = np.ascontiguousarray(
                    self.gray[top : top + crop_h, left : left + crop_w]
                )
            self._crops[max_pixels] = child
        return self._crops[max_pixels]

    @property
    def detail(self) -> AnalysisContext:
        """The context of the centred, grid-aligned crop of at most :data:`DETAIL_PIXELS` pixels."""
        return self.crop(min(DETAIL_PIXELS, self.max_pixels))

    @cached_property
    def gray(self) -> np.ndarray:
        """``(h, w)`` float32 luma in [0, 255] (see :func:`grayscale`)."""
        return grayscale(self.rgb)

    @cached_property
    def rgb_planes(self) -> np.ndarray:
        """``(3, h, w)`` float32 R, G and B planes in [0, 255], each contiguous."""
        return np.ascontiguousarray(np.moveaxis(self.rgb, 2, 0), dtype=np.float32)

    @cached_property
    def spectrum(self) -> np.ndarray:
        """``(h, w//2+1)`` complex64 rfft2 of the periodic component of :attr:`gray`."""
        return periodic_spectrum(self.gray)

    @cached_property
    def power(self) -> np.ndarray:
        """``(h, w//2+1)`` float32 ``|F|^2 / (h*w)^2``; its weighted sum is the mean square."""
        spectrum = self.spectrum
        return (spectrum.real**2 + spectrum.imag**2) / np.float32(float(self.n_pixels) ** 2)

    @cached_property
    def frequencies(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(fy, fx, radius, weight)`` of the rfft2 layout (see :func:`frequency_grid`)."""
        return frequency_grid(*self.shape)

    @cached_property
    def _gradients(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return sobel_gradients(self.gray)

    @property
    def gx(self) -> np.ndarray:
        """``(h, w)`` float32 horizontal derivative (Sobel / 8, grey levels per pixel, edge-padded)."""
        return self._gradients[0]

    @property
    def gy(self) -> np.ndarray:
        """``(h, w)`` float32 vertical derivative (Sobel / 8, grey levels per pixel, rows downwards)."""
        return self._gradients[1]

    @property
    def gradient_magnitude2(self) -> np.ndarray:
        """``(h, w)`` float32 squared gradient magnitude."""
        return self._gradients[2]

    @cached_property
    def gradient_magnitude(self) -> np.ndarray:
        """``(h, w)`` float32 gradient magnitude in grey levels per pixel."""
        return np.sqrt(self.gradient_magnitude2)

    @cached_property
    def edge_candidates(self) -> np.ndarray:
        """``(h, w)`` bool: maxima of the gradient magnitude across the edge (non-maximum suppression)."""
        return non_maximum_suppression(self.gx, self.gy, self.gradient_magnitude2)

    @cached_property
    def edges(self) -> np.ndarray:
        """``(h, w)`` bool edge map: NMS maxima with gradient above :data:`EDGE_THRESHOLD` grey levels/px."""
        return self.edge_candidates & (self.gradient_magnitude2 > np.float32(EDGE_THRESHOLD**2))


def edge_padded(values: np.ndarray) -> np.ndarray:
    """``(h + 2, w + 2)`` copy of a 2-D array, border replicated (a faster ``np.pad(mode="edge")``)."""
    height, width = values.shape
    padded = np.empty((height + 2, width + 2), dtype=values.dtype)
    padded[1:-1, 1:-1] = values
    padded[0, 1:-1], padded[-1, 1:-1] = values[0], values[-1]
    padded[:, 0], padded[:, -1] = padded[:, 1], padded[:, -2]
    return padded


def sobel_gradients(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(gx, gy, gx² + gy²)``, each ``(h, w)`` float32: Sobel derivatives / 8 of the edge-padded image.

    Dividing by 8 gives grey levels per pixel (a power of two, so integer images stay exact). Computed in
    row strips so every temporary stays in cache.
    """
    height, width = gray.shape
    padded = edge_padded(gray)
    gx, gy, magnitude2 = (np.empty((height, width), dtype=np.float32) for _ in range(3))
    eighth, two = np.float32(0.125), np.float32(2.0)
    for rows in row_strips(height, width):
        p = padded[rows.start : rows.stop + 2]
        diff_x = p[:, 2:] - p[:, :-2]
        smooth_x = p[:, 1:-1] * two
        smooth_x += p[:, :-2]
        smooth_x += p[:, 2:]
        strip_gx = diff_x[1:-1] * two
        strip_gx += diff_x[:-2]
        strip_gx += diff_x[2:]
        strip_gx *= eighth
        strip_gy = smooth_x[2:] - smooth_x[:-2]
        strip_gy *= eighth
        gx[rows], gy[rows] = strip_gx, strip_gy
        np.multiply(strip_gx, strip_gx, out=magnitude2[rows])
        magnitude2[rows] += strip_gy * strip_gy
    return gx, gy, magnitude2


def non_maximum_suppression(gx: np.ndarray, gy: np.ndarray, magnitude2: np.ndarray) -> np.ndarray:
    """``(h, w)`` bool: pixels whose squared gradient magnitude is a maximum along the gradient direction.

    The direction is quantised to 0°, 45°, 90° or 135°; a pixel must be ``>=`` its neighbour on one side
    and ``>`` the other, so a plateau gives a single line. Border pixels are never maxima.
    """
    height, width = magnitude2.shape
    padded = np.full((height + 2, width + 2), np.inf, dtype=np.float32)
    padded[1:-1, 1:-1] = magnitude2
    result = np.empty((height, width), dtype=bool)
    tan_22 = np.float32(0.41421357)
    for rows in row_strips(height, width):
        ax, ay = np.abs(gx[rows]), np.abs(gy[rows])
        horizontal = ay <= ax * tan_22  # gradient within 22.5° of the x axis
        vertical = ax <= ay * tan_22
        diagonal = ~(horizontal | vertical)
        same_sign = (gx[rows] > 0) == (gy[rows] > 0)  # down-right (rows grow downwards)
        centre = magnitude2[rows]
        found = np.zeros(centre.shape, dtype=bool)
        for mask, (dy, dx) in (
            (horizontal, (0, 1)),
            (vertical, (1, 0)),
            (diagonal & same_sign, (1, 1)),
            (diagonal & ~same_sign, (1, -1)),
        ):
            top = rows.start + 1
            forward = padded[top + dy : top + dy + centre.shape[0], 1 + dx : 1 + dx + width]
            backward = padded[top - dy : top - dy + centre.shape[0], 1 - dx : 1 - dx + width]
            found |= mask & (centre >= forward) & (centre > backward)
        result[rows] = found
    return result
