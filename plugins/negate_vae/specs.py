"""The generator autoencoders this plugin registers (data only, no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from negate_sdk.api import WeightsCfg

# Tiny random autoencoders of the same classes: what the conformance suite runs offline.
TINY_KL = {
    "block_out_channels": [8, 16],
    "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"],
    "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"],
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 4,
    "sample_size": 32,
}
TINY_DC = {
    "latent_channels": 4,
    "attention_head_dim": 4,
    "encoder_block_types": ["ResBlock", "ResBlock"],
    "decoder_block_types": ["ResBlock", "ResBlock"],
    "encoder_block_out_channels": [8, 16],
    "decoder_block_out_channels": [8, 16],
    "encoder_layers_per_block": [1, 1],
    "decoder_layers_per_block": [1, 1],
    "encoder_qkv_multiscales": [[], []],
    "decoder_qkv_multiscales": [[], []],
}


@dataclass(frozen=True)
class VaeSpec:
    """One registered autoencoder: its diffusers class (``kl`` or ``dc``), weights and test configuration.

    ``fp16_safe`` is False for autoencoders that overflow in float16 (SDXL's): ``precision="auto"``
    then runs them in float32 on GPUs without bfloat16.
    """

    name: str
    kind: str
    weights: WeightsCfg
    description: str
    fp16_safe: bool = True
    test_params: dict[str, Any] = field(default_factory=dict)


def _diffusers_weights(name: str, hf_id: str, subfolder: str, licence: str, trained_on: str) -> WeightsCfg:
    prefix = f"{subfolder}/" if subfolder else ""
    return WeightsCfg(
        name=name,
        hf_id=hf_id,
        filename=f"{prefix}diffusion_pytorch_model.safetensors",
        licence=licence,
        trained_on=(trained_on,),
    )


VAES: dict[str, VaeSpec] = {
    spec.name: spec
    for spec in (
        VaeSpec(
            name="vae_sd",
            kind="kl",
            weights=_diffusers_weights("sd-vae-ft-mse", "stabilityai/sd-vae-ft-mse", "", "MIT", "laion"),
            description="Reconstruction error of the SD 1.x/2.x autoencoder (AutoencoderKL "
            "stabilityai/sd-vae-ft-mse, MIT)",
            test_params={"pretrained": False, "model_config": TINY_KL, "tile_size": 16},
        ),
        VaeSpec(
            name="vae_sdxl",
            kind="kl",
            weights=_diffusers_weights("sdxl-vae", "stabilityai/sdxl-vae", "", "MIT", "laion"),
            description="Reconstruction error of the SDXL autoencoder "
            "(AutoencoderKL stabilityai/sdxl-vae, MIT)",
            fp16_safe=False,
            test_params={"pretrained": False, "model_config": TINY_KL, "tile_size": 16},
        ),
        VaeSpec(
            name="vae_flux",
            kind="kl",
            weights=_diffusers_weights(
                "flux1-schnell-vae", "black-forest-labs/FLUX.1-schnell", "vae", "Apache-2.0", "undisclosed"
            ),
            description="Reconstruction error of the Flux.1 16-channel autoencoder (AutoencoderKL "
            "black-forest-labs/FLUX.1-schnell vae/, Apache-2.0)",
            test_params={
                "pretrained": False,
                "model_config": {**TINY_KL, "latent_channels": 16},
                "tile_size": 16,
            },
        ),
        VaeSpec(
            name="vae_dc",
            kind="dc",
            weights=_diffusers_weights(
                "dc-ae-f32c32-sana-1.0",
                "mit-han-lab/dc-ae-f32c32-sana-1.0-diffusers",
                "",
                "see the repository's LICENSE.txt",
                "undisclosed",
            ),
            description="Reconstruction error of the deep-compression autoencoder of Sana (AutoencoderDC "
            "mit-han-lab/dc-ae-f32c32-sana-1.0-diffusers; licence in its LICENSE.txt)",
            test_params={"pretrained": False, "model_config": TINY_DC, "tile_size": 16},
        ),
    )
}
