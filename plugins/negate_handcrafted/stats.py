"""Small numerical helpers shared by the families; each is defined (finite) for degenerate input."""

from __future__ import annotations

import numpy as np

TINY = 1e-12
STRIP_ELEMENTS = 32_768  # strip-mine per-pixel pipelines: temporaries stay in cache and off mmap


def safe_ratio(numerator: float, denominator: float, default: float = 0.0) -> float:
    """``numerator / denominator``, or ``default`` when the denominator is (nearly) zero."""
    return float(numerator) / float(denominator) if abs(float(denominator)) > TINY else default


def log_ratio(numerator: float, denominator: float, floor: float) -> float:
    """``log10((numerator + floor) / (denominator + floor))``: a ratio that stays finite at zero."""
    return float(np.log10((float(numerator) + floor) / (float(denominator) + floor)))


def moments(values: np.ndarray) -> tuple[float, float, float, float]:
    """``(mean, variance, skewness, excess kurtosis)`` of an array; skew and kurtosis are 0 when it is flat.

    Float32 data, float64 accumulators: sums of powers are BLAS dot products over cache-sized chunks
    (accurate to about 1e-6 relative, and several times faster than whole-array temporaries).
    """
    flat = np.ascontiguousarray(values, dtype=np.float32).ravel()
    n = flat.size
    if n == 0:
        return 0.0, 0.0, 0.0, 0.0
    mean = float(flat.sum()) / n  # numpy's pairwise float32 summation: error ~1e-7 relative
    shift = np.float32(mean)
    second = third = fourth = 0.0
    for start in range(0, n, STRIP_ELEMENTS):
        centred = flat[start : start + STRIP_ELEMENTS] - shift
        squared = centred * centred
        second += float(np.dot(centred, centred))
        third += float(np.dot(squared, centred))
        fourth += float(np.dot(squared, squared))
    variance = second / n
    if variance <= 1e-10 * max(1.0, mean * mean):
        return mean, max(variance, 0.0), 0.0, 0.0
    return mean, variance, third / n / variance**1.5, fourth / n / variance**2 - 3.0


def variance(values: np.ndarray) -> float:
    """Population variance of a float32 array from one sum and one BLAS dot (cheaper than :func:`moments`)."""
    flat = np.ascontiguousarray(values, dtype=np.float32).ravel()
    if flat.size == 0:
        return 0.0
    mean = float(flat.sum()) / flat.size
    return max(float(np.dot(flat, flat)) / flat.size - mean * mean, 0.0)


def entropy_bits(counts: np.ndarray) -> float:
    """Shannon entropy in bits of a histogram of non-negative counts (0 for an empty histogram)."""
    counts = np.asarray(counts, dtype=np.float64).ravel()
    total = counts.sum()
    if total <= 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum())


def normalised(counts: np.ndarray) -> np.ndarray:
    """Counts divided by their sum (all zeros stay zeros)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally shaped arrays; 0 when either is constant."""
    a = np.ascontiguousarray(a, dtype=np.float32).ravel()
    b = np.ascontiguousarray(b, dtype=np.float32).ravel()
    a = a - np.float32(a.mean())
    b = b - np.float32(b.mean())
    denominator = np.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    return float(np.dot(a, b)) / denominator if denominator > 1e-6 else 0.0


def line_fit(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float, float]:
    """Weighted least-squares line ``y = slope * x + intercept``: ``(slope, intercept, rms residual)``.

    Fewer than two distinct ``x`` give slope 0, intercept the (weighted) mean of ``y`` and residual 0.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    total = w.sum()
    if x.size == 0 or total <= 0:
        return 0.0, 0.0, 0.0
    mx = (w * x).sum() / total
    my = (w * y).sum() / total
    sxx = (w * (x - mx) ** 2).sum()
    if sxx <= TINY:
        return 0.0, float(my), 0.0
    slope = (w * (x - mx) * (y - my)).sum() / sxx
    intercept = my - slope * mx
    residual = np.sqrt((w * (y - slope * x - intercept) ** 2).sum() / total)
    return float(slope), float(intercept), float(residual)


def block_view(array: np.ndarray, block: int) -> np.ndarray:
    """``(h//block, w//block, block, block)`` view of the top-left whole blocks of a 2-D array."""
    rows, cols = array.shape[0] // block, array.shape[1] // block
    trimmed = array[: rows * block, : cols * block]
    return trimmed.reshape(rows, block, cols, block).swapaxes(1, 2)


def block_sums(array: np.ndarray, block: int | tuple[int, int], squared: bool = False) -> np.ndarray:
    """``(h//bh, w//bw)`` float32 sums (of squares, with ``squared``) over whole ``bh x bw`` blocks.

    Row sums of each block as one BLAS matrix-vector product (or an ``einsum`` for squares) over
    contiguous runs of ``bw`` values, then the ``bh`` rows of each block added: about ten times faster
    than a 4-D ``mean`` and without full-size temporaries.
    """
    block_h, block_w = (block, block) if isinstance(block, int) else block
    rows, cols = array.shape[0] // block_h, array.shape[1] // block_w
    trimmed = np.ascontiguousarray(array[: rows * block_h, : cols * block_w], dtype=np.float32)
    runs = trimmed.reshape(-1, block_w)
    partial = np.einsum("ij,ij->i", runs, runs) if squared else runs @ np.ones(block_w, dtype=np.float32)
    return partial.reshape(rows, block_h, cols).sum(axis=1)


def laplacian(plane: np.ndarray) -> np.ndarray:
    """``(h - 2, w - 2)`` float32 4-neighbour Laplacian (neighbours minus 4 x centre) of the interior."""
    out = plane[1:-1, 1:-1] * np.float32(-4.0)
    out += plane[:-2, 1:-1]
    out += plane[2:, 1:-1]
    out += plane[1:-1, :-2]
    out += plane[1:-1, 2:]
    return out


def lag_product(values: np.ndarray, dy: int, dx: int) -> tuple[float, int]:
    """``(sum of values[y, x] * values[y + dy, x + dx] over valid pairs, number of pairs)`` for ``dy >= 0``.

    One BLAS dot over the raster-order flattening, minus the few pairs that wrap from one row into the
    next; ``values`` is a C-contiguous float32 ``(h, w)`` array.
    """
    height, width = values.shape
    if dy < 0 or abs(dx) >= width or dy >= height:
        return 0.0, 0
    flat = values.ravel()
    offset = dy * width + dx
    total = float(np.dot(flat[: flat.size - offset], flat[offset:]))
    if dx != 0:
        # positions whose partner left the row: x >= width - dx (dx > 0) or x < -dx (dx < 0)
        columns = np.arange(width - dx, width) if dx > 0 else np.arange(0, -dx)
        rows = np.arange(height)[:, None] * width
        wrapped = (rows + columns[None, :]).ravel()
        wrapped = wrapped[(wrapped + offset >= 0) & (wrapped + offset < flat.size)]
        total -= float(np.dot(flat[wrapped], flat[wrapped + offset]))
    return total, (height - dy) * (width - abs(dx))


def row_strips(height: int, width: int) -> list[slice]:
    """Row slices covering ``height`` rows with about :data:`STRIP_ELEMENTS` pixels each.

    Long chains of elementwise passes over a large image are several times faster strip by strip: each
    temporary fits in the CPU cache and is recycled by the allocator instead of page-faulted afresh.
    """
    rows = max(1, STRIP_ELEMENTS // max(width, 1))
    return [slice(start, min(start + rows, height)) for start in range(0, height, rows)]


def median3x3(values: np.ndarray) -> np.ndarray:
    """``(h, w)`` 3x3 median filter with edge replication, by sorting columns of three (exact).

    The median of nine is the median of (max of the column minima, median of the column medians, min of
    the column maxima): 18 vectorised min/max passes instead of a sort per pixel.
    """
    padded = np.pad(values, 1, mode="edge")
    out = np.empty_like(values)
    left, middle, right = slice(0, -2), slice(1, -1), slice(2, None)
    for rows in row_strips(*values.shape):
        top = padded[rows.start : rows.stop]
        centre = padded[rows.start + 1 : rows.stop + 1]
        bottom = padded[rows.start + 2 : rows.stop + 2]
        low, high = np.minimum(top, centre), np.maximum(top, centre)
        mid = np.maximum(low, np.minimum(high, bottom))
        low, high = np.minimum(low, bottom), np.maximum(high, bottom)
        max_low = np.maximum(np.maximum(low[:, left], low[:, middle]), low[:, right])
        min_high = np.minimum(np.minimum(high[:, left], high[:, middle]), high[:, right])
        a, b, c = mid[:, left], mid[:, middle], mid[:, right]
        med_mid = np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))
        np.maximum(
            np.minimum(max_low, med_mid), np.minimum(np.maximum(max_low, med_mid), min_high), out=out[rows]
        )
    return out
