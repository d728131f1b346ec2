"""The FerretNet network in torch: the local-pixel-dependency residual, the blocks, the model.

Written from the authors' description and code (xigua7105/FerretNet, ``src/model/ferretnet.py`` and
``src/model/lpd.py``, Apache-2.0), with the same module tree so their state dict loads strictly. This module
imports torch; :mod:`negate_published.ferretnet` imports it only when a network is built.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def median_residual(x: torch.Tensor, window_size: int = 3) -> torch.Tensor:
    """``x - m(x)``: each value minus the masked median of its window (the authors' ``MaskMedianValues``).

    Over each ``window_size`` × ``window_size`` window of one channel, zero padded at the borders, the
    centre value is replaced by 0 and the median of the ``window_size**2`` values taken (an odd count, so
    the middle value; repeated values count each time, as in torch's ``median``). ``window_size`` is odd.
    ``x``: ``(n, c, h, w)`` float; returns the same shape and dtype.
    """
    if x.ndim != 4:
        raise ValueError(f"median_residual expects (n, c, h, w), got shape {tuple(x.shape)}")
    if window_size < 1 or window_size % 2 == 0:
        raise ValueError(f"window_size must be odd and positive, got {window_size}")
    half = window_size // 2
    height, width = x.shape[-2:]
    padded = nn.functional.pad(x, (half, half, half, half), mode="constant", value=0.0)
    centre = half * window_size + half
    # The window's values as shifted views, in row-major order; the centre slot holds zeros.
    values = [
        torch.zeros_like(x) if k == centre else padded[..., dy : dy + height, dx : dx + width]
        for k, (dy, dx) in enumerate((dy, dx) for dy in range(window_size) for dx in range(window_size))
    ]
    if window_size == 3:
        return x - _median_of_9(values)
    median = torch.stack(values, dim=2).median(dim=2).values
    return x - median


# Paeth's median-of-9 selection network (19 compare-exchanges): it returns one of the nine values, the
# same one torch's median selects, at a quarter of the time and without a (n, c, 9, h, w) stack.
_MEDIAN_9 = (
    (1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3),
    (5, 8), (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2),
)  # fmt: skip


def _median_of_9(values: list[torch.Tensor]) -> torch.Tensor:
    values = list(values)
    for low, high in _MEDIAN_9:
        a, b = values[low], values[high]
        values[low], values[high] = torch.minimum(a, b), torch.maximum(a, b)
    return values[4]


class SeparableConv2d(nn.Module):
    """A depthwise 3×3 convolution then a pointwise 1×1, both without bias: ``(n, c, h, w)`` in and out."""

    def __init__(self, channels: int):
        super().__init__()
        self.depth_wise = nn.Conv2d(channels, channels, 3, 1, padding=1, groups=channels, bias=False)
        self.point_wise = nn.Conv2d(channels, channels, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, c, h, w) -> (n, c, h, w)``."""
        return self.point_wise(self.depth_wise(x))


class DilatedConv2d(nn.Module):
    """Two grouped 3×3 convolutions (dilation 1 and 2) summed, then a 1×1 mixing convolution.

    ``(n, c_in, h, w) -> (n, c_out, h / stride, w / stride)``; the 3×3 convolutions have one group per
    input channel, so each input channel feeds ``c_out / c_in`` outputs.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_channels, out_channels, 3, stride, padding=1, dilation=1, groups=in_channels, bias=False
        )
        self.conv2 = nn.Conv2d(
            in_channels, out_channels, 3, stride, padding=2, dilation=2, groups=in_channels, bias=False
        )
        self.conv3 = nn.Conv2d(out_channels, out_channels, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, c_in, h, w) -> (n, c_out, h', w')``."""
        return self.conv3(self.conv1(x) + self.conv2(x))


class DSBlock(nn.Module):
    """Residual block: dilated conv, BN, ReLU, separable conv, BN; plus the shortcut; then ReLU.

    The shortcut is the identity, or (when the stride or the width changes) a 1×1 convolution *with* bias
    followed by BN, as in the authors' code. ``(n, c_in, h, w) -> (n, c_out, h / stride, w / stride)``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.layers = nn.Sequential(
            DilatedConv2d(in_channels, out_channels, stride),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            SeparableConv2d(out_channels),
            nn.BatchNorm2d(out_channels),
        )
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride), nn.BatchNorm2d(out_channels)
            )
        else:
            self.shortcut = nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, c_in, h, w) -> (n, c_out, h', w')``."""
        return self.relu(self.layers(x) + self.shortcut(x))


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class FerretNet(nn.Module):
    """FerretNet: median residual, two conv-BN-ReLU stems, stages of dilated blocks, 1×1 conv, pool, linear.

    The defaults are FerretNet-S (``configs/cfgs/FerretNet-S-Median-3.yaml``): ``dim`` 32, ``depths``
    (2, 2), a 3×3 median window; one logit, ``sigmoid(logit) > 0.5`` meaning synthetic. The input is an
    image normalised with the CLIP mean/std, ``(n, 3, h, w)`` float32 (256×256 in the authors' tests).
    """

    def __init__(self, dim: int = 32, depths: Sequence[int] = (2, 2), window_size: int = 3):
        super().__init__()
        self.window_size = window_size
        self.cbr1 = _conv_bn_relu(3, dim // 2, stride=1)
        self.cbr2 = _conv_bn_relu(dim // 2, dim, stride=2)
        self.feature = nn.Sequential()
        width = dim
        for depth in depths:  # each stage halves the resolution and doubles the width
            blocks = [DSBlock(width, width * 2, stride=2)]
            blocks += [DSBlock(width * 2, width * 2, stride=1) for _ in range(depth - 1)]
            self.feature.append(nn.Sequential(*blocks))
            width *= 2
        self.feature.append(nn.Conv2d(width, width, 1, 1, bias=False))
        self.num_features = width
        self.logit = nn.Sequential(nn.Dropout(0.2), nn.Linear(width, 1))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate features: ``(n, 3, h, w) -> (n, num_features)`` (128 for FerretNet-S)."""
        x = median_residual(x, self.window_size)
        x = self.feature(self.cbr2(self.cbr1(x)))
        return nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)  # the authors' pooling, same arithmetic

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, positive meaning synthetic: ``(n, 3, h, w) -> (n,)``."""
        return self.logit(self.forward_features(x)).squeeze(1)
