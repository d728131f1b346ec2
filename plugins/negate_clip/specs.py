"""The open_clip image encoders this plugin registers (data only, no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from negate_sdk.api import WeightsCfg

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)

# A tiny CLIP of the same class, randomly initialised: what the conformance suite runs offline.
TINY_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 1, "layers": 1},
}


@dataclass(frozen=True)
class ClipSpec:
    """One registered CLIP image encoder: open_clip ``model_name``, its weights and input recipe."""

    name: str
    model_name: str
    weights: WeightsCfg
    description: str
    quick_gelu: bool = False
    interpolation: str = "bicubic"
    test_params: dict[str, Any] = field(
        default_factory=lambda: {"pretrained": False, "model_config": TINY_CLIP}
    )


CLIP_MODELS: dict[str, ClipSpec] = {
    spec.name: spec
    for spec in (
        ClipSpec(
            name="clip_vit_l14",
            model_name="ViT-L-14",
            weights=WeightsCfg(
                name="vit_large_patch14_clip_224.openai",
                hf_id="timm/vit_large_patch14_clip_224.openai",
                filename="open_clip_model.safetensors",
                input_size=(3, 224, 224),
                mean=OPENAI_MEAN,
                std=OPENAI_STD,
                licence="MIT",
                trained_on=("openai-wit-400m",),
            ),
            description="CLIP ViT-L/14 image embedding (768-d, L2-normalised), OpenAI weights "
            "timm/vit_large_patch14_clip_224.openai (MIT)",
            quick_gelu=True,
        ),
        ClipSpec(
            name="clip_vit_b32",
            model_name="ViT-B-32",
            weights=WeightsCfg(
                name="vit_base_patch32_clip_224.openai",
                hf_id="timm/vit_base_patch32_clip_224.openai",
                filename="open_clip_model.safetensors",
                input_size=(3, 224, 224),
                mean=OPENAI_MEAN,
                std=OPENAI_STD,
                licence="MIT",
                trained_on=("openai-wit-400m",),
            ),
            description="CLIP ViT-B/32 image embedding (512-d, L2-normalised), OpenAI weights "
            "timm/vit_base_patch32_clip_224.openai (MIT)",
            quick_gelu=True,
        ),
        ClipSpec(
            name="clip_mobileclip2_s0",
            model_name="MobileCLIP2-S0",
            weights=WeightsCfg(
                name="MobileCLIP2-S0-OpenCLIP",
                hf_id="timm/MobileCLIP2-S0-OpenCLIP",
                filename="open_clip_model.safetensors",
                input_size=(3, 256, 256),
                mean=(0.0, 0.0, 0.0),
                std=(1.0, 1.0, 1.0),
                licence="apple-amlr (research use)",
                trained_on=("dfndr-2b",),
            ),
            description="MobileCLIP2-S0 image embedding (512-d, L2-normalised), Apple weights "
            "timm/MobileCLIP2-S0-OpenCLIP (apple-amlr licence, research use)",
            interpolation="bilinear",
        ),
    )
}
