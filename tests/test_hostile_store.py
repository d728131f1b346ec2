"""Damaged feature-store chunks: found when indexed, reported once, set aside, recomputed, never unpickled."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tracemalloc
import zipfile

import numpy as np
import pytest

from negate_sdk.api import BaseExtractor, Sample
from negate_sdk.features import extract_features
from negate_sdk.store import DAMAGED_SUFFIX, DamagedChunkError, FeatureStore, read_chunk

KEY = "demo-1"


def h(name):
    return hashlib.sha256(name.encode()).hexdigest()


def features(names, width=3):
    """Rows that identify their image: row i of image "n<k>" is k, k + 0.5, k + 0.25, … (exact in float32)."""
    return np.array([[int(n[1:]) + j / 2**j for j in range(width)] for n in names], dtype=np.float32)


GROUPS = [["n0", "n1", "n2"], ["n3", "n4"], ["n5", "n6", "n7", "n8"]]


def three_chunks(root):
    """A store with three good chunks; returns ``(chunk names, chunk paths)`` in group order."""
    store = FeatureStore(root)
    names = [
        store.put(KEY, [h(n) for n in group], features(group), meta={"name": "demo"}) for group in GROUPS
    ]
    return names, [root / KEY / name for name in names]


def member_data_offset(data: bytes, member: str) -> tuple[int, int]:
    """``(offset, size)`` of a stored member's bytes inside a zip (past its local header)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(member)
    start = info.header_offset
    name_len = int.from_bytes(data[start + 26 : start + 28], "little")
    extra_len = int.from_bytes(data[start + 28 : start + 30], "little")
    return start + 30 + name_len + extra_len, info.compress_size


def flip_last_byte(path, member):
    data = bytearray(path.read_bytes())
    offset, size = member_data_offset(bytes(data), member)
    data[offset + size - 1] ^= 0x01  # inside the array's data: only the CRC can tell
    path.write_bytes(bytes(data))


def npz(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


class Planted:
    """Unpickling this would create the directory ``marker``: proof that a pickle was loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def damage_truncate(path, tmp_path):
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    return "BadZipFile: File is not a zip file"


def damage_x(path, tmp_path):
    flip_last_byte(path, "X.npy")
    return "BadZipFile: Bad CRC-32 for file 'X.npy'"


def damage_sha256(path, tmp_path):
    flip_last_byte(path, "sha256.npy")
    return "BadZipFile: Bad CRC-32 for file 'sha256.npy'"


def damage_rows(path, tmp_path):
    group = GROUPS[1]
    path.write_bytes(npz(sha256=np.asarray([h(n) for n in group]), X=features([*group, "n9"])))
    return "ValueError: X.npy has 3 rows for 2 hashes"


def damage_zero_bytes(path, tmp_path):
    path.write_bytes(b"")
    return "BadZipFile: File is not a zip file"


def damage_not_npz(path, tmp_path):
    path.write_text("this is a text file someone named chunk-something.npz\n")
    return "BadZipFile: File is not a zip file"


def damage_pickle(path, tmp_path):
    marker = str(tmp_path / "unpickled")
    hashes = np.empty(2, dtype=object)
    hashes[:] = [Planted(marker), h("n4")]
    path.write_bytes(npz(sha256=hashes, X=features(GROUPS[1])))  # np.savez pickles object arrays
    return "ValueError: sha256.npy holds Python objects (a pickle), which are never loaded"


DAMAGES = {
    "truncated": damage_truncate,
    "flipped byte in X": damage_x,
    "flipped byte in sha256": damage_sha256,
    "wrong row count": damage_rows,
    "zero bytes": damage_zero_bytes,
    "not an npz": damage_not_npz,
    "pickled object array": damage_pickle,
}


def store_warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "negate_sdk.store"]


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_chunk_is_set_aside_reported_once_and_recomputed(damage, tmp_path, caplog):
    names, paths = three_chunks(tmp_path / "store")
    reason = DAMAGES[damage](paths[1], tmp_path)
    caplog.set_level(logging.WARNING, logger="negate_sdk.store")
    store = FeatureStore(tmp_path / "store")
    everything = [h(n) for group in GROUPS for n in group]
    # exactly the damaged chunk's images are missing; the others are intact, value for value
    assert store.missing(KEY, everything) == [h("n3"), h("n4")]
    intact = [*GROUPS[0], *GROUPS[2]]
    np.testing.assert_array_equal(store.get(KEY, [h(n) for n in intact]), features(intact))
    # one warning, naming the chunk and the reason, however often the store is asked
    store.missing(KEY, everything)
    store.index(KEY)
    (message,) = store_warnings(caplog)
    assert message == (
        f"feature store chunk {tmp_path / 'store' / KEY}/{names[1]} is damaged ({reason}); "
        f"set aside as {names[1]}{DAMAGED_SUFFIX}; its entries will be recomputed"
    )
    # the file is renamed, not deleted, and a new store object neither sees it nor warns again
    assert not paths[1].exists() and paths[1].with_name(names[1] + DAMAGED_SUFFIX).is_file()
    assert FeatureStore(tmp_path / "store").missing(KEY, everything) == [h("n3"), h("n4")]
    assert len(store_warnings(caplog)) == 1
    (info,) = store.info()  # the set-aside file is no chunk, and its entries are not counted
    assert (info["entries"], info["chunks"]) == (7, 2)
    # the normal extraction path (missing, put, get) recomputes them
    store.put(KEY, [h("n3"), h("n4")], features(GROUPS[1]))
    np.testing.assert_array_equal(store.get(KEY, everything), features([n for g in GROUPS for n in g]))
    assert not (tmp_path / "unpickled").exists()  # the planted pickle never ran


class Means(BaseExtractor):
    """Channel means; counts the images it transforms."""

    name = "hostile_means"
    version = "1"
    calls = 0

    def feature_names(self):
        return ["r", "g", "b"]

    def transform(self, samples):
        Means.calls += len(samples)
        return np.array([s.pixels.reshape(-1, 3).mean(0) for s in samples], dtype=np.float32).reshape(-1, 3)


def test_extraction_recomputes_exactly_the_entries_of_a_damaged_chunk(tmp_path, caplog):
    rng = np.random.default_rng(3)
    samples = [Sample.from_array(rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)) for _ in range(10)]
    Means.calls = 0
    first = extract_features([Means()], samples, store=FeatureStore(tmp_path), chunk_size=4)
    (key_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    chunks = sorted(key_dir.glob("chunk-*.npz"))
    sizes = [len(read_chunk(p.read_bytes())[0]) for p in chunks]
    assert sorted(sizes) == [2, 4, 4] and Means.calls == 10
    flip_last_byte(chunks[0], "X.npy")
    caplog.set_level(logging.WARNING, logger="negate_sdk.store")
    again = extract_features([Means()], samples, store=FeatureStore(tmp_path), chunk_size=4)
    assert Means.calls == 10 + sizes[0]  # only the damaged chunk's images were extracted again
    np.testing.assert_array_equal(again.X, first.X)
    assert len(store_warnings(caplog)) == 1 and chunks[0].name in store_warnings(caplog)[0]


def test_a_chunk_damaged_after_indexing_raises_a_one_line_key_error_then_recomputes(tmp_path, caplog):
    names, paths = three_chunks(tmp_path)
    store = FeatureStore(tmp_path)
    assert store.missing(KEY, [h("n0"), h("n5")]) == []  # indexed while whole
    flip_last_byte(paths[2], "X.npy")
    caplog.set_level(logging.WARNING, logger="negate_sdk.store")
    with pytest.raises(DamagedChunkError) as err:
        store.get(KEY, [h("n0"), h("n6")])
    assert isinstance(err.value, KeyError)
    assert str(err.value) == (
        f"feature store chunk {names[2]} under {KEY} was damaged or removed after it was indexed; "
        "it was set aside, run again to recompute its entries"
    )
    (message,) = store_warnings(caplog)
    assert f"{names[2]} is damaged (BadZipFile: Bad CRC-32 for file 'X.npy')" in message
    # the same object now treats those entries as missing, and the others as intact
    assert store.missing(KEY, [h(n) for n in GROUPS[2]] + [h("n0")]) == [h(n) for n in GROUPS[2]]
    np.testing.assert_array_equal(store.get(KEY, [h("n1")]), features(["n1"]))
    store.put(KEY, [h(n) for n in GROUPS[2]], features(GROUPS[2]))
    np.testing.assert_array_equal(store.get(KEY, [h("n6"), h("n0")]), features(["n6", "n0"]))
    assert len(store_warnings(caplog)) == 1


def test_a_chunk_swapped_for_another_valid_chunk_after_indexing_is_caught(tmp_path, caplog):
    names, paths = three_chunks(tmp_path)
    store = FeatureStore(tmp_path)
    store.index(KEY)
    # a whole, valid chunk whose rows hold other images than the index says
    paths[0].write_bytes(npz(sha256=np.asarray([h("z0"), h("z1"), h("z2")]), X=features(["n7", "n7", "n7"])))
    caplog.set_level(logging.WARNING, logger="negate_sdk.store")
    with pytest.raises(DamagedChunkError):
        store.get(KEY, [h("n1")])
    (message,) = store_warnings(caplog)
    assert message.endswith(
        f"{names[0]} is damaged (its rows no longer hold the images it was indexed with); "
        f"set aside as {names[0]}{DAMAGED_SUFFIX}; its entries will be recomputed"
    )


def test_a_chunk_removed_after_indexing_is_a_key_error_without_a_warning(tmp_path, caplog):
    names, paths = three_chunks(tmp_path)
    store = FeatureStore(tmp_path)
    store.index(KEY)
    paths[0].unlink()
    caplog.set_level(logging.WARNING, logger="negate_sdk.store")
    with pytest.raises(
        DamagedChunkError, match=f"^feature store chunk {names[0]} under {KEY} was damaged or"
    ):
        store.get(KEY, [h("n1")])
    assert store_warnings(caplog) == [] and store.missing(KEY, [h("n1"), h("n3")]) == [h("n1")]


def test_put_refuses_keys_that_are_not_sha256(tmp_path):
    with pytest.raises(ValueError, match=r"^image hash 'a/../b' is not a 64-character hex sha256$"):
        FeatureStore(tmp_path).put(KEY, ["a/../b"], np.ones((1, 2)))
    assert not (tmp_path / KEY).exists()


def test_a_remote_store_sets_a_damaged_chunk_aside_too(caplog):
    import uuid

    import fsspec

    root = f"memory://negate-hostile-{uuid.uuid4().hex}/features"
    store = FeatureStore(root)
    names = [store.put(KEY, [h(n) for n in group], features(group)) for group in GROUPS]
    memory = fsspec.filesystem("memory")
    damaged = f"{root.removeprefix('memory:/')}/{KEY}/{names[0]}"
    memory.pipe(damaged, memory.cat(damaged)[:-7])
    caplog.set_level(logging.WARNING, logger="negate_sdk.store")
    fresh = FeatureStore(root)
    assert fresh.missing(KEY, [h("n0"), h("n3"), h("n8")]) == [h("n0")]
    np.testing.assert_array_equal(fresh.get(KEY, [h("n8"), h("n3")]), features(["n8", "n3"]))
    assert memory.exists(damaged + DAMAGED_SUFFIX) and not memory.exists(damaged)
    assert len(store_warnings(caplog)) == 1


def test_indexing_reads_each_chunk_once_with_memory_bounded_by_a_chunk(tmp_path, monkeypatch):
    rows, width, n_chunks = 128, 256, 12
    store = FeatureStore(tmp_path)
    for c in range(n_chunks):
        group = [f"n{c * rows + i}" for i in range(rows)]
        store.put(KEY, [h(n) for n in group], np.zeros((rows, width), np.float32))
    chunk_bytes = max(p.stat().st_size for p in (tmp_path / KEY).glob("chunk-*.npz"))
    reads = []
    original = FeatureStore._read
    monkeypatch.setattr(FeatureStore, "_read", lambda self, path: reads.append(path) or original(self, path))
    fresh = FeatureStore(tmp_path)
    tracemalloc.start()
    index = fresh.index(KEY)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(index) == rows * n_chunks
    assert len(reads) == n_chunks == len(set(reads))  # each chunk read once, in one piece
    # one chunk's bytes, its two members and the index of 1,536 hashes: never the whole store (12 chunks)
    assert peak < 3 * chunk_bytes + 1_000_000, (peak, chunk_bytes)


def test_extraction_recovers_in_the_same_run_from_a_chunk_damaged_after_indexing(tmp_path, caplog):
    rng = np.random.default_rng(4)
    samples = [Sample.from_array(rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)) for _ in range(10)]
    store = FeatureStore(tmp_path)
    Means.calls = 0
    first = extract_features([Means()], samples, store=store, chunk_size=4)  # this object's index is loaded
    (key_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    damaged = sorted(key_dir.glob("chunk-*.npz"))[0]
    n_damaged = len(read_chunk(damaged.read_bytes())[0])
    flip_last_byte(damaged, "X.npy")  # after indexing: only reading the rows finds it
    caplog.set_level(logging.WARNING)
    again = extract_features([Means()], samples, store=store, chunk_size=4)
    np.testing.assert_array_equal(again.X, first.X)
    assert Means.calls == 10 + n_damaged  # the damaged chunk's images, extracted again in the same call
    assert any("recomputing its entries" in r.getMessage() for r in caplog.records)
