"""CLIP image embeddings from open_clip, L2-normalised, averaged over an image's views."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from negate_clip.specs import CLIP_MODELS, ClipSpec
from negate_sdk.runtime.devices import seeded_init
from negate_sdk.runtime.embedding import EmbeddingExtractor, LoadedModel, weights_cfg_for
from negate_sdk.runtime.views import ViewSpec
from negate_sdk.runtime.weights import file_sha256_cached, resolve_weights


class ClipExtractor(EmbeddingExtractor):
    """L2-normalised CLIP image embedding, ``(n_samples, embed_dim)`` float32.

    Only the image tower is kept in memory. ``uses_clip`` is True: the harness reports CLIP-bias deltas
    for detectors built on these features.

    Parameters:
        pretrained: load the pretrained weights (False: a seeded random initialisation, for tests).
        weights: a local ``open_clip_model.safetensors`` / ``.bin`` file or a folder holding one, or
            ``hf-hub:org/repo``, instead of the default source.
        multi_crop: 1 for the single centre view; ``n >= 2`` also averages an ``n x n`` grid of crops.
        device, precision, batch_size, num_workers: as for the timm extractors.
        model_config: an open_clip ``CLIP`` configuration (``embed_dim``, ``vision_cfg``, ``text_cfg``)
            built instead of the registered architecture (tiny models for tests; weights still load).
        normalize: L2-normalise the embedding (False: ``encode_image``'s projected output as is, the input
            of UniversalFakeDetect's linear head).
        resize: resize the short side to the input size before the centre crop (False: the centre crop at
            native resolution, smaller images zero-padded, as UniversalFakeDetect's ``validate.py``).
        backend: ``auto`` (ONNX Runtime on the CPU when installed, else PyTorch), ``onnx`` or ``torch``.
    """

    version = "1"
    uses_clip = True
    spec_name: ClassVar[str] = ""

    def __init__(
        self,
        pretrained: bool = True,
        weights: str | None = None,
        multi_crop: int = 1,
        device: str = "auto",
        precision: str = "auto",
        batch_size: int = 32,
        num_workers: int = 1,
        model_config: dict[str, Any] | None = None,
        normalize: bool = True,
        resize: bool = True,
        backend: str = "auto",
    ) -> None:
        self.pretrained = pretrained
        self.weights = weights
        self.multi_crop = multi_crop
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.model_config = model_config
        self.normalize = normalize
        self.resize = resize
        self.backend = backend

    @property
    def normalize_output(self) -> bool:  # type: ignore[override]
        """Whether embeddings are L2-normalised (the ``normalize`` parameter)."""
        return bool(self.normalize)

    def _view_spec(self, loaded: LoadedModel) -> ViewSpec:
        return replace(super()._view_spec(loaded), resize=bool(self.resize))

    @property
    def spec(self) -> ClipSpec:
        """The registered CLIP model this extractor runs."""
        return CLIP_MODELS[self.spec_name]

    def _model_key(self) -> tuple[Any, ...]:
        return (self.spec_name, bool(self.pretrained), self.weights, repr(self.model_config))

    def _weights_identity(self) -> tuple[Any, ...]:
        if not self.pretrained:
            return ("seeded-random-0",)
        resolved = resolve_weights(weights_cfg_for(self.spec.weights, self.weights))
        return (file_sha256_cached(resolved.path),)

    def _build(self, device: str) -> LoadedModel:
        import open_clip

        spec = self.spec
        resolved = None
        if self.pretrained:  # resolve first: missing weights fail at once, before building a large model
            resolved = resolve_weights(weights_cfg_for(spec.weights, self.weights))
        with seeded_init(0):
            if self.model_config is not None:
                model = open_clip.CLIP(**self.model_config, quick_gelu=spec.quick_gelu)
            else:
                model = open_clip.create_model(
                    spec.model_name, pretrained=None, force_quick_gelu=spec.quick_gelu
                )
        source = "random"
        if resolved is not None:
            # open_clip's loader: safetensors or weights-only torch files, third-party layouts converted.
            open_clip.load_checkpoint(model, str(resolved.path), strict=True, weights_only=True)
            source = f"{resolved.source}:{resolved.path}"
        visual = model.visual.eval().requires_grad_(False).to(device)
        del model  # the text tower is not needed for image features
        size = visual.image_size
        size = int(size[0] if isinstance(size, (tuple, list)) else size)
        probe = next(visual.parameters())
        with seeded_init(0):
            import torch

            dim = int(visual(torch.zeros(1, 3, size, size, device=device, dtype=probe.dtype)).shape[-1])
        return LoadedModel(
            module=visual,
            # open_clip's evaluation transform: shortest side to the input size, then the centre crop.
            view=ViewSpec(size, 1.0, spec.interpolation),
            mean=spec.weights.mean or (0.0, 0.0, 0.0),
            std=spec.weights.std or (1.0, 1.0, 1.0),
            dim=dim,
            device=device,
            source=source,
        )


class ClipVitL14(ClipExtractor):
    """CLIP ViT-L/14 (OpenAI weights, MIT): 768 L2-normalised features."""

    name = "clip_vit_l14"
    spec_name = "clip_vit_l14"


class ClipVitB32(ClipExtractor):
    """CLIP ViT-B/32 (OpenAI weights, MIT): 512 L2-normalised features."""

    name = "clip_vit_b32"
    spec_name = "clip_vit_b32"


class MobileClip2S0(ClipExtractor):
    """MobileCLIP2-S0 (Apple weights, apple-amlr licence): 512 L2-normalised features."""

    name = "clip_mobileclip2_s0"
    spec_name = "clip_mobileclip2_s0"
