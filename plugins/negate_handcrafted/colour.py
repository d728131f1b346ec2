"""Colour family: RGB and HSV moments, saturation statistics, colourfulness and joint-histogram entropy.

RGB to HSV follows ``colorsys.rgb_to_hsv`` exactly (hue in [0, 1), 0 for greys), vectorised. Moments are
taken over the working crop, on a regular grid of at most 32,768 pixels (``MAX_PIXELS``): every pixel of
images up to 181 x 181.
"""

from __future__ import annotations

import numpy as np

from negate_handcrafted.base import Feature, HandcraftedExtractor
from negate_handcrafted.context import AnalysisContext, sampling_stride
from negate_handcrafted.stats import entropy_bits, moments

MAX_PIXELS = 32_768
HUE_BINS = 18
JOINT_BITS = 3  # 8 x 8 x 8 joint RGB histogram


def _features() -> list[Feature]:
    specs = []
    for channel in "rgb":
        specs += [
            Feature(f"{channel}_mean", f"mean of the {channel.upper()} channel (grey levels)", "[0, 255]"),
            Feature(f"{channel}_std", f"standard deviation of the {channel.upper()} channel", "[0, 128]"),
            Feature(
                f"{channel}_skew", f"skewness of the {channel.upper()} channel (0 when flat)", "~[-20, 20]"
            ),
            Feature(
                f"{channel}_kurtosis",
                f"excess kurtosis of the {channel.upper()} channel (0 when flat)",
                ">= -2",
            ),
        ]
    specs += [
        Feature("corr_rg", "correlation between the R and G channels (0 when either is flat)", "[-1, 1]"),
        Feature("corr_rb", "correlation between the R and B channels", "[-1, 1]"),
        Feature("corr_gb", "correlation between the G and B channels", "[-1, 1]"),
        Feature(
            "hue_concentration",
            "saturation-weighted mean resultant length of hue (1 = a single hue)",
            "[0, 1]",
        ),
        Feature(
            "hue_entropy",
            f"entropy of the saturation-weighted {HUE_BINS}-bin hue histogram (bits)",
            f"[0, {np.log2(HUE_BINS):.2f}]",
        ),
        Feature("saturation_mean", "mean HSV saturation", "[0, 1]"),
        Feature("saturation_std", "standard deviation of saturation", "[0, 0.5]"),
        Feature("saturation_skew", "skewness of saturation", "~[-20, 20]"),
        Feature("saturation_high_share", "share of pixels with saturation above 0.8", "[0, 1]"),
        Feature("saturation_grey_share", "share of near-grey pixels (saturation below 0.05)", "[0, 1]"),
        Feature("value_mean", "mean HSV value (max of R, G, B) in [0, 1]", "[0, 1]"),
        Feature("value_std", "standard deviation of HSV value", "[0, 0.5]"),
        Feature("colourfulness", "Hasler-Süsstrunk colourfulness (grey levels)", "[0, ~200]"),
        Feature("joint_entropy", "entropy of the 8x8x8-bin joint RGB histogram (bits)", "[0, 9]"),
        Feature("joint_occupancy", "share of the 512 joint RGB bins that are used", "[0, 1]"),
    ]  # fmt: skip
    return specs


FEATURES = _features()


def rgb_to_hsv(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised :func:`colorsys.rgb_to_hsv` of float planes in [0, 1]: ``(h, s, v)``, hue in [0, 1).

    Same branches as colorsys: hue from R when R is the maximum, else from G, else from B; greys get
    hue and saturation 0.
    """
    maxc = np.maximum(np.maximum(r, g), b)
    minc = np.minimum(np.minimum(r, g), b)
    rangec = maxc - minc
    # branch-free selections (masks times values): np.where on data-dependent masks is ~10x slower
    grey = rangec == 0
    inverse_range = 1 / (rangec + grey)  # greys: 1 / 1, and their numerators below are 0
    s = rangec / (maxc + (maxc == 0))
    is_r = r == maxc
    is_g = (g == maxc) & ~is_r
    is_b = ~(is_r | is_g)
    sixths = is_r * ((g - b) * inverse_range)
    sixths += is_g * ((b - r) * inverse_range + 2)
    sixths += is_b * ((r - g) * inverse_range + 4)
    sixths /= 6
    h = sixths + (sixths < 0)  # (x / 6) mod 1 for x in (-1, 5]; greys get 0 as in colorsys
    return h.astype(r.dtype, copy=False), s.astype(r.dtype, copy=False), maxc


def hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised :func:`colorsys.hsv_to_rgb` (branch-free form): ``(r, g, b)`` planes in [0, 1].

    Each channel is ``v - v s clip(min(k, 4 - k), 0, 1)`` with ``k = (n + 6h) mod 6`` and n = 5, 3, 1:
    the same piecewise-linear hue ramps as colorsys's six sectors.
    """
    h6 = h * 6
    vs = v * s
    channels = []
    for n in (5, 3, 1):
        k = h6 + n
        k -= np.float32(6.0) * (k >= 6)  # (6h + n) mod 6, with 6h + n in [1, 12)
        ramp = np.maximum(np.minimum(np.minimum(k, 4 - k), 1), 0)
        channels.append(v - vs * ramp)
    return channels[0], channels[1], channels[2]


def sample_pixels(ctx: AnalysisContext, budget: int = MAX_PIXELS) -> np.ndarray:
    """``(n, 3)`` uint8 RGB of the pixels on a grid of at most ``budget`` points of the working crop."""
    stride = sampling_stride(ctx.shape, budget)
    return np.ascontiguousarray(ctx.rgb[::stride, ::stride]).reshape(-1, 3)


class ColourExtractor(HandcraftedExtractor):
    """RGB moments and correlations, HSV hue/saturation/value statistics, colourfulness, joint entropy."""

    name = "colour"
    version = "1"
    summary = __doc__.splitlines()[0]

    feature_table = FEATURES

    def compute(self, ctx: AnalysisContext) -> list[float]:
        """Colour features of one image context."""
        pixels = sample_pixels(ctx)
        channels = np.ascontiguousarray(pixels.T, dtype=np.float32)  # (3, n), each row contiguous
        values: list[float] = []
        centred = []
        for channel in channels:
            mean, variance, skew, kurtosis = moments(channel)
            values += [mean, float(np.sqrt(variance)), skew, kurtosis]
            centred.append((channel - np.float32(mean), variance))
        for a, b in ((0, 1), (0, 2), (1, 2)):
            (ca, va), (cb, vb) = centred[a], centred[b]
            values.append(float(np.dot(ca, cb)) / ca.size / np.sqrt(va * vb) if va * vb > 1e-12 else 0.0)
        h, s, v = rgb_to_hsv(*(channels / np.float32(255.0)))
        values += self._hue(h, s)
        _, s_var, s_skew, _ = moments(s)
        values += [float(s.mean()), float(np.sqrt(s_var)), s_skew]
        values += [float(np.mean(s > 0.8)), float(np.mean(s < 0.05)), float(v.mean()), float(v.std())]
        values.append(self._colourfulness(channels))
        joint = np.bincount(
            ((pixels[:, 0] >> 5).astype(np.int64) << 6) | ((pixels[:, 1] >> 5) << 3) | (pixels[:, 2] >> 5),
            minlength=512,
        )
        values += [entropy_bits(joint), float(np.count_nonzero(joint)) / 512]
        return values

    @staticmethod
    def _hue(h: np.ndarray, s: np.ndarray) -> list[float]:
        weight = float(s.sum(dtype=np.float64))
        if weight <= 1e-9:
            return [0.0, 0.0]
        angle = h * np.float32(2 * np.pi)
        resultant = float(np.hypot(np.dot(s, np.cos(angle)), np.dot(s, np.sin(angle)))) / weight
        bins = np.minimum((h * HUE_BINS).astype(np.intp), HUE_BINS - 1)
        return [float(resultant), entropy_bits(np.bincount(bins, s, minlength=HUE_BINS))]

    @staticmethod
    def _colourfulness(channels: np.ndarray) -> float:
        r, g, b = channels
        rg = r - g
        yb = np.float32(0.5) * (r + g) - b
        return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
