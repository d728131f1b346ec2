"""Batch extraction of a handcrafted extractor over the SDK's process pool, memory flat in the images.

Samples travel to the workers in chunks (a path-backed :class:`~negate_sdk.sample.Sample` pickles as its
path); each worker decodes, extracts and releases its chunk. The pool (:mod:`negate_sdk.pool`) keeps at
most ``2 * n_jobs`` chunks in flight, limits each worker to one BLAS/OpenMP thread and tunes its allocator.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

from negate_sdk.pool import ordered_map, resolve_n_jobs, tune_allocator
from negate_sdk.progress import ProgressFn
from negate_sdk.sample import Sample

__all__ = ["DEFAULT_CHUNK_SIZE", "transform_parallel", "tune_allocator"]

DEFAULT_CHUNK_SIZE = 16


def _transform_chunk(extractor: object, chunk: list[Sample]) -> np.ndarray:
    """Worker body: serial ``transform`` of one chunk, then drop the decoded pixels."""
    try:
        return extractor.transform(chunk)  # type: ignore[attr-defined]
    finally:
        for sample in chunk:
            sample.release()


def transform_parallel(
    extractor: object,
    samples: Sequence[Sample],
    n_jobs: int | None = -1,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: ProgressFn | None = None,
) -> np.ndarray:
    """``(n_samples, n_features)`` float32 features of ``samples``, extracted in ``n_jobs`` processes.

    The result equals ``extractor.transform(samples)`` row for row. ``extractor`` must pickle (every
    registered extractor does). ``progress`` receives ``(stage, advance, total)`` after each chunk.
    """
    n_features = len(extractor.get_feature_names_out())  # type: ignore[attr-defined]
    out = np.empty((len(samples), n_features), dtype=np.float32)
    starts = range(0, len(samples), chunk_size)
    chunks = (list(samples[start : start + chunk_size]) for start in starts)
    work = partial(_transform_chunk, extractor)
    workers = resolve_n_jobs(n_jobs)
    preload = [type(extractor).__module__, "negate_handcrafted.union"]
    for start, rows in zip(starts, ordered_map(work, chunks, workers, preload=preload)):
        out[start : start + rows.shape[0]] = rows
        if progress is not None:
            progress(f"extract {getattr(extractor, 'name', 'features')}", rows.shape[0], len(samples))
    return out
