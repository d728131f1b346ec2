"""Texture family: grey-level co-occurrence (GLCM) properties and histogram-of-gradients statistics.

GLCM: the rounded luma quantised to 32 levels, symmetric and normalised co-occurrences at distances 1 and
3 and angles 0°, 45°, 90°, 135° with scikit-image's offsets (``graycomatrix``) and properties
(``graycoprops``), over the working crop with reference pixels on a grid of at most 16,384 per offset
(``MAX_PAIRS``). HOG, on the context's detail crop: unsigned gradient orientations in 8 bins of 22.5°
(so a 90° rotation shifts bins exactly), magnitude-weighted, over 8 x 8 cells, with 2 x 2-cell L2-Hys
block normalisation for the descriptor statistics.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from negate_handcrafted.base import Feature, HandcraftedExtractor
from negate_handcrafted.context import AnalysisContext, sampling_stride
from negate_handcrafted.stats import entropy_bits

LEVELS = 32
DISTANCES = (1, 3)
ANGLES = (0, 45, 90, 135)
PROPERTIES = ("contrast", "correlation", "energy", "homogeneity")
MAX_PAIRS = 16_384
ORIENTATION_BINS = 8
CELL = 8
HYS_CLIP = 0.2


def _features() -> list[Feature]:
    meaning = {
        "contrast": "sum of P(i, j) (i - j)²",
        "correlation": "correlation of the grey levels of pixel pairs (1 when either is constant)",
        "energy": "sqrt of the sum of P(i, j)²",
        "homogeneity": "sum of P(i, j) / (1 + (i - j)²)",
    }
    ranges = {
        "contrast": f"[0, {(LEVELS - 1) ** 2}]",
        "correlation": "[-1, 1]",
        "energy": "[0, 1]",
        "homogeneity": "[0, 1]",
    }
    specs = []
    for prop in PROPERTIES:
        for distance in DISTANCES:
            for angle in ANGLES:
                specs.append(
                    Feature(
                        f"glcm_{prop}_d{distance}_a{angle}",
                        f"GLCM {prop}: {meaning[prop]}, distance {distance}, angle {angle}°",
                        ranges[prop],
                        rotation_invariant=False,
                    )
                )
            specs.append(
                Feature(
                    f"glcm_{prop}_d{distance}_mean",
                    f"GLCM {prop} at distance {distance}, mean over the four angles",
                    ranges[prop],
                )
            )
    specs += [
        Feature(
            f"hog_bin_{k}",
            f"share of gradient magnitude with orientation in [{22.5 * k:g}°, {22.5 * (k + 1):g}°)",
            "[0, 1]",
            rotation_invariant=False,
        )
        for k in range(ORIENTATION_BINS)
    ]
    specs += [
        Feature("hog_entropy", "entropy of the global orientation histogram (bits)", "[0, 3]"),
        Feature("hog_cell_entropy", "mean entropy of the 8x8 cells' orientation histograms (bits)", "[0, 3]"),
        Feature(
            "hog_cell_dominance",
            "mean share of a cell's gradient magnitude in its strongest orientation bin",
            "[0.125, 1]",
        ),
        Feature(
            "hog_cell_energy_cv",
            "coefficient of variation of the cells' total gradient magnitude",
            ">= 0",
        ),
        Feature(
            "hog_block_std",
            "standard deviation of the L2-Hys normalised 2x2-cell block descriptors",
            "[0, 0.5]",
        ),
        Feature(
            "hog_block_clip_share",
            "share of block descriptor entries clipped at 0.2 by L2-Hys",
            "[0, 1]",
        ),
    ]  # fmt: skip
    return specs


FEATURES = _features()


def quantise(gray: np.ndarray) -> np.ndarray:
    """``(h, w)`` uint8 grey levels in ``[0, LEVELS)``: the rounded luma divided by ``256 / LEVELS``."""
    return (np.rint(gray).astype(np.uint8) // np.uint8(256 // LEVELS)).astype(np.uint8)


def glcm_offsets() -> list[tuple[int, int]]:
    """``(row, col)`` offsets per (distance, angle), distance-major, as ``skimage.feature.graycomatrix``."""
    return [
        (round(np.sin(np.radians(a)) * d), round(np.cos(np.radians(a)) * d))
        for d in DISTANCES
        for a in ANGLES
    ]


def glcm(levels_image: np.ndarray, stride: int = 1) -> np.ndarray:
    """``(LEVELS, LEVELS, n_offsets)`` symmetric normalised co-occurrence matrices of a uint8 level image.

    Reference pixels are ``[::stride, ::stride]`` among those whose partner lies inside the image.
    """
    height, width = levels_image.shape
    codes = []
    for k, (dy, dx) in enumerate(glcm_offsets()):
        rows = slice(max(0, -dy), height - max(0, dy), stride)
        cols = slice(max(0, -dx), width - max(0, dx), stride)
        first = levels_image[rows, cols].astype(np.int32)
        partner = levels_image[
            rows.start + dy : rows.stop + dy : stride, cols.start + dx : cols.stop + dx : stride
        ]
        codes.append((k * LEVELS + first) * LEVELS + partner)
    n_offsets = len(DISTANCES) * len(ANGLES)
    flat = np.concatenate([c.ravel() for c in codes]) if codes else np.zeros(0, dtype=np.int64)
    counts = np.bincount(flat, minlength=n_offsets * LEVELS * LEVELS).reshape(n_offsets, LEVELS, LEVELS)
    counts = counts + counts.transpose(0, 2, 1)
    totals = counts.sum(axis=(1, 2), keepdims=True)
    return (counts / np.maximum(totals, 1)).transpose(1, 2, 0)


def glcm_properties(matrices: np.ndarray) -> dict[str, np.ndarray]:
    """scikit-image's ``graycoprops`` contrast, correlation, energy and homogeneity, each ``(n_offsets,)``."""
    levels = matrices.shape[0]
    i = np.arange(levels, dtype=np.float64)[:, None, None]
    j = np.arange(levels, dtype=np.float64)[None, :, None]
    p = matrices
    mean_i, mean_j = (p * i).sum(axis=(0, 1)), (p * j).sum(axis=(0, 1))
    std_i = np.sqrt((p * (i - mean_i) ** 2).sum(axis=(0, 1)))
    std_j = np.sqrt((p * (j - mean_j) ** 2).sum(axis=(0, 1)))
    covariance = (p * (i - mean_i) * (j - mean_j)).sum(axis=(0, 1))
    flat = (std_i < 1e-15) | (std_j < 1e-15)
    correlation = np.where(flat, 1.0, covariance / np.where(flat, 1.0, std_i * std_j))
    return {
        "contrast": (p * (i - j) ** 2).sum(axis=(0, 1)),
        "correlation": correlation,
        "energy": np.sqrt((p**2).sum(axis=(0, 1))),
        "homogeneity": (p / (1.0 + (i - j) ** 2)).sum(axis=(0, 1)),
    }


@lru_cache(maxsize=16)
def _cell_index(height: int, width: int) -> np.ndarray:
    """``(h//8 * 8 * w//8 * 8,)`` cell number of each pixel of the whole-cell region, raster order."""
    rows, cols = height // CELL, width // CELL
    cell_rows = np.repeat(np.arange(rows), CELL)[:, None]
    cell_cols = np.repeat(np.arange(cols), CELL)[None, :]
    return (cell_rows * cols + cell_cols).ravel()


def hog_statistics(gx: np.ndarray, gy: np.ndarray, magnitude: np.ndarray) -> list[float]:
    """The ``hog_*`` features from gradients; cell statistics are 0 for images without a whole cell."""
    angle = np.arctan2(gy, gx)  # (-pi, pi]
    # unsigned orientation: floor(8 angle / pi) modulo 8 (a bitwise and, also right for negative floors)
    bins = np.floor(angle * np.float32(ORIENTATION_BINS / np.pi)).astype(np.intp) & (ORIENTATION_BINS - 1)
    total = float(magnitude.sum(dtype=np.float64))
    global_hist = np.bincount(bins.ravel(), magnitude.ravel(), minlength=ORIENTATION_BINS)
    shares = global_hist / total if total > 1e-9 else np.zeros(ORIENTATION_BINS)
    values = [*shares.tolist(), entropy_bits(global_hist)]
    rows, cols = gx.shape[0] // CELL, gx.shape[1] // CELL
    if rows == 0 or cols == 0 or total <= 1e-9:
        return values + [0.0] * 5
    cell_bins = bins[: rows * CELL, : cols * CELL].ravel() + _cell_index(*gx.shape) * ORIENTATION_BINS
    weights = magnitude[: rows * CELL, : cols * CELL].ravel()
    cells = np.bincount(cell_bins, weights, minlength=rows * cols * ORIENTATION_BINS).reshape(rows, cols, -1)
    cell_total = cells.sum(axis=2)
    active = cell_total > 1e-9
    p = cells[active] / cell_total[active][:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        cell_entropy = -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=1)
    energy_mean = float(cell_total.mean())
    values += [
        float(cell_entropy.mean()) if p.size else 0.0,
        float(p.max(axis=1).mean()) if p.size else 0.0,
        float(cell_total.std()) / energy_mean if energy_mean > 1e-9 else 0.0,
    ]
    values += _block_statistics(cells)
    return values


def _block_statistics(cells: np.ndarray) -> list[float]:
    """Standard deviation and clip share of the L2-Hys normalised 2 x 2-cell blocks."""
    rows, cols, _ = cells.shape
    if rows < 2 or cols < 2:
        return [0.0, 0.0]
    blocks = np.concatenate([cells[:-1, :-1], cells[:-1, 1:], cells[1:, :-1], cells[1:, 1:]], axis=2)
    blocks = blocks.reshape(-1, blocks.shape[2])
    blocks = blocks / np.sqrt((blocks**2).sum(axis=1, keepdims=True) + 1e-10)
    clipped = blocks > HYS_CLIP
    blocks = np.minimum(blocks, HYS_CLIP)
    blocks = blocks / np.sqrt((blocks**2).sum(axis=1, keepdims=True) + 1e-10)
    return [float(blocks.std()), float(clipped.mean())]


class TextureExtractor(HandcraftedExtractor):
    """GLCM contrast/correlation/energy/homogeneity at 2 distances x 4 angles, and HOG statistics."""

    name = "texture"
    version = "1"
    summary = __doc__.splitlines()[0]

    feature_table = FEATURES

    def compute(self, ctx: AnalysisContext) -> list[float]:
        """Texture features: GLCM on a grid over the working crop, HOG on the detail crop."""
        levels_image = quantise(ctx.gray)
        stride = sampling_stride(ctx.shape, MAX_PAIRS)
        props = glcm_properties(glcm(levels_image, stride))
        n_angles = len(ANGLES)
        values: list[float] = []
        for prop in PROPERTIES:
            per_offset = props[prop]
            for d in range(len(DISTANCES)):
                row = per_offset[d * n_angles : (d + 1) * n_angles]
                values += [*row.tolist(), float(row.mean())]
        detail = ctx.detail
        values += hog_statistics(detail.gx, detail.gy, detail.gradient_magnitude)
        return values
