"""Patch family: how consistent the image is across a 4 x 4 grid of tiles, and how alike the tiles are.

Tiles are the 16 cells of a 4 x 4 grid over the working crop (a remainder of fewer than 4 rows or columns
is left out). Per tile: mean and standard deviation of the luma, edge density (share of pixels whose
4-neighbour differs by over 16 grey levels: cheap at full size), and, from the tile's
centred crop of at most 64 x 64 pixels, the spectral centroid (the power-weighted mean radial frequency
of its periodic component, DC excluded) and the power in 6 octave bands; self-similarity compares
tiles' band-power shares (cosine) and log band powers (distance).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from negate_handcrafted.base import Feature, HandcraftedExtractor
from negate_handcrafted.context import (
    EDGE_THRESHOLD,
    AnalysisContext,
    crop_box,
    frequency_grid,
    periodic_spectrum,
)
from negate_handcrafted.stats import block_sums, row_strips, safe_ratio

GRID = 4
SPECTRUM_PIXELS = 64 * 64  # per tile: spectra come from the tile's centred crop of at most this size
N_PROFILE_BANDS = 6  # octaves down from Nyquist: [1/4, 1/2), [1/8, 1/4), ...
POWER_FLOOR = 1e-6

FEATURES = [
    Feature("mean_cv", "std of tile luma means over (their mean + 1)", ">= 0"),
    Feature("mean_range", "range of tile luma means / 255", "[0, 1]"),
    Feature("std_cv", "coefficient of variation of tile luma standard deviations", ">= 0"),
    Feature("std_log_range", "log10 of (max + 1) / (min + 1) tile standard deviation", "[0, 2.2]"),
    Feature(
        "edge_density_cv",
        "std over (mean + 0.001) of the tiles' shares of pixels beside a step of over 16 grey levels",
        ">= 0",
    ),
    Feature("centroid_mean", "mean tile spectral centroid (cycles/px)", "[0, 0.71]"),
    Feature("centroid_cv", "coefficient of variation of tile spectral centroids", ">= 0"),
    Feature(
        "similarity_mean",
        "mean cosine similarity between tiles' shares of power per octave band (1 = same spectral shape)",
        "[0, 1]",
    ),
    Feature("similarity_min", "least similar pair of tiles by that cosine similarity", "[0, 1]"),
    Feature(
        "profile_distance_mean",
        "mean pairwise rms difference of tiles' log10 mean power per octave band",
        ">= 0",
    ),
    Feature("profile_distance_max", "largest pairwise rms difference of tiles' log10 band powers", ">= 0"),
]


@lru_cache(maxsize=16)
def _tile_layout(tile_h: int, tile_w: int) -> tuple[np.ndarray, np.ndarray]:
    """For one tile's rfft2 grid: ``(n_bins, 1 + N_PROFILE_BANDS)`` float32 weights and band bin counts.

    Column 0 holds ``radius * weight`` (for the centroid), column ``1 + k`` the conjugate-pair weight of
    bins in octave band ``k``; multiplying a batch of flat power spectra by it gives every sum at once.
    """
    _, _, radius, weight = frequency_grid(tile_h, tile_w)
    flat_radius = radius.ravel().astype(np.float64)
    flat_weight = weight.ravel().astype(np.float64).copy()
    flat_weight[0] = 0.0  # DC is brightness, not spectrum
    with np.errstate(divide="ignore"):
        octave = np.floor(-np.log2(np.maximum(flat_radius, 1e-12) * 2)).astype(np.int64)  # 0: [1/4, 1/2)
    band = np.clip(octave, 0, N_PROFILE_BANDS - 1)  # the corners (r >= 1/2) join the top octave
    matrix = np.zeros((flat_radius.size, 1 + N_PROFILE_BANDS))
    matrix[:, 0] = flat_radius * flat_weight
    matrix[np.arange(flat_radius.size), 1 + band] = flat_weight
    counts = matrix[:, 1:].sum(axis=0)
    return matrix.astype(np.float32), counts


def step_pixels(gray: np.ndarray, step: float = 2 * EDGE_THRESHOLD) -> np.ndarray:
    """``(h, w)`` bool: pixels with a 4-neighbour differing by more than ``step`` grey levels.

    Row strips keep the differences' temporaries in cache; each strip reads one row past its end.
    """
    height, width = gray.shape
    marks = np.zeros(gray.shape, dtype=bool)
    threshold = np.float32(step)
    for rows in row_strips(height, width):
        block = gray[rows.start : rows.stop + 1]  # one extra row for the vertical differences
        across = (
            np.abs(block[: rows.stop - rows.start, 1:] - block[: rows.stop - rows.start, :-1]) > threshold
        )
        marks[rows, :-1] |= across
        marks[rows, 1:] |= across
        down = np.abs(block[1:] - block[:-1]) > threshold
        marks[rows.start : rows.start + down.shape[0]] |= down
        marks[rows.start + 1 : rows.start + 1 + down.shape[0]] |= down
    return marks


def tiles_of(array: np.ndarray, tile: tuple[int, int]) -> np.ndarray:
    """``(GRID, GRID, tile_h, tile_w)`` view of a 2-D array's tiles (remainder rows and columns left out)."""
    tile_h, tile_w = tile
    trimmed = array[: tile_h * GRID, : tile_w * GRID]
    return trimmed.reshape(GRID, tile_h, GRID, tile_w).swapaxes(1, 2)


class PatchExtractor(HandcraftedExtractor):
    """Tile-to-tile variation of brightness, contrast, edges and spectrum, and tile self-similarity."""

    name = "patch"
    version = "1"
    summary = __doc__.splitlines()[0]

    feature_table = FEATURES

    def compute(self, ctx: AnalysisContext) -> list[float]:
        """Patch features of one image context."""
        gray = ctx.gray
        tile = (gray.shape[0] // GRID, gray.shape[1] // GRID)
        area = float(tile[0] * tile[1])
        means = block_sums(gray, tile).ravel().astype(np.float64) / area
        squares = block_sums(gray, tile, squared=True).ravel().astype(np.float64) / area
        stds = np.sqrt(np.maximum(squares - means**2, 0.0))
        edges = block_sums(step_pixels(gray), tile).ravel().astype(np.float64) / area
        values = [
            float(means.std() / (means.mean() + 1)),
            float(np.ptp(means) / 255),
            safe_ratio(stds.std(), stds.mean()),
            float(np.log10((stds.max() + 1) / (stds.min() + 1))),
            float(edges.std() / (edges.mean() + 1e-3)),
        ]
        centroids, band_power, counts = self._spectra(gray, tile)
        values += [float(centroids.mean()), safe_ratio(centroids.std(), centroids.mean())]
        values += self._similarity(band_power, counts)
        return values

    @staticmethod
    def _spectra(gray: np.ndarray, tile: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Spectral centroids ``(n_tiles,)``, power per octave band ``(n_tiles, bands)``, bins per band."""
        n_tiles = GRID * GRID
        if min(tile) < 2:
            return np.zeros(n_tiles), np.zeros((n_tiles, N_PROFILE_BANDS)), np.ones(N_PROFILE_BANDS)
        top, left, tile_h, tile_w = crop_box(tile[0], tile[1], SPECTRUM_PIXELS)
        tiles = tiles_of(gray, tile)[..., top : top + tile_h, left : left + tile_w]
        spectra = periodic_spectrum(np.ascontiguousarray(tiles).reshape(n_tiles, tile_h, tile_w))
        spectra = spectra.reshape(n_tiles, -1)
        power = spectra.real**2 + spectra.imag**2
        power /= np.float32(float(tile_h * tile_w) ** 2)
        matrix, counts = _tile_layout(tile_h, tile_w)
        sums = (power @ matrix).astype(np.float64)  # (n_tiles, 1 + bands)
        total = sums[:, 1:].sum(axis=1)
        centroids = np.where(total > 1e-9, sums[:, 0] / np.maximum(total, 1e-9), 0.0)
        return centroids, sums[:, 1:], counts

    @staticmethod
    def _similarity(band_power: np.ndarray, counts: np.ndarray) -> list[float]:
        total = band_power.sum(axis=1)
        valid = total > 1e-9
        if valid.sum() < 2:
            return [1.0, 1.0, 0.0, 0.0]
        shares = band_power[valid] / total[valid, None]
        unit = shares / np.sqrt((shares**2).sum(axis=1, keepdims=True))
        upper = np.triu_indices(len(unit), k=1)
        cosine = (unit @ unit.T)[upper]
        logs = np.log10(band_power / np.maximum(counts, 1) + POWER_FLOOR)
        distance = np.sqrt(((logs[:, None, :] - logs[None, :, :]) ** 2).mean(axis=2))[
            np.triu_indices(len(logs), k=1)
        ]
        return [float(cosine.mean()), float(cosine.min()), float(distance.mean()), float(distance.max())]
