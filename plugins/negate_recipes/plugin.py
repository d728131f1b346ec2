"""Registers the named detectors (recipes) through the ``negate_register_detectors`` hook."""

from __future__ import annotations

from negate_sdk import hookimpl
from negate_sdk.registry import RegisterFn

# Small offline configurations for the conformance suite: the backbones' own registered test parameters
# (random weights, tiny models, the real code path).
TINY_BACKBONE = {"backbone": "timm_efficientnet_lite0", "backbone_params": "test"}


@hookimpl
def negate_register_detectors(register: RegisterFn) -> None:
    """Register the built-in recipes (lazily: nothing heavy is imported to list them)."""
    register(
        "dummy",
        "negate_recipes.dummy:DummyDetector",
        description="Chance baseline: seeded random scores from each image's hash (also a test double)",
        tags=("baseline",),
    )
    register(
        "hybrid",
        "negate_recipes.recipes:hybrid",
        description="Handcrafted + best available learned backbone -> LightGBM/SVM/RF ensemble, calibrated",
        tags=("recipe",),
        requires="torch",
        test_params=TINY_BACKBONE,
    )
    register(
        "handcrafted",
        "negate_recipes.recipes:handcrafted",
        description="All handcrafted signal features -> LightGBM",
        tags=("recipe",),
    )
    register(
        "clip_probe",
        "negate_recipes.recipes:clip_probe",
        description="CLIP ViT-L/14 embedding -> logistic regression (UniversalFakeDetect-style)",
        tags=("recipe", "clip"),
        requires="torch",
        uses_clip=True,
        test_params={"backbone_params": "test"},
    )
    register(
        "spectral",
        "negate_recipes.recipes:spectral",
        description="Spectral + noise-residual features -> logistic regression",
        tags=("recipe",),
    )
