"""LBP family: rotation-invariant uniform local binary patterns at three (P, R) scales.

Codes follow scikit-image's ``local_binary_pattern(..., method="uniform")`` (Ojala et al. 2002: P + 2
codes, the number of set bits for uniform patterns and P + 1 for the rest; neighbours bilinearly
interpolated on a circle of radius R), on the edge-padded grayscale. A neighbour counts as set when it
is at least the centre minus 1/1000 grey level, so exact ties are not decided by rounding noise.
Codes are evaluated over the working crop, at the centres of a regular grid whose stride keeps them to
at most 16,384 (``MAX_CENTRES``): every pixel of images up to 128 x 128.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from negate_handcrafted.base import Feature, HandcraftedExtractor
from negate_handcrafted.context import AnalysisContext, sampling_stride
from negate_handcrafted.stats import entropy_bits, row_strips

SCALES = ((8, 1), (16, 2), (24, 3))
MAX_CENTRES = 16_384
TIE_TOLERANCE = 1e-3  # grey levels
PAD = max(r for _, r in SCALES) + 1


def _features() -> list[Feature]:
    specs = []
    for points, radius in SCALES:
        prefix = f"p{points}_r{radius}"
        specs += [
            Feature(
                f"{prefix}_bin_{code}",
                f"share of uniform patterns with {code} of {points} neighbours set (R={radius})",
                "[0, 1]",
            )
            for code in range(points + 1)
        ]  # fmt: skip
        specs.append(
            Feature(
                f"{prefix}_non_uniform", f"share of non-uniform patterns (P={points}, R={radius})", "[0, 1]"
            )
        )
        specs.append(
            Feature(
                f"{prefix}_entropy",
                f"entropy of the P={points}, R={radius} histogram (bits)",
                f"[0, {np.log2(points + 2):.2f}]",
            )
        )
    return specs


FEATURES = _features()


@lru_cache(maxsize=8)
def neighbour_taps(points: int, radius: int) -> list[tuple[int, int, float, float]]:
    """Per neighbour: integer offsets ``(dy, dx)`` of the top-left tap and fractional parts ``(fr, fc)``.

    Positions are ``(-R sin(2 pi p / P), R cos(2 pi p / P))`` rounded to 5 decimals, as scikit-image does.
    """
    taps = []
    for p in range(points):
        row = round(-radius * np.sin(2 * np.pi * p / points), 5)
        col = round(radius * np.cos(2 * np.pi * p / points), 5)
        dy, dx = int(np.floor(row)), int(np.floor(col))
        taps.append((dy, dx, row - dy, col - dx))
    return taps


def edge_padded_by(values: np.ndarray, pad: int) -> np.ndarray:
    """``np.pad(values, pad, mode="edge")`` for 2-D arrays with sides of at least ``pad``, but faster."""
    height, width = values.shape
    padded = np.empty((height + 2 * pad, width + 2 * pad), dtype=values.dtype)
    padded[pad:-pad, pad:-pad] = values
    padded[:pad, pad:-pad] = values[0]
    padded[-pad:, pad:-pad] = values[-1]
    padded[:, :pad] = padded[:, pad : pad + 1]
    padded[:, -pad:] = padded[:, -pad - 1 : -pad]
    return padded


def blend(a: np.ndarray, b: np.ndarray, weight: float, out: np.ndarray | None = None) -> np.ndarray:
    """``(1 - weight) a + weight b`` in float32 with a single temporary (into ``out`` when given)."""
    result = np.multiply(a, np.float32(1 - weight), out=out)
    result += np.float32(weight) * b
    return result


def uniform_lbp_histograms(gray: np.ndarray, stride: int = 1) -> list[np.ndarray]:
    """Uniform-LBP code counts ``(P + 2,)`` per scale of :data:`SCALES`, centres ``[::stride, ::stride]``."""
    height, width = gray.shape
    padded = np.pad(gray, PAD, mode="edge") if min(height, width) < PAD else edge_padded_by(gray, PAD)
    n_rows, n_cols = -(-height // stride), -(-width // stride)
    # polyphase components: the tap at offset (dy, dx) of every centre is a contiguous-row slice of one
    phases = {
        (py, px): np.ascontiguousarray(padded[py::stride, px::stride])
        for py in range(stride)
        for px in range(stride)
    }  # fmt: skip
    histograms = [np.zeros(points + 2, dtype=np.int64) for points, _ in SCALES]
    for strip in row_strips(n_rows, n_cols):

        def tap(dy: int, dx: int, strip: slice = strip) -> np.ndarray:
            y, x = PAD + dy + strip.start * stride, PAD + dx
            phase = phases[(y % stride, x % stride)]
            return phase[
                y // stride : y // stride + strip.stop - strip.start, x // stride : x // stride + n_cols
            ]

        threshold = tap(0, 0) - np.float32(TIE_TOLERANCE)
        for (points, radius), histogram in zip(SCALES, histograms):
            ones = np.zeros(threshold.shape, dtype=np.uint8)
            changes = np.zeros(threshold.shape, dtype=np.uint8)
            previous = None
            for dy, dx, fr, fc in neighbour_taps(points, radius):
                if fr == 0 and fc == 0:
                    value = tap(dy, dx)
                elif fr == 0:
                    value = blend(tap(dy, dx), tap(dy, dx + 1), fc)
                elif fc == 0:
                    value = blend(tap(dy, dx), tap(dy + 1, dx), fr)
                else:
                    upper = blend(tap(dy, dx), tap(dy, dx + 1), fc)
                    value = blend(upper, blend(tap(dy + 1, dx), tap(dy + 1, dx + 1), fc), fr, out=upper)
                bit = value >= threshold
                ones += bit
                if previous is not None:
                    changes += bit != previous
                previous = bit
            codes = ones + (changes > 2) * (np.uint8(points + 1) - ones)  # non-uniform: P + 1
            histogram += np.bincount(codes.ravel(), minlength=points + 2)
    return histograms


class LBPExtractor(HandcraftedExtractor):
    """Uniform LBP histograms at (8, 1), (16, 2) and (24, 3), normalised, with their entropies."""

    name = "lbp"
    version = "1"
    summary = __doc__.splitlines()[0]

    feature_table = FEATURES

    def compute(self, ctx: AnalysisContext) -> list[float]:
        """LBP features of one image context."""
        stride = sampling_stride(ctx.shape, MAX_CENTRES)
        values: list[float] = []
        for histogram in uniform_lbp_histograms(ctx.gray, stride):
            shares = histogram / max(int(histogram.sum()), 1)
            values += [*shares.tolist(), entropy_bits(histogram)]
        return values
