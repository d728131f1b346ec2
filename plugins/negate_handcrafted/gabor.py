"""Gabor family: a 4 frequency x 4 orientation bank of complex Gabor filters applied in the Fourier domain.

Each filter has a Gaussian transfer function centred on ``(f cos θ, f sin θ)`` cycles/px with standard
deviation ``0.3 f`` (about one octave), truncated at two standard deviations. Its complex response is
band-limited, so its magnitude is computed on a coarser grid: the spectrum window around the centre
frequency is cut out, weighted and inverse-transformed at 1.5 times the band's width (a demodulated,
oversampled envelope). The whole bank costs a few small FFTs instead of sixteen full-size ones.
Magnitudes are in grey levels: a sinusoid of amplitude A at a filter's centre frequency gives A/2.
The bank runs on the context's detail crop (the whole image up to 256 x 256).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft

from negate_handcrafted.base import Feature, HandcraftedExtractor
from negate_handcrafted.context import AnalysisContext

FREQUENCIES = (0.25, 0.125, 0.0625, 0.03125)  # cycles/px
ORIENTATIONS = (0, 45, 90, 135)  # degrees
RELATIVE_BANDWIDTH = 0.3  # sigma of the Gaussian transfer as a fraction of the centre frequency
TRUNCATION = 2.0  # sigmas
OVERSAMPLING = 1.5


def _features() -> list[Feature]:
    specs = []
    for i, f in enumerate(FREQUENCIES):
        for theta in ORIENTATIONS:
            specs.append(
                Feature(
                    f"f{i}_o{theta}_mean",
                    f"mean response magnitude at {f:g} cycles/px, {theta}° (grey levels)",
                    ">= 0",
                    rotation_invariant=False,
                )
            )
            specs.append(
                Feature(
                    f"f{i}_o{theta}_cv",
                    f"spatial spread (std / mean) of that magnitude at {f:g} cycles/px, {theta}°",
                    ">= 0",
                    rotation_invariant=False,
                )
            )
        specs.append(
            Feature(f"f{i}_mean", f"mean magnitude over the four orientations at {f:g} cycles/px", ">= 0")
        )
        specs.append(
            Feature(
                f"f{i}_orientation_cv",
                f"std / mean of the four orientations' magnitudes at {f:g} cycles/px",
                "[0, 1.8]",
            )
        )
    return specs  # fmt: skip


FEATURES = _features()


def odd_fast_len(n: int) -> int:
    """The smallest odd ``m >= n`` whose prime factors are 3, 5 and 7 (fast for pocketfft)."""
    m = n | 1
    while True:
        rest = m
        for prime in (3, 5, 7):
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return m
        m += 2


@lru_cache(maxsize=16)
def filter_bank(height: int, width: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per frequency: flat rfft2 indices ``(n_orientations, My, Mx)``, conjugation masks, scaled gains.

    The gain includes the factor ``My * Mx / (height * width)`` that makes the small inverse FFT return the
    response at full-resolution scale.
    """
    columns = width // 2 + 1
    bank = []
    for f in FREQUENCIES:
        sigma = RELATIVE_BANDWIDTH * f
        # odd sizes centre the window on the filter's bin; 1.5 times the band's width samples the envelope
        # finely enough that the mean of its magnitude (a non-linear function) is accurate to ~0.5%
        band_y = 2 * int(np.ceil(TRUNCATION * sigma * height)) + 1
        band_x = 2 * int(np.ceil(TRUNCATION * sigma * width)) + 1
        size_y = min(odd_fast_len(int(np.ceil(OVERSAMPLING * band_y))), height)
        size_x = min(odd_fast_len(int(np.ceil(OVERSAMPLING * band_x))), width)
        indices, conjugates, gains = [], [], []
        for theta in ORIENTATIONS:
            fy0, fx0 = f * np.sin(np.radians(theta)), f * np.cos(np.radians(theta))
            ky = np.round(fy0 * height) + np.arange(size_y) - size_y // 2  # integer bins around the centre
            kx = np.round(fx0 * width) + np.arange(size_x) - size_x // 2
            distance2 = (ky[:, None] / height - fy0) ** 2 + (kx[None, :] / width - fx0) ** 2
            gain = np.exp(-distance2 / (2 * sigma**2)) * (distance2 <= (TRUNCATION * sigma) ** 2)
            kyy, kxx = np.broadcast_arrays(ky[:, None].astype(np.int64), kx[None, :].astype(np.int64))
            kx_mod = kxx % width
            mirror = kx_mod > width // 2  # real input: F(-k) = conj(F(k)), read from the stored half plane
            rows = np.where(mirror, -kyy, kyy) % height
            cols = np.where(mirror, width - kx_mod, kx_mod)
            indices.append(rows * columns + cols)
            conjugates.append(mirror)
            gains.append(gain * size_y * size_x / (height * width))
        bank.append((np.stack(indices), np.stack(conjugates), np.stack(gains).astype(np.float32)))
    return bank


def gabor_magnitudes(spectrum: np.ndarray, shape: tuple[int, int]) -> list[np.ndarray]:
    """Per frequency: ``(n_orientations, My, Mx)`` response magnitudes on the critically sampled grid."""
    flat = spectrum.ravel()
    magnitudes = []
    for index, conjugate, gain in filter_bank(*shape):
        window = flat[index]
        np.conjugate(window, out=window, where=conjugate)
        window *= gain
        magnitudes.append(np.abs(scipy.fft.ifft2(window)))
    return magnitudes


class GaborExtractor(HandcraftedExtractor):
    """Mean magnitude and spatial spread of a 4 x 4 Gabor bank, with per-frequency orientation summaries."""

    name = "gabor"
    version = "1"
    summary = __doc__.splitlines()[0]

    feature_table = FEATURES

    def compute(self, ctx: AnalysisContext) -> list[float]:
        """Gabor features of one image context (on its detail crop)."""
        detail = ctx.detail
        values: list[float] = []
        for magnitude in gabor_magnitudes(detail.spectrum, detail.shape):
            flat = magnitude.reshape(magnitude.shape[0], -1)
            means = flat.mean(axis=1, dtype=np.float64)
            stds = np.sqrt(np.maximum((flat * flat).mean(axis=1, dtype=np.float64) - means**2, 0.0))
            for mean, std in zip(means, stds):
                values += [float(mean), float(std / mean) if mean > 1e-6 else 0.0]
            overall = float(means.mean())
            values += [overall, float(means.std()) / overall if overall > 1e-6 else 0.0]
        return values
