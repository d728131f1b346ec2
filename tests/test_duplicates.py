"""Byte-identical images: seeded splits keep copies together, a dataset's own split that leaks them is
reported with exact counts in every protocol's folds and in ``negate-bench validate``."""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import tracemalloc

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from negate_sdk.bench import protocols
from negate_sdk.cli.bench import build_cli
from negate_sdk.manifests import content as content_module
from negate_sdk.manifests import load_folder, load_table, resolve_dataset, validate_manifest
from negate_sdk.manifests.content import content_hashes, file_sha256
from negate_sdk.manifests.locate import dev_data_dir


def png(seed: int) -> bytes:
    """A 12×12 PNG of seeded noise: distinct seeds give distinct bytes."""
    pixels = np.random.default_rng(seed).integers(0, 256, (12, 12, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(root, relative, data):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture
def leaky(tmp_path):
    """CIFAKE-like own splits, 5 unique images per split and class, plus planted copies:

    A: train/real/a.png = test/real/a_copy.png        (straddles train and test)
    B: train/synthetic/b.png = train/synthetic/b2.png (inside train)
    C: test/real/c.png = c2.png = c3.png              (inside test, three rows)
    """
    root = tmp_path / "leaky"
    for s, split in enumerate(("train", "test")):
        for label, folder in enumerate(("real", "synthetic")):
            for i in range(5):
                put(root, f"{split}/{folder}/{i}.png", png(100 * s + 10 * label + i))
    put(root, "train/real/a.png", png(900))
    put(root, "test/real/a_copy.png", png(900))
    put(root, "train/synthetic/b.png", png(901))
    put(root, "train/synthetic/b2.png", png(901))
    for name in ("c", "c2", "c3"):
        put(root, f"test/real/{name}.png", png(902))
    return root


def test_train_test_fold_reports_what_the_own_split_leaks(leaky):
    manifest = load_folder(leaky)
    (fold,) = protocols.train_test(manifest, seed=0)
    assert (len(fold.train), len(fold.test)) == (13, 14)
    assert fold.info["duplicates"] == {
        "n_groups_within": 3,
        "n_rows_duplicated": 7,
        "train_test_overlap": 1,
        "n_test_rows_seen": 1,
        "examples": [[sha(png(900))[:12], "train/real/a.png", "test/real/a_copy.png"]],
        "sha256_from": {"manifest": 0, "computed": 27, "unavailable": 0},
    }
    assert fold.seen_in_training == frozenset({sha(png(900))})
    assert fold.info["split"] == {"leaky": "dataset"} and fold.info["groups"] == "content sha256"


def test_validate_counts_groups_rows_and_straddled_splits(leaky):
    report = validate_manifest(load_folder(leaky))
    duplicates = report.duplicates
    assert {k: v for k, v in duplicates.items() if k != "examples"} == {
        "n_groups": 3,
        "n_rows": 7,
        "extra_copies": 4,
        "straddling": {"test+train": 1},
        "train_test_overlap": 1,
        "label_conflicts": 0,
        "rows_hashed": 27,
    }
    assert duplicates["examples"][0] == {
        "sha256": sha(png(900))[:12],
        "splits": ["test", "train"],
        "sample_ids": ["test/real/a_copy.png", "train/real/a.png"],
    }
    (issue,) = [i for i in report.issues if i.code == "duplicates"]
    assert (issue.level, issue.count) == ("warning", 7)
    assert issue.message.startswith("3 group(s) of byte-identical images over 7 rows; groups across splits: ")
    assert report.ok  # a leak is a warning; the manifest itself is not wrong


def test_validate_cli_shows_duplicates_in_the_table_and_json(leaky):
    result = CliRunner().invoke(build_cli(), ["validate", "--dataset", str(leaky), "--json"])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)
    assert entry["duplicates"]["n_groups"] == 3 and entry["duplicates"]["train_test_overlap"] == 1
    text = CliRunner().invoke(build_cli(), ["validate", "--dataset", str(leaky)]).stdout
    assert "duplicates: byte-identical images" in text and "test+train 1" in text
    assert f"{sha(png(900))[:12]} in test+train: test/real/a_copy.png, train/real/a.png" in text
    strict = CliRunner().invoke(build_cli(), ["validate", "--dataset", str(leaky), "--strict"])
    assert strict.exit_code == 1  # the leak is a warning


def test_same_bytes_labelled_real_and_synthetic_is_an_error(tmp_path):
    root = tmp_path / "conflict"
    for label, folder in enumerate(("real", "synthetic")):
        for i in range(3):
            put(root, f"{folder}/{i}.png", png(10 * label + i))
    put(root, "real/x.png", png(77))
    put(root, "synthetic/x.png", png(77))
    report = validate_manifest(load_folder(root), check_files=False)
    assert report.duplicates["rows_hashed"] == 0  # nothing read, no sha256 column: nothing known
    report = validate_manifest(load_folder(root))
    assert report.duplicates["label_conflicts"] == 1 and not report.ok
    assert [i.code for i in report.errors] == ["duplicate-label-conflict"]


def write_table(root, rows):
    lines = ["path,label,generator,source,split", *(",".join(r) for r in rows)]
    (root / "data.csv").write_text("\n".join(lines) + "\n")
    return root / "data.csv"


def test_seeded_split_keeps_copies_and_repeated_rows_on_one_side(tmp_path, monkeypatch):
    root = tmp_path / "pool"
    rows = []
    for label, folder in enumerate(("real", "synthetic")):
        for i in range(10):
            put(root, f"{folder}/{i}.png", png(10 * label + i))
            rows.append((f"{folder}/{i}.png", folder, "sd-1.4" if label else "", "pool", "all"))
    for name in ("x0", "x1", "x2"):  # three names, one image: the copy of real/0
        put(root, f"real/{name}.png", png(0))
        rows.append((f"real/{name}.png", "real", "", "pool", "all"))
    rows.append(("real/5.png", "real", "", "pool", "all"))  # the same row written twice
    manifest = load_table(write_table(root, rows))
    calls = []
    monkeypatch.setattr(content_module, "file_sha256", lambda p: calls.append(p) or file_sha256(p))
    for seed in range(6):
        (fold,) = protocols.train_test(manifest, seed=seed)
        duplicates = fold.info["duplicates"]
        assert (duplicates["n_groups_within"], duplicates["n_rows_duplicated"]) == (2, 6)
        assert duplicates["train_test_overlap"] == 0 and fold.seen_in_training == frozenset()
        for group in ({"real/0.png", "real/x0.png", "real/x1.png", "real/x2.png"}, {"real/5.png"}):
            sides = {"train" for r in fold.train if r.locator in group} | {
                "test" for r in fold.test if r.locator in group
            }
            assert len(sides) == 1
    assert len(calls) == 6 * 23  # once per distinct file per fold list (the repeated row is not re-read)


def test_leave_one_generator_out_reports_per_fold(tmp_path):
    root = tmp_path / "gens"
    rows = []
    for s, split in enumerate(("train", "test")):
        for k, (kind, generator) in enumerate((("real", ""), ("g1", "sd-1.4"), ("g2", "stylegan2"))):
            for i in range(3):
                put(root, f"{split}/{kind}/{i}.png", png(100 * s + 10 * k + i))
                label = "real" if kind == "real" else "synthetic"
                rows.append((f"{split}/{kind}/{i}.png", label, generator, "gens", split))
    put(root, "test/real/copy.png", (root / "train/real/0.png").read_bytes())  # a real in both splits
    rows.append(("test/real/copy.png", "real", "", "gens", "test"))
    put(root, "test/g1/copy.png", (root / "train/g1/0.png").read_bytes())  # an sd-1.4 image in both
    rows.append(("test/g1/copy.png", "synthetic", "sd-1.4", "gens", "test"))
    folds = protocols.leave_one_generator_out(load_table(write_table(root, rows)), seed=0)
    overlap = {f.name: (f.info["duplicates"]["train_test_overlap"], len(f.seen_in_training)) for f in folds}
    # held out sd-1.4: its training has no sd-1.4 image, so only the real copy is seen; held out stylegan2:
    # its test has no sd-1.4 image, so again only the real copy
    assert overlap == {"heldout:sd-1.4": (1, 1), "heldout:stylegan2": (1, 1)}
    real_copy = hashlib.sha256((root / "train/real/0.png").read_bytes()).hexdigest()
    assert all(f.seen_in_training == {real_copy} for f in folds)


def test_cross_dataset_reports_images_of_the_test_set_seen_in_training(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for root, offset in ((first, 0), (second, 50)):
        for label, folder in enumerate(("real", "synthetic")):
            for i in range(4):
                put(root, f"{folder}/{i}.png", png(offset + 10 * label + i))
    put(second, "synthetic/borrowed.png", png(11))  # first's synthetic/1.png
    (fold,) = protocols.cross_dataset(load_folder(first), load_folder(second))
    assert fold.info["duplicates"] == {
        "n_groups_within": 1,
        "n_rows_duplicated": 2,
        "train_test_overlap": 1,
        "n_test_rows_seen": 1,
        "examples": [[sha(png(11))[:12], "synthetic/1.png", "synthetic/borrowed.png"]],
        "sha256_from": {"manifest": 0, "computed": 17, "unavailable": 0},
    }
    assert fold.seen_in_training == {sha(png(11))}


def test_results_json_carries_the_fold_duplicates(leaky, tmp_path):
    out = tmp_path / "run"
    args = [
        "run",
        "--detector",
        "dummy",
        "--dataset",
        str(leaky),
        "--output",
        str(out),
        "--no-cache",
        "--json",
    ]
    result = CliRunner().invoke(build_cli(), args)
    assert result.exit_code == 0, result.output
    (fold,) = json.loads((out / "results.json").read_text())["protocol"]["folds"]
    assert fold["duplicates"]["train_test_overlap"] == 1 and fold["duplicates"]["n_groups_within"] == 3


def test_hashing_streams_in_bounded_memory_and_never_opens_a_fifo(tmp_path):
    big = tmp_path / "big.png"
    with open(big, "wb") as handle:
        handle.truncate(64 << 20)  # 64 MiB of zeros, sparse: cheap to make
    expected = hashlib.sha256()
    for _ in range(64):
        expected.update(bytes(1 << 20))
    tracemalloc.start()
    digest = file_sha256(big)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert digest == expected.hexdigest()
    assert peak < 3 << 20, f"peak {peak / 2**20:.1f} MiB for a 64 MiB file"
    os.mkfifo(tmp_path / "pipe.png")
    start = time.perf_counter()
    assert file_sha256(tmp_path / "pipe.png") is None and file_sha256(tmp_path / "none.png") is None
    assert file_sha256(str(tmp_path / "a\x00b.png")) is None
    assert time.perf_counter() - start < 1.0


def test_rows_with_a_stated_sha256_are_not_read(tmp_path, monkeypatch):
    root = tmp_path / "stated"
    rows = []
    for label, folder in enumerate(("real", "synthetic")):
        for i in range(3):
            data = png(10 * label + i)
            put(root, f"{folder}/{i}.png", data)
            rows.append((f"{folder}/{i}.png", folder, sha(data)))
    (root / "data.csv").write_text("path,label,sha256\n" + "\n".join(",".join(r) for r in rows) + "\n")
    manifest = load_table(root / "data.csv")
    monkeypatch.setattr(content_module, "file_sha256", lambda p: pytest.fail(f"read {p}"))
    hashes = content_hashes(manifest)
    assert [hashes.of(r) for r in manifest] == [r[2] for r in rows]
    assert {hashes.origin(r) for r in manifest} == {"manifest"}


needs_dev = pytest.mark.skipif(dev_data_dir() is None, reason="the dev image sets are absent")


@needs_dev
def test_dev_cifake_has_four_images_in_both_its_train_and_test():
    """The dev README's CIFAKE copy: 8 byte-identical pairs, 4 of them across its own train/test split."""
    (fold,) = protocols.train_test(resolve_dataset("dev-cifake"), seed=0)
    duplicates = fold.info["duplicates"]
    assert (duplicates["n_groups_within"], duplicates["n_rows_duplicated"]) == (8, 16)
    assert (duplicates["train_test_overlap"], duplicates["n_test_rows_seen"]) == (4, 4)
    assert len(fold.seen_in_training) == 4
    assert duplicates["sha256_from"] == {"manifest": 8000, "computed": 0, "unavailable": 0}
    result = CliRunner().invoke(build_cli(), ["validate", "--dataset", "dev-cifake", "--no-files", "--json"])
    (entry,) = json.loads(result.stdout)
    found = entry["duplicates"]
    assert (found["n_groups"], found["straddling"], found["train_test_overlap"]) == (8, {"test+train": 4}, 4)
