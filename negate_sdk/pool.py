"""The one process pool: ordered, bounded in flight, one BLAS/OpenMP thread per worker.

Feature extraction, the handcrafted union's batch transform and ``negate-bench validate`` fan chunks of
samples out over worker processes through :func:`ordered_map`. Samples travel as their recipe (a path),
each worker decodes and releases its own chunk, and at most ``2 * n_jobs`` chunks are in flight, so memory
stays flat in the number of images. Each worker limits BLAS/OpenMP pools to one thread (the processes are
the parallelism, and two cores must not run four busy threads) and tunes its allocator.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def resolve_n_jobs(n_jobs: int | None) -> int:
    """``n_jobs`` as a worker count: ``None``, 0 or 1 is serial, -1 all cores, -2 all but one, ..."""
    cores = os.cpu_count() or 1
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        return max(1, cores + 1 + n_jobs)
    return int(n_jobs)


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


def init_worker() -> None:
    """Worker initialiser: one BLAS/OpenMP thread per process, and a malloc tuned for extraction."""
    for variable in THREAD_VARIABLES:
        os.environ[variable] = "1"
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # threadpoolctl ships with scikit-learn; without it the variables above apply
        pass
    tune_allocator()


def _context(preload: Sequence[str]) -> Any:
    """``forkserver`` where available (safe with threads; workers fork from a server that has imported
    ``preload``), else ``spawn``."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods and preload:
        context.set_forkserver_preload(list(preload))
    return context


def ordered_map(
    function: Callable[[T], R],
    items: Iterable[T],
    n_jobs: int | None = 1,
    *,
    preload: Sequence[str] = (),
) -> Iterator[R]:
    """Yield ``function(item)`` for each item, in order, from this process or ``n_jobs`` worker processes.

    ``function`` and the items must pickle. At most ``2 * n_jobs`` items are in flight. ``preload`` names
    modules the workers import once (the forkserver's), such as the function's own module. A script
    that calls this with ``n_jobs > 1`` needs an ``if __name__ == "__main__":`` guard, as with any pool.
    """
    workers = resolve_n_jobs(n_jobs)
    if workers <= 1:
        for item in items:
            yield function(item)
        return
    modules = [
        *preload,
        getattr(function, "__module__", None) or getattr(function, "func", function).__module__,
    ]
    context = _context([m for m in modules if m and m != "__main__"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=init_worker) as pool:
        pending: deque[Future] = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= 2 * workers:  # bound the work in flight: memory stays flat
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
