"""Pooling of a timm network's intermediate stages (imported only when the model is built: needs torch)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


class StagePooling(torch.nn.Module):
    """``(n, 3, h, w)`` images → per-channel mean and standard deviation of each chosen stage's feature map,
    concatenated stage by stage (``[mean, std]`` for each); any input size, the forward stops early."""

    def __init__(self, model: torch.nn.Module, stages: Sequence[int]) -> None:
        super().__init__()
        self.model = model
        self.stages = sorted(int(s) for s in stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled statistics, ``(n, sum of 2 x stage channels)``."""
        maps = self.model.forward_intermediates(
            x, indices=self.stages, intermediates_only=True, stop_early=True
        )
        return torch.cat([torch.cat([m.mean((2, 3)), m.std((2, 3), correction=0)], 1) for m in maps], 1)
