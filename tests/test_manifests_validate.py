"""``negate-bench validate``: planted problems are found, clean data passes, and the dev sets validate."""

from __future__ import annotations

import hashlib
import io
import json
import time

import pytest
from click.testing import CliRunner
from PIL import Image

from negate_sdk.cli.bench import build_cli
from negate_sdk.manifests import resolve_dataset, validate_manifest
from negate_sdk.manifests.locate import dev_data_dir


def run(*args):
    return CliRunner().invoke(build_cli(), ["validate", *args], catch_exceptions=False)


def write(path, seed, fmt="JPEG", size=(24, 24), quality=90):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256))
    image.putpixel((seed % size[0], 0), (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


@pytest.fixture
def leaky(tmp_path):
    """Reals saved as JPEG, fakes as PNG: the format shortcut."""
    for i in range(20):
        write(tmp_path / "leaky" / "real" / f"{i}.jpg", i)
        write(tmp_path / "leaky" / "synthetic" / f"{i}.png", 100 + i, fmt="PNG")
    return tmp_path / "leaky"


@pytest.fixture
def clean(tmp_path):
    for i in range(20):
        write(tmp_path / "clean" / "real" / f"{i}.jpg", i)
        write(tmp_path / "clean" / "synthetic" / f"{i}.jpg", 100 + i)
    return tmp_path / "clean"


def test_planted_format_shortcut_is_reported_with_its_numbers(leaky):
    report = validate_manifest(resolve_dataset(leaky))
    shortcut = {(s.attribute): s for s in report.shortcuts}
    assert shortcut["format"].auc == 1.0 and shortcut["format"].flagged
    assert shortcut["jpeg_quality"].auc == 1.0  # q90 vs "not JPEG"
    assert shortcut["size"].auc == 0.5 and not shortcut["size"].flagged
    assert (shortcut["format"].real_top, shortcut["format"].synthetic_top) == ("JPEG 100%", "PNG 100%")
    warnings = [i for i in report.warnings if i.code == "format-shortcut"]
    assert {w.message.split(" alone")[0] for w in warnings} == {"format", "jpeg_quality"}
    assert "AUC 1.00 (real: JPEG 100%; synthetic: PNG 100%)" in warnings[0].message
    assert report.ok and report.files.decoded == 40 and report.counts["format"] == {"JPEG": 20, "PNG": 20}


def test_cli_warns_on_the_shortcut_and_strict_fails(leaky):
    result = run("--dataset", str(leaky))
    assert result.exit_code == 0, result.output
    assert "format alone separates the classes in leaky: AUC 1.00" in result.output
    assert "format shortcut" in result.output and "1.00 !" in result.output
    [entry] = json.loads(run("--dataset", str(leaky), "--json").stdout)
    assert [(s["attribute"], s["flagged"]) for s in entry["shortcuts"] if s["flagged"]] == [
        ("format", True), ("jpeg_quality", True),
    ]  # fmt: skip
    strict = run("--dataset", str(leaky), "--strict")
    assert strict.exit_code == 1 and "validation failed: errors or warnings in leaky" in strict.stderr


def test_clean_set_has_no_shortcut(clean):
    report = validate_manifest(resolve_dataset(clean))
    assert not [i for i in report.issues if i.code == "format-shortcut"]
    assert {s.attribute: s.auc for s in report.shortcuts}["format"] == 0.5


def test_changed_and_broken_files_are_errors(tmp_path):
    rows = ["path,label,generator,source,split,sha256,width,height"]
    for i in range(6):
        data = write(tmp_path / "t" / f"{i}.jpg", i)
        digest = hashlib.sha256(data).hexdigest()
        if i == 1:
            digest = "0" * 64  # the manifest says another file
        width = 99 if i == 2 else 24
        rows.append(
            f"{i}.jpg,{'real' if i % 2 else 'synthetic'},{'' if i % 2 else 'sd14'},t,test,{digest},{width},24"
        )
    (tmp_path / "t" / "3.jpg").write_bytes(b"\xff\xd8\xff truncated")
    rows.append("missing.jpg,real,,t,test,,,")
    rows.append("4.jpg,synthetic,A Brand New Model,t,test,,,")
    (tmp_path / "t" / "list.csv").write_text("\n".join(rows) + "\n")
    report = validate_manifest(resolve_dataset(tmp_path / "t" / "list.csv"))
    codes = {i.code: i for i in report.issues}
    assert codes["sha256-mismatch"].count == 1 and codes["sha256-mismatch"].examples == ["1.jpg"]
    assert codes["size-mismatch"].examples == ["2.jpg"]
    assert codes["duplicate-id"].examples == ["4.jpg"]
    unreadable = [i for i in report.issues if i.code == "unreadable"]
    assert sorted(e for i in unreadable for e in i.examples) == ["3.jpg", "missing.jpg"]
    assert any("file not found" in i.message for i in unreadable)
    assert codes["generator-not-in-table"].examples == ["a-brand-new-model"]
    assert report.files.sha256_checked == 5 and report.files.sha256_mismatch == 1  # 6 hashes, one unreadable
    assert not report.ok
    result = run("--dataset", str(tmp_path / "t" / "list.csv"), "--json")
    assert result.exit_code == 1
    [entry] = json.loads(result.stdout)
    assert entry["ok"] is False and entry["files"]["failed"] == 2 and entry["counts"]["rows"] == 8
    assert "validation failed: errors in list" in result.stderr


def test_cli_errors_are_one_line(tmp_path):
    result = run("--dataset", str(tmp_path / "nowhere"))
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "unknown dataset" in result.stderr
    bad = run("--dataset", str(tmp_path), "--label-dirs", "nature")
    assert bad.exit_code == 1 and "label folders must look like 'nature=real,ai=synthetic'" in bad.stderr


def test_without_dataset_every_registered_dataset_is_listed(tmp_path, monkeypatch):
    monkeypatch.setenv("NEGATE_DATA_DIR", str(tmp_path))
    result = run("--json")
    assert result.exit_code == 0, result.output
    entries = {e["dataset"]: e for e in json.loads(result.stdout)}
    assert {"openfake", "defactify", "cifake", "cifake-hf", "wikiart"} <= set(entries)
    assert entries["openfake"]["available"] is False
    assert str(tmp_path / "openfake") in entries["openfake"]["reason"]
    if dev_data_dir() is not None:
        assert entries["dev-faces"]["available"] and entries["dev-faces"]["files"] is None
        assert entries["dev-faces"]["counts"]["label"] == {"real": 300, "synthetic": 300}
    monkeypatch.setenv("NEGATE_DEV_DATA", str(tmp_path / "elsewhere"))  # quick: nothing is available
    table = run()
    assert (
        table.exit_code == 0 and "registered datasets" in table.output and "pass --dataset ID" in table.output
    )
    assert "unavailable" in table.output and "dev image sets are not on this machine" in table.output


needs_dev = pytest.mark.skipif(
    dev_data_dir() is None, reason="the dev image sets (../shared/datasets) are absent"
)


@needs_dev
def test_validate_dev_faces_fully():
    started = time.perf_counter()
    result = run("--dataset", "dev-faces", "--json")
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)
    assert report["files"]["decoded"] == 600 and report["files"]["sha256_mismatch"] == 0
    assert report["files"]["sha256_checked"] == 600 and report["files"]["size_mismatch"] == 0
    assert report["counts"]["format"] == {"JPEG": 600} and report["counts"]["size"] == {"300x300": 600}
    assert not [i for i in report["issues"] if i["level"] in ("error", "warning")]
    nuisance = {s["attribute"]: s["auc"] for s in report["shortcuts"] if not s["informational"]}
    assert nuisance == {a: 0.5 for a in ("format", "size", "aspect", "mode", "jpeg_quality", "exif")}
    assert elapsed < 60


@needs_dev
def test_validate_dev_on_a_stratified_sample():
    result = run("--dataset", "dev", "--limit", "600", "--json", "--workers", "1")
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)
    assert report["files"]["checked"] == 600 and report["files"]["failed"] == 0
    assert report["files"]["sha256_mismatch"] == 0
    assert report["counts"]["rows"] == 9000 and report["counts"]["measured_on"] == 600
    sizes = report["counts"]["size"]
    # quotas 600 * n / 9000 per (label, source, generator): 266.67 (cifake, x2), 13.33 (diffusiondb, x2),
    # 20 (faces, x2); the two spare units go to the largest remainders, the cifake strata
    assert sizes == {"32x32": 534, "300x300": 40, "512x512": 26}
    flagged = [s for s in report["shortcuts"] if s["flagged"]]
    assert flagged == []  # both classes went through the same pipeline in every source
    sources = {s["source"] for s in report["shortcuts"]}
    assert sources == {"cifake", "diffusiondb_coco", "faces", "(all sources)"}


def test_validate_reads_images_inside_parquet_rows(tmp_path):
    import datasets

    features = datasets.Features(
        {
            "image": datasets.Image(),
            **{c: datasets.Value("string") for c in ("prompt", "label", "model", "type", "release_date")},
        }
    )
    images, labels, models = [], [], []
    for i in range(12):
        buffer = io.BytesIO()
        fmt = "PNG" if i % 2 else "JPEG"  # every fake is a PNG: a planted shortcut inside a hub layout
        Image.new("RGB", (20, 20), (i * 20, 0, 0)).save(buffer, format=fmt)
        images.append({"bytes": buffer.getvalue(), "path": None})
        labels.append("fake" if i % 2 else "real")
        models.append("Imaginary Gen 9" if i % 2 else "")
    columns = {
        "image": images,
        "prompt": ["p"] * 12,
        "label": labels,
        "model": models,
        "type": ["t"] * 12,
        "release_date": ["d"] * 12,
    }
    path = tmp_path / "openfake" / "core" / "test-00000-of-00001.parquet"
    path.parent.mkdir(parents=True)
    datasets.Dataset.from_dict(columns, features=features).to_parquet(str(path), batch_size=5)
    result = run("--dataset", "openfake", "--data-dir", str(tmp_path), "--split", "test", "--json")
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)
    assert report["header"]["origin"] == "mirror" and report["files"]["decoded"] == 12
    assert report["counts"]["format"] == {"JPEG": 6, "PNG": 6}
    codes = {i["code"]: i for i in report["issues"]}
    assert codes["generator-not-in-table"]["examples"] == ["imaginary-gen-9"]
    flagged = {(s["source"], s["attribute"]) for s in report["shortcuts"] if s["flagged"]}
    assert ("openfake-core", "format") in flagged
