"""Edges family: edge density and sharpness, stroke width, straightness and the edge map's fractal dimension.

Edges are the context's edge map: Sobel gradient maxima across the edge (non-maximum suppression) above 8
grey levels per pixel. Strokes are the minority side of an Otsu threshold of the luma (dark lines on light
paper or the reverse); their width comes from a distance transform truncated at 8 px. Computed on the
context's detail crop (the whole image up to 256 x 256).
"""

from __future__ import annotations

import numpy as np

from negate_handcrafted.base import Feature, HandcraftedExtractor
from negate_handcrafted.context import STRONG_EDGE_THRESHOLD, AnalysisContext
from negate_handcrafted.stats import block_sums, line_fit

MAX_DEPTH = 8  # pixels: the distance transform stops here (strokes up to ~16 px wide are measured)
STRAIGHT_BLOCK = 8
STRAIGHT_COHERENCE = 0.9
BOX_SIZES = (2, 4, 8, 16, 32)
MAX_PROFILES = 16_384  # edge pixels profiled for sharpness

FEATURES = [
    Feature("edge_density", "share of pixels on an edge", "[0, 1]"),
    Feature(
        "strong_edge_share",
        f"share of edge pixels with gradient above {STRONG_EDGE_THRESHOLD:g} grey levels/px",
        "[0, 1]",
    ),
    Feature("edge_gradient_mean", "mean gradient magnitude on edges (grey levels/px)", "[0, 361]"),
    Feature(
        "edge_sharpness",
        "mean over edge pixels of gradient / grey range of the 7-px profile across the edge "
        "(0.5 for an ideal step, ~1/6 when blurred over 6 px)",
        "[0, 1.5]",
    ),
    Feature(
        "ink_share",
        "share of pixels on the minority side of the Otsu threshold (the strokes)",
        "[0, 0.5]",
    ),
    Feature(
        "stroke_width_mean",
        f"mean stroke width at stroke centre lines, 2 x depth - 1 (px, up to {2 * MAX_DEPTH - 1})",
        f"[0, {2 * MAX_DEPTH - 1}]",
    ),
    Feature("stroke_width_cv", "coefficient of variation of those stroke widths", ">= 0"),
    Feature(
        "straightness",
        "edge-weighted mean structure-tensor coherence of edge pixels in 8x8 blocks (1 = straight)",
        "[0, 1]",
    ),
    Feature(
        "straight_share",
        f"share of edge-bearing 8x8 blocks with coherence above {STRAIGHT_COHERENCE}",
        "[0, 1]",
    ),
    Feature(
        "fractal_dimension",
        "box-counting dimension of the edge map (1 for lines, 2 for filled areas)",
        "[0, 2]",
    ),
    Feature("fractal_residual", "rms residual of the box-counting log-log fit", ">= 0"),
]  # fmt: skip


def otsu_threshold(values: np.ndarray) -> int:
    """Otsu's threshold of uint8 values: pixels ``<= t`` are dark (maximises between-class variance)."""
    histogram = np.bincount(values.ravel(), minlength=256).astype(np.float64)
    weight_dark = np.cumsum(histogram)
    total = weight_dark[-1]
    weight_light = total - weight_dark
    cumulative_mean = np.cumsum(histogram * np.arange(256))
    mean_dark = cumulative_mean / np.maximum(weight_dark, 1)
    mean_light = (cumulative_mean[-1] - cumulative_mean) / np.maximum(weight_light, 1)
    between = weight_dark * weight_light * (mean_dark - mean_light) ** 2
    return int(np.argmax(between))


def truncated_depth(mask: np.ndarray, max_depth: int = MAX_DEPTH) -> np.ndarray:
    """``(h, w)`` uint8 distance (in erosion steps) from each mask pixel to the background, capped.

    Erosions alternate the 4- and the 8-neighbourhood, giving the octagonal distance, a close integer
    approximation of the Euclidean one; pixels outside the image count as background.
    """
    depth = mask.astype(np.uint8)
    current = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), dtype=bool)
    current[1:-1, 1:-1] = mask
    for step in range(1, max_depth):
        centre = current[1:-1, 1:-1]
        eroded = centre & current[:-2, 1:-1] & current[2:, 1:-1] & current[1:-1, :-2] & current[1:-1, 2:]
        if step % 2 == 0:
            eroded &= current[:-2, :-2] & current[:-2, 2:] & current[2:, :-2] & current[2:, 2:]
        if not eroded.any():
            break
        depth += eroded
        current[1:-1, 1:-1] = eroded
    return depth


def box_counting(edges: np.ndarray) -> tuple[float, float]:
    """``(dimension, rms residual)`` of the slope of log N(s) against log(1/s), boxes of 2 to 32 px."""
    counts, sizes = [], []
    occupied = edges
    size = 1
    for target in BOX_SIZES:
        while size < target:
            rows, cols = occupied.shape[0] // 2, occupied.shape[1] // 2
            if rows == 0 or cols == 0:
                break
            trimmed = occupied[: rows * 2, : cols * 2]
            occupied = trimmed[0::2, 0::2] | trimmed[0::2, 1::2] | trimmed[1::2, 0::2] | trimmed[1::2, 1::2]
            size *= 2
        if size != target:
            break
        count = int(np.count_nonzero(occupied))
        if count == 0:
            break
        counts.append(count)
        sizes.append(size)
    if len(counts) < 2:
        return 0.0, 0.0
    slope, _, residual = line_fit(-np.log2(sizes), np.log2(counts))
    return float(np.clip(slope, 0.0, 2.0)), residual


class EdgesExtractor(HandcraftedExtractor):
    """Edge density, sharpness, stroke width, straightness and box-counting dimension of the edge map."""

    name = "edges"
    version = "1"
    summary = __doc__.splitlines()[0]

    feature_table = FEATURES

    def compute(self, ctx: AnalysisContext) -> list[float]:
        """Edge features of one image context (on its detail crop)."""
        ctx = ctx.detail
        edges = ctx.edges
        n_edges = int(np.count_nonzero(edges))
        values = [n_edges / ctx.n_pixels]
        if n_edges:
            magnitude = ctx.gradient_magnitude[edges]
            values += [
                float(np.count_nonzero(magnitude > STRONG_EDGE_THRESHOLD)) / n_edges,
                float(magnitude.mean()),
            ]
            values.append(self._sharpness(ctx, edges))
        else:
            values += [0.0, 0.0, 0.0]
        values += self._strokes(ctx.gray)
        values += self._straightness(ctx, edges)
        values += list(box_counting(edges))
        return values

    @staticmethod
    def _sharpness(ctx: AnalysisContext, edges: np.ndarray) -> float:
        """Mean over edge pixels of gradient / grey-level range of the 7-point profile across the edge.

        The profile samples -3..3 px along the gradient direction (rounded to whole pixels, clamped to the
        image): an ideal step scores 0.5, an edge blurred over 6 px or more about 1/6, a thin line 0.5.
        At most :data:`MAX_PROFILES` edge pixels (every k-th in raster order) are profiled.
        """
        flat_index = np.flatnonzero(edges)
        flat_index = flat_index[:: max(1, -(-flat_index.size // MAX_PROFILES))]
        width = edges.shape[1]
        reach_max = 3
        padded = np.pad(ctx.gray, reach_max, mode="edge").ravel()  # clamping by padding: no per-sample clip
        stride = width + 2 * reach_max
        rows, cols = np.divmod(flat_index, width)
        base = (rows + reach_max) * stride + cols + reach_max
        magnitude = ctx.gradient_magnitude.ravel()[flat_index]
        unit_y = ctx.gy.ravel()[flat_index] / magnitude  # edge pixels have magnitude > 8
        unit_x = ctx.gx.ravel()[flat_index] / magnitude
        low = high = padded[base]
        for reach in (1, 2, 3):
            offset = np.rint(unit_y * reach).astype(np.intp) * stride + np.rint(unit_x * reach).astype(
                np.intp
            )
            for sample in (padded[base + offset], padded[base - offset]):
                low, high = np.minimum(low, sample), np.maximum(high, sample)
        return float(
            np.mean(np.minimum(magnitude / np.maximum(high - low, np.float32(1.0)), np.float32(1.5)))
        )

    @staticmethod
    def _strokes(gray: np.ndarray) -> list[float]:
        levels = np.rint(gray).astype(np.uint8)
        threshold = otsu_threshold(levels)
        dark = levels <= threshold
        dark_share = float(np.count_nonzero(dark)) / dark.size
        if dark_share in (0.0, 1.0):
            return [0.0, 0.0, 0.0]
        ink = dark if dark_share <= 0.5 else ~dark
        depth = truncated_depth(ink)
        height, width = depth.shape
        padded = np.zeros((height + 2, width + 2), dtype=np.uint8)
        padded[1:-1, 1:-1] = depth
        ridge = depth > 0
        for dy in range(3):
            for dx in range(3):
                if dy != 1 or dx != 1:
                    ridge &= depth >= padded[dy : dy + height, dx : dx + width]
        widths = 2.0 * depth[ridge].astype(np.float64) - 1.0
        mean = float(widths.mean()) if widths.size else 0.0
        cv = float(widths.std()) / mean if mean > 0 else 0.0
        return [min(dark_share, 1.0 - dark_share), mean, cv]

    @staticmethod
    def _straightness(ctx: AnalysisContext, edges: np.ndarray) -> list[float]:
        """Per block, coherence ``sqrt((J11 - J22)² + 4 J12²) / (J11 + J22)`` of edge pixels' gradients."""
        mask = edges.astype(np.float32)
        gx, gy = ctx.gx, ctx.gy
        trace = block_sums(ctx.gradient_magnitude2 * mask, STRAIGHT_BLOCK)
        difference = block_sums((gx * gx - gy * gy) * mask, STRAIGHT_BLOCK)
        cross = block_sums(gx * gy * mask, STRAIGHT_BLOCK)
        count = block_sums(mask, STRAIGHT_BLOCK)
        active = count >= 4
        if not active.any():
            return [0.0, 0.0]
        coherence = np.sqrt(difference[active] ** 2 + 4 * cross[active] ** 2) / np.maximum(
            trace[active], 1e-9
        )
        weights = count[active]
        return [
            float((coherence * weights).sum() / weights.sum()),
            float(np.mean(coherence > STRAIGHT_COHERENCE)),
        ]
