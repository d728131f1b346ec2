"""Autoencoder reconstruction error (AEROBLADE-style): images a generator's VAE made reconstruct better.

Each image is cut into native-resolution tiles, scaled to [-1, 1], encoded (latent mode, no sampling:
deterministic), decoded, and compared with the original: L1, MSE, and the error energy in low, mid and
high spatial-frequency bands, averaged over tiles, plus the best and worst tile's L1.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import numpy as np

from negate_sdk.components import BaseExtractor
from negate_sdk.runtime.devices import (
    autocast_dtype,
    cached_model,
    inference,
    prepared_batches,
    resolve_device,
    seeded_init,
)
from negate_sdk.runtime.embedding import EmbeddingExtractor, weights_cfg_for
from negate_sdk.runtime.weights import WeightsUnavailableError, resolve_weights
from negate_sdk.sample import Sample
from negate_vae.specs import VAES, VaeSpec
from negate_vae.tiles import FEATURES, image_features, make_tiles, tile_errors


@dataclass
class LoadedVae:
    """A frozen autoencoder on its device, its spatial downsampling factor and where its weights came from."""

    module: Any
    kind: str
    factor: int
    device: str
    source: str


class VaeReconstruction(BaseExtractor):
    """Reconstruction-error features of one autoencoder, ``(n_samples, 7)`` float32.

    Parameters:
        pretrained: load the pretrained weights (False: a seeded random initialisation, for tests).
        weights: a local diffusers folder (``config.json`` + ``diffusion_pytorch_model.safetensors``), a
            weights file inside one, or ``hf-hub:org/repo``, instead of the default source.
        tile_size: tile side in pixels (a multiple of the autoencoder's factor: 8, or 32 for DC-AE).
        max_tiles_per_side: at most this many tiles along each side, spread evenly over the image.
        device: ``auto``, ``cpu``, ``cuda`` (or ``cuda:N``) or ``mps``.
        precision: ``auto`` (bf16/fp16 autocast on GPUs, float32 on CPU), ``fp32``, ``fp16`` or ``bf16``.
        batch_size: tiles per forward pass.
        num_workers: DataLoader worker processes that decode and tile while the model runs.
        model_config: a diffusers configuration of the same class, built with random weights
            (``pretrained=False`` only; tiny models for tests).
    """

    parallel_safe: ClassVar[bool] = False  # torch uses every core; no process fan-out on top
    runtime_params = EmbeddingExtractor.runtime_params

    version = "1"
    spec_name: ClassVar[str] = ""

    def __init__(
        self,
        pretrained: bool = True,
        weights: str | None = None,
        tile_size: int = 256,
        max_tiles_per_side: int = 2,
        device: str = "auto",
        precision: str = "auto",
        batch_size: int = 8,
        num_workers: int = 1,
        model_config: dict[str, Any] | None = None,
    ) -> None:
        self.pretrained = pretrained
        self.weights = weights
        self.tile_size = tile_size
        self.max_tiles_per_side = max_tiles_per_side
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.model_config = model_config

    @property
    def spec(self) -> VaeSpec:
        """The registered autoencoder this extractor runs."""
        return VAES[self.spec_name]

    def feature_names(self) -> list[str]:
        """``l1``, ``mse``, ``mse_low``, ``mse_mid``, ``mse_high``, ``l1_tile_min``, ``l1_tile_max``."""
        return list(FEATURES)

    def loaded_model(self) -> LoadedVae:
        """The autoencoder, built on first use and cached in this process (shared by clones)."""
        device = resolve_device(self.device)
        key = (__name__, self.spec_name, bool(self.pretrained), self.weights, repr(self.model_config), device)
        return cached_model(key, partial(self._build, device))

    def _build(self, device: str) -> LoadedVae:
        from diffusers import AutoencoderDC, AutoencoderKL

        spec = self.spec
        cls = AutoencoderKL if spec.kind == "kl" else AutoencoderDC
        source = "random"
        if not self.pretrained:
            with seeded_init(0):
                model = cls(**(self.model_config or {}))
        else:
            if self.model_config is not None:
                raise ValueError("model_config builds a random autoencoder: use it with pretrained=False")
            folder = (spec.weights.filename or "").rpartition("/")[0]
            config_name = f"{folder}/config.json" if folder else "config.json"
            resolved = resolve_weights(weights_cfg_for(spec.weights, self.weights), companions=(config_name,))
            if not (resolved.folder / "config.json").is_file():
                raise WeightsUnavailableError(
                    f"weights '{spec.weights.name}': {resolved.folder} has no config.json next to "
                    f"{resolved.path.name}; give the diffusers folder holding both"
                )
            model = cls.from_pretrained(str(resolved.folder))
            source = f"{resolved.source}:{resolved.folder}"
        model = model.eval().requires_grad_(False).to(device)
        config = model.config
        stages = config.block_out_channels if spec.kind == "kl" else config.encoder_block_out_channels
        return LoadedVae(model, spec.kind, 2 ** (len(stages) - 1), device, source)

    def _precision(self, device: str) -> str:
        import torch

        if self.precision == "auto" and not self.spec.fp16_safe and autocast_dtype(device) is torch.float16:
            return "fp32"
        return self.precision

    def _reconstruct(self, loaded: LoadedVae, x: Any) -> Any:
        if loaded.kind == "kl":
            latent = loaded.module.encode(x).latent_dist.mode()
        else:
            latent = loaded.module.encode(x).latent
        return loaded.module.decode(latent).sample.float().clamp(-1.0, 1.0)

    def transform(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples, 7)`` float32 reconstruction-error features."""
        import torch

        out = np.zeros((len(samples), len(FEATURES)), dtype=np.float32)
        if not len(samples):
            return out
        loaded = self.loaded_model()
        precision = self._precision(loaded.device)
        prepare = partial(
            make_tiles,
            tile_size=int(self.tile_size),
            max_tiles_per_side=int(self.max_tiles_per_side),
            factor=loaded.factor,
        )
        batch_size = max(1, int(self.batch_size))
        for batch in prepared_batches(
            samples, prepare, batch_size=batch_size, num_workers=int(self.num_workers)
        ):
            # Tiles of one shape run together; each image's errors are gathered back by index.
            by_shape: dict[tuple[int, ...], list[tuple[int, np.ndarray]]] = defaultdict(list)
            for index, tiles in batch:
                for tile in tiles:
                    by_shape[tile.shape].append((index, tile))
            errors: dict[int, list[np.ndarray]] = defaultdict(list)
            for group in by_shape.values():
                for start in range(0, len(group), batch_size):
                    chunk = group[start : start + batch_size]
                    stacked = torch.from_numpy(np.stack([tile for _, tile in chunk]))
                    x = stacked.permute(0, 3, 1, 2).to(loaded.device).float().div(127.5).sub(1.0).contiguous()
                    with inference(loaded.device, precision):
                        reconstruction = self._reconstruct(loaded, x)
                    values = tile_errors(x, reconstruction).cpu().numpy()
                    for (index, _), row in zip(chunk, values):
                        errors[index].append(row)
            for index, rows in errors.items():
                out[index] = image_features(np.stack(rows))
        return out


class VaeSd(VaeReconstruction):
    """SD 1.x/2.x autoencoder (``stabilityai/sd-vae-ft-mse``, MIT) reconstruction error: 7 features."""

    name = "vae_sd"
    spec_name = "vae_sd"


class VaeSdxl(VaeReconstruction):
    """SDXL autoencoder (``stabilityai/sdxl-vae``, MIT) reconstruction error: 7 features."""

    name = "vae_sdxl"
    spec_name = "vae_sdxl"


class VaeFlux(VaeReconstruction):
    """Flux.1 autoencoder (``black-forest-labs/FLUX.1-schnell`` ``vae/``, Apache-2.0): 7 features."""

    name = "vae_flux"
    spec_name = "vae_flux"


class VaeDc(VaeReconstruction):
    """Deep-compression autoencoder of Sana (``mit-han-lab/dc-ae-f32c32-sana-1.0-diffusers``): 7 features."""

    name = "vae_dc"
    spec_name = "vae_dc"
