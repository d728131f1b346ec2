"""The HTML report without a browser: the tables show the right numbers for a hand-made results document."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from negate_sdk.bench.report import build_report, threshold_source
from negate_sdk.bench.results import SCHEMA_VERSION, write_predictions, write_results


def m(value, lo=None, hi=None, n=40):
    """A metric block as results.json holds it."""
    return {"value": value, "ci": [lo, hi], "n": n, "small_n": n < 30}


def metrics(tpr_sd, tpr_gan, fpr_coco, fpr_ffhq, shares):
    """Metrics of one detector: TPR per generator, FPR per real source, verdict shares per class."""
    synthetic_real, uncertain_real, synthetic_fake, uncertain_fake = shares
    overall = {
        "auc": m(0.9, 0.85, 0.95, n=100),
        "fpr": m(0.1, 0.05, 0.18, n=50),
        "synthetic_share_real": m(synthetic_real, n=50),
        "uncertain_share_real": m(uncertain_real, n=50),
        "novel_share_real": m(0.04, n=50),
        "synthetic_share_fake": m(synthetic_fake, n=50),
        "uncertain_share_fake": m(uncertain_fake, n=50),
        "novel_share_fake": m(0.0, n=50),
    }
    return {
        "overall": overall,
        "per_source": {},
        "per_generator": {
            "sd-1.4": {"tpr": m(tpr_sd, tpr_sd - 0.1, min(1.0, tpr_sd + 0.1), n=40)},
            "stylegan2": {"tpr": m(tpr_gan, 0.0, 0.278, n=10)},  # a Wilson interval at 0
        },
        "per_real_source": {
            "coco": {"fpr": m(fpr_coco, 0.02, 0.2, n=35)},
            "ffhq": {"fpr": m(fpr_ffhq, 0.1, 0.6, n=15)},
        },
        "per_condition": {"clean": overall},
    }


def run(name, metrics_block, **extra):
    return {"detector": name, "fold": "train-test", "uses_clip": name == "clip_probe",
            "metrics": metrics_block, "small_groups": [{"group": "per_generator/stylegan2", "n": 10}],
            **extra}  # fmt: skip


@pytest.fixture
def page(tmp_path):
    document = {
        "schema_version": SCHEMA_VERSION,
        "dataset": {"id": "toy", "content_hash": "ab" * 32, "n_rows": 200},
        "protocol": {"name": "train-test", "folds": [{"name": "train-test"}], "conditions": ["clean"]},
        "runs": [
            run(
                "clip_probe",
                metrics(0.875, 0.0, 0.114, 0.333, (0.1, 0.2, 0.72, 0.08)),
                thresholds={"t_genuine": 0.3, "t_synthetic": 0.7, "t_decision": 0.55},
                validation_metrics={"n": 64, "auc": 0.9},
                trained_on=["toy"],
            ),
            run(
                "spectral@authors",
                metrics(0.625, 0.1, 0.2, 0.4, (0.2, 0.0, 0.5, 0.0)),
                thresholds={"t_genuine": 0.5, "t_synthetic": 0.5, "t_decision": 0.5},
                operating_point="authors",
                family="pretrained",
            ),
        ],
        "failed": [
            {"detector": "broken_net", "fold": "train-test", "stage": "fit", "reason": "no weights <x>"}
        ],
        "clip_bias": [
            {
                "clip_detector": "clip_probe",
                "other_detector": "spectral@authors",
                "fold": "train-test",
                "per_generator": {"sd-1.4": {"value": 0.25, "ci": [0.1, 0.4], "n": 80, "uses_clip": "yes"}},
                "per_group": {
                    "yes": {"value": 0.25, "ci": [0.1, 0.4], "n": 80},
                    "no": {"value": -0.1, "ci": [-0.3, 0.05], "n": 60},
                },
                "bias": {"value": 0.35, "ci": [0.12, 0.6], "n": 140},
            },
        ],
        "provenance": {"negate_sdk": "0.1.0", "git_sha": None, "seed": 3, "config": {"n_boot": 500}},
    }
    path = tmp_path / "results.json"
    write_results(path, document)
    base = {"fold": "train-test", "condition": "clean", "source": "coco", "real_source": "", "score": 0.9,
            "pred": 1, "verdict": "SYNTHETIC", "seen_in_training": False, "novel": False}  # fmt: skip
    records = [
        {**base, "sample_id": f"{g}-{d}", "detector": d, "label": 1, "generator": g, "uses_clip": clip}
        for g, clip in (("sd-1.4", "yes"), ("stylegan2", "no"))
        for d in ("clip_probe", "spectral@authors")
    ] + [
        {**base, "sample_id": f"real-{d}", "detector": d, "label": 0, "generator": "none",
         "real_source": "coco", "uses_clip": "n/a", "score": 0.1, "pred": 0, "verdict": "GENUINE"}
        for d in ("clip_probe", "spectral@authors")
    ]  # fmt: skip
    write_predictions(tmp_path / "predictions.parquet", records)
    return build_report([path])


class Tables(HTMLParser):
    """``{table class: [[cell text, ...], ...]}`` (header row first) and every paragraph's text."""

    def __init__(self):
        super().__init__()
        self.tables, self.paragraphs, self._table, self._cell, self._p = {}, [], None, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("class", ""), [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = ""
        elif tag == "p":
            self._p = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._table[-1].append(self._cell)
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "p" and self._p is not None:
            self.paragraphs.append(self._p)
            self._p = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._p is not None:
            self._p += data


def parse(page):
    parser = Tables()
    parser.feed(page)
    return parser


def test_per_generator_table_has_n_rates_with_intervals_release_dates_and_clip_use(page):
    table = parse(page).tables["generators"]
    assert table[0] == ["generator", "released", "uses CLIP", "n synthetic", "TPR clip_probe",
                        "TPR spectral@authors"]  # fmt: skip
    assert table[1] == ["sd-1.4", "2022-08-22", "yes", "40", "0.875 [0.775, 0.975]", "0.625 [0.525, 0.725]"]
    assert table[2] == ["stylegan2", "2019-12-03", "no", "10 (small)", "0.000 [0.000, 0.278]",
                        "0.100 [0.000, 0.278]"]  # fmt: skip
    assert "<td class='small'>0.000 [0.000, 0.278]</td>" in page  # the small-n rate is marked


def test_per_real_source_fpr(page):
    table = parse(page).tables["real-sources"]
    assert table[1] == ["coco", "35", "0.114 [0.020, 0.200]", "0.200 [0.020, 0.200]"]
    assert table[2] == ["ffhq", "15 (small)", "0.333 [0.100, 0.600]", "0.400 [0.100, 0.600]"]


def test_verdict_breakdown_counts_per_class(page):
    table = parse(page).tables["verdicts"]
    assert table[0][3:6] == ["GENUINE", "UNCERTAIN", "SYNTHETIC"]
    # 50 reals: 10% SYNTHETIC, 20% UNCERTAIN -> 35 GENUINE; 50 fakes: 72% SYNTHETIC, 8% UNCERTAIN -> 10
    assert table[1] == ["clip_probe", "real", "50", "35 (70%)", "10 (20%)", "5 (10%)", "2"]
    assert table[2] == ["clip_probe", "synthetic", "50", "10 (20%)", "4 (8%)", "36 (72%)", "0"]
    assert table[3][:6] == ["spectral@authors", "real", "50", "40 (80%)", "0 (0%)", "10 (20%)"]


def test_thresholds_and_where_they_came_from(page):
    table = parse(page).tables["thresholds"]
    assert table[1] == ["clip_probe", "0.300", "0.700", "0.550",
                        "chosen on a validation split of the training data (toy), n = 64"]  # fmt: skip
    assert table[2][1:4] == ["0.500", "0.500", "0.500"] and "authors' operating point" in table[2][4]
    calibrated = {"operating_point": "calibrated", "calibrated_on": ["toy"], "validation_metrics": {"n": 9}}
    assert threshold_source(calibrated) == "calibrated on a validation split of toy, n = 9"
    assert threshold_source({}) == "defaults (no validation data)"


def test_failed_detectors_clip_bias_and_small_n_warning(page):
    parsed = parse(page)
    assert parsed.tables["failed"][1] == ["broken_net", "train-test", "fit", "no weights <x>"]
    assert "no weights &lt;x&gt;" in page  # escaped
    bias = parsed.tables["clip-bias"][1]
    assert bias[:7] == ["clip_probe", "spectral@authors", "train-test", "+0.250 [+0.100, +0.400]",
                        "-0.100 [-0.300, +0.050]", "–", "+0.350 [+0.120, +0.600]"]  # fmt: skip
    assert bias[7] == "sd-1.4 (yes): +0.250 [+0.100, +0.400]"
    warning = next(p for p in parsed.paragraphs if p.startswith("Small groups"))
    assert "per_generator/stylegan2 (n = 10)" in warning and warning.count("(n = ") == 1


def test_one_offline_file_with_figures_as_text_and_the_interval_note(page):
    assert "http://" not in page and "https://" not in page  # no fetches, no namespaces, no metadata URLs
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert re.findall(r"url\((?!#)", page) == [] and re.findall(r"href=\"(?!#)", page) == []  # local ids only
    assert page.count("<svg") == 3  # ROC, reliability, per generator (one condition: no robustness)
    ids = re.findall(r'\sid="([^"]*)"', page)
    assert ids and len(ids) == len(set(ids))  # several inline SVGs, no id twice on the page
    assert "<text" in page and "<?xml" not in page and "<!DOCTYPE svg" not in page
    note = parse(page).paragraphs[0]
    assert "95% percentile bootstrap intervals (500 resamples)" in note and "Wilson score interval" in note


def test_the_page_is_deterministic(page, tmp_path):
    assert build_report([tmp_path / "results.json"]) == page
