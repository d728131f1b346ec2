"""Residual family: noise residuals (Laplacian, difference of Gaussians, median) and the noise level.

A residual is what is left after removing image content: camera sensor noise is white-ish, spatially
independent and grows with brightness (shot noise); generator "noise" is shaped by the decoder.
Computed on the context's detail crop (the whole image up to 256 x 256).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft

from negate_handcrafted.base import Feature, HandcraftedExtractor
from negate_handcrafted.context import AnalysisContext, frequency_grid
from negate_handcrafted.stats import (
    block_sums,
    correlation,
    lag_product,
    laplacian,
    line_fit,
    median3x3,
    moments,
)

RESIDUALS = ("laplacian", "dog", "median")
DOG_SIGMAS = (1.0, 2.0)  # pixels
BLOCK = 8  # pixels per side of the blocks of the noise-level function
N_BRIGHTNESS_BINS = 8
MAD_TO_SIGMA = 1.0 / 0.6744897501960817  # median(|N(0, 1)|)
VARIANCE_FLOOR = 1e-6


def _features() -> list[Feature]:
    what = {
        "laplacian": "4-neighbour Laplacian of the grayscale",
        "dog": f"difference of Gaussians (sigma {DOG_SIGMAS[0]:g} minus {DOG_SIGMAS[1]:g} px)",
        "median": "grayscale minus its 3x3 median",
    }
    specs = []
    for residual in RESIDUALS:
        specs += [
            Feature(
                f"{residual}_log_var",
                f"log10 variance of the {what[residual]} residual (grey²)",
                "[-6, 5]",
            ),
            Feature(f"{residual}_skew", f"skewness of the {residual} residual", "~[-10, 10]"),
            Feature(
                f"{residual}_kurtosis",
                f"excess kurtosis of the {residual} residual (0 for Gaussian noise)",
                ">= -2",
            ),
            Feature(
                f"{residual}_acf1",
                f"autocorrelation of the {residual} residual at lag 1 (x and y averaged)",
                "[-1, 1]",
            ),
            Feature(
                f"{residual}_acf2",
                f"autocorrelation of the {residual} residual at lag 2 (x and y averaged)",
                "[-1, 1]",
            ),
            Feature(
                f"{residual}_acf_diag",
                f"autocorrelation of the {residual} residual at the diagonal lags (1, ±1)",
                "[-1, 1]",
            ),
        ]  # fmt: skip
    specs += [
        Feature(
            "noise_sigma",
            "noise standard deviation from the wavelet MAD: median|HH1| / 0.6745 (Haar, grey levels)",
            ">= 0",
        ),
        Feature(
            "snr_db",
            "10 log10 of grayscale variance over noise_sigma² (capped to [-20, 100])",
            "[-20, 100]",
        ),
        Feature(
            "noise_floor",
            "10th percentile of the median-residual std over 8x8 blocks (grey levels)",
            ">= 0",
        ),
        Feature(
            "nlf_slope",
            "slope of the noise-level function: residual std (grey levels) per unit brightness in [0, 1]",
            "~[-50, 50]",
        ),
        Feature(
            "nlf_corr",
            "correlation between block brightness and block residual std, over flat blocks",
            "[-1, 1]",
        ),
        Feature(
            "nlf_range",
            "max minus min of the noise-level function over brightness bins (grey levels)",
            ">= 0",
        ),
    ]  # fmt: skip
    return specs


FEATURES = _features()


@lru_cache(maxsize=32)
def _dog_transfer(height: int, width: int) -> np.ndarray:
    """``(h, 2 * (w//2+1))`` float32 DoG transfer on the rfft2 grid, each value twice (real, imaginary)."""
    _, _, radius, _ = frequency_grid(height, width)
    f2 = radius.astype(np.float64) ** 2
    small, large = DOG_SIGMAS
    transfer = np.exp(-2 * np.pi**2 * small**2 * f2) - np.exp(-2 * np.pi**2 * large**2 * f2)
    return np.repeat(transfer.astype(np.float32), 2, axis=1)  # matches the float32 view of complex64


def residual_statistics(residual: np.ndarray) -> list[float]:
    """``[log10 variance, skewness, kurtosis, acf lag 1, acf lag 2, acf diagonal]`` of a 2-D residual."""
    mean, variance, skew, kurtosis = moments(residual)
    if variance <= VARIANCE_FLOOR:
        return [float(np.log10(variance + VARIANCE_FLOOR)), 0.0, 0.0, 0.0, 0.0, 0.0]
    centred = np.ascontiguousarray(residual - np.float32(mean))

    def acf(lags: tuple[tuple[int, int], ...]) -> float:
        total, pairs = 0.0, 0
        for dy, dx in lags:
            value, count = lag_product(centred, dy, dx)
            total, pairs = total + value, pairs + count
        return total / pairs / variance if pairs else 0.0

    return [
        float(np.log10(variance + VARIANCE_FLOOR)),
        skew,
        kurtosis,
        acf(((0, 1), (1, 0))),
        acf(((0, 2), (2, 0))),
        acf(((1, 1), (1, -1))),
    ]


def noise_sigma_mad(gray: np.ndarray) -> float:
    """Donoho's noise estimate: median absolute finest diagonal Haar coefficient / 0.6745 (grey levels)."""
    height, width = gray.shape[0] // 2 * 2, gray.shape[1] // 2 * 2
    g = gray[:height, :width]
    diagonal = (g[0::2, 0::2] - g[0::2, 1::2] - g[1::2, 0::2] + g[1::2, 1::2]) * np.float32(0.5)
    magnitudes = np.abs(diagonal).ravel()
    middle = magnitudes.size // 2  # upper median: one partition instead of np.median's two
    return float(np.partition(magnitudes, middle)[middle]) * MAD_TO_SIGMA


class ResidualExtractor(HandcraftedExtractor):
    """Laplacian, DoG and median residual statistics; wavelet-MAD noise level and its brightness trend."""

    name = "residual"
    version = "1"
    summary = __doc__.splitlines()[0]

    feature_table = FEATURES

    def compute(self, ctx: AnalysisContext) -> list[float]:
        """Residual features of one image context (on its detail crop)."""
        ctx = ctx.detail
        gray = ctx.gray
        laplacian_residual = laplacian(gray)
        filtered = ctx.spectrum.copy()
        filtered.view(np.float32)[...] *= _dog_transfer(*ctx.shape)
        dog = scipy.fft.irfft2(filtered, s=ctx.shape)
        median_residual = gray - median3x3(gray)
        values: list[float] = []
        for residual in (laplacian_residual, dog, median_residual):
            values += residual_statistics(np.ascontiguousarray(residual))
        sigma = noise_sigma_mad(gray)
        _, gray_variance, _, _ = moments(gray)
        snr = 10 * np.log10((gray_variance + VARIANCE_FLOOR) / (sigma**2 + VARIANCE_FLOOR))
        values += [sigma, float(np.clip(snr, -20.0, 100.0))]
        values += self._noise_level(gray, median_residual)
        return values

    @staticmethod
    def _noise_level(gray: np.ndarray, residual: np.ndarray) -> list[float]:
        """Noise floor and the noise-level function over 8x8 blocks (brightness bins, 25th percentile)."""
        if min(gray.shape) < BLOCK:
            return [0.0, 0.0, 0.0, 0.0]
        area = float(BLOCK * BLOCK)
        brightness = block_sums(gray, BLOCK).ravel() / (area * 255.0)
        block_mean = block_sums(residual, BLOCK).ravel() / area
        block_std = np.sqrt(
            np.maximum(block_sums(residual * residual, BLOCK).ravel() / area - block_mean**2, 0)
        )
        floor = float(np.partition(block_std, block_std.size // 10)[block_std.size // 10])  # nearest rank
        bins = np.minimum((brightness * N_BRIGHTNESS_BINS).astype(np.int64), N_BRIGHTNESS_BINS - 1)
        # the flat half of each brightness bin: textured blocks measure content, not noise
        order = np.lexsort((block_std, bins))
        counts = np.bincount(bins, minlength=N_BRIGHTNESS_BINS)
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        levels, centres, flat_idx = [], [], []
        for b in np.flatnonzero(counts >= 4):
            members = order[starts[b] : starts[b] + counts[b]]
            levels.append(float(block_std[members[counts[b] // 4]]))  # 25th percentile
            centres.append((b + 0.5) / N_BRIGHTNESS_BINS)
            flat_idx.append(members[: max(counts[b] // 2, 1)])
        slope, _, _ = line_fit(np.array(centres), np.array(levels))
        flat = np.concatenate(flat_idx) if flat_idx else np.array([], dtype=np.int64)
        corr = correlation(brightness[flat], block_std[flat]) if flat.size > 2 else 0.0
        spread = float(max(levels) - min(levels)) if levels else 0.0
        return [floor, slope, corr, spread]
