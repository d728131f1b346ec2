"""The core of published detectors: pinned URLs downloaded once and checked, native-resolution crops, and
the temporal protocol on a generator table the test makes."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from negate_sdk.bench import protocols
from negate_sdk.manifests import resolve_dataset
from negate_sdk.runtime.views import ViewSpec, center_crop_pad, make_views
from negate_sdk.runtime.weights import WeightsCfg, WeightsUnavailableError, resolve_weights


@pytest.fixture
def served(tmp_path):
    """A loopback HTTP server over ``tmp_path/www``; yields ``(folder, base URL, request log)``."""
    folder = tmp_path / "www"
    folder.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_port}", requests
    server.shutdown()


def test_a_pinned_url_is_downloaded_once_and_a_wrong_sha256_is_refused(served, tmp_path, monkeypatch):
    folder, base, requests = served
    payload = b"weights " * 1000
    (folder / "head.pth").write_bytes(payload)
    monkeypatch.setenv("NEGATE_WEIGHTS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NEGATE_WEIGHTS_DIR", raising=False)
    cfg = WeightsCfg(name="toy", url=f"{base}/head.pth", sha256=hashlib.sha256(payload).hexdigest())
    first = resolve_weights(cfg, allow_download=True)
    assert first.source == "url" and first.path.read_bytes() == payload
    assert first.path == tmp_path / "cache" / "toy" / "head.pth"
    again = resolve_weights(cfg, allow_download=False)  # offline now: the cache serves it
    assert again.source == "url_cache" and len(requests) == 1
    wrong = cfg.replace(name="wrong", sha256="0" * 64)
    with pytest.raises(WeightsUnavailableError, match="do not match the pinned sha256 000000000000…"):
        resolve_weights(wrong, allow_download=True)
    assert not (tmp_path / "cache" / "wrong").exists() or not any((tmp_path / "cache" / "wrong").iterdir())
    with pytest.raises(WeightsUnavailableError, match="only downloaded with its sha256 pinned"):
        resolve_weights(cfg.replace(name="unpinned", sha256=None), allow_download=True)


def test_weights_dir_serves_a_pinned_file_offline(tmp_path, monkeypatch):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "head.pth").write_bytes(b"abc")
    monkeypatch.setenv("NEGATE_WEIGHTS_DIR", str(tmp_path))
    cfg = WeightsCfg(name="toy", url="https://example.invalid/x/head.pth", filename="head.pth",
                     sha256=hashlib.sha256(b"abc").hexdigest())  # fmt: skip
    assert resolve_weights(cfg, allow_download=False).source == "weights_dir"
    with pytest.raises(WeightsUnavailableError, match="do not match the expected sha256"):
        resolve_weights(cfg.replace(sha256="f" * 64), allow_download=False)


@pytest.mark.parametrize("shape", [(300, 280), (301, 257), (224, 224), (200, 500), (101, 99)])
def test_native_crop_matches_torchvision_center_crop(shape):
    torchvision = pytest.importorskip("torchvision.transforms")
    rng = np.random.default_rng(sum(shape))
    pixels = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    expected = np.asarray(torchvision.CenterCrop(224)(Image.fromarray(pixels)))
    np.testing.assert_array_equal(center_crop_pad(pixels, 224), expected)
    np.testing.assert_array_equal(make_views(pixels, ViewSpec(224, 1.0, resize=False))[0], expected)


def write_generator_table(path: Path) -> Path:
    """A generator table of four generators with release dates, and one without."""
    entries = {"none": None, "unknown": None, "gan-a": "2018-01-10", "diff-b": "2022-08-22",
               "flow-c": "2024-08-01", "api-d": "2025-03", "mystery": None}  # fmt: skip
    lines = []
    for gid, date in entries.items():
        lines += [f'["{gid}"]', f'name = "{gid}"', 'family = "x"',
                  f'architecture = "{"none" if gid == "none" else "unknown"}"',
                  f'uses_clip = "{"n/a" if gid == "none" else "unknown"}"', 'evidence = "test"']  # fmt: skip
        if date:
            lines.append(f'release_date = "{date}"')
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def test_the_temporal_protocol_splits_by_release_date(tmp_path):
    table = write_generator_table(tmp_path / "generators.toml")
    rows = ["path,label,generator,source,split"]
    rng = np.random.default_rng(0)
    for gen in ("none", "gan-a", "diff-b", "flow-c", "api-d", "mystery"):
        for i in range(6):
            name = f"{gen}-{i}.png"
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(tmp_path / name)
            label = "real" if gen == "none" else "synthetic"
            rows.append(f"{name},{label},{gen},s,{'train' if i < 3 else 'test'}")
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    manifest = resolve_dataset(tmp_path / "data.csv")
    (fold,) = protocols.temporal(manifest, cutoff="2023-01-01", seed=0, generators=str(table))
    assert fold.name == "before:2023-01-01"
    assert {r.generator_id for r in fold.train} == {"none", "gan-a", "diff-b"}
    assert {r.generator_id for r in fold.test} == {"none", "flow-c", "api-d"}
    assert {r.split for r in fold.train} == {"train"} and {r.split for r in fold.test} == {"test"}
    assert [(g["generator"], g["side"]) for g in fold.info["generators"]] == [
        ("gan-a", "train"), ("diff-b", "train"), ("flow-c", "test"), ("api-d", "test")
    ]  # fmt: skip
    assert fold.info["undated_generators"] == ["mystery"] and fold.info["n_undated_rows"] == 6
    with pytest.raises(ValueError, match="not a date"):
        protocols.temporal(manifest, cutoff="2023/01/01", seed=0, generators=str(table))
    with pytest.raises(ValueError, match="needs both"):
        protocols.temporal(manifest, cutoff="2030-01-01", seed=0, generators=str(table))


def test_a_temporal_run_reports_its_generators_in_date_order(tmp_path):
    from test_bench_run import write_dataset

    from negate_sdk.bench.results import read_results
    from negate_sdk.bench.runner import RunConfig, run

    table = write_dataset(tmp_path / "data", n_per_group=6)  # generators stylegan2 (2019) and sd-1.4 (2022)
    config = RunConfig(datasets=[str(table)], detectors=["dummy"], protocol="temporal", cutoff="2021-01-01",
                       n_boot=20, use_cache=False)  # fmt: skip
    (path,) = run(config, tmp_path / "out")
    document = read_results(path)
    (fold,) = document["protocol"]["folds"]
    assert fold["protocol"] == "temporal" and fold["cutoff"] == "2021-01-01"
    assert [(g["generator"], g["side"]) for g in fold["generators"]] == [
        ("stylegan2", "train"),
        ("sd-1.4", "test"),
    ]
    (entry,) = document["runs"]
    assert set(entry["metrics"]["per_generator"]) == {"sd-1.4"}  # only the later generator is tested
