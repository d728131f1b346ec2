"""JPEG-ghost family: the luma re-quantisation error curve over JPEG qualities, its minimum and slope.

Re-encoding at quality q changes an image by the quantisation of its 8 x 8 block DCT coefficients with the
IJG tables scaled for q (what Pillow/libjpeg use); entropy coding is lossless, so the re-encoding error is
computed directly in the DCT domain: ``err(q) = mean (c - Q round(c / Q))²`` over all coefficients of the
level-shifted luma. An image already compressed at q1 re-quantises almost losslessly at q1, so the curve
dips there (the "ghost", Farid 2009). The error is normalised by that of a never-compressed image,
``mean min(c², Q²/12)``, so the curve sits near 1 without a ghost. The tables are not symmetric, so a
90° rotation changes the curve. Blocks follow the image's own 8 x 8
grid (crops keep it); at most the detail crop's pixels are used (see the context module).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft

from negate_handcrafted.base import Feature, HandcraftedExtractor
from negate_handcrafted.context import AnalysisContext
from negate_handcrafted.stats import line_fit

QUALITIES = tuple(range(30, 100, 5))  # 30, 35, ..., 95
# ITU-T T.81 Annex K.1 luminance quantisation table, natural (row-major) order
LUMA_TABLE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
], dtype=np.float64).reshape(8, 8)  # fmt: skip

FEATURES = [
    *[Feature(f"ratio_q{q}", f"re-quantisation error at quality {q} over the never-compressed expectation", "[0, ~2]", rotation_invariant=False) for q in QUALITIES],  # noqa: E501
    Feature(
        "min_quality",
        "quality of the curve's minimum: the likely earlier JPEG quality (on the 5-step grid)",
        f"[{QUALITIES[0]}, {QUALITIES[-1]}]",
        rotation_invariant=False,
    ),
    Feature(
        "min_ratio",
        "the curve's minimum value (near 0 for a strong ghost)",
        "[0, ~2]",
        rotation_invariant=False,
    ),
    Feature("dip_depth", "median of the curve minus its minimum", "[0, ~2]", rotation_invariant=False),
    Feature(
        "log_error_slope",
        "slope of log10 err(q) against q / 100",
        "~[-10, 0]",
        rotation_invariant=False,
    ),
    Feature(
        "log_error_q75",
        "log10 of the raw re-quantisation error at quality 75 (grey²)",
        "[-6, 3]",
        rotation_invariant=False,
    ),
]  # fmt: skip


@lru_cache(maxsize=1)
def quantisation_tables() -> np.ndarray:
    """``(n_qualities, 8, 8)`` float32 luma tables for :data:`QUALITIES` (libjpeg's scaling, baseline)."""
    tables = []
    for quality in QUALITIES:
        scale = 5000 / quality if quality < 50 else 200 - 2 * quality
        tables.append(np.clip(np.floor((LUMA_TABLE * scale + 50) / 100), 1, 255))
    return np.asarray(tables, dtype=np.float32)


@lru_cache(maxsize=1)
def dct_matrix() -> np.ndarray:
    """``(8, 8)`` float32 orthonormal DCT-II matrix ``C`` (``C @ x`` transforms a column of 8 samples)."""
    return scipy.fft.dct(np.eye(8), norm="ortho", axis=0).astype(np.float32)


def block_dct(gray: np.ndarray) -> np.ndarray:
    """``(n_blocks, 8, 8)`` float32 orthonormal DCT-II (JPEG's FDCT) of the level-shifted 8 x 8 blocks.

    ``C B C^T`` for every block as two large matrix products (one per axis) instead of 1024 tiny FFTs.
    """
    rows, cols = gray.shape[0] // 8, gray.shape[1] // 8
    c = dct_matrix()
    # rows of each block: gray[8r + i, 8k + j] -> transform along j for all (r, i, k) at once
    strips = gray[: rows * 8, : cols * 8].reshape(rows * 8 * cols, 8) - np.float32(128.0)
    along_j = (strips @ c.T).reshape(rows, 8, cols, 8)  # [r, i, k, v]
    blocks = along_j.transpose(0, 2, 3, 1).reshape(-1, 8)  # [(r, k, v), i]
    coefficients = (blocks @ c.T).reshape(rows * cols, 8, 8)  # [(r, k), v, u]
    return np.ascontiguousarray(coefficients.transpose(0, 2, 1))  # [(r, k), u, v]


def requantisation_curve(coefficients: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(err, expected)``: per quality, the mean squared re-quantisation error and its no-ghost expectation.

    ``coefficients`` is ``(n_blocks, 8, 8)``; one row per coefficient position so each quality's table
    broadcasts as a column, and two reused buffers instead of fresh temporaries per quality.
    """
    n_blocks = coefficients.shape[0]
    flat = np.ascontiguousarray(coefficients.reshape(n_blocks, 64).T)  # (64, n_blocks)
    squared = flat * flat
    residual = np.empty_like(flat)
    errors, expected = [], []
    for table in quantisation_tables():
        steps = table.reshape(64, 1)
        np.multiply(flat, np.float32(1.0) / steps, out=residual)
        np.rint(residual, out=residual)
        residual *= steps
        np.subtract(flat, residual, out=residual)
        errors.append(float(np.vdot(residual, residual)) / residual.size)
        np.minimum(squared, steps * steps / np.float32(12.0), out=residual)
        expected.append(float(residual.sum(dtype=np.float64)) / residual.size)
    return np.asarray(errors), np.asarray(expected)


class JpegGhostExtractor(HandcraftedExtractor):
    """Re-quantisation error curve over JPEG qualities 30-95, its minimum, depth and slope."""

    name = "jpeg_ghost"
    version = "1"
    summary = __doc__.splitlines()[0]

    feature_table = FEATURES

    def compute(self, ctx: AnalysisContext) -> list[float]:
        """JPEG-ghost features of one image context."""
        crop = ctx.detail
        coefficients = block_dct(crop.gray)
        if coefficients.size == 0:
            return [1.0] * len(QUALITIES) + [float(QUALITIES[-1]), 1.0, 0.0, 0.0, -6.0]
        errors, expected = requantisation_curve(coefficients)
        ratio = np.where(expected > 1e-9, errors / np.maximum(expected, 1e-9), 1.0)
        best = int(np.argmin(ratio))
        quality = float(QUALITIES[best])  # no interpolation: a ghost is a sharp dip, not a parabola
        slope, _, _ = line_fit(np.asarray(QUALITIES) / 100, np.log10(errors + 1e-6))
        q75 = QUALITIES.index(75)
        return [
            *ratio.tolist(),
            quality,
            float(ratio[best]),
            float(np.median(ratio) - ratio[best]),
            slope,
            float(np.log10(errors[q75] + 1e-6)),
        ]
