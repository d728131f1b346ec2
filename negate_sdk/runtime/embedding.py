"""The shared machinery of frozen-backbone embedding extractors (timm, open_clip and any plugin's).

A subclass says how to build its model (:meth:`EmbeddingExtractor._build`); this class does the rest:
weights resolved once and the model cached per process, views cut in DataLoader workers, batches run
on the device under ``torch.inference_mode`` and autocast, views of one image averaged. Torch is only
imported when features are first computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, ClassVar

import numpy as np

from negate_sdk.components import BaseExtractor
from negate_sdk.runtime.devices import cached_model, inference, prepared_batches, resolve_device
from negate_sdk.runtime.views import ViewSpec, make_views
from negate_sdk.runtime.weights import WeightsCfg
from negate_sdk.sample import Sample


@dataclass
class LoadedModel:
    """A frozen model ready on its device, with the input recipe it was trained with.

    ``module`` maps ``(n, 3, size, size)`` normalised float tensors to ``(n, dim)`` embeddings.
    """

    module: Any
    view: ViewSpec
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    dim: int
    device: str
    channels_last: bool = False
    source: str = "random"


def weights_cfg_for(default: WeightsCfg, weights: str | None) -> WeightsCfg:
    """``default`` with a user's ``weights`` override: a local file or folder, or ``hf-hub:org/repo``."""
    if weights is None:
        return default
    text = str(weights)
    if text.startswith("hf-hub:"):
        return default.replace(hf_id=text[len("hf-hub:") :], file=None, package=None)
    return default.replace(file=text)


class EmbeddingExtractor(BaseExtractor):
    """Base class: the pooled embedding of a frozen backbone, averaged over an image's views.

    Subclasses implement :meth:`_build` and :meth:`_model_key`, and store these parameters:
    ``multi_crop``, ``device``, ``precision``, ``batch_size``, ``num_workers``.
    """

    normalize_output: ClassVar[bool] = False  # CLIP: L2-normalised embeddings
    # how fast features are computed, never their values: kept out of cache keys
    runtime_params: ClassVar[frozenset[str]] = frozenset({"batch_size", "num_workers"})
    # torch already uses every core and decodes in its own DataLoader workers: the feature pipeline
    # must not also fan this extractor out over processes
    parallel_safe: ClassVar[bool] = False

    multi_crop: int
    device: str
    precision: str
    batch_size: int
    num_workers: int

    # -- to implement ------------------------------------------------------------------------------

    def _model_key(self) -> tuple[Any, ...]:
        """Everything that determines the built model (not the device): the model cache key."""
        raise NotImplementedError

    def _build(self, device: str) -> LoadedModel:
        """Build the frozen model in eval mode on ``device``."""
        raise NotImplementedError

    # -- the shared pipeline -----------------------------------------------------------------------

    def build(self, device: str) -> LoadedModel:
        """A freshly built model on ``device``, not the process-wide cached one (for fine-tuning it)."""
        return self._build(device)

    def loaded_model(self) -> LoadedModel:
        """The model, built on first use and cached in this process (shared by clones)."""
        device = resolve_device(self.device)
        key = (type(self).__module__, type(self).__qualname__, *self._model_key(), device)
        return cached_model(key, partial(self._build, device))

    def feature_names(self) -> list[str]:
        """``emb_0000`` … one per embedding dimension (building the model tells the dimension)."""
        return [f"emb_{i:04d}" for i in range(self.loaded_model().dim)]

    def _view_spec(self, loaded: LoadedModel) -> ViewSpec:
        return replace(loaded.view, multi_crop=int(self.multi_crop))

    def transform(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples, dim)`` float32 embeddings, each the mean over the image's views."""
        import torch

        loaded = self.loaded_model()
        out = np.zeros((len(samples), loaded.dim), dtype=np.float32)
        if not len(samples):
            return out
        prepare = partial(make_views, spec=self._view_spec(loaded))
        mean = torch.tensor(loaded.mean, device=loaded.device).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(loaded.std, device=loaded.device).view(1, 3, 1, 1) * 255.0
        batches = prepared_batches(
            samples, prepare, batch_size=max(1, int(self.batch_size)), num_workers=int(self.num_workers)
        )
        for batch in batches:
            # native-resolution views (pad=False) differ in size: one forward pass per view shape
            shapes: dict[tuple[int, ...], list[tuple[int, np.ndarray]]] = {}
            for index, views in batch:
                shapes.setdefault(views.shape[1:], []).append((index, views))
            for group in shapes.values():
                out[[index for index, _ in group]] = self._embed(loaded, group, mean, std)
        return out

    def _embed(
        self, loaded: LoadedModel, group: list[tuple[int, np.ndarray]], mean: Any, std: Any
    ) -> np.ndarray:
        """``(len(group), dim)`` embeddings of equally sized views, each image's the mean over its views."""
        import torch

        counts = [views.shape[0] for _, views in group]
        stacked = torch.from_numpy(np.concatenate([views for _, views in group]))
        # (n, h, w, 3) -> (n, 3, h, w) is a channels_last view: no copy before the device transfer.
        x = stacked.permute(0, 3, 1, 2).to(loaded.device, non_blocking=True).float()
        x = (x - mean) / std
        if not loaded.channels_last:
            x = x.contiguous()
        with inference(loaded.device, self.precision):
            embeddings = loaded.module(x)
        embeddings = embeddings.float()
        if self.normalize_output:
            embeddings = torch.nn.functional.normalize(embeddings, dim=-1)
        result = torch.stack([chunk.mean(dim=0) for chunk in torch.split(embeddings, counts)])
        if self.normalize_output:
            result = torch.nn.functional.normalize(result, dim=-1)
        return result.cpu().numpy()
