"""Frozen timm backbones (ConvNeXt, DINOv2, EfficientNet-Lite0 offline) as feature extractors.

Importing this package does not import torch or timm: models are built on first use.
"""

from negate_timm.availability import available_backbones, best_available_backbone

__all__ = ["available_backbones", "best_available_backbone"]
