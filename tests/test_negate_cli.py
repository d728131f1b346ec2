"""The everyday command line, end to end: ``negate check`` on a mixed folder."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from negate_sdk.api import Thresholds
from negate_sdk.cli.negate import build_cli
from negate_sdk.conformance import conformance_samples
from negate_sdk.detectors import Detector

A1111 = "portrait\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512"


@pytest.fixture
def model_dir(tmp_path):
    detector = Detector(extractors=["example_colour_moments"], classifier="logistic", vetoes=["provenance"])
    detector.fit(conformance_samples(24))
    detector.thresholds_ = Thresholds(1.0, 1.0, 1.0)  # pixels alone say GENUINE: only evidence raises
    return detector.save(tmp_path / "model")


@pytest.fixture
def mixed_folder(tmp_path):
    folder = tmp_path / "inbox"
    (folder / "nested").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(folder / "photo.png")
    Image.new("RGB", (30, 40), (200, 30, 10)).save(folder / "nested" / "scan.jpg", quality=90)
    info = PngInfo()
    info.add_text("parameters", A1111)
    Image.new("RGB", (40, 30), (10, 120, 200)).save(folder / "render.png", pnginfo=info)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, format="JPEG")
    (folder / "broken.jpg").write_bytes(buffer.getvalue()[:200])
    (folder / "notes.jpg").write_text("not an image at all")
    (folder / "readme.txt").write_text("ignored: not an image extension")
    Image.new("RGB", (40, 30)).save(folder / ".hidden" / "skip.png")
    return folder


def test_check_a_mixed_folder_as_json(model_dir, mixed_folder):
    result = CliRunner().invoke(
        build_cli(), ["check", str(mixed_folder), "--model", str(model_dir), "--json"]
    )
    assert result.exit_code == 3, result.output  # some files could not be judged (docs/cli.md)
    rows = {row["path"].removeprefix(str(mixed_folder) + "/"): row for row in json.loads(result.stdout)}
    assert sorted(rows) == ["broken.jpg", "nested/scan.jpg", "notes.jpg", "photo.png", "render.png"]
    assert rows["photo.png"]["verdict"] == "GENUINE" and rows["photo.png"]["error"] is None
    assert rows["render.png"]["verdict"] == "SYNTHETIC"
    assert rows["render.png"]["reasons"][0] == (
        "provenance: PNG 'parameters' chunk holds AUTOMATIC1111 generation settings"
    )
    assert all(row["reasons"] for row in rows.values() if not row["error"])  # every verdict says why
    assert rows["render.png"]["score"] == rows["photo.png"]["score"]  # same pixels, same score
    assert rows["broken.jpg"]["error"].startswith("corrupt or truncated image")
    assert rows["notes.jpg"]["error"] == "not a supported image (unrecognised format)"
    assert rows["broken.jpg"]["verdict"] is None and rows["broken.jpg"]["score"] is None
    assert 0.0 <= rows["nested/scan.jpg"]["score"] <= 1.0


def test_check_reports_progress_on_stderr_with_json_and_takes_a_thread_count(model_dir, mixed_folder):
    result = CliRunner().invoke(
        build_cli(), ["check", str(mixed_folder), "--model", str(model_dir), "--json", "--threads", "1"]
    )
    assert result.exit_code == 3
    assert len(json.loads(result.stdout)) == 5  # stdout is the JSON alone
    assert "check: 5 in" in result.stderr  # one line per finished stage when stderr is not a terminal
    assert "2 of 5 file(s) could not be checked" in result.stderr
    invalid = CliRunner().invoke(build_cli(), ["check", str(mixed_folder), "--model", "m", "--threads", "0"])
    assert invalid.exit_code == 2 and "--threads" in invalid.output


def test_check_table_names_files_it_could_not_read(model_dir, mixed_folder):
    result = CliRunner().invoke(
        build_cli(),
        [
            "check",
            str(mixed_folder / "photo.png"),
            str(mixed_folder / "notes.jpg"),
            str(mixed_folder / "missing.png"),
            "--model",
            str(model_dir),
        ],
    )
    assert result.exit_code == 3  # two of the three files could not be judged
    assert "GENUINE" in result.stdout and "notes.jpg" in result.stdout
    assert "file not found" in result.stdout
    assert "2 of 3 file(s) could not be checked" in result.stderr


def test_check_with_a_folder_that_is_not_a_model(tmp_path, mixed_folder):
    result = CliRunner().invoke(build_cli(), ["check", str(mixed_folder), "--model", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {tmp_path}: no detector.json; not a saved negate detector"


def test_train_then_check_end_to_end(tmp_path):
    from test_bench_run import write_dataset

    dataset = write_dataset(tmp_path / "data")
    out = tmp_path / "trained"
    args = [
        "train",
        "--extractors",
        "example_colour_moments",
        "--head",
        "logistic",
        "--dataset",
        str(dataset),
        "--param",
        "classifier__C=0.5",
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--json",
    ]
    result = CliRunner().invoke(build_cli(), args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["n_images"] == 56 and summary["split"] == "all"
    assert summary["validation_metrics"]["n"] == 12  # 20% of each class carved for validation
    card = json.loads((out / "detector.json").read_text())
    assert card["trained_on"] == ["data"] and card["training"]["manifest_hash"]
    assert card["params"]["name"] == "example_colour_moments/logistic"
    image = next((tmp_path / "data" / "alpha").glob("sd-1.4-*.png"))
    checked = CliRunner().invoke(build_cli(), ["check", str(image), "--model", str(out), "--json"])
    (row,) = json.loads(checked.stdout)
    assert row["error"] is None and row["verdict"] in ("GENUINE", "UNCERTAIN", "SYNTHETIC")


def test_train_needs_exactly_one_detector_choice(tmp_path):
    result = CliRunner().invoke(build_cli(), ["train", "--dataset", "x", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "give exactly one of --detector or --extractors" in result.output


def test_train_table_rounds_its_figures_and_json_keeps_them_whole(tmp_path):
    from test_bench_run import write_dataset

    dataset = write_dataset(tmp_path / "data")
    common = ["train", "--extractors", "example_colour_moments", "--dataset", str(dataset)]
    common += ["--cache-dir", str(tmp_path / "cache")]
    table = CliRunner().invoke(build_cli(), [*common, "--out", str(tmp_path / "a")])
    assert table.exit_code == 0, table.output
    summary = json.loads(
        CliRunner().invoke(build_cli(), [*common, "--out", str(tmp_path / "b"), "--json"]).stdout
    )
    brier = summary["validation_metrics"]["brier"]
    assert brier != round(brier, 4)  # a figure with more digits than shown
    row = next(line for line in table.stdout.splitlines() if " brier " in line)
    assert row.split("│")[2].strip() == str(round(brier, 4))
