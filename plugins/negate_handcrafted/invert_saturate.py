"""Invert-saturate family: how edges and fine texture change in the inverted, saturation-boosted view.

The view inverts the colours (255 - RGB) and multiplies HSV saturation by ``saturation_factor`` (clipped
to 1), the stress view of the CIFAKE inverted/saturated experiments: generators reproduce natural RGB
statistics but not those of such unnatural colour spaces, so colour noise and edges change differently.
Computed on the context's detail crop (the whole image up to 256 x 256).
"""

from __future__ import annotations

import numpy as np

from negate_handcrafted.base import Feature, HandcraftedExtractor
from negate_handcrafted.context import (
    DEFAULT_MAX_PIXELS,
    EDGE_THRESHOLD,
    AnalysisContext,
    non_maximum_suppression,
    sobel_gradients,
)
from negate_handcrafted.stats import correlation, laplacian, log_ratio, variance
from negate_sdk.runtime.views import inverted_saturated

VARIANCE_FLOOR = 1e-3

FEATURES = [
    Feature(
        "edge_density_ratio",
        "log2 of (view edge density + 1/n) over (original edge density + 1/n)",
        "~[-17, 17]",
    ),
    Feature("gradient_ratio", "log10 of mean gradient magnitude, view over original", "~[-5, 5]"),
    Feature("gradient_corr", "correlation of the view's and the original's gradient magnitudes", "[-1, 1]"),
    Feature(
        "hf_energy_ratio",
        "log10 of Laplacian-residual variance of the view's luma over the original's",
        "~[-6, 6]",
    ),
    Feature(
        "chroma_noise_ratio",
        "log10 of the colour-difference (R - G, B - G) Laplacian variance, view over original",
        "~[-6, 6]",
    ),
    Feature("saturation_clip_share", "share of pixels whose boosted saturation was clipped at 1", "[0, 1]"),
    Feature("channel_clip_share", "share of view pixels with a channel at 0 or 255 (rounded)", "[0, 1]"),
    Feature("view_saturation_mean", "mean saturation of the view", "[0, 1]"),
]  # fmt: skip


def _laplacian_variance(plane: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of a ``(h, w)`` plane."""
    return variance(laplacian(plane))


def _chroma_noise(planes: np.ndarray) -> float:
    """Mean Laplacian variance of the colour-difference planes R - G and B - G of ``(3, h, w)`` RGB."""
    return 0.5 * (_laplacian_variance(planes[0] - planes[1]) + _laplacian_variance(planes[2] - planes[1]))


class InvertSaturateExtractor(HandcraftedExtractor):
    """Edge, gradient and fine-texture changes under colour inversion and a strong saturation boost."""

    name = "invert_saturate"
    version = "1"
    summary = __doc__.splitlines()[0]

    def __init__(self, max_pixels: int = DEFAULT_MAX_PIXELS, saturation_factor: float = 8.0) -> None:
        self.max_pixels = max_pixels
        self.saturation_factor = saturation_factor

    feature_table = FEATURES

    def compute(self, ctx: AnalysisContext) -> list[float]:
        """Invert-saturate features of one image context."""
        if not self.saturation_factor > 0:
            raise ValueError(f"saturation_factor must be positive, got {self.saturation_factor}")
        crop = ctx.detail
        view, clipped, s_view = inverted_saturated(crop.rgb, self.saturation_factor)
        value = np.maximum(np.maximum(view[0], view[1]), view[2])  # the view's HSV value, as before boosting
        view_gray = np.float32(0.299) * view[0] + np.float32(0.587) * view[1] + np.float32(0.114) * view[2]
        vgx, vgy, vmag2 = sobel_gradients(view_gray)
        view_edges = non_maximum_suppression(vgx, vgy, vmag2) & (vmag2 > np.float32(EDGE_THRESHOLD**2))
        n = crop.n_pixels
        density_view = float(np.count_nonzero(view_edges)) / n
        density_original = float(np.count_nonzero(crop.edges)) / n
        view_magnitude = np.sqrt(vmag2)
        original_magnitude = crop.gradient_magnitude
        chroma_view = _chroma_noise(view)
        chroma_original = _chroma_noise(crop.rgb_planes)
        return [
            float(np.log2((density_view + 1 / n) / (density_original + 1 / n))),
            log_ratio(float(view_magnitude.mean()), float(original_magnitude.mean()), VARIANCE_FLOOR),
            correlation(view_magnitude, original_magnitude),
            log_ratio(_laplacian_variance(view_gray), _laplacian_variance(crop.gray), VARIANCE_FLOOR),
            log_ratio(chroma_view, chroma_original, VARIANCE_FLOOR),
            float(np.mean(clipped)),
            float(np.mean((value * (1 - s_view) <= 0.5) | (value >= 254.5))),  # min channel v (1 - s)
            float(s_view.mean()),
        ]
