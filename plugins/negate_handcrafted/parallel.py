"""Batch extraction over a process pool, with memory flat in the number of images.

Samples travel to the workers in chunks (a path-backed :class:`~negate_sdk.api.Sample` pickles as its
path), each worker decodes, extracts and releases its chunk, and results are written into the output
array as chunks finish. At most ``2 * n_jobs`` chunks are in flight, so only those chunks' images are
ever decoded at once, however many samples there are. Each worker limits BLAS/OpenMP pools to one
thread (the processes are the parallelism) and tunes its allocator (:func:`tune_allocator`).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context

import numpy as np

from negate_sdk.api import Sample

DEFAULT_CHUNK_SIZE = 16


def tune_allocator() -> bool:
    """Make glibc's malloc keep freed memory instead of returning it to the system at once.

    Feature extraction allocates and frees many megabyte-sized arrays per image; by default glibc serves
    them with fresh ``mmap`` pages, and the page faults cost about a fifth of the extraction time. This
    raises the mmap and trim thresholds (``mallopt``) for the calling process: memory then stays
    reserved at its high-water mark (tens of MB). The pool workers call it; call it yourself in a
    process dedicated to extraction. Returns False (and changes nothing) where glibc is not available.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    return bool(
        mallopt(m_mmap_threshold, 256 << 20)
        and mallopt(m_trim_threshold, 512 << 20)
        and mallopt(m_top_pad, 64 << 20)
    )


def _init_worker() -> None:
    """Worker initialiser: one BLAS/OpenMP thread per process, and a malloc tuned for extraction."""
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # threadpoolctl ships with scikit-learn; without it the variables above still apply
        pass
    tune_allocator()


def _transform_chunk(extractor: object, chunk: list[Sample]) -> np.ndarray:
    """Worker body: serial ``transform`` of one chunk, then drop the decoded pixels."""
    try:
        return extractor.transform(chunk)  # type: ignore[attr-defined]
    finally:
        for sample in chunk:
            sample.release()


def resolve_n_jobs(n_jobs: int | None) -> int:
    """``n_jobs`` as a worker count: ``None`` or 1 is serial, -1 all cores, -2 all but one, ..."""
    cores = os.cpu_count() or 1
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        return max(1, cores + 1 + n_jobs)
    return int(n_jobs)


def transform_parallel(
    extractor: object,
    samples: Sequence[Sample],
    n_jobs: int | None = -1,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
    mp_context: str | None = None,
) -> np.ndarray:
    """``(n_samples, n_features)`` float32 features of ``samples``, extracted in ``n_jobs`` processes.

    The result equals ``extractor.transform(samples)`` row for row. ``extractor`` must pickle (every
    registered extractor does) and implement ``transform`` and ``get_feature_names_out``. ``progress`` is
    called with the number of samples in each finished chunk. ``mp_context`` is a multiprocessing start
    method (default ``"forkserver"`` where available, else ``"spawn"``: both are safe with threads; as
    with any process pool, a script calling this needs an ``if __name__ == "__main__":`` guard).
    """
    workers = resolve_n_jobs(n_jobs)
    n_features = len(extractor.get_feature_names_out())  # type: ignore[attr-defined]
    out = np.empty((len(samples), n_features), dtype=np.float32)
    if len(samples) == 0:
        return out
    if workers == 1:
        for start in range(0, len(samples), chunk_size):
            out[start : start + chunk_size] = extractor.transform(samples[start : start + chunk_size])  # type: ignore[attr-defined]
            if progress is not None:
                progress(min(chunk_size, len(samples) - start))
        return out
    method = mp_context or ("forkserver" if "forkserver" in _available_methods() else "spawn")
    context = get_context(method)
    if method == "forkserver":  # workers fork from a server that has already imported the extractors
        context.set_forkserver_preload([type(extractor).__module__, "negate_handcrafted.union"])
    starts = iter(range(0, len(samples), chunk_size))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker) as pool:
        pending: dict[Future, int] = {}

        def submit_next() -> bool:
            start = next(starts, None)
            if start is None:
                return False
            chunk = list(samples[start : start + chunk_size])
            pending[pool.submit(_transform_chunk, extractor, chunk)] = start
            return True

        for _ in range(2 * workers):
            if not submit_next():
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                start = pending.pop(future)
                rows = future.result()
                out[start : start + rows.shape[0]] = rows
                if progress is not None:
                    progress(rows.shape[0])
                submit_next()
    return out


def _available_methods() -> list[str]:
    import multiprocessing

    return multiprocessing.get_all_start_methods()
