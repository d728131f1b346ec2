"""`negate-bench run` end to end: results, predictions, recomputation, determinism, robustness, CLIP bias."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from negate_example.components import ColourLogisticDetector
from negate_sdk import hookimpl
from negate_sdk.bench.leaderboard import leaderboard_rows, render
from negate_sdk.bench.results import metrics_from_predictions, read_predictions, read_results
from negate_sdk.bench.runner import RunConfig, run
from negate_sdk.cli.bench import build_cli

DEV = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def write_dataset(root: Path, n_per_group: int = 14) -> Path:
    """A CSV dataset: two sources, a CLIP generator and a non-CLIP one; synthetics are brighter."""
    rng = np.random.default_rng(0)
    rows = []
    groups = [("alpha", 0, "none"), ("alpha", 1, "sd-1.4"), ("beta", 0, "none"), ("beta", 1, "stylegan2")]
    for source, label, generator in groups:
        for i in range(n_per_group):
            level = 90 + 50 * label + rng.normal(0, 18)
            pixels = np.clip(rng.normal(level, 25, (24, 20, 3)), 0, 255).astype(np.uint8)
            path = root / source / f"{generator}-{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(path)
            rows.append(
                {
                    "path": f"{source}/{generator}-{i}.png",
                    "label": "synthetic" if label else "real",
                    "generator": generator,
                    "source": source,
                    "split": "all",
                }
            )
    table = root / "data.csv"
    with open(table, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return table


class ClipDouble:
    """Registers the example detector again under a name flagged as CLIP-based (a test double)."""

    @hookimpl
    def negate_register_detectors(self, register):
        register("test_clip_probe", "negate_example.components:ColourLogisticDetector", uses_clip=True)


@pytest.fixture
def dataset(tmp_path):
    return write_dataset(tmp_path / "data")


@pytest.fixture
def clip_double(default_host):
    default_host.add_plugin(ClipDouble(), "clip_double")
    yield
    default_host.remove_plugin("clip_double")


def config(dataset, tmp_path, **overrides):
    params = {
        "datasets": [str(dataset)],
        "detectors": ["dummy", "example_colour_logistic"],
        "extractors": ["example_colour_moments"],
        "head": "logistic",
        "perturb": ["jpeg_q50", "blur_s2"],
        "n_boot": 100,
        "cache_dir": str(tmp_path / "cache"),
    }
    params.update(overrides)
    return RunConfig(**params)


def test_results_document_and_recomputation_from_predictions(dataset, tmp_path):
    (path,) = run(config(dataset, tmp_path), tmp_path / "out")
    document = read_results(path)
    assert document["schema_version"] == 1
    assert document["dataset"]["id"] == "data" and len(document["dataset"]["content_hash"]) == 64
    assert [f["name"] for f in document["protocol"]["folds"]] == ["train-test"]
    assert document["protocol"]["folds"][0]["n_test"] == 28  # half of each of the four strata
    assert document["protocol"]["conditions"] == ["clean", "jpeg_q50", "blur_s2"]
    names = [r["detector"] for r in document["runs"]]
    assert names == ["dummy", "example_colour_logistic", "example_colour_moments/logistic"]
    for entry in document["runs"]:
        metrics = entry["metrics"]
        assert set(metrics) == {"overall", "per_source", "per_generator", "per_real_source", "per_condition"}
        assert set(metrics["per_source"]) == {"alpha", "beta"}
        assert set(metrics["per_generator"]) == {"sd-1.4", "stylegan2"}
        assert set(metrics["per_condition"]) == {"clean", "jpeg_q50", "blur_s2"}
        auc = metrics["overall"]["auc"]
        assert set(auc) == {"value", "ci", "n", "small_n"} and auc["n"] == 28 and auc["small_n"]
        assert auc["ci"][0] <= auc["value"] <= auc["ci"][1]
    assert document["provenance"]["seed"] == 0 and document["provenance"]["peak_memory_mb"] > 0
    assert document["provenance"]["images_per_second"] > 0
    predictions = read_predictions(path.with_name("predictions.parquet"))
    assert len(predictions) == 3 * 28 * 3
    recomputed = metrics_from_predictions(predictions, n_boot=100, seed=0)
    for entry in document["runs"]:
        assert recomputed[(entry["detector"], entry["fold"])] == entry["metrics"]
    adhoc = next(r for r in document["runs"] if r["detector"] == "example_colour_moments/logistic")
    assert adhoc["metrics"]["overall"]["auc"]["value"] > 0.8  # brightness separates the classes


def test_same_seed_same_numbers_and_a_partial_store_resumes(dataset, tmp_path):
    cfg = config(dataset, tmp_path, perturb=[])
    (first,) = run(cfg, tmp_path / "a")
    chunks = sorted((tmp_path / "cache").rglob("chunk-*.npz"))
    for chunk in chunks[::2]:  # as if the first run had been interrupted: half the entries are missing
        chunk.unlink()
    (second,) = run(cfg, tmp_path / "b")
    one, two = read_results(first), read_results(second)
    assert [r["metrics"] for r in one["runs"]] == [r["metrics"] for r in two["runs"]]
    assert read_predictions(first.with_name("predictions.parquet")) == read_predictions(
        second.with_name("predictions.parquet")
    )
    assert [r["fit_from_cache"] for r in one["runs"]] == [False, False, False]
    assert [r["fit_from_cache"] for r in two["runs"]] == [True, True, True]  # identical fits, reloaded safely
    (refit,) = run(config(dataset, tmp_path, perturb=[], refit=True), tmp_path / "refit")
    refitted = read_results(refit)["runs"]
    assert [r["fit_from_cache"] for r in refitted] == [False, False, False]
    assert [r["metrics"] for r in refitted] == [r["metrics"] for r in one["runs"]]
    (other_seed,) = run(config(dataset, tmp_path, perturb=[], seed=1), tmp_path / "c")
    assert [r["metrics"] for r in read_results(other_seed)["runs"]] != [r["metrics"] for r in one["runs"]]


def test_perturbations_hit_both_classes(dataset, tmp_path):
    (path,) = run(config(dataset, tmp_path, detectors=["dummy"], extractors=None), tmp_path / "out")
    predictions = read_predictions(path.with_name("predictions.parquet"))
    for condition in ("jpeg_q50", "blur_s2"):
        rows = [p for p in predictions if p["condition"] == condition]
        assert {p["label"] for p in rows} == {0, 1}
        clean = {p["sample_id"]: p["score"] for p in predictions if p["condition"] == "clean"}
        # the dummy scores the bytes' hash: every perturbed image, real or synthetic, has new bytes
        for label in (0, 1):
            changed = [p["score"] != clean[p["sample_id"]] for p in rows if p["label"] == label]
            assert all(changed) and len(changed) == 14


def test_clip_bias_is_reported_with_intervals(dataset, tmp_path, clip_double):
    cfg = config(dataset, tmp_path, detectors=["test_clip_probe", "dummy"], extractors=None, perturb=[])
    (path,) = run(cfg, tmp_path / "out")
    document = read_results(path)
    assert {r["detector"]: r["uses_clip"] for r in document["runs"]} == {
        "test_clip_probe": True,
        "dummy": False,
    }
    (entry,) = document["clip_bias"]
    assert (entry["clip_detector"], entry["other_detector"]) == ("test_clip_probe", "dummy")
    assert entry["per_generator"]["sd-1.4"]["uses_clip"] == "yes"
    assert entry["per_generator"]["stylegan2"]["uses_clip"] == "no"
    delta = entry["per_generator"]["sd-1.4"]
    predictions = read_predictions(path.with_name("predictions.parquet"))

    def accuracy(detector):
        pool = [p for p in predictions if p["detector"] == detector and p["source"] == "alpha"]
        return np.mean([p["pred"] == p["label"] for p in pool])

    assert delta["value"] == pytest.approx(accuracy("test_clip_probe") - accuracy("dummy"))
    assert entry["bias"]["value"] == pytest.approx(
        entry["per_generator"]["sd-1.4"]["value"] - entry["per_generator"]["stylegan2"]["value"]
    )
    assert entry["bias"]["ci"][0] <= entry["bias"]["value"] <= entry["bias"]["ci"][1]


def test_leave_one_generator_out_and_cross_dataset(dataset, tmp_path):
    (path,) = run(
        config(
            dataset,
            tmp_path,
            protocol="leave-one-generator-out",
            perturb=[],
            detectors=["dummy"],
            extractors=None,
        ),
        tmp_path / "logo",
    )
    document = read_results(path)
    assert sorted({r["fold"] for r in document["runs"]}) == ["heldout:sd-1.4", "heldout:stylegan2"]
    run_sd = next(r for r in document["runs"] if r["fold"] == "heldout:sd-1.4")
    assert list(run_sd["metrics"]["per_generator"]) == ["sd-1.4"]
    assert list(run_sd["metrics"]["per_source"]) == ["alpha"]
    (cross,) = run(
        config(dataset, tmp_path, train_on=str(dataset), perturb=[], detectors=["dummy"], extractors=None),
        tmp_path / "cross",
    )
    folds = read_results(cross)["protocol"]["folds"]
    assert folds[0]["name"] == "data->data" and folds[0]["n_train"] == 56 and folds[0]["n_test"] == 56


def test_cli_run_writes_everything_and_the_leaderboard_reads_it(dataset, tmp_path):
    out = tmp_path / "cli"
    args = [
        "run",
        "--detector",
        "dumm*",
        "--extractors",
        "example_colour_moments",
        "--head",
        "logistic",
        "--param",
        "classifier__C=0.5",
        "--dataset",
        str(dataset),
        "--output",
        str(out),
        "--n-boot",
        "50",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--json",
    ]
    result = CliRunner().invoke(build_cli(), args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [row["detector"] for row in summary["leaderboard"]] == ["example_colour_moments/logistic", "dummy"]
    for name in ("results.json", "predictions.parquet", "leaderboard.md", "report.html"):
        assert (out / name).is_file()
    params = read_results(out / "results.json")["runs"][1]["params"]
    assert params["classifier__C"] == 0.5
    board = CliRunner().invoke(build_cli(), ["leaderboard", str(out), "--format", "csv", "--sort-by", "fpr"])
    assert board.exit_code == 0 and board.stdout.splitlines()[0].startswith("dataset,fold,detector")
    html = (out / "report.html").read_text()
    assert (
        html.count("<svg") >= 2 and "<table" in html and "http" not in html.replace("http://www.w3.org", "")
    )


def test_run_errors_are_one_line(dataset, tmp_path):
    runner = CliRunner()
    unknown = runner.invoke(build_cli(), ["run", "--detector", "hybird", "--dataset", str(dataset)])
    assert unknown.exit_code == 1 and "unknown detector 'hybird'; did you mean 'hybrid'?" in unknown.output
    bad_param = runner.invoke(
        build_cli(),
        [
            "run",
            "--detector",
            "dummy",
            "--param",
            "nope=1",
            "--dataset",
            str(dataset),
            "--output",
            str(tmp_path / "x"),
        ],
    )
    assert bad_param.exit_code == 1
    assert "--param nope: no detector in this run has a parameter 'nope'" in bad_param.output


def test_leaderboard_formats_render_the_same_rows(dataset, tmp_path):
    (path,) = run(config(dataset, tmp_path, perturb=["jpeg_q50"]), tmp_path / "out")
    rows = leaderboard_rows([read_results(path)])
    assert len(rows) == 3
    assert json.loads(render(rows, "json")) == rows
    markdown = render(rows, "md")
    assert markdown.count("\n") == 2 + 3 and "| dataset | detector | n | AUC |" in markdown
    assert [r["small_n"] for r in rows] == [True] * 3 and markdown.count("| 28 (small) |") == 3
    assert "(small): under 30 images" in render(rows, "table")
    big = [{**r, "small_n": False, "n": 300} for r in rows]
    assert "(small)" not in render(big, "md") + render(big, "table")
    document = read_results(path)  # results written before the flag existed: derived from n
    for entry in document["runs"]:
        for metric in entry["metrics"]["overall"].values():
            del metric["small_n"]
    assert [r["small_n"] for r in leaderboard_rows([document])] == [True] * 3
    jpeg_rows = leaderboard_rows([read_results(path)], condition="jpeg_q50")
    assert [r["condition"] for r in jpeg_rows] == ["jpeg_q50"] * 3
    typo = CliRunner().invoke(build_cli(), ["leaderboard", str(path), "--condition", "jpeg_q5"])
    assert (
        typo.exit_code == 2
        and "no results under condition 'jpeg_q5'; did you mean 'jpeg_q50'?" in typo.output
    )
    bogus = CliRunner().invoke(build_cli(), ["leaderboard", str(path), "--condition", "bogus"])
    assert bogus.exit_code == 2 and "these results hold: clean, jpeg_q50" in bogus.output
    assert (
        CliRunner().invoke(build_cli(), ["leaderboard", str(path), "--condition", "jpeg_q50"]).exit_code == 0
    )


@pytest.mark.skipif(not (DEV / "manifest.csv").is_file(), reason="the dev image sets are not on this machine")
def test_dev_faces_end_to_end(tmp_path):
    cfg = RunConfig(
        datasets=["dev-faces"],
        detectors=["dummy"],
        extractors=["example_colour_moments"],
        limit=160,
        n_boot=100,
        cache_dir=str(tmp_path / "cache"),
    )
    (path,) = run(cfg, tmp_path / "out")
    document = read_results(path)
    assert document["dataset"]["id"] == "dev-faces"
    recomputed = metrics_from_predictions(
        read_predictions(path.with_name("predictions.parquet")), n_boot=100, seed=0
    )
    for entry in document["runs"]:
        assert recomputed[(entry["detector"], entry["fold"])] == entry["metrics"]
        assert entry["metrics"]["overall"]["auc"]["n"] == 80


class BrokenFit(ColourLogisticDetector):
    """The example detector whose training fails, as a CLIP detector does without its weights."""

    def _fit_scorer(self, samples, y, train, val, *, features=None, progress=None) -> dict:
        raise RuntimeError("weights unavailable: the hub is unreachable\nTraceback detail")


class BrokenDouble:
    """Registers :class:`BrokenFit` as ``test_broken``, and a detector that cannot even be built."""

    @hookimpl
    def negate_register_detectors(self, register):
        register("test_broken", BrokenFit)
        register("test_unbuildable", lambda: (_ for _ in ()).throw(OSError("no such weights file")))


@pytest.fixture
def broken_double(default_host):
    default_host.add_plugin(BrokenDouble(), "broken_double")
    yield
    default_host.remove_plugin("broken_double")


def test_a_failing_detector_is_recorded_and_the_others_are_written(dataset, tmp_path, broken_double):
    detectors = ["dummy", "test_broken", "test_unbuildable"]
    (path,) = run(config(dataset, tmp_path, detectors=detectors, perturb=[]), tmp_path / "out")
    document = read_results(path)
    assert [r["detector"] for r in document["runs"]] == ["dummy", "example_colour_moments/logistic"]
    assert document["failed"] == [
        {"detector": "test_unbuildable", "fold": "train-test", "stage": "build",
         "reason": "OSError: no such weights file"},
        {"detector": "test_broken", "fold": "train-test", "stage": "fit",
         "reason": "RuntimeError: weights unavailable: the hub is unreachable"},
    ]  # fmt: skip
    assert {r["detector"] for r in read_predictions(path.with_name("predictions.parquet"))} == {
        "dummy",
        "example_colour_moments/logistic",
    }
    assert (tmp_path / "out" / "leaderboard.md").is_file() and (tmp_path / "out" / "report.html").is_file()


def test_cli_exit_status_says_a_run_was_partial_and_nothing_is_written_when_all_failed(
    dataset, tmp_path, broken_double
):
    common = ["--dataset", str(dataset), "--n-boot", "20", "--cache-dir", str(tmp_path / "cache")]
    out = tmp_path / "partial"
    args = ["run", "--detector", "dummy", "--detector", "test_broken", "--output", str(out), "--json"]
    partial = CliRunner().invoke(build_cli(), args + common)
    assert partial.exit_code == 3, partial.output
    summary = json.loads(partial.stdout)
    assert [row["detector"] for row in summary["leaderboard"]] == ["dummy"]
    assert summary["failed"][0]["detector"] == "test_broken" and summary["failed"][0]["stage"] == "fit"
    assert "warning: data / test_broken (train-test) failed to fit: RuntimeError: weights" in partial.stderr
    assert read_results(out / "results.json")["failed"][0]["reason"].startswith("RuntimeError: weights")
    none = tmp_path / "none"
    failed = CliRunner().invoke(
        build_cli(), ["run", "--detector", "test_broken", "--output", str(none), *common]
    )
    assert failed.exit_code == 1 and not none.exists()
    assert (
        "no detector finished: test_broken failed to fit: RuntimeError: weights unavailable" in failed.output
    )
