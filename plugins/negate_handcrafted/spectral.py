"""Spectral family: the radial power spectrum, its 1/f behaviour, periodic peaks and phase statistics.

All frequencies are in cycles per pixel (0.5 is the Nyquist frequency). The spectrum is that of the
periodic component of the grayscale working crop (no window, no border leakage; see the context module).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from negate_handcrafted.base import Feature, HandcraftedExtractor
from negate_handcrafted.context import AnalysisContext, frequency_grid
from negate_handcrafted.stats import line_fit, log_ratio, safe_ratio

N_BANDS = 8  # equal-width radial bands of 1/16 cycles/px below Nyquist; r >= 0.5 is the corner band
PEAK_MIN_RADIUS = 1.0 / 16.0  # below this the spectrum is image content, not periodic artefacts
PEAK_EXCESS = np.log10(20.0)  # a bin 20x above its ring's geometric mean (chance ~1e-5 for noise)
POWER_FLOOR = 1e-6  # grey levels^2: keeps logarithms finite for flat images
N_RINGS = 16  # log-spaced rings for the slope fit
LOW_EDGE, MID_EDGE, HIGH_EDGE = 0.125, 0.25, 0.5


def _features() -> list[Feature]:
    specs = [
        Feature(
            f"band_{k}_share",
            f"share of AC power at radial frequency in [{k}/16, {k + 1}/16) cycles/px",
            "[0, 1]",
        )
        for k in range(N_BANDS)
    ]
    specs += [
        Feature("corner_share", "share of AC power beyond Nyquist radius (r >= 0.5, the corners)", "[0, 1]"),
        Feature(
            "log_ac_power",
            "log10 of the AC power (variance of the periodic component, grey²)",
            "[-6, 4.3]",
        ),
        Feature("high_low_log_ratio", "log10 power ratio of r >= 0.25 to r < 0.125", "(-inf, inf), ~[-6, 3]"),
        Feature("mid_low_log_ratio", "log10 power ratio of 0.125 <= r < 0.25 to r < 0.125", "~[-6, 3]"),
        Feature("slope", "slope of log10 ring power against log10 radius (about -2 for photos)", "~[-6, 2]"),
        Feature("intercept", "intercept of that log-log fit (log10 power at r = 1)", "~[-8, 6]"),
        Feature("fit_residual", "rms residual of the log-log fit (log10 units)", ">= 0"),
        Feature(
            "template_dev_mid",
            "mean log10 excess over the power law fitted on r < 0.125, 0.125-0.25",
            "~[-4, 4]",
        ),
        Feature(
            "template_dev_high",
            "mean log10 excess over the power law fitted on r < 0.125, 0.25-0.5",
            "~[-6, 6]",
        ),
        Feature(
            "pink_dev_mid",
            "mean log10 excess over a 1/f^2 power template anchored on r < 0.125, 0.125-0.25",
            "~[-4, 4]",
        ),
        Feature("pink_dev_high", "mean log10 excess over that 1/f^2 template, 0.25-0.5", "~[-6, 6]"),
        Feature(
            "peak_excess_max",
            "largest log10 excess of a bin over its ring's geometric mean (r >= 1/16)",
            ">= 0, ~[0, 6]",
        ),
        Feature("peak_radius", "radial frequency of that strongest peak (cycles/px)", "[0, 0.71]"),
        Feature(
            "peak_angle",
            "angle of that peak folded to [0, 45] degrees (0 = on an axis, 45 = diagonal)",
            "[0, 45]",
        ),
        Feature(
            "peak_bin_share",
            "share of bins (r >= 1/16) more than 20x above their ring's geometric mean",
            "[0, 1]",
        ),
        Feature("peak_power_share", "share of AC power (r >= 1/16) in those peak bins", "[0, 1]"),
        Feature(
            "grid2_excess",
            "log10 excess at the 2x upsampling lattice (multiples of 1/2 cycles/px)",
            "~[-3, 6]",
        ),
        Feature("grid4_excess", "log10 excess at the 4x lattice (odd multiples of 1/4)", "~[-3, 6]"),
        Feature("grid8_excess", "log10 excess at the 8x lattice (odd multiples of 1/8)", "~[-3, 6]"),
        Feature(
            "phase_coherence_low",
            "magnitude-weighted coherence of phase steps between adjacent bins below 1/4 cycles/px "
            "along the step (x, y averaged)",
            "[0, 1]",
            rotation_invariant=False,
        ),
        Feature(
            "phase_coherence_high",
            "the same at and above 1/4 cycles/px (1 = energy concentrated at one place)",
            "[0, 1]",
            rotation_invariant=False,
        ),
        Feature(
            "phase_anisotropy",
            "absolute difference of the all-frequency coherence between x and y steps",
            "[0, 1]",
            rotation_invariant=False,
        ),
    ]  # fmt: skip
    return specs


FEATURES = _features()


@lru_cache(maxsize=32)
def _layout(height: int, width: int) -> dict:
    """Per-shape index arrays: the rfft2 bins sorted by radius, and segment bounds of every radial partition.

    Sorting once per shape turns every radial sum (bands, slope rings, fine rings) into a contiguous
    segment, summed with ``np.add.reduceat``.
    """
    _, _, radius, weight = frequency_grid(height, width)
    fy, fx, _, _ = frequency_grid(height, width)
    flat_radius = radius.ravel().astype(np.float64)
    order = np.argsort(flat_radius, kind="stable")
    sorted_radius = flat_radius[order]
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    band_edges = np.arange(N_BANDS + 1) / 16.0
    band_starts = np.searchsorted(sorted_radius, band_edges, side="left")
    band_starts[0] = 1  # skip DC (the first bin in radius order)
    r_min = 1.0 / min(height, width)
    ring_edges = np.geomspace(r_min, 0.5, N_RINGS + 1)
    ring_bounds = np.searchsorted(sorted_radius, ring_edges, side="left")
    fine = np.rint(sorted_radius * min(height, width)).astype(np.int64)
    fine_starts = np.flatnonzero(np.r_[True, fine[1:] != fine[:-1]])
    angle = np.degrees(np.arctan2(np.abs(fy), np.abs(fx))).ravel()[order]
    return {
        "order": order,
        "radius": sorted_radius,
        "weight": weight.ravel()[order],
        "band_starts": band_starts,
        "band_empty": np.diff(np.r_[band_starts, order.size]) == 0,
        "ring_bounds": ring_bounds,
        "ring_count": np.diff(np.r_[0.0, np.cumsum(weight.ravel()[order], dtype=np.float64)][ring_bounds]),
        "ring_centre": np.sqrt(ring_edges[:-1] * ring_edges[1:]),
        "fine_starts": fine_starts,
        "fine_counts": np.diff(np.r_[fine_starts, order.size]),
        "fine_weight": np.add.reduceat(weight.ravel()[order].astype(np.float64), fine_starts),
        "peak_start": int(np.searchsorted(sorted_radius, PEAK_MIN_RADIUS, side="left")),
        "angle": np.minimum(angle, 90.0 - angle),
        "lattice": [rank[_lattice_indices(height, width, step)] for step in (2, 4, 8)],
    }


def _lattice_indices(height: int, width: int, step: int) -> np.ndarray:
    """``(n_points, 9)`` flat rfft2 indices of lattice points ``(a/step, b/step)`` not on coarser lattices.

    Each point comes with its 3x3 neighbourhood (sizes not divisible by ``step`` have no exact bin).
    """
    points = set()
    for a in range(-step // 2 + 1, step // 2 + 1):
        for b in range(-step // 2 + 1, step // 2 + 1):
            if (a, b) == (0, 0) or (step > 2 and a % 2 == 0 and b % 2 == 0):
                continue
            fy_, fx_ = a / step, b / step
            if fx_ < 0 or (fx_ == 0 and fy_ < 0):  # the conjugate bin carries the same power
                fy_, fx_ = -fy_, -fx_
            points.add((round(fy_ * height), min(round(fx_ * width), width // 2)))
    columns = width // 2 + 1

    def flat_index(row: int, col: int) -> int:
        """The stored bin of full-plane bin (row, col): the conjugate mirror when col is negative."""
        col %= width
        if col > width // 2:
            row, col = -row, width - col
        return (row % height) * columns + col

    hoods = [
        [flat_index(row + dr, col + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)]
        for row, col in sorted(points)
    ]
    return np.asarray(hoods, dtype=np.int64).reshape(-1, 9)


class SpectralExtractor(HandcraftedExtractor):
    """Azimuthally averaged power spectrum, 1/f deviations, upsampling peaks and phase statistics."""

    name = "spectral"
    version = "1"
    summary = __doc__.splitlines()[0]

    feature_table = FEATURES

    def compute(self, ctx: AnalysisContext) -> list[float]:
        """Spectral features of one image context."""
        layout = _layout(*ctx.shape)
        power = ctx.power.ravel()[layout["order"]]  # sorted by radius; DC first
        weighted = power * layout["weight"]
        band_power = np.add.reduceat(weighted, layout["band_starts"]).astype(np.float64)
        band_power[layout["band_empty"]] = 0.0  # reduceat returns an element, not 0, for empty segments
        # reduceat's last segment runs to the end: bands 0..7 then everything from r = 0.5 (the corners)
        total = float(band_power.sum())
        shares = band_power / total if total > 1e-9 else np.zeros_like(band_power)
        low, mid, high = band_power[:2].sum(), band_power[2:4].sum(), band_power[4:].sum()  # edges 1/8, 1/4
        values = [*shares, np.log10(total + POWER_FLOOR)]
        values += [log_ratio(high, low, POWER_FLOOR), log_ratio(mid, low, POWER_FLOOR)]
        values += self._power_law(layout, weighted)
        values += self._peaks(layout, power, weighted, total)
        values += self._phase(ctx)
        return values

    @staticmethod
    def _power_law(layout: dict, weighted: np.ndarray) -> list[float]:
        ring_count = layout["ring_count"]
        valid = ring_count > 0
        ring_power = np.zeros(N_RINGS)
        bounds = layout["ring_bounds"]
        padded = np.append(weighted, np.float32(0.0))  # so the last ring's end bound is a valid index
        ring_power[valid] = np.add.reduceat(padded, np.r_[bounds[:-1][valid], bounds[-1]])[:-1]
        log_r = np.log10(layout["ring_centre"][valid])
        log_p = np.log10(ring_power[valid] / ring_count[valid] + POWER_FLOOR)
        slope, intercept, residual = line_fit(log_r, log_p)
        centre = 10**log_r
        low, mid, high = centre < LOW_EDGE, (centre >= LOW_EDGE) & (centre < MID_EDGE), centre >= MID_EDGE
        devs = [0.0, 0.0, 0.0, 0.0]
        if low.sum() >= 2:
            low_slope, low_intercept, _ = line_fit(log_r[low], log_p[low])
            pink_anchor = float(np.mean(log_p[low] + 2.0 * log_r[low]))
            for i, band in enumerate((mid, high)):
                if band.any():
                    devs[i] = float(np.mean(log_p[band] - (low_slope * log_r[band] + low_intercept)))
                    devs[2 + i] = float(np.mean(log_p[band] - (pink_anchor - 2.0 * log_r[band])))
        return [slope, intercept, residual, *devs]

    @staticmethod
    def _peaks(layout: dict, power: np.ndarray, weighted: np.ndarray, total: float) -> list[float]:
        start = layout["peak_start"]
        if start >= power.size or total <= 1e-9:
            return [0.0] * 8
        mean_power = total / power.size
        log_power = np.log10(power + np.float32(1e-6 * mean_power + 1e-12))
        # weighted by the conjugate-pair weights: ring statistics equal full-plane ones (rotation-exact)
        weight = layout["weight"]
        ring_mean = np.add.reduceat(log_power * weight, layout["fine_starts"]) / layout["fine_weight"]
        excess = log_power - np.repeat(ring_mean.astype(np.float32), layout["fine_counts"])
        zone = excess[start:]
        best = int(np.argmax(zone))
        peaks = zone > PEAK_EXCESS
        zone_power = float(weighted[start:].sum())
        grids = [float(excess[idx].max(axis=1).mean()) if idx.size else 0.0 for idx in layout["lattice"]]
        return [
            max(float(zone[best]), 0.0),
            float(layout["radius"][start + best]),
            float(layout["angle"][start + best]),
            float(np.dot(weight[start:], peaks.astype(np.float32))) / float(weight[start:].sum()),
            safe_ratio(float(np.dot(weighted[start:], peaks.astype(np.float32))), zone_power),
            *grids,
        ]

    @staticmethod
    def _phase(ctx: AnalysisContext) -> list[float]:
        """Magnitude-weighted phase coherence of adjacent bins, overall and in the high-frequency zones.

        For steps along y: ``|sum F(k + e_y) conj F(k)| / sum |F(k + e_y)| |F(k)|``, 1 when the phase advances
        by the same amount everywhere (energy concentrated at one place), near 0 for scattered content;
        likewise along x. The high zone is ``|fy| >= 1/4`` for y steps and ``fx >= 1/4`` for x steps (it
        swaps under a 90° rotation). Every sum is a BLAS dot over contiguous memory.
        """
        spectrum = ctx.spectrum
        magnitude = np.sqrt(ctx.power)  # |F| / (h w): the scale cancels in the ratios
        height, columns = spectrum.shape
        # y steps: pairs of adjacent rows; the high zone is the block of rows with |fy| >= 1/4
        first, stop = -(-height // 4), height - (-(-height // 4))
        y_all = _step_sums(spectrum, magnitude, columns)
        y_high = _step_sums(
            spectrum[first : max(stop, first) + 1], magnitude[first : max(stop, first) + 1], columns
        )
        # x steps: pairs of adjacent columns; the high zone is the columns with fx >= 1/4
        first_x = min(-(-ctx.shape[1] // 4), columns - 1)
        x_all = _step_sums(spectrum, magnitude, 1)
        x_high = _step_sums(
            np.ascontiguousarray(spectrum[:, first_x:]), np.ascontiguousarray(magnitude[:, first_x:]), 1
        )
        results = []
        for (numerator, denominator), (high_numerator, high_denominator) in (
            (y_all, y_high),
            (x_all, x_high),
        ):
            results.append((
                safe_ratio(abs(numerator), denominator),
                safe_ratio(abs(numerator - high_numerator), denominator - high_denominator),
                safe_ratio(abs(high_numerator), high_denominator),
            ))  # fmt: skip
        (all_y, low_y, high_y), (all_x, low_x, high_x) = results
        return [(low_x + low_y) / 2, (high_x + high_y) / 2, abs(all_x - all_y)]


def _step_sums(values: np.ndarray, weights: np.ndarray, offset: int) -> tuple[complex, float]:
    """``(sum conj(v[k]) v[k + step], sum w[k] w[k + step])`` for a C-contiguous 2-D array.

    ``offset`` is 1 (steps along rows, the pairs that wrap from one row to the next removed) or the row
    length (steps between rows).
    """
    flat, flat_weight = values.ravel(), weights.ravel()
    if flat.size <= offset:
        return 0j, 0.0
    numerator = complex(np.vdot(flat[:-offset], flat[offset:]))
    denominator = float(np.dot(flat_weight[:-offset], flat_weight[offset:]))
    if offset == 1 and values.shape[0] > 1:  # remove (last of row r, first of row r + 1)
        numerator -= complex(np.vdot(values[:-1, -1], values[1:, 0]))
        denominator -= float(np.dot(weights[:-1, -1], weights[1:, 0]))
    return numerator, denominator
