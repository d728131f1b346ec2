"""FerretNet-S in the SDK: its features as a registered extractor, and the published detector on them.

``ferretnet_s_features`` gives, per image, the network's pooled 128-d penultimate features and its logit
(129 columns), computed at the authors' test view (CenterCrop(256) at native resolution, CLIP mean/std) and
cached in the feature store like any extractor's, so a recipe can stack them with other features.
``ferretnet_s`` is the published detector: the logit column, sigmoid > 0.5 = synthetic at the authors'
operating point, Platt-calibrated at the other.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from negate_published.ferretnet import CLIP_MEAN, CLIP_STD, CROP_SIZE, FERRETNET_S_WEIGHTS
from negate_sdk.detectors.pretrained import PretrainedDetector
from negate_sdk.runtime.embedding import EmbeddingExtractor, LoadedModel, weights_cfg_for
from negate_sdk.runtime.views import ViewSpec
from negate_sdk.runtime.weights import WeightsCfg

N_POOLED = 128


class FerretNetFeatures(EmbeddingExtractor):
    """FerretNet-S's pooled penultimate features (128) and its logit (1): ``(n_samples, 129)`` float32.

    Parameters: ``pretrained`` (False: a seeded random network, for tests), ``weights`` (a local file or
    folder instead of the pinned source), ``device``, ``precision``, ``batch_size``, ``num_workers``,
    ``backend`` (``auto``: ONNX Runtime on the CPU when installed; ``onnx``; ``torch``).
    """

    name = "ferretnet_s_features"
    version = "1"

    def __init__(
        self,
        pretrained: bool = True,
        weights: str | None = None,
        device: str = "auto",
        precision: str = "auto",
        batch_size: int = 32,
        num_workers: int = 1,
        backend: str = "auto",
    ) -> None:
        self.pretrained = pretrained
        self.weights = weights
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.backend = backend

    def _model_key(self) -> tuple[Any, ...]:
        return ("ferretnet_s", bool(self.pretrained), self.weights)

    def _weights_identity(self) -> tuple[Any, ...]:
        from negate_sdk.runtime.weights import file_sha256_cached, resolve_weights

        if not self.pretrained:
            return ("seeded-random-0",)
        cfg = weights_cfg_for(FERRETNET_S_WEIGHTS, self.weights)
        resolved = resolve_weights(cfg.replace(sha256=None) if self.weights else cfg)
        return (file_sha256_cached(resolved.path),)

    def _view_spec(self, loaded: LoadedModel) -> ViewSpec:
        return loaded.view  # one native-resolution crop, as the authors test

    def feature_names(self) -> list[str]:
        """``pooled_000`` … ``pooled_127``, then ``logit``."""
        return [f"pooled_{i:03d}" for i in range(N_POOLED)] + ["logit"]

    def _build(self, device: str) -> LoadedModel:
        import torch

        from negate_published.ferretnet import load_ferretnet
        from negate_published.ferretnet_net import FerretNet
        from negate_sdk.runtime.devices import seeded_init
        from negate_sdk.runtime.weights import resolve_weights

        source = "random"
        if self.pretrained:
            cfg = weights_cfg_for(FERRETNET_S_WEIGHTS, self.weights)
            resolved = resolve_weights(cfg.replace(sha256=None) if self.weights else cfg)
            network = load_ferretnet(resolved.path, device)
            source = f"{resolved.source}:{resolved.path}"
        else:
            with seeded_init(0):
                network = FerretNet()
        network = network.eval().requires_grad_(False).to(device)

        class FeaturesAndLogit(torch.nn.Module):
            """``(n, 3, h, w)`` → ``(n, 129)``: pooled features, then the logit of the same pass."""

            def __init__(self, net: torch.nn.Module) -> None:
                super().__init__()
                self.net = net

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                pooled = self.net.forward_features(x)
                return torch.cat([pooled, self.net.logit(pooled)], dim=1)

        return LoadedModel(
            module=FeaturesAndLogit(network),
            view=ViewSpec(CROP_SIZE, 1.0, resize=False),  # the authors' CenterCrop(256), no resize
            mean=CLIP_MEAN,
            std=CLIP_STD,
            dim=N_POOLED + 1,
            device=device,
            source=source,
        )


class FerretNetS(PretrainedDetector):
    """FerretNet-S (NeurIPS 2025, Apache-2.0) with its authors' weights, trained on ProGAN (4 classes)."""

    name = "ferretnet_s"
    weights_cfg: ClassVar[WeightsCfg] = FERRETNET_S_WEIGHTS
    extractor = "ferretnet_s_features"

    def _extractor_overrides(self) -> dict[str, Any]:
        """The detector's ``weights`` go to the network (``"random"``: a seeded random network)."""
        random = self.weights == "random"
        return {"pretrained": not random, "weights": None if random else self.weights,
                **super()._extractor_overrides()}  # fmt: skip

    def _load_head(self) -> tuple[np.ndarray, float]:
        """The network's own logit, the last of its 129 features."""
        w = np.zeros(N_POOLED + 1)
        w[-1] = 1.0
        return w, 0.0
