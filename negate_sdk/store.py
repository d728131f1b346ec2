"""A content-addressed feature store: each (extractor cache key, image sha256) is extracted once.

Layout under the store root (a local folder or any filesystem URI: ``s3://bucket/prefix``, ``gs://…``,
``hdfs://…``, ``file:///…``, or an fsspec protocol such as ``az://``)::

    <cache_key>/meta.json            extractor name, version, parameters, feature names
    <cache_key>/chunk-<id>.npz       sha256 (n,) and X (n, n_features) float32, written atomically

A chunk file appears whole or not at all, so an interrupted run leaves only complete entries and the next
run extracts just what is missing. On a local or network filesystem a chunk is written to a temporary
name, then renamed; on an object store (S3, GCS, Azure) a single PUT is already atomic. Several processes
or machines may write to one store at once: chunk names are unique and an entry found twice is simply read
from either. All I/O goes through :mod:`pyarrow.fs`, so the same code serves a laptop's cache folder and a
cluster's bucket.

A chunk is verified completely before any of its entries is trusted (:func:`read_chunk`: the zip's CRCs,
both arrays, their dtypes and shapes, 64-hex hashes; object arrays are refused, never unpickled). A damaged
chunk is reported once per store object (a warning on the ``negate_sdk.store`` logger), renamed to
``chunk-<id>.npz.damaged`` (which the index ignores; :meth:`FeatureStore.clear` removes it) and left out of
the index, so its images show up in :meth:`FeatureStore.missing` and are extracted again. A chunk damaged
after it was indexed is found in :meth:`FeatureStore.get`, set aside the same way and reported as a
:class:`DamagedChunkError` (a ``KeyError``): the next run recomputes its entries.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from negate_sdk.artifacts import atomic_write_bytes

MODELS_DIR = "_models"
ENV_CACHE_DIR = "NEGATE_CACHE_DIR"
DAMAGED_SUFFIX = ".damaged"
CHUNK_MEMBERS = ("X.npy", "sha256.npy")
SHA256_PATTERN = re.compile(r"[0-9a-fA-F]{64}")
NPY_MAX_HEADER = 10_000  # numpy's own default cap for the literal header of one array

logger = logging.getLogger(__name__)

# Where a closed output stream is one atomic PUT (nobody ever sees half an object), so no rename is needed.
OBJECT_STORES = ("s3", "gcs", "gs", "abfs", "abfss", "az", "adl", "memory")


class DamagedChunkError(KeyError):
    """A chunk found damaged (or gone) while reading entries it was indexed for; ``str(err)`` is one line.

    The chunk has been set aside and its entries forgotten, so running the same extraction again
    recomputes them. A ``KeyError``, like any other missing entry.
    """

    def __str__(self) -> str:
        # KeyError's own str() is the repr of its argument (quoted); keep the one-line message as it is
        return str(self.args[0]) if self.args else ""


def is_image_hash(value: object) -> bool:
    """Whether ``value`` is a 64-character hex sha256, the only key a chunk may hold."""
    return isinstance(value, str) and SHA256_PATTERN.fullmatch(value) is not None


def _read_npy(raw: bytes, member: str) -> np.ndarray:
    """The array in one ``.npy`` member; object dtypes (never unpickled) and size mismatches are refused."""
    from numpy.lib import format as npy

    handle = io.BytesIO(raw)
    version = npy.read_magic(handle)
    if version == (1, 0):
        shape, fortran_order, dtype = npy.read_array_header_1_0(handle, max_header_size=NPY_MAX_HEADER)
    elif version == (2, 0):
        shape, fortran_order, dtype = npy.read_array_header_2_0(handle, max_header_size=NPY_MAX_HEADER)
    else:
        raise ValueError(f"{member} has unsupported .npy version {version}")
    if dtype.hasobject:
        raise ValueError(f"{member} holds Python objects (a pickle), which are never loaded")
    count = math.prod(shape)
    available = len(raw) - handle.tell()
    if available != count * dtype.itemsize:
        raise ValueError(f"{member} has {available} data bytes for shape {shape} of {dtype}")
    array = np.frombuffer(raw, dtype=dtype, count=count, offset=handle.tell())
    return array.reshape(shape, order="F" if fortran_order else "C")


def read_chunk(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Verify a chunk's bytes completely and return ``(sha256 (n,) str, X (n, n_features) float32)``.

    Checks: a zip of exactly ``sha256.npy`` and ``X.npy``, stored uncompressed (as :meth:`FeatureStore.put`
    writes them, so memory is bounded by the file's size), each member's CRC, ``.npy`` headers, no object
    arrays (a pickle is refused, never loaded), ``X`` 2-D float32 with one row per hash, and each hash 64 hex
    characters. Raises ``ValueError`` or ``zipfile.BadZipFile`` naming what is wrong.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        names = sorted(info.filename for info in infos)
        if names != sorted(CHUNK_MEMBERS):
            raise ValueError(f"members are {names}, not {sorted(CHUNK_MEMBERS)}")
        for info in infos:
            if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
                raise ValueError(f"{info.filename} is compressed; this store writes members uncompressed")
        # reading a member to its end checks its CRC-32 (zipfile raises BadZipFile on a mismatch)
        members = {info.filename: archive.read(info) for info in infos}
    hashes = _read_npy(members["sha256.npy"], "sha256.npy")
    X = _read_npy(members["X.npy"], "X.npy")
    if hashes.ndim != 1 or hashes.dtype.kind != "U":
        raise ValueError(f"sha256.npy is {hashes.dtype} of shape {hashes.shape}, not a 1-D string array")
    if X.ndim != 2 or X.dtype != np.dtype("<f4"):
        raise ValueError(f"X.npy is {X.dtype} of shape {X.shape}, not 2-D little-endian float32")
    if len(X) != len(hashes):
        raise ValueError(f"X.npy has {len(X)} rows for {len(hashes)} hashes")
    hash_list = hashes.tolist()
    bad = next((h for h in hash_list if not is_image_hash(h)), None)
    if bad is not None:
        raise ValueError(f"sha256.npy holds {bad[:70]!r}, not a 64-character hex sha256")
    return hashes, X


def default_cache_dir() -> Path:
    """``$NEGATE_CACHE_DIR`` if set, else the user cache directory (``~/.cache/negate/features`` on Linux)."""
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("negate")) / "features"


def is_uri(root: str | os.PathLike[str]) -> bool:
    """Whether ``root`` names a filesystem URI (``scheme://…``) rather than a local path."""
    return "://" in str(root)


def open_filesystem(uri: str) -> tuple[Any, str]:
    """``(pyarrow FileSystem, path inside it)`` for a URI: pyarrow's own schemes, else fsspec's.

    An unknown scheme or a missing fsspec implementation is a one-line ``ValueError``.
    """
    import pyarrow.fs as pafs

    try:
        return pafs.FileSystem.from_uri(uri)
    except Exception as pyarrow_error:  # pyarrow knows file, s3, gs, hdfs, abfs; fsspec knows many more
        try:
            import fsspec.core

            filesystem, path = fsspec.core.url_to_fs(uri)
        except Exception as fsspec_error:
            reason = str(fsspec_error).splitlines()[0] if str(fsspec_error) else type(fsspec_error).__name__
            first = str(pyarrow_error).splitlines()[0]
            raise ValueError(f"cannot open feature store {uri!r}: {first}; {reason}") from None
        return pafs.PyFileSystem(pafs.FSSpecHandler(filesystem)), path


def single_put_is_atomic(filesystem: Any) -> bool:
    """Whether writes to ``filesystem`` appear whole on close (object stores), so no temp+rename is needed."""
    kind = filesystem.type_name
    if kind.startswith("py::fsspec+"):
        protocols = kind.removeprefix("py::fsspec+").strip("()").replace("'", "").replace(" ", "")
        return any(p in OBJECT_STORES for p in protocols.split(","))
    return kind in OBJECT_STORES


class FeatureStore:
    """Features keyed by extractor cache key and image sha256, in a folder or under a filesystem URI.

    ``root`` is a local path (default: :func:`default_cache_dir`) or a URI; alternatively pass a
    configured ``pyarrow.fs.FileSystem`` (credentials, endpoint) as ``filesystem`` with ``root`` a path
    inside it. The store pickles without its in-memory index, so it can be handed to worker processes.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *, filesystem: Any = None) -> None:
        if filesystem is not None:
            self.root: Path | str = str(root or "")
            self._fs, base = filesystem, str(root or "")
        elif root is not None and is_uri(root):
            self.root = str(root)
            self._fs, base = open_filesystem(str(root))
        else:
            import pyarrow.fs as pafs

            self.root = Path(root) if root is not None else default_cache_dir()
            # absolute, so worker processes with another working directory address the same folder
            self._fs, base = pafs.LocalFileSystem(), str(self.root.absolute())
        self._base = base.rstrip("/")
        self._local = self._fs.type_name == "local"
        self._single_put = single_put_is_atomic(self._fs)
        self._index: dict[str, dict[str, tuple[str, int]]] = {}
        self._reported: set[tuple[str, str]] = set()  # (cache key, chunk) already warned about

    @property
    def is_local(self) -> bool:
        """Whether the store is on this machine's filesystem (a local or network-mounted folder)."""
        return self._local

    def __getstate__(self) -> dict[str, Any]:
        # the index is rebuilt (or filled) where it is used, and warnings are per store object
        return {**self.__dict__, "_index": {}, "_reported": set()}

    # -- paths and raw I/O ------------------------------------------------------------------------

    def _dir(self, cache_key: str) -> str:
        if not cache_key or "/" in cache_key or "\\" in cache_key or cache_key.startswith("."):
            raise ValueError(f"invalid cache key {cache_key!r}")
        return f"{self._base}/{cache_key}" if self._base else cache_key

    def _files(self, directory: str) -> list[Any]:
        """``pyarrow.fs.FileInfo`` of the files directly in ``directory`` (none if it does not exist)."""
        import pyarrow.fs as pafs

        selector = pafs.FileSelector(directory, allow_not_found=True)
        infos = self._fs.get_file_info(selector)
        return sorted((i for i in infos if i.type == pafs.FileType.File), key=lambda i: i.path)

    def _open(self, path: str) -> Any:
        """A seekable binary file: read lazily on local disks, in one request from remote stores."""
        if self._local:
            return self._fs.open_input_file(path)
        with self._fs.open_input_stream(path) as stream:
            return io.BytesIO(stream.read())

    def _read(self, path: str) -> bytes:
        """The whole file, in one read (one request on remote stores)."""
        with self._fs.open_input_stream(path) as stream:
            return stream.read()

    def _exists(self, path: str) -> bool:
        import pyarrow.fs as pafs

        return self._fs.get_file_info(path).type == pafs.FileType.File

    def _write(self, path: str, data: bytes) -> None:
        """Write ``data`` so that readers see the whole file or nothing."""
        if self._local:
            atomic_write_bytes(path, data)  # temp file, fsync, rename
            return
        if self._single_put:
            with self._fs.open_output_stream(path) as out:
                out.write(data)
            return
        directory, _, name = path.rpartition("/")
        self._fs.create_dir(directory, recursive=True)
        temporary = f"{directory}/.{name}.{uuid.uuid4().hex}.tmp"
        try:
            with self._fs.open_output_stream(temporary) as out:
                out.write(data)
            self._fs.move(temporary, path)
        except BaseException:
            if self._exists(temporary):
                self._fs.delete_file(temporary)
            raise

    # -- the store --------------------------------------------------------------------------------

    def _load_chunk(self, cache_key: str, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``(sha256, X)`` of a verified chunk; None, after setting it aside, if it is damaged or gone."""
        path = f"{self._dir(cache_key)}/{name}"
        try:
            data = self._read(path)
        except FileNotFoundError:
            self._forget(cache_key, name)  # removed meanwhile (cleared, or set aside by another process)
            return None
        except OSError as err:
            # unreadable now (permissions, network) is not damage: skip it, but leave the file alone
            self._report(cache_key, name, f"cannot be read ({_one_line(err)}); its entries will be redone")
            self._forget(cache_key, name)
            return None
        try:
            return read_chunk(data)
        except Exception as err:  # anything a hostile or damaged file can provoke in the zip or npy readers
            self._set_aside(cache_key, name, _one_line(err))
            return None

    def _set_aside(self, cache_key: str, name: str, reason: str) -> None:
        """Rename a damaged chunk so no index reads it again, forget its entries, and warn once."""
        path = f"{self._dir(cache_key)}/{name}"
        try:
            self._fs.move(path, path + DAMAGED_SUFFIX)
            where = f"set aside as {name}{DAMAGED_SUFFIX}"
        except OSError as err:  # a read-only store: it stays, but out of this object's index
            where = f"could not be set aside ({_one_line(err)})"
        self._report(cache_key, name, f"is damaged ({reason}); {where}; its entries will be recomputed")
        self._forget(cache_key, name)

    def _report(self, cache_key: str, name: str, what: str) -> None:
        if (cache_key, name) not in self._reported:
            self._reported.add((cache_key, name))
            logger.warning("feature store chunk %s/%s %s", self._dir(cache_key), name, what)

    def _forget(self, cache_key: str, name: str) -> None:
        index = self._index.get(cache_key)
        if index is not None:
            for digest in [d for d, (chunk, _) in index.items() if chunk == name]:
                del index[digest]

    def index(self, cache_key: str) -> dict[str, tuple[str, int]]:
        """``sha256 -> (chunk file name, row)`` for every stored entry of ``cache_key``.

        Each chunk is read once, in full, and verified (:func:`read_chunk`); a damaged one is set aside
        and its entries are left out, so they count as missing.
        """
        if cache_key not in self._index:
            entries: dict[str, tuple[str, int]] = {}
            for info in self._files(self._dir(cache_key)):
                name = info.base_name
                if not (name.startswith("chunk-") and name.endswith(".npz")):
                    continue
                chunk = self._load_chunk(cache_key, name)
                if chunk is None:
                    continue
                for row, digest in enumerate(chunk[0].tolist()):
                    entries.setdefault(digest, (name, row))
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
    ) -> str | None:
        """Store ``(n, n_features)`` features for ``n`` image hashes as one atomic chunk; return its name."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or len(X) != len(hashes):
            raise ValueError(f"features of shape {X.shape} do not match {len(hashes)} hashes")
        bad = next((h for h in hashes if not is_image_hash(h)), None)
        if bad is not None:  # the index would refuse the chunk, so refuse to write it
            raise ValueError(f"image hash {str(bad)[:70]!r} is not a 64-character hex sha256")
        directory = self._dir(cache_key)
        if meta is not None and not self._exists(f"{directory}/meta.json"):
            self._write(f"{directory}/meta.json", json.dumps(meta, indent=2, default=str).encode())
        if not len(hashes):
            return None
        buffer = io.BytesIO()
        np.savez(buffer, sha256=np.asarray(hashes, dtype="<U64"), X=X)
        name = f"chunk-{uuid.uuid4().hex}.npz"
        self._write(f"{directory}/{name}", buffer.getvalue())
        self.add_chunk(cache_key, name, hashes)
        return name

    def add_chunk(self, cache_key: str, name: str, hashes: Sequence[str]) -> None:
        """Record a chunk ``name`` holding ``hashes`` (in row order) in this object's index, if loaded.

        Other processes (pool or cluster workers) write chunks with their own store objects and report
        the names; recording them spares this one a re-listing of the store. An index not loaded yet is
        left alone: it will find the chunk when it lists the store.
        """
        index = self._index.get(cache_key)
        if index is None:
            return
        for row, digest in enumerate(hashes):
            index.setdefault(digest, (name, row))

    def absent_chunks(self, cache_key: str, names: Iterable[str]) -> list[str]:
        """The chunk ``names`` this process cannot see (e.g. written by a machine that does not share it)."""
        import pyarrow.fs as pafs

        names = list(names)
        directory = self._dir(cache_key)
        infos = self._fs.get_file_info([f"{directory}/{name}" for name in names]) if names else []
        return [name for name, info in zip(names, infos) if info.type != pafs.FileType.File]

    def get(self, cache_key: str, hashes: Sequence[str]) -> np.ndarray:
        """``(len(hashes), n_features)`` float32 features; KeyError naming the first missing hash.

        A chunk damaged (or removed) since it was indexed is set aside and raises
        :class:`DamagedChunkError`, a ``KeyError``: its entries are then missing and a re-run recomputes them.
        """
        index = self.index(cache_key)
        by_chunk: dict[str, list[tuple[int, int, str]]] = {}
        for position, digest in enumerate(hashes):
            if digest not in index:
                raise KeyError(f"no features for image {digest[:12]}… under {cache_key}")
            chunk, row = index[digest]
            by_chunk.setdefault(chunk, []).append((position, row, digest))
        out: np.ndarray | None = None
        for chunk, triples in by_chunk.items():
            X = self._verified(cache_key, chunk, triples)
            if out is None:
                out = np.empty((len(hashes), X.shape[1]), dtype=np.float32)
            elif X.shape[1] != out.shape[1]:
                reason = f"{X.shape[1]} features where other chunks have {out.shape[1]}"
                self._set_aside(cache_key, chunk, reason)
                raise DamagedChunkError(
                    f"feature store chunk {chunk} under {cache_key} has {reason}; "
                    "it was set aside, run again to recompute its entries"
                )
            positions, rows, _ = zip(*triples)
            out[list(positions)] = X[list(rows)]
        return out if out is not None else np.empty((0, 0), dtype=np.float32)

    def _verified(self, cache_key: str, chunk: str, triples: list[tuple[int, int, str]]) -> np.ndarray:
        """The chunk's ``(n, n_features)`` X, checked to still hold the indexed hashes at the indexed rows."""
        loaded = self._load_chunk(cache_key, chunk)
        if loaded is not None:
            stored, X = loaded
            if all(row < len(stored) and stored[row] == digest for _, row, digest in triples):
                return X
            self._set_aside(cache_key, chunk, "its rows no longer hold the images it was indexed with")
        raise DamagedChunkError(
            f"feature store chunk {chunk} under {cache_key} was damaged or removed after it was indexed; "
            "it was set aside, run again to recompute its entries"
        )

    def meta(self, cache_key: str) -> dict[str, Any] | None:
        """The extractor description stored with ``cache_key``, if any."""
        path = f"{self._dir(cache_key)}/meta.json"
        if not self._exists(path):
            return None
        with self._open(path) as handle:
            return json.loads(handle.read())

    def _keys(self) -> list[str]:
        import pyarrow.fs as pafs

        selector = pafs.FileSelector(self._base, allow_not_found=True)
        infos = self._fs.get_file_info(selector)
        # names starting with "_" are reserved (fitted models live in "_models")
        names = [i.base_name for i in infos if i.type == pafs.FileType.Directory]
        return sorted(name for name in names if not name.startswith("_"))

    @property
    def models_dir(self) -> Path | None:
        """Where fitted detectors are cached beside the features (local stores only), else None."""
        return Path(self._base) / MODELS_DIR if self._local else None

    def info(self) -> list[dict[str, Any]]:
        """One row per cache key: extractor, entries, chunks and bytes stored."""
        rows = []
        for key in self._keys():
            files = self._files(self._dir(key))
            meta = self.meta(key) or {}
            rows.append(
                {
                    "cache_key": key,
                    "extractor": meta.get("name"),
                    "entries": len(self.index(key)),
                    "chunks": sum(
                        1 for f in files if f.base_name.startswith("chunk-") and f.base_name.endswith(".npz")
                    ),
                    "bytes": sum(f.size for f in files),
                }
            )
        return rows

    def clear(self, cache_key: str | None = None) -> int:
        """Delete every entry (or those of one cache key); return the number of files removed."""
        import pyarrow.fs as pafs

        keys = [cache_key] if cache_key else self._keys()
        removed = 0
        if cache_key is None and self.models_dir is not None and self.models_dir.is_dir():
            import shutil

            removed += sum(1 for p in self.models_dir.rglob("*") if p.is_file())
            shutil.rmtree(self.models_dir)
        for key in keys:
            directory = self._dir(key)
            if self._fs.get_file_info(directory).type == pafs.FileType.Directory:
                removed += len(self._files(directory))
                self._fs.delete_dir(directory)
            self._index.pop(key, None)
        return removed


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


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
