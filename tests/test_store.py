"""The feature store: round trips, atomic chunks, resumption, and extraction through it."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from negate_sdk.api import BaseExtractor, Sample
from negate_sdk.features import extract_features
from negate_sdk.store import FeatureStore, MemoryFeatureStore


class CountingMeans(BaseExtractor):
    """Channel means; counts how many images it was asked to transform (class-level, per process)."""

    name = "counting_means"
    version = "1"
    calls = 0

    def feature_names(self):
        return ["r", "g", "b"]

    def transform(self, samples):
        CountingMeans.calls += len(samples)
        return np.array([s.pixels.reshape(-1, 3).mean(0) for s in samples], dtype=np.float32).reshape(-1, 3)


def h(name):
    """A stand-in image hash: the store keys entries by 64-hex sha256 only."""
    return hashlib.sha256(name.encode()).hexdigest()


def images(n, seed=0):
    rng = np.random.default_rng(seed)
    return [
        Sample.from_array(rng.integers(0, 256, (9, 11, 3), dtype=np.uint8), id=f"img{i}") for i in range(n)
    ]


@pytest.mark.parametrize("make_store", [lambda tmp: FeatureStore(tmp), lambda tmp: MemoryFeatureStore()])
def test_put_get_round_trip_and_missing(tmp_path, make_store):
    store = make_store(tmp_path)
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    store.put("key-1", [h("a"), h("b"), h("c"), h("d")], X)
    assert store.missing("key-1", [h("d"), h("e"), h("a"), h("e"), h("f")]) == [h("e"), h("f")]
    np.testing.assert_array_equal(store.get("key-1", [h("c"), h("a"), h("c")]), X[[2, 0, 2]])
    with pytest.raises(KeyError, match=f"no features for image {h('zz')[:12]}"):
        store.get("key-1", [h("a"), h("zz")])


def test_entries_survive_a_new_process_and_ignore_partial_files(tmp_path):
    store = FeatureStore(tmp_path)
    store.put("k", [h("x"), h("y")], np.ones((2, 2)), meta={"name": "demo"})
    # what a crash mid-write leaves: a temporary dot-file and a truncated chunk with another name
    (tmp_path / "k" / ".chunk-dead.npz.123.tmp").write_bytes(b"half")
    (tmp_path / "k" / "chunk-truncated.npz").write_bytes(b"PK\x03\x04 truncated")
    fresh = FeatureStore(tmp_path)
    assert fresh.missing("k", [h("x"), h("y"), h("z")]) == [h("z")]
    np.testing.assert_array_equal(fresh.get("k", [h("y")]), [[1, 1]])
    assert fresh.meta("k") == {"name": "demo"}
    (info,) = fresh.info()
    assert (info["cache_key"], info["extractor"], info["entries"]) == ("k", "demo", 2)
    # the truncated chunk was set aside (renamed, not deleted); clear() removes it with the rest
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "k").iterdir()) == [
        ".chunk",
        "chunk",
        "chunk",
        "meta.json",
    ]
    assert fresh.clear() == 4 and fresh.info() == []


def test_extraction_is_done_once_per_image_and_extractor(tmp_path):
    store = FeatureStore(tmp_path)
    samples = images(10)
    CountingMeans.calls = 0
    first = extract_features([CountingMeans()], samples, store=store, chunk_size=3)
    assert CountingMeans.calls == 10
    again = extract_features([CountingMeans()], [*samples, *images(2, seed=1)], store=FeatureStore(tmp_path))
    assert CountingMeans.calls == 12  # only the two new images
    np.testing.assert_array_equal(again.X[:10], first.X)
    expected = np.array([s.pixels.reshape(-1, 3).mean(0) for s in samples], dtype=np.float32)
    np.testing.assert_allclose(first.X, expected, rtol=1e-6)


def test_duplicates_are_extracted_once_and_bad_files_set_aside(tmp_path):
    good = images(3)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    samples = [good[0], Sample.from_path(bad), good[1], good[0], good[2]]
    CountingMeans.calls = 0
    result = extract_features([CountingMeans()], samples)
    assert CountingMeans.calls == 3
    assert result.ok.tolist() == [True, False, True, True, True]
    assert result.failures == {1: "not a supported image (unrecognised format)"}
    np.testing.assert_array_equal(result.X[0], result.X[2])  # the duplicate of image 0
    assert result.feature_names == ["counting_means__r", "counting_means__g", "counting_means__b"]


def test_parallel_extraction_equals_serial(tmp_path):
    paths = []
    for i, sample in enumerate(images(12, seed=4)):
        path = tmp_path / f"{i}.png"
        path.write_bytes(sample.data)
        paths.append(path)
    serial = extract_features([CountingMeans()], [Sample.from_path(p) for p in paths], chunk_size=4)
    parallel = extract_features(
        [CountingMeans()],
        [Sample.from_path(p) for p in paths],
        chunk_size=4,
        n_jobs=2,
        store=FeatureStore(tmp_path / "s"),
    )
    np.testing.assert_array_equal(parallel.X, serial.X)


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from negate_sdk.api import BaseExtractor, Sample
    from negate_sdk.features import extract_features
    from negate_sdk.store import FeatureStore

    class Slow(BaseExtractor):
        name = "slow"
        version = "1"
        def feature_names(self):
            return ["mean"]
        def transform(self, samples):
            time.sleep(0.15)
            return np.array([[s.pixels.mean()] for s in samples], dtype=np.float32).reshape(-1, 1)

    rng = np.random.default_rng(0)
    samples = [Sample.from_array(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)) for _ in range(200)]
    extract_features([Slow()], samples, store=FeatureStore(sys.argv[1]), chunk_size=2)
    """
)


def test_a_killed_extraction_resumes_from_complete_chunks(tmp_path):
    script = tmp_path / "extract.py"
    script.write_text(KILL_SCRIPT)
    store_dir = tmp_path / "store"
    process = subprocess.Popen([sys.executable, str(script), str(store_dir)])
    deadline = time.time() + 60
    while time.time() < deadline and len(list((store_dir / "").glob("slow-*/chunk-*.npz"))) < 5:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    (key_dir,) = list(store_dir.glob("slow-*"))
    chunks = list(key_dir.glob("chunk-*.npz"))
    assert 5 <= len(chunks) < 100
    store = FeatureStore(store_dir)
    index = store.index(key_dir.name)
    assert len(index) == 2 * len(chunks)  # every chunk on disk is whole
    rng = np.random.default_rng(0)
    samples = [Sample.from_array(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)) for _ in range(200)]
    assert len(store.missing(key_dir.name, [s.sha256 for s in samples])) == 200 - len(index)
    stored = store.get(key_dir.name, list(index))
    by_hash = {s.sha256: s.pixels.mean() for s in samples}
    np.testing.assert_allclose(stored[:, 0], [by_hash[h] for h in index], rtol=1e-6)


def test_concurrent_writers_share_one_store(tmp_path):
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        pool.starmap(_write_half, [(str(tmp_path), 0), (str(tmp_path), 1)])
    store = FeatureStore(tmp_path)
    assert len(store.index("shared")) == 20
    np.testing.assert_array_equal(store.get("shared", [h("h7"), h("h13")]), [[7.0], [13.0]])


def _write_half(root, half):
    store = FeatureStore(root)
    for i in range(half * 10, half * 10 + 10):
        store.put("shared", [h(f"h{i}")], np.array([[float(i)]]))
    return os.getpid()


def test_a_file_uri_and_a_path_name_the_same_store(tmp_path):
    by_path = FeatureStore(tmp_path)
    name = by_path.put("k", [h("a"), h("b")], np.array([[1.0, 2.0], [3.0, 4.0]]), meta={"name": "demo"})
    by_uri = FeatureStore(f"file://{tmp_path}")
    assert by_uri.root == f"file://{tmp_path}" and by_uri.is_local
    np.testing.assert_array_equal(by_uri.get("k", [h("b"), h("a")]), [[3, 4], [1, 2]])
    by_uri.put("k", [h("c")], np.array([[5.0, 6.0]]))
    assert FeatureStore(tmp_path).missing("k", [h("a"), h("b"), h("c"), h("d")]) == [h("d")]
    assert by_uri.absent_chunks("k", [name, "chunk-never-written.npz"]) == ["chunk-never-written.npz"]
    assert [f.name for f in (tmp_path / "k").iterdir() if f.name.startswith(".")] == []  # no temp files left


def memory_filesystem():
    import fsspec
    import pyarrow.fs as pafs

    return pafs.PyFileSystem(pafs.FSSpecHandler(fsspec.filesystem("memory")))


def test_an_object_store_is_written_with_single_puts_and_the_store_pickles_without_its_index():
    import pickle
    import uuid

    import fsspec

    bucket = f"negate-test-{uuid.uuid4().hex}"
    store = FeatureStore(f"memory://{bucket}/features")  # fsspec's in-process object store
    assert not store.is_local
    X = np.arange(6, dtype=np.float32).reshape(3, 2)
    store.put("key", [h("h1"), h("h2"), h("h3")], X, meta={"name": "demo"})
    objects = fsspec.filesystem("memory").ls(f"/{bucket}/features/key", detail=False)
    names = sorted(p.rsplit("/", 1)[-1] for p in objects)
    assert names[0].startswith("chunk-") and names[1:] == ["meta.json"]  # no temporary objects, no renames
    assert store.missing("key", [h("h1"), h("h4")]) == [h("h4")]  # loads this object's index
    copy = pickle.loads(pickle.dumps(store))
    assert copy._index == {} and set(store._index["key"]) == {h("h1"), h("h2"), h("h3")}
    np.testing.assert_array_equal(copy.get("key", [h("h3"), h("h1")]), X[[2, 0]])
    (info,) = copy.info()
    assert (info["cache_key"], info["extractor"], info["entries"], info["chunks"]) == ("key", "demo", 3, 1)
    assert copy.clear() == 2 and copy.info() == []


def test_a_filesystem_without_atomic_puts_gets_temp_and_rename(tmp_path):
    import fsspec
    import pyarrow.fs as pafs

    from negate_sdk.store import single_put_is_atomic

    wrapped_local = pafs.PyFileSystem(pafs.FSSpecHandler(fsspec.filesystem("file")))
    assert not single_put_is_atomic(wrapped_local) and not single_put_is_atomic(pafs.LocalFileSystem())
    assert single_put_is_atomic(memory_filesystem())
    assert single_put_is_atomic(pafs.S3FileSystem(anonymous=True, region="us-east-1"))
    store = FeatureStore(str(tmp_path / "s"), filesystem=wrapped_local)
    store.put("k", [h("x")], np.array([[7.0]]), meta={"name": "demo"})
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "s" / "k").iterdir()) == ["chunk", "meta.json"]
    np.testing.assert_array_equal(FeatureStore(tmp_path / "s").get("k", [h("x")]), [[7.0]])


def test_an_unknown_uri_scheme_is_a_one_line_error():
    with pytest.raises(ValueError, match=r"^cannot open feature store 'nosuch://bucket/x': ") as err:
        FeatureStore("nosuch://bucket/x")
    assert "\n" not in str(err.value)
