"""A content-addressed feature store: each (extractor cache key, image sha256) is extracted once.

Layout under the store root::

    <cache_key>/meta.json            extractor name, version, parameters, feature names
    <cache_key>/chunk-<id>.npz       sha256 (n,) and X (n, n_features) float32, written atomically

A chunk file appears whole or not at all (written to a temporary name, then renamed), so an interrupted
run leaves only complete entries and the next run extracts just what is missing. Several processes may
write to one store at once: chunk names are unique and an entry found twice is simply read from either.
Chunks hold no pickles (``np.load(allow_pickle=False)``).
"""

from __future__ import annotations

import io
import json
import os
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from negate_sdk.artifacts import atomic_write_bytes

ENV_CACHE_DIR = "NEGATE_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$NEGATE_CACHE_DIR`` if set, else the user cache directory (``~/.cache/negate/features`` on Linux)."""
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("negate")) / "features"


class FeatureStore:
    """Features on disk keyed by extractor cache key and image sha256."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self._index: dict[str, dict[str, tuple[str, int]]] = {}

    def _dir(self, cache_key: str) -> Path:
        if not cache_key or "/" in cache_key or cache_key.startswith("."):
            raise ValueError(f"invalid cache key {cache_key!r}")
        return self.root / cache_key

    def index(self, cache_key: str) -> dict[str, tuple[str, int]]:
        """``sha256 -> (chunk file name, row)`` for every stored entry of ``cache_key``."""
        if cache_key not in self._index:
            entries: dict[str, tuple[str, int]] = {}
            directory = self._dir(cache_key)
            if directory.is_dir():
                for path in sorted(directory.glob("chunk-*.npz")):
                    try:
                        with np.load(path, allow_pickle=False) as chunk:
                            hashes = chunk["sha256"]
                    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                        continue  # not ours or damaged outside our control: ignore, it will be redone
                    for row, digest in enumerate(hashes.tolist()):
                        entries.setdefault(digest, (path.name, row))
            self._index[cache_key] = entries
        return self._index[cache_key]

    def missing(self, cache_key: str, hashes: Iterable[str]) -> list[str]:
        """Hashes (in order, without repeats) that have no stored features under ``cache_key``."""
        index = self.index(cache_key)
        seen: set[str] = set()
        out = []
        for digest in hashes:
            if digest not in index and digest not in seen:
                seen.add(digest)
                out.append(digest)
        return out

    def put(
        self, cache_key: str, hashes: Sequence[str], X: np.ndarray, meta: dict[str, Any] | None = None
    ) -> None:
        """Store ``(n, n_features)`` features for ``n`` image hashes as one atomic chunk."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or len(X) != len(hashes):
            raise ValueError(f"features of shape {X.shape} do not match {len(hashes)} hashes")
        directory = self._dir(cache_key)
        directory.mkdir(parents=True, exist_ok=True)
        if meta is not None and not (directory / "meta.json").exists():
            atomic_write_bytes(directory / "meta.json", json.dumps(meta, indent=2, default=str).encode())
        if not len(hashes):
            return
        buffer = io.BytesIO()
        np.savez(buffer, sha256=np.asarray(hashes, dtype="<U64"), X=X)
        name = f"chunk-{uuid.uuid4().hex}.npz"
        atomic_write_bytes(directory / name, buffer.getvalue())
        index = self.index(cache_key)
        for row, digest in enumerate(hashes):
            index.setdefault(digest, (name, row))

    def get(self, cache_key: str, hashes: Sequence[str]) -> np.ndarray:
        """``(len(hashes), n_features)`` float32 features; KeyError naming the first missing hash."""
        index = self.index(cache_key)
        by_chunk: dict[str, list[tuple[int, int]]] = {}
        for position, digest in enumerate(hashes):
            if digest not in index:
                raise KeyError(f"no features for image {digest[:12]}… under {cache_key}")
            chunk, row = index[digest]
            by_chunk.setdefault(chunk, []).append((position, row))
        out: np.ndarray | None = None
        for chunk, pairs in by_chunk.items():
            with np.load(self._dir(cache_key) / chunk, allow_pickle=False) as data:
                X = data["X"]
            if out is None:
                out = np.empty((len(hashes), X.shape[1]), dtype=np.float32)
            positions, rows = zip(*pairs)
            out[list(positions)] = X[list(rows)]
        return out if out is not None else np.empty((0, 0), dtype=np.float32)

    def meta(self, cache_key: str) -> dict[str, Any] | None:
        """The extractor description stored with ``cache_key``, if any."""
        path = self._dir(cache_key) / "meta.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def info(self) -> list[dict[str, Any]]:
        """One row per cache key: extractor, entries, chunks and bytes on disk."""
        rows = []
        if not self.root.is_dir():
            return rows
        for directory in sorted(p for p in self.root.iterdir() if p.is_dir()):
            chunks = list(directory.glob("chunk-*.npz"))
            meta = self.meta(directory.name) or {}
            rows.append(
                {
                    "cache_key": directory.name,
                    "extractor": meta.get("name"),
                    "entries": len(self.index(directory.name)),
                    "chunks": len(chunks),
                    "bytes": sum(p.stat().st_size for p in directory.iterdir() if p.is_file()),
                }
            )
        return rows

    def clear(self, cache_key: str | None = None) -> int:
        """Delete every entry (or those of one cache key); return the number of files removed."""
        import shutil

        targets = [self._dir(cache_key)] if cache_key else [p for p in self.root.glob("*") if p.is_dir()]
        removed = 0
        for directory in targets:
            if directory.is_dir():
                removed += sum(1 for p in directory.iterdir() if p.is_file())
                shutil.rmtree(directory)
            self._index.pop(directory.name, None)
        return removed


class MemoryFeatureStore:
    """The :class:`FeatureStore` interface in memory, for one-off extraction without a cache directory."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, np.ndarray]] = {}

    def missing(self, cache_key: str, hashes: Iterable[str]) -> list[str]:
        """Hashes without stored features, in order, without repeats."""
        stored = self._data.get(cache_key, {})
        return list(dict.fromkeys(h for h in hashes if h not in stored))

    def put(
        self, cache_key: str, hashes: Sequence[str], X: np.ndarray, meta: dict[str, Any] | None = None
    ) -> None:
        """Keep ``(n, n_features)`` features for ``n`` hashes."""
        stored = self._data.setdefault(cache_key, {})
        for digest, row in zip(hashes, np.asarray(X, dtype=np.float32)):
            stored.setdefault(digest, row)

    def get(self, cache_key: str, hashes: Sequence[str]) -> np.ndarray:
        """``(len(hashes), n_features)`` float32 features."""
        stored = self._data.get(cache_key, {})
        missing = [h for h in hashes if h not in stored]
        if missing:
            raise KeyError(f"no features for image {missing[0][:12]}… under {cache_key}")
        return np.stack([stored[h] for h in hashes]) if hashes else np.empty((0, 0), np.float32)
