"""The shared machinery of frozen-backbone embedding extractors (timm, open_clip and any plugin's).

A subclass says how to build its model (:meth:`EmbeddingExtractor._build`); this class does the rest:
weights resolved once and the model cached per process, views of one image averaged. On the CPU the
network runs in ONNX Runtime by default (``backend="auto"``): its graph is exported and verified once
(:mod:`negate_sdk.runtime.onnx_graphs`), then loaded without importing torch, while a thread decodes and
cuts the next batch's views. Otherwise batches run under ``torch.inference_mode`` and autocast, views cut in
DataLoader workers; torch is only imported when a PyTorch model is built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any, ClassVar

import numpy as np

from negate_sdk.components import BaseExtractor
from negate_sdk.runtime import onnx_graphs
from negate_sdk.runtime.devices import (
    cached_model,
    inference,
    prepared_batches,
    resolve_device,
    threaded_batches,
)
from negate_sdk.runtime.views import ViewSpec, make_views
from negate_sdk.runtime.weights import WeightsCfg
from negate_sdk.sample import Sample

log = logging.getLogger(__name__)
_REFUSED: set[str] = set()  # graph keys whose export failed or disagreed with PyTorch in this process


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
    backend: str = "torch"
    names: tuple[str, ...] = ()  # feature names, when not emb_0000 …


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
    ``multi_crop``, ``device``, ``precision``, ``batch_size``, ``num_workers``; those that store
    ``backend`` (``auto``, ``onnx`` or ``torch``) and say what their weights are
    (:meth:`_weights_identity`) may run in ONNX Runtime.
    """

    normalize_output: ClassVar[bool] = False  # CLIP: L2-normalised embeddings
    # how fast features are computed, never their values: kept out of cache keys
    # (the ONNX graph is verified against PyTorch at export: cosine >= 0.9999 on every probe image)
    runtime_params: ClassVar[frozenset[str]] = frozenset({"batch_size", "num_workers", "backend"})
    # torch already uses every core and decodes in its own DataLoader workers: the feature pipeline
    # must not also fan this extractor out over processes
    parallel_safe: ClassVar[bool] = False

    multi_crop: int
    device: str
    precision: str
    batch_size: int
    num_workers: int
    backend: str = "torch"

    # -- to implement ------------------------------------------------------------------------------

    def _model_key(self) -> tuple[Any, ...]:
        """Everything that determines the built model (not the device): the model cache key."""
        raise NotImplementedError

    def _build(self, device: str) -> LoadedModel:
        """Build the frozen model in eval mode on ``device``."""
        raise NotImplementedError

    def _weights_identity(self) -> tuple[Any, ...] | None:
        """What the weights are (their sha256), without building the model: part of the ONNX graph key.
        None (the default): unknown, so the network runs in PyTorch."""
        return None

    # -- the shared pipeline -----------------------------------------------------------------------

    def build(self, device: str) -> LoadedModel:
        """A freshly built model on ``device``, not the process-wide cached one (for fine-tuning it)."""
        return self._build(device)

    def loaded_model(self) -> LoadedModel:
        """The model, built on first use and cached in this process (shared by clones).

        With ``backend`` ``auto`` on the CPU a graph that cannot be exported or disagrees with PyTorch
        falls back to PyTorch (logged); with ``onnx`` that is an error.
        """
        backend = onnx_graphs.resolve_backend(str(self.backend), str(self.device), str(self.precision))
        weights = self._weights_identity() if backend == "onnx" else None
        if weights is None and self.backend == "onnx":
            raise ValueError(f"{self.name} cannot run in ONNX Runtime: it does not say what its weights are")
        key = onnx_graphs.graph_key(self._identity() + weights) if weights is not None else None
        if key is not None and key not in _REFUSED:
            try:
                return cached_model(("onnx", key), partial(self._load_graph, key))
            except onnx_graphs.GraphExportError as err:
                if self.backend == "onnx":
                    raise
                _REFUSED.add(key)  # not tried again in this process
                log.warning("%s: %s", self.name, err)
        device = resolve_device(self.device)
        return cached_model((*self._identity(), device), partial(self._build, device))

    def _identity(self) -> tuple[Any, ...]:
        return (type(self).__module__, type(self).__qualname__, *self._model_key())

    def _load_graph(self, key: str) -> LoadedModel:
        """The verified ONNX graph under ``key`` (exported from the PyTorch model on first use)."""

        def build() -> tuple[Any, list[np.ndarray], dict[str, Any], bool]:
            loaded = self._build("cpu")
            meta = {"view": asdict(loaded.view), "mean": loaded.mean, "std": loaded.std,
                    "source": loaded.source, "names": list(loaded.names)}  # fmt: skip
            # a graph for any input size (pad=False) is also verified on a smaller, odd-sized input
            sizes = [loaded.view.size] + ([] if loaded.view.pad else [loaded.view.size // 2 + 1])
            probes = [_normalised(_probe_views(size), loaded.mean, loaded.std) for size in sizes]
            return _export_module(loaded.module, self.normalize_output), probes, meta, not loaded.view.pad

        graph = onnx_graphs.cached_or_exported(key, build)
        meta = graph.info.meta
        return LoadedModel(
            module=graph,
            view=ViewSpec(**meta["view"]),
            mean=tuple(meta["mean"]),
            std=tuple(meta["std"]),
            dim=graph.info.dim,
            device="cpu",
            source=str(meta["source"]),
            backend="onnx",
            names=tuple(meta["names"]),
        )

    def feature_names(self) -> list[str]:
        """``emb_0000`` … one per embedding dimension, unless the model names them (loading it tells)."""
        loaded = self.loaded_model()
        return list(loaded.names) or [f"emb_{i:04d}" for i in range(loaded.dim)]

    def _view_spec(self, loaded: LoadedModel) -> ViewSpec:
        return replace(loaded.view, multi_crop=int(self.multi_crop))

    def transform(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples, dim)`` float32 embeddings, each the mean over the image's views."""
        loaded = self.loaded_model()
        out = np.zeros((len(samples), loaded.dim), dtype=np.float32)
        if not len(samples):
            return out
        prepare = partial(make_views, spec=self._view_spec(loaded))
        size = max(1, int(self.batch_size))
        if loaded.backend == "onnx":  # decoding and normalising in a thread overlap the graph; no torch
            normalised = partial(_views_normalised, prepare=prepare, mean=loaded.mean, std=loaded.std)
            batches = threaded_batches(samples, normalised, batch_size=size)
            embed: Callable[[list[tuple[int, np.ndarray]]], np.ndarray] = partial(self._embed_onnx, loaded)
        else:
            batches = prepared_batches(samples, prepare, batch_size=size, num_workers=int(self.num_workers))
            embed = self._torch_embedder(loaded)
        for batch in batches:
            # native-resolution views (pad=False) differ in size: one forward pass per view shape
            shapes: dict[tuple[int, ...], list[tuple[int, np.ndarray]]] = {}
            for index, views in batch:
                shapes.setdefault(views.shape[1:], []).append((index, views))
            for group in shapes.values():
                out[[index for index, _ in group]] = embed(group)
        return out

    def _embed_onnx(self, loaded: LoadedModel, group: list[tuple[int, np.ndarray]]) -> np.ndarray:
        """``(len(group), dim)`` from the ONNX graph (views already normalised, ``(n, 3, h, w)`` float32),
        which L2-normalises each view's embedding itself if asked."""
        counts = [views.shape[0] for _, views in group]
        embeddings = loaded.module(np.concatenate([views for _, views in group]))
        starts = np.cumsum([0, *counts[:-1]])
        result = np.add.reduceat(embeddings, starts, axis=0) / np.asarray(counts, dtype=np.float32)[:, None]
        if self.normalize_output:
            result /= np.maximum(np.linalg.norm(result, axis=1, keepdims=True), 1e-12)
        return result.astype(np.float32, copy=False)

    def _torch_embedder(self, loaded: LoadedModel) -> Callable[[list[tuple[int, np.ndarray]]], np.ndarray]:
        """A function embedding one group of equally sized views with the PyTorch model."""
        import torch

        mean = torch.tensor(loaded.mean, device=loaded.device).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(loaded.std, device=loaded.device).view(1, 3, 1, 1) * 255.0

        def embed(group: list[tuple[int, np.ndarray]]) -> np.ndarray:
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

        return embed


def _normalised(views: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """``(n, h, w, 3)`` uint8 views → ``(n, 3, h, w)`` float32 ``(x / 255 - mean) / std``."""
    scale = np.float32(1.0) / (np.asarray(std, dtype=np.float32) * np.float32(255.0))
    shift = np.asarray(mean, dtype=np.float32) * np.float32(255.0)
    x = (views.astype(np.float32) - shift) * scale
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _views_normalised(
    pixels: np.ndarray,
    prepare: Callable[[np.ndarray], np.ndarray],
    mean: Sequence[float],
    std: Sequence[float],
) -> np.ndarray:
    """``prepare(pixels)`` normalised for the network (run in the decoding thread, overlapping the graph)."""
    return _normalised(prepare(pixels), mean, std)


def _probe_views(size: int, n: int = 4) -> np.ndarray:
    """``n`` photo-like ``(size, size, 3)`` uint8 images to verify an export on: smooth shading, hard
    edges, a colour cast and sensor-like noise (seeded), so every layer, residual filters included, sees
    the kind of signal real images give it."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size].astype(np.float32) * (512.0 / max(size, 1))
    views = []
    for i in range(n):
        shading = 110 + 70 * np.sin(xx / (30 + 7 * i)) * np.cos(yy / (45 + 5 * i))
        edges = 50 * ((xx + 31 * i) % 97 < 48) * ((yy + 17 * i) % 131 < 60)
        colour = np.array([1.0, 0.8 + 0.1 * i, 0.9 - 0.15 * i], dtype=np.float32)
        pixels = (shading + edges)[..., None] * colour + rng.normal(0, 6 + 3 * i, (size, size, 3))
        views.append(np.clip(pixels, 0, 255).astype(np.uint8))
    return np.stack(views)


def _export_module(module: Any, normalize: bool) -> Any:
    """What is exported: the network, with CLIP-style per-view L2 normalisation inside the graph."""
    if not normalize:
        return module
    import torch

    class Normalised(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.module = module

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.normalize(self.module(x).float(), dim=-1)

    return Normalised().eval()
