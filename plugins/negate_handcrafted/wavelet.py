"""Wavelet family: Haar and Daubechies-2 sub-band energies over three levels, and their ratios.

The transform is the orthonormal periodised 2-D DWT, identical to ``pywt.dwt2(..., mode="periodization")``
on even-sized input (filters taken from PyWavelets), implemented with strided numpy slices because it is
several times faster here. Haar features are unchanged by 90° rotations (LH and HL swap); db2, being
asymmetric, is not. Odd sizes drop their last row or column at each level. Sub-bands follow
PyWavelets' names: LH = horizontal detail, HL = vertical detail, HH = diagonal detail. Computed on the
context's detail crop (the whole image up to 256 x 256).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from negate_handcrafted.base import Feature, HandcraftedExtractor
from negate_handcrafted.context import AnalysisContext
from negate_handcrafted.stats import log_ratio

WAVELETS = ("haar", "db2")
LEVELS = 3
BANDS = ("lh", "hl", "hh")
ENERGY_FLOOR = 1e-6  # grey² per coefficient


def _features() -> list[Feature]:
    specs = []
    for wavelet in WAVELETS:
        for level in range(1, LEVELS + 1):
            for band in BANDS:
                specs.append(Feature(
                    f"{wavelet}_l{level}_{band}_log_energy",
                    f"log10 mean squared {band.upper()} coefficient, {wavelet} level {level} (grey²)",
                    "[-6, 5]", rotation_invariant=band == "hh" and wavelet == "haar",
                ))  # fmt: skip
            specs.append(Feature(
                f"{wavelet}_l{level}_diag_ratio",
                f"log10 of HH energy over the mean of LH and HL energies, {wavelet} level {level}",
                "~[-3, 3]", rotation_invariant=wavelet == "haar",
            ))  # fmt: skip
            specs.append(Feature(
                f"{wavelet}_l{level}_orientation",
                f"|log10(LH / HL)|: imbalance of horizontal and vertical detail, {wavelet} level {level}",
                "~[0, 6]", rotation_invariant=wavelet == "haar",
            ))  # fmt: skip
        for level in range(1, LEVELS):
            specs.append(Feature(
                f"{wavelet}_l{level}_l{level + 1}_ratio",
                f"log10 of total detail energy at level {level} over level {level + 1} ({wavelet})",
                "~[-6, 6]", rotation_invariant=wavelet == "haar",
            ))  # fmt: skip
    return specs


FEATURES = _features()


@lru_cache(maxsize=4)
def filters(wavelet: str) -> tuple[np.ndarray, np.ndarray]:
    """Decomposition low- and high-pass filters of a PyWavelets wavelet, float32."""
    import pywt

    bank = pywt.Wavelet(wavelet)
    return np.asarray(bank.dec_lo, dtype=np.float32), np.asarray(bank.dec_hi, dtype=np.float32)


def _analyse(x: np.ndarray, low: np.ndarray, high: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """One periodised DWT step along ``axis`` (0 or 1) of an even-length 2-D array: ``(approx, detail)``.

    ``out[i] = sum_k filter[k] * x[(2i + L/2 - k) mod N]``, PyWavelets' periodisation convention.
    """
    n, taps = x.shape[axis], low.size
    reps = -(-taps // n)  # tiny inputs need the signal repeated to cover the filter
    wrapped = (
        np.concatenate([x] * (2 * reps + 1), axis=axis) if reps > 1 else np.concatenate([x, x, x], axis=axis)
    )
    start_index = (reps if reps > 1 else 1) * n - taps
    padded = (
        wrapped[start_index : start_index + n + 2 * taps]
        if axis == 0
        else wrapped[:, start_index : start_index + n + 2 * taps]
    )
    shape = list(x.shape)
    shape[axis] = n // 2
    approx = np.zeros(shape, dtype=np.float32)
    detail = np.zeros(shape, dtype=np.float32)
    for k in range(taps):
        start = taps + taps // 2 - k
        term = padded[start : start + n : 2] if axis == 0 else padded[:, start : start + n : 2]
        approx += low[k] * term
        detail += high[k] * term
    return approx, detail


def dwt2(x: np.ndarray, wavelet: str) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(cA, (cH, cV, cD))`` of an even-sized 2-D array, as ``pywt.dwt2(x, wavelet, "periodization")``."""
    low, high = filters(wavelet)
    row_low, row_high = _analyse(x, low, high, axis=1)
    approx, horizontal = _analyse(row_low, low, high, axis=0)
    vertical, diagonal = _analyse(row_high, low, high, axis=0)
    return approx, (horizontal, vertical, diagonal)


def subband_energies(gray: np.ndarray, wavelet: str, levels: int = LEVELS) -> np.ndarray:
    """``(levels, 3)`` mean squared LH, HL, HH coefficients per level (zeros once the image is too small)."""
    energies = np.zeros((levels, 3))
    approx = gray
    for level in range(levels):
        height, width = approx.shape[0] // 2 * 2, approx.shape[1] // 2 * 2
        if height < 2 or width < 2:
            break
        approx, details = dwt2(np.ascontiguousarray(approx[:height, :width]), wavelet)
        energies[level] = [float(np.vdot(d, d)) / d.size for d in details]
    return energies


class WaveletExtractor(HandcraftedExtractor):
    """Haar and db2 detail energies at levels 1-3, diagonal and orientation ratios, level-to-level ratios."""

    name = "wavelet"
    version = "1"
    summary = __doc__.splitlines()[0]

    feature_table = FEATURES

    def compute(self, ctx: AnalysisContext) -> list[float]:
        """Wavelet features of one image context (on its detail crop)."""
        ctx = ctx.detail
        values: list[float] = []
        for wavelet in WAVELETS:
            energies = subband_energies(ctx.gray, wavelet)
            for level in range(LEVELS):
                lh, hl, hh = energies[level]
                values += [float(np.log10(e + ENERGY_FLOOR)) for e in (lh, hl, hh)]
                values.append(log_ratio(hh, (lh + hl) / 2, ENERGY_FLOOR))
                values.append(abs(log_ratio(lh, hl, ENERGY_FLOOR)))
            totals = energies.sum(axis=1)
            values += [
                log_ratio(totals[level], totals[level + 1], ENERGY_FLOOR) for level in range(LEVELS - 1)
            ]
        return values
