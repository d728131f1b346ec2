"""The issue's "done when", end to end through the real command lines in fresh processes:

- ``negate check`` over a folder mixing good images with hostile files judges every good image, gives
  each bad one a line, finishes in seconds with bounded memory and exits non-zero;
- ``negate train --out`` on a folder holding a user's files leaves them there;
- a run's outputs and a saved detector appear whole or not at all, and an older one survives a failure.
"""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from test_bench_run import write_dataset
from test_hostile_images import one_bit_png

from negate_sdk.artifacts import ArtifactError
from negate_sdk.conformance import conformance_samples
from negate_sdk.detectors import Detector, load_detector

GOOD = 6


def png(pixels: np.ndarray, **text: str) -> bytes:
    info = PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def jpeg_with_exif_flood() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 20, 30)).save(buffer, format="JPEG")
    data = buffer.getvalue()
    segment = b"\xff\xe1" + (65535).to_bytes(2, "big") + b"Exif\x00\x00" + bytes(65527)
    return data[:2] + segment * 300 + data[2:]


@pytest.fixture
def model(tmp_path):
    detector = Detector(extractors=["colour"], classifier="logistic", vetoes=["provenance"])
    return detector.fit(conformance_samples(12)).save(tmp_path / "model")


@pytest.fixture
def inbox(tmp_path):
    """Six good images and the hostile corpus, in one folder."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(GOOD):
        (folder / f"good-{i}.png").write_bytes(png(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)))
    pixels = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    hostile = {
        "nested-json.png": png(pixels, prompt="[" * 100_000),  # RecursionError in json.loads before
        "backtracking.png": png(pixels, parameters="Steps: 1 " * 110_000),  # quadratic regex before
        "exif-flood.jpg": jpeg_with_exif_flood(),  # quadratic EXIF parsing in Pillow before
        "one-bit-100mp.png": one_bit_png(),  # decodes to ~300 MB
        "truncated.png": png(pixels)[:200],
    }
    for name, data in hostile.items():
        (folder / name).write_bytes(data)
    (folder / os.fsdecode(b"caf\xe9.png")).write_bytes(png(pixels))  # a Latin-1 name (good image)
    (folder / "\x1b[2Jrewrite.png").write_bytes(png(pixels))  # an escape code in a name (good image)
    os.mkfifo(folder / "pipe.png")  # would block a reader forever
    return folder


def run_cli(*args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, float, float]:
    """``(result, seconds, the child's own peak RSS in MiB)`` of a command line in a fresh interpreter."""
    module = "negate" if args[0] == "negate" else "bench"
    code = (
        # VmHWM: this process's own peak RSS (ru_maxrss would include the forking parent's, on Linux)
        "import atexit, os, re, sys\n"
        "atexit.register(lambda: open(os.environ['PEAK_RSS_FILE'], 'w').write("
        "re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)))\n"
        f"from negate_sdk.cli.{module} import main\n"
        f"sys.argv[0] = '{args[0]}'\n"
        "main()\n"
    )
    with tempfile.TemporaryDirectory() as scratch:
        peak_file = Path(scratch) / "peak"
        env = {
            **os.environ,
            "PEAK_RSS_FILE": str(peak_file),
            "NEGATE_CACHE_DIR": str(Path(scratch) / "cache"),
        }
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", code, *args[1:]], capture_output=True, text=True, timeout=timeout, env=env
        )
        seconds = time.perf_counter() - start
        peak = int(peak_file.read_text()) / 1024 if peak_file.exists() else float("nan")
    return result, seconds, peak


def test_check_judges_every_good_image_and_gives_each_hostile_file_one_line(model, inbox):
    result, seconds, peak_mib = run_cli("negate", "check", str(inbox), "--model", str(model), "--json")
    assert result.returncode == 3, result.stderr  # some files could not be judged (docs/cli.md)
    rows = {Path(row["path"]).name: row for row in json.loads(result.stdout)}
    judged = {name for name, row in rows.items() if row["error"] is None}
    assert judged == {f"good-{i}.png" for i in range(GOOD)} | {
        "caf\\xe9.png", "\\x1b[2Jrewrite.png", "nested-json.png", "backtracking.png", "one-bit-100mp.png"
    }  # fmt: skip
    errors = {name: row["error"] for name, row in rows.items() if row["error"]}
    assert errors["exif-flood.jpg"] == "JPEG metadata: over the limit of 256 KiB of EXIF"
    assert errors["pipe.png"].startswith("not a regular file (is a FIFO (named pipe))")
    assert errors["truncated.png"].startswith("corrupt or truncated image")
    assert all("\n" not in e for e in errors.values())
    # the hostile metadata is read safely and proves nothing: the veto abstains, no verdict comes from it
    for name in ("nested-json.png", "backtracking.png"):  # only the pixels' reason, no provenance evidence
        assert len(rows[name]["reasons"]) == 1 and rows[name]["reasons"][0].startswith("score ")
    print(f"negate check over the hostile inbox: {seconds:.1f} s, peak RSS {peak_mib:.0f} MiB")
    assert seconds < 60, f"negate check took {seconds:.1f} s"
    # one 100 MP image decodes to ~300 MB; the batch must not hold several such images at once
    assert peak_mib < 1500, f"peak RSS {peak_mib:.0f} MiB"
    assert "\x1b" not in result.stdout and "\x1b" not in result.stderr


def test_check_table_escapes_names(model, inbox):
    result, _, _ = run_cli("negate", "check", str(inbox / "\x1b[2Jrewrite.png"), "--model", str(model))
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\\x1b[2J" in result.stdout and "SYNTHETIC" not in result.stderr


def test_train_out_on_a_users_folder_leaves_every_file_there(tmp_path):
    table = write_dataset(tmp_path / "data", n_per_group=6)
    users = tmp_path / "documents"
    users.mkdir()
    (users / "thesis.docx").write_bytes(b"PK\x03\x04 a user's document")
    (users / "holiday.jpg").write_bytes(b"\xff\xd8\xff photo")
    before = {p.name: p.read_bytes() for p in users.iterdir()}
    args = ("negate", "train", "--detector", "spectral", "--dataset", str(table), "--no-cache")
    result, _, _ = run_cli(*args, "--out", str(users))
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: ") and "not empty and not a saved detector (2 other file(s)" in error
    assert {p.name: p.read_bytes() for p in users.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if ".staging-" in p.name]
    # the training images themselves as --out: refused, nothing deleted
    real = tmp_path / "data" / "alpha"
    n_images = len(list(real.iterdir()))
    result, _, _ = run_cli(*args, "--out", str(real))
    assert result.returncode == 1 and len(list(real.iterdir())) == n_images


def test_retraining_replaces_a_saved_detector_and_keeps_hidden_files(tmp_path):
    samples = conformance_samples(12)
    folder = Detector(extractors=["colour"]).fit(samples).save(tmp_path / "model")
    (folder / ".git-keep").write_text("the user's")
    old_card = (folder / "detector.json").read_text()
    retrained = Detector(extractors=["colour", "spectral"]).fit(samples)
    retrained.save(folder)
    assert (folder / ".git-keep").read_text() == "the user's"
    assert (folder / "detector.json").read_text() != old_card
    assert load_detector(folder).feature_names_ == retrained.feature_names_
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_full_disk_during_a_save_leaves_the_old_detector_whole(tmp_path, monkeypatch):
    samples = conformance_samples(12)
    folder = Detector(extractors=["colour"]).fit(samples).save(tmp_path / "model")
    files = {p.name: p.read_bytes() for p in folder.iterdir()}

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("negate_sdk.artifacts.atomic_write_bytes", full)  # the card is the last file written
    with pytest.raises(OSError, match="No space left"):
        Detector(extractors=["colour", "spectral"]).fit(samples).save(folder)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files
    survivor = load_detector(folder)  # the old detector, whole and loadable
    assert all(name.startswith("colour__") for name in survivor.feature_names_)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_saved_files_respect_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        folder = Detector(extractors=["colour"]).fit(conformance_samples(12)).save(tmp_path / "model")
    finally:
        os.umask(previous)
    assert (folder.stat().st_mode & 0o777) == 0o755
    assert {p.stat().st_mode & 0o777 for p in folder.iterdir()} == {0o644}


def test_a_run_publishes_its_outputs_as_one_set_or_leaves_the_old_ones(tmp_path, monkeypatch):
    from negate_sdk.bench import outputs
    from negate_sdk.bench.runner import RunConfig, run

    table = write_dataset(tmp_path / "data", n_per_group=6)
    config = RunConfig(datasets=[str(table)], detectors=["dummy"], n_boot=20, use_cache=False)
    out = tmp_path / "out"
    run(config, out)
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(old) == {"results.json", "predictions.parquet", "leaderboard.md", "report.html"}

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs, "build_report", full_disk, raising=False)
    monkeypatch.setattr("negate_sdk.bench.report.build_report", full_disk)
    with pytest.raises(OSError, match="No space left"):
        run(RunConfig(datasets=[str(table)], detectors=["dummy"], n_boot=20, use_cache=False, seed=1), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == old  # not one file changed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out"]  # no staging left behind
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ArtifactError, match="not empty and not the output of an earlier run"):
        run(config, out)
    assert (out / "notes.txt").read_text() == "mine"
