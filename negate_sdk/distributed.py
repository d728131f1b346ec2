"""Feature extraction on a Ray cluster, with the same result as :func:`negate_sdk.features.extract_features`.

The driver (the process running ``negate-bench run --executor ray``) keeps the plan; Ray actors on the
cluster do the work:

1. images whose sha256 is not known yet are hashed on the cluster (their bytes never cross the driver);
2. for each extractor, the driver asks the feature store which images it lacks (so an interrupted run
   resumes: workers are never given what the store has) and hands chunks of them to a pool of actors;
3. each actor decodes its chunk, transforms it and writes it straight into the store (a folder every
   node mounts, or an object-store URI); an image that cannot be decoded comes back with its one-line
   reason, exactly as in a local run, and the rest goes on;
4. the driver reads the features back from the store, as a local run does.

Samples travel as recipes (a path, a Parquet row, a perturbation of another sample), never as pixels.
Actors are created once per driver and reused by every call; an actor that dies (a crashed process, a
lost node) is restarted and its chunk retried, up to :data:`MAX_RETRIES` times. Torch-based extractors
(``parallel_safe = False`` or a ``device`` parameter not set to ``cpu``) run on actors holding one GPU
each when the cluster has GPUs, otherwise on the CPU actors like every other extractor.

Importing this module does not import Ray.
"""

from __future__ import annotations

import math
import os
import socket
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from negate_sdk.features import (
    FeatureMatrix,
    collect_features,
    extractor_meta,
    pending_samples,
    sample_hashes,
    transform_chunk,
)
from negate_sdk.progress import ProgressFn
from negate_sdk.sample import Sample
from negate_sdk.store import FeatureStore, MemoryFeatureStore

MAX_RETRIES = 3  # restarts of a dead actor, and retries of the chunk it was working on
CONNECT_TIMEOUT = 10.0  # seconds to wait for a cluster's head to answer before giving up
IN_FLIGHT = 2  # chunks queued per actor: one running, one ready, so no actor waits on the driver

# sha256 of samples hashed on the cluster, for the life of each Sample object: the runner extracts the
# same samples for several detectors, and their bytes should be read once, not once per detector
_HASHES: weakref.WeakKeyDictionary[Sample, str] = weakref.WeakKeyDictionary()
_POOLS: dict[tuple[str, str, bool], list[Any]] = {}


class ExtractionWorker:
    """A Ray actor's state: hashes and extracts chunks of samples (the ``ray.remote`` class wraps it)."""

    def __init__(self, working_dir: str | None = None) -> None:
        # samples may hold paths relative to where the driver runs; on nodes that share that folder,
        # resolve them the same way
        if working_dir and os.path.isdir(working_dir):
            os.chdir(working_dir)

    def hash(self, samples: Sequence[Sample]) -> tuple[list[str | None], dict[int, str]]:
        """sha256 of each sample (None if unreadable) and the one-line reasons of the unreadable ones."""
        return sample_hashes(samples)

    def extract(
        self, extractor: Any, samples: Sequence[Sample], hashes: Sequence[str], store: FeatureStore | None
    ) -> tuple[str | None, list[str], np.ndarray | None, dict[int, str]]:
        """Transform a chunk; write it to ``store`` (return its name) or, without a store, return ``X``.

        Returns ``(chunk name, hashes of the rows, X (n_rows, n_features) or None, failures by position)``.
        """
        X, good, failures = transform_chunk(extractor, samples)
        if X is None:
            return None, [], None, failures
        rows = [hashes[j] for j in good]
        if store is None:
            return None, rows, np.asarray(X, dtype=np.float32), failures
        name = store.put(extractor.cache_key, rows, X, meta=extractor_meta(extractor))
        return name, rows, None, failures


def connect(address: str | None = None) -> None:
    """Connect this process to Ray: ``address`` ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``.

    Without an address, Ray's own rule applies: ``$RAY_ADDRESS`` if set, else a Ray instance started on
    this machine. An existing connection is reused. A missing Ray or an unreachable cluster is a one-line
    ``ValueError``.
    """
    try:
        import ray
    except ImportError:
        raise ValueError("--executor ray needs Ray: pip install 'negate-sdk[ray]'") from None
    if ray.is_initialized():
        return
    where = address or os.environ.get("RAY_ADDRESS") or "a local Ray instance"
    _check_reachable(address or os.environ.get("RAY_ADDRESS"), where)
    try:
        ray.init(address=address)
    except (ConnectionError, RuntimeError, ValueError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(f"cannot connect to the Ray cluster at {where}: {reason}") from None


def _check_reachable(address: str | None, where: str) -> None:
    # Ray keeps retrying an address nobody answers on for minutes; a plain TCP connection says at once
    if not address or address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"cannot connect to the Ray cluster at {where}: expected HOST:PORT or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as err:
        raise ValueError(f"cannot connect to the Ray cluster at {where}: {err.strerror or err}") from None


def wants_gpu(extractor: Any) -> bool:
    """Whether ``extractor`` is torch-based and may run on a GPU.

    Torch-based: ``parallel_safe = False`` or a ``device`` parameter; a device of ``cpu`` or ``mps``
    keeps it off the GPU.
    """
    params = extractor.get_params(deep=False) if hasattr(extractor, "get_params") else {}
    torch_based = getattr(extractor, "parallel_safe", True) is False or "device" in params
    device = str(params.get("device") or "auto").lower()
    return torch_based and device.split(":")[0] in ("auto", "cuda")


def cluster_gpus() -> int:
    """Number of GPUs the connected cluster has (0 on a CPU-only cluster)."""
    import ray

    return int(ray.cluster_resources().get("GPU", 0))


def actor_pool(gpu: bool) -> list[Any]:
    """The actors of this driver's CPU pool (one per cluster CPU) or GPU pool (one per cluster GPU).

    Created on first use and reused by later calls; a new Ray connection gets new pools.
    """
    import ray

    context = ray.get_runtime_context()
    key = (str(context.gcs_address), str(context.get_job_id()), gpu)
    for stale in [k for k in _POOLS if k[:2] != key[:2]]:
        del _POOLS[stale]  # actors of an earlier connection are gone with it
    if key not in _POOLS:
        resources = ray.cluster_resources()
        if gpu:  # no CPU reserved: the CPU pool may hold every CPU, and only one pool works at a time
            size, options = int(resources.get("GPU", 0)), {"num_gpus": 1, "num_cpus": 0}
        else:
            size, options = max(1, int(resources.get("CPU", 1))), {"num_cpus": 1}
        remote = ray.remote(ExtractionWorker).options(
            max_restarts=MAX_RETRIES, max_task_retries=MAX_RETRIES, **options
        )
        _POOLS[key] = [remote.remote(os.getcwd()) for _ in range(max(1, size))]
    return _POOLS[key]


def dispatch(actors: list[Any], method: str, items: Sequence[tuple[Any, tuple]]) -> Iterator[tuple[Any, Any]]:
    """Run ``actor.method(*args)`` for each ``(key, args)`` of ``items`` on the least busy actor.

    Yields ``(key, result)`` as calls finish, with at most :data:`IN_FLIGHT` calls queued per actor, so
    memory on the driver and in the object store stays flat however many items there are.
    """
    import ray

    load = [0] * len(actors)
    pending: dict[Any, tuple[Any, int]] = {}
    queue = list(reversed(items))
    while queue or pending:
        while queue and min(load) < IN_FLIGHT:
            slot = load.index(min(load))
            key, args = queue.pop()
            pending[getattr(actors[slot], method).remote(*args)] = (key, slot)
            load[slot] += 1
        (ready,), _ = ray.wait(list(pending), num_returns=1)
        key, slot = pending.pop(ready)
        load[slot] -= 1
        yield key, ray.get(ready)


def _balanced_chunks(positions: list[int], chunk_size: int, n_actors: int) -> list[list[int]]:
    # hashing does not depend on how images are grouped: small jobs are split so every actor gets a share
    size = max(1, min(chunk_size, math.ceil(len(positions) / n_actors)))
    return [positions[k : k + size] for k in range(0, len(positions), size)]


def _known_hash(sample: Sample) -> str | None:
    return _HASHES.get(sample) or sample.to_dict()["sha256"]


def cluster_hashes(
    samples: Sequence[Sample], *, chunk_size: int = 128, progress: ProgressFn | None = None
) -> tuple[list[str | None], dict[int, str]]:
    """Like :func:`negate_sdk.features.sample_hashes`, with the unknown hashes computed on the cluster."""
    hashes: list[str | None] = [_known_hash(s) for s in samples]
    failures: dict[int, str] = {}
    unknown = [i for i, digest in enumerate(hashes) if digest is None]
    if not unknown:
        return hashes, failures
    pool = actor_pool(gpu=False)
    chunks = _balanced_chunks(unknown, chunk_size, len(pool))
    if progress:
        progress("hash images", 0, len(unknown))
    items = [(chunk, ([samples[i] for i in chunk],)) for chunk in chunks]
    for chunk, (chunk_hashes, chunk_failures) in dispatch(pool, "hash", items):
        for local, digest in enumerate(chunk_hashes):
            hashes[chunk[local]] = digest
            if digest is not None:
                _HASHES[samples[chunk[local]]] = digest
        for local, reason in chunk_failures.items():
            failures[chunk[local]] = reason
        if progress:
            progress("hash images", len(chunk), len(unknown))
    return hashes, failures


def ray_extract_features(
    extractors: Sequence[Any],
    samples: Sequence[Sample],
    *,
    store: FeatureStore | MemoryFeatureStore | None = None,
    chunk_size: int = 128,
    address: str | None = None,
    progress: ProgressFn | None = None,
) -> FeatureMatrix:
    """Features of every extractor for ``samples``, extracted on a Ray cluster; same result as local.

    ``store`` must be reachable by every node (a shared folder or an object-store URI); a store on this
    machine's disk that the workers cannot see is a one-line ``ValueError``. With a
    :class:`MemoryFeatureStore` (or none) the workers send the features back instead.
    ``address`` is passed to :func:`connect`.
    """
    import ray

    connect(address)
    store = store if store is not None else MemoryFeatureStore()
    shared = store if isinstance(store, FeatureStore) else None
    hashes, failures = cluster_hashes(samples, chunk_size=chunk_size, progress=progress)
    for extractor in extractors:
        key = extractor.cache_key
        todo = pending_samples(store, key, hashes, failures)
        stage = f"extract {extractor.name}"
        if progress:
            progress(stage, 0, len(todo))
        if not todo:
            continue
        pool = actor_pool(gpu=wants_gpu(extractor) and cluster_gpus() > 0)
        reference = ray.put(extractor)  # serialised once, not once per chunk
        # exactly the local run's chunks: a learned extractor's numbers depend (in the last bits) on
        # which images share its batch, so other chunks would not give identical features
        chunks = [todo[k : k + chunk_size] for k in range(0, len(todo), chunk_size)]
        items = [
            (chunk, (reference, [samples[i] for i in chunk], [hashes[i] for i in chunk], shared))
            for chunk in chunks
        ]
        written: list[str] = []
        for chunk, (name, rows, X, chunk_failures) in dispatch(pool, "extract", items):
            for local, reason in chunk_failures.items():
                failures[chunk[local]] = reason
            if name is not None:
                written.append(name)
                store.add_chunk(key, name, rows)
            elif X is not None:
                store.put(key, rows, X, meta=extractor_meta(extractor))
            if progress:
                progress(stage, len(chunk), len(todo))
        # a local folder may not be shared with the other nodes (object stores always are); stat calls
        # are cheap there, so check every chunk the workers reported
        absent = store.absent_chunks(key, written) if shared is not None and shared.is_local else []
        if absent:
            raise ValueError(
                f"the Ray workers wrote features this machine cannot see in {store.root}: put the feature "
                "store on a folder every node mounts or on an object store (--cache-dir s3://…)"
            )
    return collect_features(extractors, store, hashes, failures)
