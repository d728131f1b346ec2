"""Metrics against scikit-learn and hand-computed cases; bootstrap intervals that behave."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    roc_auc_score,
    roc_curve,
)

from negate_sdk.bench.metrics import MIN_GROUP_N, compute_metrics, paired_bootstrap_delta, wilson_interval


def simulate(n=600, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 1.2 * (2 * y - 1))))
    if ties:
        score = np.round(score, 1)
    pred = (score >= 0.5).astype(int)
    return y, score, pred


@pytest.mark.parametrize("ties", [False, True])
def test_point_values_match_scikit_learn(ties):
    y, score, pred = simulate(ties=ties)
    m = compute_metrics(y, score, pred, n_boot=0)
    assert m["auc"]["value"] == pytest.approx(roc_auc_score(y, score))
    assert m["ap"]["value"] == pytest.approx(average_precision_score(y, score))
    assert m["accuracy"]["value"] == pytest.approx(np.mean(pred == y))
    assert m["balanced_accuracy"]["value"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert m["brier"]["value"] == pytest.approx(brier_score_loss(y, score))
    assert m["tpr"]["value"] == pytest.approx(np.mean(pred[y == 1]))
    assert m["fpr"]["value"] == pytest.approx(np.mean(pred[y == 0]))
    assert (m["tpr"]["n"], m["fpr"]["n"], m["auc"]["n"]) == (int(y.sum()), int((1 - y).sum()), len(y))
    fpr, tpr, _ = roc_curve(y, score)
    for key, target in (("tpr_at_fpr_1", 0.01), ("tpr_at_fpr_5", 0.05)):
        assert m[key]["value"] == pytest.approx(tpr[fpr <= target].max())


def test_hand_computed_eer_ece_and_uncertain_rate():
    # scores: reals 0.1, 0.2, 0.6; synthetics 0.4, 0.8, 0.9 -> FNR = FPR = 1/3 at threshold 0.5
    y = np.array([0, 0, 0, 1, 1, 1])
    score = np.array([0.1, 0.2, 0.6, 0.4, 0.8, 0.9])
    pred = (score >= 0.5).astype(int)
    uncertain = np.array([0, 0, 1, 1, 0, 0], bool)
    m = compute_metrics(y, score, pred, uncertain, n_boot=0)
    assert m["eer"]["value"] == pytest.approx(1 / 3)
    assert m["uncertain_rate"]["value"] == pytest.approx(2 / 6)
    # ECE with 15 bins: every score sits alone in its bin; |confidence - outcome| averaged
    expected_ece = np.mean(np.abs(score - y))
    assert m["ece"]["value"] == pytest.approx(expected_ece)


def test_perfect_and_single_class_sets():
    y = np.array([0, 0, 1, 1])
    perfect = compute_metrics(y, np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1]), n_boot=50)
    assert perfect["auc"]["value"] == 1.0 and perfect["eer"]["value"] == 0.0
    assert perfect["tpr_at_fpr_1"]["value"] == 1.0
    reals_only = compute_metrics(np.zeros(5, int), np.linspace(0, 1, 5), np.array([0, 0, 0, 1, 1]), n_boot=50)
    assert reals_only["auc"]["value"] is None and reals_only["auc"]["ci"] == [None, None]
    assert reals_only["fpr"]["value"] == pytest.approx(0.4) and reals_only["fpr"]["n"] == 5
    assert reals_only["tpr"]["value"] is None
    assert compute_metrics(np.array([], int), np.array([]), np.array([]))["auc"] == {
        "value": None,
        "ci": [None, None],
        "n": 0,
        "small_n": True,
    }


def test_bootstrap_is_seeded_and_intervals_shrink_with_n():
    y, score, pred = simulate(400)
    a = compute_metrics(y, score, pred, n_boot=300, seed=1)
    b = compute_metrics(y, score, pred, n_boot=300, seed=1)
    c = compute_metrics(y, score, pred, n_boot=300, seed=2)
    assert a == b and a["auc"]["ci"] != c["auc"]["ci"]
    lo, hi = a["auc"]["ci"]
    assert lo < a["auc"]["value"] < hi
    y4, s4, p4 = simulate(6400, seed=3)
    big = compute_metrics(y4, s4, p4, n_boot=300, seed=1)
    width_small = hi - lo
    width_big = big["auc"]["ci"][1] - big["auc"]["ci"][0]
    assert width_big == pytest.approx(width_small / 4, rel=0.35)  # 16x the images, a quarter of the width


def test_bootstrap_interval_covers_the_population_value():
    # population AUC of N(+1.2) vs N(-1.2) logits: Phi(2.4 / sqrt(2))
    from scipy.stats import norm

    truth = norm.cdf(2.4 / np.sqrt(2))
    covered = 0
    for seed in range(40):
        y, score, pred = simulate(300, seed=seed + 100)
        lo, hi = compute_metrics(y, score, pred, metrics=("auc",), n_boot=200, seed=seed)["auc"]["ci"]
        covered += lo <= truth <= hi
    assert covered >= 34  # nominal 95%: 38 of 40 expected; allow sampling slack


def test_paired_delta_recovers_a_planted_bias():
    rng = np.random.default_rng(0)
    n = 4000
    groups = rng.choice(["sd14", "sdxl", "stylegan2", "pixart"], n)
    clip_generators = np.isin(groups, ["sd14", "sdxl"])
    correct_clip = rng.random(n) < np.where(clip_generators, 0.95, 0.80)
    correct_other = rng.random(n) < 0.85
    sign = {"sd14": 0.5, "sdxl": 0.5, "stylegan2": -0.5, "pixart": -0.5}
    delta = paired_bootstrap_delta(np.ones(n), correct_clip, correct_other, groups, sign, n_boot=300)
    # (0.95 - 0.85) - (0.80 - 0.85) = 0.15
    assert delta["value"] == pytest.approx(0.15, abs=0.03)
    assert delta["ci"][0] < delta["value"] < delta["ci"][1] and delta["ci"][0] > 0.08


@pytest.mark.parametrize(
    ("successes", "n", "expected"),
    [
        (0, 10, [0.0, 0.2775]),  # hand-computed: z²/(2n) / (1 + z²/n) twice
        (4, 4, [0.5101, 1.0]),
        (10, 10, [0.7225, 1.0]),
        (5, 10, [0.2366, 0.7634]),
        (1, 2, [0.0945, 0.9055]),
    ],
)
def test_wilson_interval_matches_hand_computed_values(successes, n, expected):
    assert wilson_interval(successes, n) == pytest.approx(expected, abs=5e-5)


def test_wilson_interval_of_nothing_is_undefined():
    assert wilson_interval(0, 0) == [None, None]


def test_tiny_groups_are_flagged_and_all_or_nothing_rates_get_wilson_intervals():
    y = np.array([0, 0, 1, 1])
    m = compute_metrics(y, np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1]), n_boot=200)
    # every resample agrees, so the bootstrap says [1, 1]: kept for AUC, flagged as a small group
    assert m["auc"]["value"] == 1.0 and m["auc"]["small_n"] is True
    # the rates no longer look certain: 2 of 2 synthetics found, 0 of 2 reals flagged, 4 of 4 right
    assert m["tpr"]["ci"] == pytest.approx([0.3424, 1.0], abs=5e-5) and m["tpr"]["n"] == 2
    assert m["fpr"]["ci"] == pytest.approx([0.0, 0.6576], abs=5e-5)
    assert m["accuracy"]["ci"] == pytest.approx([0.5101, 1.0], abs=5e-5)
    assert m["uncertain_rate"]["ci"] == pytest.approx([0.0, 0.4899], abs=5e-5)


def test_small_n_follows_the_count_each_metric_is_about():
    n_real, n_fake = MIN_GROUP_N + 5, MIN_GROUP_N - 1
    y = np.array([0] * n_real + [1] * n_fake)
    score = np.linspace(0, 1, len(y))
    m = compute_metrics(y, score, (score > 0.5).astype(int), n_boot=50)
    assert m["auc"]["small_n"] is False and m["fpr"]["small_n"] is False
    assert m["tpr"]["small_n"] is True and m["synthetic_share_fake"]["small_n"] is True


def test_rates_strictly_between_zero_and_one_keep_their_bootstrap_interval():
    y, score, pred = simulate(n=200)
    m = compute_metrics(y, score, pred, n_boot=200, seed=3)
    k, n = round(m["tpr"]["value"] * m["tpr"]["n"]), m["tpr"]["n"]
    assert 0 < k < n and m["tpr"]["ci"] != pytest.approx(wilson_interval(k, n))
