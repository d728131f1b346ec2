"""Feature extraction over many samples: streamed in chunks, cached in the store, bad files set aside.

:func:`extract_features` is what ``negate train`` and ``negate-bench run`` call. For each extractor it
extracts only the images the store lacks, ``chunk_size`` at a time (decode → transform → store → release
pixels), so memory stays flat in the number of images; then it reads the full matrix back from the store.
An image that cannot be decoded is recorded with its one-line reason and left out; the rest go on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from negate_sdk.imaging import ImageError
from negate_sdk.pool import ordered_map
from negate_sdk.progress import ProgressFn
from negate_sdk.sample import Sample, decoded_groups
from negate_sdk.store import DamagedChunkError, FeatureStore, MemoryFeatureStore

logger = logging.getLogger(__name__)


@dataclass
class FeatureMatrix:
    """Features of the readable samples, in input order, and the reasons the others were left out."""

    X: np.ndarray  # (n_ok, n_features) float32
    feature_names: list[str]
    ok: np.ndarray  # (n_samples,) bool: which input samples have a row in X
    failures: dict[int, str] = field(default_factory=dict)  # input index -> one-line reason


def transform_isolated(
    extractor: Any, samples: Sequence[Sample], positions: list[int], failures: dict[int, str]
) -> tuple[np.ndarray | None, list[int]]:
    """``extractor.transform`` of ``samples[positions]``; if the batch raises, image by image, so one image
    that breaks the extractor costs only its own row (its one-line reason goes into ``failures``).

    Returns ``(X (n_good, n_features) or None, good positions)``.
    """
    if not positions:
        return None, []
    try:
        return extractor.transform([samples[i] for i in positions]), positions
    except Exception as err:
        logger.debug("%s failed on a batch (%s); retrying image by image", extractor.name, err)
    rows, good = [], []
    for i in positions:
        try:
            rows.append(extractor.transform([samples[i]]))
            good.append(i)
        except Exception as err:
            text = str(err).strip().splitlines()[0] if str(err).strip() else ""
            failures[i] = f"{extractor.name} failed: {type(err).__name__}" + (f": {text}" if text else "")
    return (np.vstack(rows) if rows else None), good


def transform_chunk(
    extractor: Any, samples: Sequence[Sample]
) -> tuple[np.ndarray | None, list[int], dict[int, str]]:
    """Decode and transform one chunk: ``(X (n_good, n_features) or None, good positions, failures)``.

    Undecodable samples, and samples the extractor fails on, are left out with their one-line reason;
    every sample's pixels are released.
    """
    failures: dict[int, str] = {}
    blocks, good = [], []
    for group in decoded_groups(samples, failures):  # decoded pixels bounded in bytes, not in images
        X, ok = transform_isolated(extractor, samples, group, failures)
        for i in group:
            samples[i].release()
        if X is not None:
            blocks.append(X)
            good += ok
    for sample in samples:
        sample.release()
    return (np.vstack(blocks) if blocks else None), good, failures


def extractor_meta(extractor: Any) -> dict[str, Any]:
    """The description stored next to an extractor's features: name, version, parameters, feature names."""
    return {
        "name": extractor.name,
        "version": extractor.version,
        "params": extractor.get_params(deep=False),
        "feature_names": [str(n) for n in extractor.get_feature_names_out()],
    }


def sample_hashes(samples: Sequence[Sample]) -> tuple[list[str | None], dict[int, str]]:
    """The sha256 of every sample (None when its bytes cannot be read) and the reasons of those failures."""
    hashes: list[str | None] = []
    failures: dict[int, str] = {}
    for i, sample in enumerate(samples):
        try:
            hashes.append(sample.sha256)
        except ImageError as err:  # unreadable file: no bytes, no hash
            hashes.append(None)
            failures[i] = str(err)
        sample.release()  # keep the hash, drop the bytes: memory must not grow with the number of images
    return hashes, failures


def pending_samples(
    store: FeatureStore | MemoryFeatureStore,
    cache_key: str,
    hashes: Sequence[str | None],
    failures: dict[int, str],
) -> list[int]:
    """Positions of the samples to extract under ``cache_key``: one per distinct image the store lacks."""
    first_index: dict[str, int] = {}  # identical images are extracted once
    for i, digest in enumerate(hashes):
        if digest is not None and i not in failures:
            first_index.setdefault(digest, i)
    return [first_index[digest] for digest in store.missing(cache_key, first_index)]


def collect_features(
    extractors: Sequence[Any],
    store: FeatureStore | MemoryFeatureStore,
    hashes: Sequence[str | None],
    failures: dict[int, str],
) -> FeatureMatrix:
    """Read the features of every readable sample back from ``store``, extractors side by side."""
    n = len(hashes)
    ok = np.array([i not in failures and hashes[i] is not None for i in range(n)], dtype=bool)
    ok_hashes = [hashes[i] for i in np.flatnonzero(ok)]
    blocks = [store.get(e.cache_key, ok_hashes) if ok_hashes else np.empty((0, 0)) for e in extractors]
    names = [str(n) for e in extractors for n in e.get_feature_names_out()]
    X = (
        np.hstack(blocks).astype(np.float32, copy=False)
        if ok_hashes
        else np.empty((0, len(names)), np.float32)
    )
    return FeatureMatrix(X=X, feature_names=names, ok=ok, failures=failures)


def extract_features(
    extractors: Sequence[Any],
    samples: Sequence[Sample],
    *,
    store: FeatureStore | MemoryFeatureStore | None = None,
    chunk_size: int = 128,
    n_jobs: int = 1,
    progress: ProgressFn | None = None,
) -> FeatureMatrix:
    """Features of every extractor for ``samples``, concatenated in extractor order.

    With a ``store``, cached entries are reused and new ones written as each chunk finishes (so an
    interrupted call resumes). ``n_jobs > 1`` runs chunks of extractors that allow it
    (``parallel_safe`` is not False) in worker processes; samples travel as paths. For a Ray cluster,
    see :func:`negate_sdk.distributed.ray_extract_features` (same result).
    """
    store = store if store is not None else MemoryFeatureStore()
    hashes, failures = sample_hashes(samples)
    _extract_missing(extractors, samples, store, hashes, failures, chunk_size, n_jobs, progress)
    try:
        return collect_features(extractors, store, hashes, failures)
    except DamagedChunkError as err:  # a chunk damaged since it was indexed: set aside, redo once
        logger.warning("%s; recomputing its entries", err)
    _extract_missing(extractors, samples, store, hashes, failures, chunk_size, n_jobs, progress)
    return collect_features(extractors, store, hashes, failures)


def _extract_missing(
    extractors: Sequence[Any],
    samples: Sequence[Sample],
    store: FeatureStore | MemoryFeatureStore,
    hashes: list[str | None],
    failures: dict[int, str],
    chunk_size: int,
    n_jobs: int,
    progress: ProgressFn | None,
) -> None:
    """Extract and store what ``store`` lacks of each extractor's features, chunk by chunk."""
    for extractor in extractors:
        key = extractor.cache_key
        todo = pending_samples(store, key, hashes, failures)
        chunks = [todo[k : k + chunk_size] for k in range(0, len(todo), chunk_size)]
        stage = f"extract {extractor.name}"
        if progress:
            progress(stage, 0, len(todo))
        parallel = n_jobs > 1 and len(chunks) > 1 and getattr(extractor, "parallel_safe", True)
        results = _run_chunks(extractor, samples, chunks, n_jobs if parallel else 1)
        for chunk, (X, good, chunk_failures) in zip(chunks, results):
            for local, reason in chunk_failures.items():
                failures[chunk[local]] = reason
            if X is not None:
                store.put(key, [hashes[chunk[j]] for j in good], X, meta=extractor_meta(extractor))
            if progress:
                progress(stage, len(chunk), len(todo))


def _run_chunks(extractor: Any, samples: Sequence[Sample], chunks: list[list[int]], n_jobs: int):
    """Yield ``(X, good, failures)`` per chunk, in order, from this process or a pool of ``n_jobs``."""
    work = partial(transform_chunk, extractor)
    yield from ordered_map(work, ([samples[i] for i in chunk] for chunk in chunks), n_jobs,
                           preload=[type(extractor).__module__])  # fmt: skip
