"""ONNX Runtime execution of frozen networks: exported once, verified against PyTorch, reused.

A network is exported once per key (its weights' sha256, its input recipe, the opset and the exporter
version) into the graph cache (``$NEGATE_ONNX_CACHE``, default ``<weights cache>/onnx/``) as
``<key>.onnx`` plus ``<key>.json``. The export runs the PyTorch model and the ONNX graph on a probe batch;
the graph is kept only when every probe output agrees (cosine >= :data:`MIN_COSINE`), and the sidecar
records the largest absolute difference. Both files appear whole or not at all; the sidecar is written
last, so a graph without one is never used.

Loading a cached graph imports onnxruntime and numpy only, never torch: that is what lets ``negate
check`` start in about a second. Exporting imports torch (the caller passes the built module).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from negate_sdk.artifacts import atomic_write_bytes

log = logging.getLogger(__name__)

OPSET = 17
EXPORT_VERSION = "1"  # bump when the export procedure changes what a graph computes
MIN_COSINE = 0.9999
GRAPHS_ENV = "NEGATE_ONNX_CACHE"
BACKENDS = ("auto", "onnx", "torch")
THREADS_ENV = "NEGATE_THREADS"


class GraphExportError(RuntimeError):
    """A network could not be exported to ONNX, or its graph disagrees with PyTorch (one line)."""


@dataclass(frozen=True)
class GraphInfo:
    """What the sidecar of an exported graph records."""

    key: str
    opset: int
    dim: int
    meta: dict[str, Any]
    probe_shape: tuple[int, ...]
    max_abs_diff: float
    min_cosine: float
    torch_version: str


def onnxruntime_available() -> bool:
    """Whether ``onnxruntime`` is installed (checked without importing it)."""
    return importlib.util.find_spec("onnxruntime") is not None


def resolve_backend(backend: str, device: str, precision: str = "auto") -> str:
    """``"onnx"`` or ``"torch"`` for a requested ``auto|onnx|torch`` on ``device`` at ``precision``.

    ``auto`` is ONNX Runtime on the CPU in float32 when onnxruntime is installed, else PyTorch (GPUs and
    reduced precision stay on PyTorch). Asking for ``onnx`` where it cannot serve is a one-line
    ``ValueError``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    servable = not _gpu_requested(device) and precision in ("auto", "fp32")
    if backend == "torch":
        return "torch"
    if backend == "onnx":
        if not onnxruntime_available():
            raise ValueError("backend 'onnx' needs onnxruntime: pip install 'negate-sdk[onnx]'")
        if not servable:
            raise ValueError(
                f"backend 'onnx' runs float32 on the CPU only; device {device!r} at precision "
                f"{precision!r} needs backend 'torch'"
            )
        return "onnx"
    return "onnx" if servable and onnxruntime_available() else "torch"


def _gpu_requested(device: str) -> bool:
    """Whether ``device`` means a GPU. For ``auto`` torch is asked only when it is already imported or a
    GPU may be present (an NVIDIA driver, Apple silicon), so CPU-only machines never import it for this."""
    if str(device).lower() != "auto":
        return str(device).lower() != "cpu"
    import platform
    import sys

    maybe_gpu = Path("/proc/driver/nvidia/version").exists() or (
        platform.system() == "Darwin" and platform.machine() == "arm64"
    )
    if "torch" not in sys.modules and not maybe_gpu:
        return False
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(torch.cuda.is_available() or (mps is not None and mps.is_available()))


def graph_cache_dir() -> Path:
    """``$NEGATE_ONNX_CACHE``, else ``onnx/`` in the weights cache."""
    if os.environ.get(GRAPHS_ENV):
        return Path(os.environ[GRAPHS_ENV])
    from negate_sdk.runtime.weights import weights_cache_dir

    return weights_cache_dir() / "onnx"


def graph_key(parts: Sequence[Any]) -> str:
    """The cache key of a graph: sha256 of its identity ``parts`` (weights sha256, input recipe, …),
    the opset and the exporter version."""
    text = json.dumps([*parts, OPSET, EXPORT_VERSION], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def thread_count() -> int:
    """Threads for inference: ``$NEGATE_THREADS`` if set, else the cores this process may use."""
    value = os.environ.get(THREADS_ENV)
    if value:
        return max(1, int(value))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class OnnxGraph:
    """A verified ONNX graph in an ONNX Runtime CPU session: ``graph(x)`` maps ``(n, 3, h, w)`` float32
    normalised images to ``(n, dim)`` float32 features."""

    def __init__(self, path: Path, info: GraphInfo, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or thread_count()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # idle threads sleep instead of spinning: the decoding thread (and torch, when both run) get the
        # cores between batches (no loss of throughput measured on 2 cores)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.path = path
        self.info = info

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The features of a batch (float32, C-contiguous)."""
        (out,) = self.session.run(None, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})
        return np.asarray(out, dtype=np.float32)


def load_graph(key: str, threads: int | None = None) -> OnnxGraph | None:
    """The cached, verified graph under ``key``, or None when there is none (or it cannot be read)."""
    folder = graph_cache_dir()
    path, sidecar = folder / f"{key}.onnx", folder / f"{key}.json"
    if not (path.is_file() and sidecar.is_file()):
        return None
    try:
        data = json.loads(sidecar.read_text())
        info = GraphInfo(**{**data, "probe_shape": tuple(data["probe_shape"])})
        if info.key != key or info.min_cosine < MIN_COSINE:
            return None
        return OnnxGraph(path, info, threads)
    except Exception as err:  # a damaged cache entry is re-exported, never trusted
        log.warning("ignoring cached ONNX graph %s: %s", path, _first_line(err))
        return None


def export_graph(
    module: Any,
    key: str,
    probes: Sequence[np.ndarray],
    meta: dict[str, Any],
    dynamic_size: bool = False,
    threads: int | None = None,
) -> OnnxGraph:
    """Export the torch ``module`` (eval mode, on the CPU) under ``key``, verify it on every probe batch
    (``(n, 3, h, w)`` float32; the first is traced, others may differ in size when ``dynamic_size``) and
    return the loaded graph.

    ``meta`` (JSON-safe: the input recipe, dimension, source) is kept in the sidecar for loading without
    torch. ``dynamic_size``: height and width may vary (networks that pool over any input size).
    Raises :class:`GraphExportError` when the export fails or the graph disagrees with PyTorch.
    """
    import torch

    folder = graph_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    axes = {0: "batch", 2: "height", 3: "width"} if dynamic_size else {0: "batch"}
    tmp = folder / f".{key}.{os.getpid()}.onnx"
    x = torch.from_numpy(np.ascontiguousarray(probes[0], dtype=np.float32))
    # eval mode for the whole module: the exporter restores a wrapper's train flag recursively afterwards
    module.eval()
    try:
        # The TorchScript exporter: the torch.export-based one took 37 s for Lite0's first stages here
        # (1 s this way), and the verification below catches any divergence either could introduce.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shapes are verified below
            warnings.filterwarnings("ignore", "Constant folding", UserWarning)
            torch.onnx.export(
                module, (x,), str(tmp), input_names=["pixels"], output_names=["features"],
                dynamic_axes={"pixels": axes, "features": {0: "batch"}}, opset_version=OPSET, dynamo=False,
            )  # fmt: skip
        module.eval()
        info = GraphInfo(key, OPSET, 0, meta, tuple(probes[0].shape), 0.0, 1.0, torch.__version__)
        graph = OnnxGraph(tmp, info, threads)
        diff, cosine, dim = 0.0, 1.0, 0
        for probe in probes:
            with torch.inference_mode():
                expected = module(torch.from_numpy(np.ascontiguousarray(probe, dtype=np.float32)))
            expected = expected.float().numpy()
            probe_diff, probe_cosine = _agreement(expected, graph(probe))
            diff, cosine, dim = max(diff, probe_diff), min(cosine, probe_cosine), int(expected.shape[1])
        if cosine < MIN_COSINE:
            raise GraphExportError(
                f"ONNX graph disagrees with PyTorch (min cosine {cosine:.6f} < {MIN_COSINE}); using PyTorch"
            )
        path = folder / f"{key}.onnx"
        os.replace(tmp, path)
        info = GraphInfo(**{**asdict(info), "dim": dim, "max_abs_diff": diff, "min_cosine": cosine})
        atomic_write_bytes(folder / f"{key}.json", json.dumps(asdict(info), indent=1).encode())
        log.info("exported ONNX graph %s (max abs diff %.2e, min cosine %.7f)", path, diff, cosine)
        return OnnxGraph(path, info, threads)
    except GraphExportError:
        raise
    except Exception as err:
        raise GraphExportError(
            f"ONNX export failed: {str(err).splitlines()[0] if str(err) else err!r}"
        ) from err
    finally:
        tmp.unlink(missing_ok=True)


def _agreement(expected: np.ndarray, got: np.ndarray) -> tuple[float, float]:
    """``(max abs difference, min per-row cosine)`` of two ``(n, dim)`` arrays."""
    if expected.shape != got.shape:
        raise GraphExportError(f"ONNX graph output {got.shape} differs from PyTorch's {expected.shape}")
    diff = float(np.max(np.abs(expected - got))) if expected.size else 0.0
    norms = np.linalg.norm(expected, axis=1) * np.linalg.norm(got, axis=1)
    dots = np.sum(expected.astype(np.float64) * got, axis=1)
    cosine = np.where(norms > 0, dots / np.maximum(norms, 1e-30), (np.abs(expected - got).max(1) == 0) * 1.0)
    return diff, float(cosine.min()) if cosine.size else 1.0


def cached_or_exported(
    key: str,
    build: Callable[[], tuple[Any, list[np.ndarray], dict[str, Any], bool]],
    threads: int | None = None,
) -> OnnxGraph:
    """The graph under ``key``: loaded from the cache, else ``build()`` → ``(module, probes, meta,
    dynamic_size)`` exported and verified (torch imported only then)."""
    graph = load_graph(key, threads)
    if graph is not None:
        return graph
    module, probes, meta, dynamic_size = build()
    return export_graph(module, key, probes, meta, dynamic_size, threads)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
