"""Torch pieces of the trainable detectors: the compact CNN, the projection head and the SupCon loss.

Imported only when a network is built, so listing and creating detectors never imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

CNN_CHANNELS = (32, 64, 128, 256, 512)


class SaturateNet(nn.Module):
    """The compact CNN of the invert/saturate CIFAKE experiments: ``(n, c, s, s)`` images → ``(n,)`` logits.

    Five 3x3 convolution blocks (``channels``, 32 → 512 by default), each convolution, batch norm and
    ReLU, the first four followed by 2x2 max pooling while the feature map is at least 2 pixels wide;
    global average pooling; an MLP head (``hidden`` units, dropout before each linear layer) giving one
    logit for binary cross-entropy.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        channels: Sequence[int] = CNN_CHANNELS,
        hidden: int = 256,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size, previous = int(image_size), int(in_channels)
        for i, width in enumerate(channels):
            layers += [
                nn.Conv2d(previous, int(width), kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(int(width)),
                nn.ReLU(inplace=True),
            ]
            if i < len(channels) - 1 and size >= 2:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            previous = int(width)
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Dropout(float(dropout)),
            nn.Linear(previous, int(hidden)),
            nn.ReLU(inplace=True),
            nn.Dropout(float(dropout)),
            nn.Linear(int(hidden), 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(n,)`` logits of P(synthetic)."""
        pooled = self.features(x).mean(dim=(2, 3))
        return self.head(pooled).squeeze(1)


class ProjectionHead(nn.Module):
    """SupCon's projection: ``(n, dim)`` embeddings → ``(n, out_dim)`` unit vectors (linear, ReLU, linear)."""

    def __init__(self, dim: int, out_dim: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Projected, L2-normalised rows."""
        return nn.functional.normalize(self.net(x), dim=-1)


def supcon_loss(features: torch.Tensor, classes: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, ``L_out``) of ``(n, n_views, d)`` unit vectors.

    Every view is an anchor; its positives are all other views of the same class (including the other
    views of its own image), its contrast set all other views. The loss is the mean over anchors with at
    least one positive of ``-mean_p log(exp(z·z_p / t) / sum_{a != anchor} exp(z·z_a / t))``.
    """
    n, n_views, _ = features.shape
    z = features.transpose(0, 1).reshape(n * n_views, -1)  # view-major rows
    labels = classes.repeat(n_views)
    logits = z @ z.T / float(temperature)
    self_mask = torch.eye(len(z), dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positive = (labels[:, None] == labels[None, :]) & ~self_mask
    n_positive = positive.sum(dim=1)
    anchors = n_positive > 0
    if not bool(anchors.any()):
        return z.sum() * 0.0  # no anchor has a positive: nothing to learn from this batch
    summed = log_prob.masked_fill(~positive, 0.0).sum(dim=1)
    return -(summed[anchors] / n_positive[anchors]).mean()
