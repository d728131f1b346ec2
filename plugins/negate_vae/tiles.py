"""Tiles of an image at its native resolution, and the reconstruction-error features of a tile.

Resizing would blur away the very traces an autoencoder leaves, so tiles are cut from the image as it
is: up to ``max_tiles_per_side`` squares (or rectangles, for small images) per side, spread evenly
from edge to edge (the middle one when only one fits), each a multiple of the autoencoder's factor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from negate_sdk.runtime.views import grid_offsets

FEATURES = ("l1", "mse", "mse_low", "mse_mid", "mse_high", "l1_tile_min", "l1_tile_max")
# Radial frequency band edges as fractions of the Nyquist frequency: [0, 1/4), [1/4, 1/2), [1/2, √2].
BAND_EDGES = (0.25, 0.5)


def tile_side(length: int, tile_size: int, factor: int) -> int:
    """A tile side for an image side of ``length``: at most ``tile_size``, a multiple of ``factor``.

    Sides shorter than ``factor`` give ``factor`` (the image is then padded by mirroring).
    """
    if length < factor:
        return factor
    return min(tile_size, (length // factor) * factor)


def make_tiles(pixels: np.ndarray, tile_size: int, max_tiles_per_side: int, factor: int) -> np.ndarray:
    """``(n_tiles, tile_h, tile_w, 3)`` uint8 tiles of one ``(height, width, 3)`` uint8 image."""
    if tile_size % factor:
        raise ValueError(f"tile_size {tile_size} must be a multiple of the autoencoder factor {factor}")
    height, width = pixels.shape[:2]
    if height < factor or width < factor:
        pad_h, pad_w = max(0, factor - height), max(0, factor - width)
        pixels = np.pad(pixels, ((0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")
        height, width = pixels.shape[:2]
    tile_h = tile_side(height, tile_size, factor)
    tile_w = tile_side(width, tile_size, factor)
    # As many tiles per side as fit without mostly overlapping (rounded), at most max_tiles_per_side.
    rows = grid_offsets(height, tile_h, max(1, min(max_tiles_per_side, round(height / tile_h))))
    cols = grid_offsets(width, tile_w, max(1, min(max_tiles_per_side, round(width / tile_w))))
    tiles = [pixels[top : top + tile_h, left : left + tile_w] for top in rows for left in cols]
    return np.ascontiguousarray(np.stack(tiles))


def band_masks(height: int, width: int, device: Any = None) -> Any:
    """``(3, height, width)`` boolean torch masks of the low, mid and high radial FFT bands."""
    import torch

    fy = torch.fft.fftfreq(height, device=device).view(-1, 1)
    fx = torch.fft.fftfreq(width, device=device).view(1, -1)
    radius = torch.sqrt(fy**2 + fx**2) / 0.5  # 1.0 = Nyquist along an axis
    low = radius < BAND_EDGES[0]
    high = radius >= BAND_EDGES[1]
    return torch.stack([low, ~low & ~high, high])


def tile_errors(original: Any, reconstruction: Any) -> Any:
    """``(n_tiles, 5)`` float32 torch tensor: L1, MSE and the MSE in the low, mid and high bands.

    Inputs are ``(n_tiles, 3, h, w)`` tensors in [-1, 1]. By Parseval's theorem the three band MSEs add
    up to the MSE: the bands split the error energy by spatial frequency.
    """
    import torch

    error = (reconstruction.float() - original.float()).clamp(-2.0, 2.0)
    channels, height, width = error.shape[1:]
    l1 = error.abs().mean(dim=(1, 2, 3))
    mse = error.pow(2).mean(dim=(1, 2, 3))
    power = torch.fft.fft2(error).abs().pow(2).sum(dim=1)  # (n, h, w), summed over channels
    masks = band_masks(height, width, error.device).to(power.dtype)
    bands = torch.einsum("nhw,bhw->nb", power, masks) / (channels * (height * width) ** 2)
    return torch.cat([l1[:, None], mse[:, None], bands], dim=1)


def image_features(errors: np.ndarray) -> np.ndarray:
    """``(7,)`` features of one image from its ``(n_tiles, 5)`` tile errors (see :data:`FEATURES`)."""
    mean = errors.mean(axis=0)
    return np.concatenate([mean, [errors[:, 0].min(), errors[:, 0].max()]]).astype(np.float32)
