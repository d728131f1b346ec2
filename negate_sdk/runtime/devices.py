"""Torch plumbing shared by the learned extractors: devices, precision, a per-process model cache, and
decoding that overlaps the model (in worker processes, or a thread for the torch-free ONNX path).

Importing this module does not import torch; every function that needs it imports it when called.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

import numpy as np

from negate_sdk.api import Sample

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")

_MODELS: dict[Hashable, Any] = {}
_MODELS_LOCK = threading.Lock()


def resolve_device(device: str = "auto") -> str:
    """``"cuda"``, ``"mps"`` or ``"cpu"`` for a requested ``auto|cpu|cuda|mps|cuda:N``.

    ``auto`` picks CUDA, then Apple's MPS, then the CPU. Asking for a device that is not there is a
    one-line ``ValueError``.
    """
    import torch

    requested = str(device).lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if _mps_available(torch):
            return "mps"
        return "cpu"
    kind = requested.split(":")[0]
    if kind not in DEVICES:
        raise ValueError(f"unknown device {device!r}; expected one of {', '.join(DEVICES)} (or cuda:N)")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA GPU; use device='cpu' or 'auto'")
    if kind == "mps" and not _mps_available(torch):
        raise ValueError("device 'mps' requested but torch sees no MPS device; use device='cpu' or 'auto'")
    return requested


def _mps_available(torch: Any) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def autocast_dtype(device: str, precision: str = "auto") -> Any:
    """The torch dtype to autocast to on ``device`` (None: run in float32).

    ``auto`` is bf16 on GPUs that support it, else fp16 on GPUs, and float32 on the CPU, where
    reduced precision is slower and changes the features.
    """
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    kind = device.split(":")[0]
    if precision == "fp32" or (precision == "auto" and kind == "cpu"):
        return None
    if precision == "fp16":
        return torch.float16
    if precision == "bf16":
        return torch.bfloat16
    if kind == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


@contextlib.contextmanager
def inference(device: str, precision: str = "auto") -> Iterator[None]:
    """``torch.inference_mode`` plus autocast to :func:`autocast_dtype` when it is not float32."""
    import torch

    dtype = autocast_dtype(device, precision)
    with torch.inference_mode():
        if dtype is None:
            yield
        else:
            with torch.autocast(device_type=device.split(":")[0], dtype=dtype):
                yield


def cached_model(key: Hashable, load: Callable[[], Any]) -> Any:
    """The object cached under ``key`` in this process, built once with ``load()``.

    Learned extractors keep their (frozen, eval-mode) models here, so cloning an extractor or calling
    ``transform`` again never reloads weights.
    """
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = load()
        return _MODELS[key]


def clear_model_cache() -> None:
    """Forget every cached model (frees their memory once nothing else refers to them)."""
    with _MODELS_LOCK:
        _MODELS.clear()


@contextlib.contextmanager
def seeded_init(seed: int = 0) -> Iterator[None]:
    """A context in which torch's CPU RNG is seeded and restored on exit: random initialisation that is
    the same in every process (a cached feature must not depend on which process computed it)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class _Prepared:
    """A map-style dataset: ``prepare(sample.pixels)`` for each sample, pixels released afterwards."""

    def __init__(self, samples: Sequence[Sample], prepare: Callable[[np.ndarray], np.ndarray]) -> None:
        self.samples = samples
        self.prepare = prepare

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray | Exception]:
        sample = self.samples[index]
        try:
            return index, self.prepare(sample.pixels)
        except Exception as err:  # handed back as is, so a worker raises what the caller would
            return index, err
        finally:
            if sample.path is not None:
                sample.release()  # a worker decodes a file-backed sample once and lets it go


def _collate(items: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    return items


def _batch(dataset: _Prepared, start: int, size: int) -> list[tuple[int, Any]]:
    """Samples ``start`` to ``start + size`` prepared in this thread (errors handed back, not raised)."""
    return [dataset[i] for i in range(start, min(start + size, len(dataset)))]


def _checked(batch: list[tuple[int, Any]]) -> list[tuple[int, np.ndarray]]:
    for _, item in batch:
        if isinstance(item, Exception):
            raise item
    return batch


def prepared_batches(
    samples: Sequence[Sample],
    prepare: Callable[[np.ndarray], np.ndarray],
    *,
    batch_size: int = 32,
    num_workers: int = 0,
) -> Iterator[list[tuple[int, np.ndarray]]]:
    """Yield lists of ``(index, prepare(pixels))`` in sample order, ``batch_size`` samples at a time.

    With ``num_workers > 0`` decoding and ``prepare`` run in torch DataLoader worker processes while
    the caller runs the model on the previous batch; samples travel to the workers by path. Batches
    are only split across workers when there is more than one batch to make, since starting workers
    costs more than decoding a handful of images, and never inside a daemonic process. An image that
    cannot be decoded raises its own exception (e.g. ``ImageError``, one line) whichever process read it.
    """
    import multiprocessing

    dataset = _Prepared(samples, prepare)
    n_batches = -(-len(samples) // max(1, batch_size))
    # Daemonic processes (multiprocessing pools, some cluster workers) may not start children.
    daemonic = multiprocessing.current_process().daemon
    if num_workers <= 0 or n_batches <= 1 or daemonic:
        for start in range(0, len(samples), batch_size):
            yield _checked(_batch(dataset, start, batch_size))
        return
    from torch.utils.data import DataLoader

    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=min(num_workers, n_batches),
        collate_fn=_collate,
        prefetch_factor=2,
    )
    for batch in loader:
        yield _checked(batch)


def threaded_batches(
    samples: Sequence[Sample],
    prepare: Callable[[np.ndarray], np.ndarray],
    *,
    batch_size: int = 32,
    ahead: int = 2,
) -> Iterator[list[tuple[int, np.ndarray]]]:
    """:func:`prepared_batches` without torch: one thread decodes and prepares up to ``ahead`` batches
    while the caller runs the model on the current one (Pillow's decoders and numpy release the GIL).

    Memory stays bounded by ``ahead + 1`` batches; an image that cannot be decoded raises its own
    exception when its batch is reached, and abandoning the iterator cancels the batches not started.
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    dataset = _Prepared(samples, prepare)
    size = max(1, batch_size)
    starts = list(range(0, len(samples), size))
    if len(starts) <= 1:
        for start in starts:
            yield _checked(_batch(dataset, start, size))
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="negate-decode") as pool:
        pending = deque(pool.submit(_batch, dataset, start, size) for start in starts[: ahead + 1])
        queued = len(pending)
        try:
            while pending:
                yield _checked(pending.popleft().result())
                if queued < len(starts):  # the caller is done with that batch: one more may start
                    pending.append(pool.submit(_batch, dataset, starts[queued], size))
                    queued += 1
        finally:
            for future in pending:
                future.cancel()
