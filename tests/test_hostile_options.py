"""Options out of range are usage errors; small groups are warned about; leaked test images are flagged."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from test_bench_run import write_dataset

from negate_sdk.bench.records import MIN_GROUP_N, small_groups
from negate_sdk.bench.results import read_predictions, read_results
from negate_sdk.bench.runner import RunConfig, run
from negate_sdk.cli.bench import build_cli as bench
from negate_sdk.cli.negate import build_cli as negate


@pytest.mark.parametrize(
    ("cli", "args", "fragment"),
    [
        (negate, ["check", "x.png", "--model", "m", "--batch-size", "0"], "--batch-size"),
        (
            negate,
            ["train", "--detector", "dummy", "--dataset", "d", "--out", "o", "--jobs", "0"],
            "0 workers",
        ),
        (negate, ["train", "--detector", "dummy", "--dataset", "d", "--out", "o", "--limit", "0"], "--limit"),
        (bench, ["run", "--detector", "dummy", "--dataset", "d", "--test-fraction", "0"], "--test-fraction"),
        (bench, ["run", "--detector", "dummy", "--dataset", "d", "--test-fraction", "1"], "--test-fraction"),
        (bench, ["run", "--detector", "dummy", "--dataset", "d", "--n-boot", "0"], "--n-boot"),
        (bench, ["run", "--detector", "dummy", "--dataset", "d", "--per-generator", "-3"], "--per-generator"),
    ],
)
def test_options_out_of_range_are_usage_errors(cli, args, fragment, tmp_path):
    result = CliRunner().invoke(cli(), args)
    assert result.exit_code == 2 and fragment in result.output and "Traceback" not in result.output


def test_small_groups_are_listed_with_their_size():
    metrics = {
        "overall": {"auc": {"value": 0.9, "ci": [0.8, 1.0], "n": 200}},
        "per_generator": {"sd-1.4": {"auc": {"n": 40}}, "rare": {"auc": {"n": 4}, "tpr": {"n": 2}}},
        "per_real_source": {"coco": {"fpr": {"n": MIN_GROUP_N - 1}}, "big": {"fpr": {"n": MIN_GROUP_N}}},
    }
    assert small_groups(metrics) == [
        {"group": "per_generator/rare", "n": 4},
        {"group": "per_real_source/coco", "n": MIN_GROUP_N - 1},
    ]


def test_a_test_image_whose_bytes_were_trained_on_is_flagged_and_left_out_of_metrics(tmp_path):
    table = write_dataset(tmp_path / "data", n_per_group=8)
    with open(table, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:  # the dataset's own splits: the first half of each group trains
        row["split"] = "train" if int(row["path"].rsplit("-", 1)[1].split(".")[0]) < 4 else "test"
    leaked = next(r for r in rows if r["split"] == "test")
    source = next(r for r in rows if r["split"] == "train" and r["label"] == leaked["label"])
    shutil.copyfile(tmp_path / "data" / source["path"], tmp_path / "data" / leaked["path"])
    with open(table, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (path,) = run(
        RunConfig(datasets=[str(table)], detectors=["dummy"], n_boot=20, use_cache=False), tmp_path / "o"
    )
    document = read_results(path)
    (entry,) = document["runs"]
    assert document["protocol"]["folds"][0]["duplicates"]["train_test_overlap"] == 1
    assert entry["n_seen_in_training"] == 1
    predictions = read_predictions(path.with_name("predictions.parquet"))
    flagged = [p for p in predictions if p["seen_in_training"]]
    assert [p["sample_id"] for p in flagged] == [leaked_id(document, predictions, leaked)]
    assert entry["metrics"]["overall"]["auc"]["n"] == len(predictions) - 1 == 15
    assert np.isfinite(entry["metrics"]["overall"]["auc"]["value"])


def leaked_id(document, predictions, row) -> str:
    """The prediction id of a manifest row (ids end with the row's file name)."""
    (match,) = [p["sample_id"] for p in predictions if p["sample_id"].endswith(row["path"].rsplit("/", 1)[1])
                and p["source"] == row["source"]]  # fmt: skip
    return match
