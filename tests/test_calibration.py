"""Calibration and thresholds against seeded simulations with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from negate_sdk.calibration import (
    IsotonicCalibrator,
    PlattCalibrator,
    calibrator_from_dict,
    choose_thresholds,
    make_calibrator,
)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def draw_scores(rng, n_real, n_synthetic):
    """Raw head scores: Beta(2, 5) for reals, Beta(5, 2) for synthetics."""
    scores = np.concatenate([rng.beta(2, 5, n_real), rng.beta(5, 2, n_synthetic)])
    y = np.concatenate([np.zeros(n_real, int), np.ones(n_synthetic, int)])
    return scores, y


def test_thresholds_meet_their_targets_on_validation_and_generalise():
    rng = np.random.default_rng(7)
    val_scores, val_y = draw_scores(rng, 2000, 2000)
    t = choose_thresholds(val_scores, val_y, target_fpr=0.01, target_miss=0.05)
    real, synthetic = val_scores[val_y == 0], val_scores[val_y == 1]
    assert np.mean(real >= t.t_synthetic) <= 0.01  # by construction on the validation data
    assert np.mean(synthetic < t.t_genuine) <= 0.05
    assert np.mean(real >= t.t_synthetic) == pytest.approx(0.01, abs=1 / 2000)  # and not needlessly strict
    # On fresh images from the same distribution the rates stay near target: the 20th-largest of 2000
    # reals is a quantile estimate with standard error sqrt(0.01 * 0.99 / 2000) ~ 0.0022.
    test_scores, test_y = draw_scores(rng, 200_000, 200_000)
    fresh_fpr = np.mean(test_scores[test_y == 0] >= t.t_synthetic)
    fresh_miss = np.mean(test_scores[test_y == 1] < t.t_genuine)
    assert 0.01 - 3 * 0.0022 <= fresh_fpr <= 0.01 + 3 * 0.0022
    assert 0.05 - 3 * 0.0049 <= fresh_miss <= 0.05 + 3 * 0.0049
    # the analytic threshold: the 99th percentile of Beta(2, 5)
    from scipy.stats import beta

    assert t.t_synthetic == pytest.approx(beta.ppf(0.99, 2, 5), abs=0.02)
    assert t.t_genuine == pytest.approx(beta.ppf(0.05, 5, 2), abs=0.02)
    assert t.t_genuine <= t.t_synthetic


def test_hand_computed_thresholds():
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.9, 0.6, 0.7, 0.8, 0.95, 0.35])
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    # target_fpr 0.2 of 5 reals: one real (0.9) may sit at or above; the next highest real is 0.4
    t = choose_thresholds(scores, y, target_fpr=0.2, target_miss=0.2)
    assert t.t_synthetic == np.nextafter(0.4, 1)
    # one of 5 synthetics may fall below t_genuine: the second lowest synthetic, 0.6, which is above
    # t_synthetic, so t_genuine is capped there and the UNCERTAIN band is empty
    assert t.t_genuine == t.t_synthetic == np.nextafter(0.4, 1)
    strict = choose_thresholds(scores, y, target_fpr=0.0, target_miss=0.0)
    assert strict.t_synthetic == np.nextafter(0.9, 1) and strict.t_genuine == 0.35


def test_thresholds_need_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        choose_thresholds(np.array([0.1, 0.2]), np.array([0, 0]))


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibration_improves_brier_of_a_miscalibrated_head(method):
    rng = np.random.default_rng(3)

    def draw(n):
        z = rng.normal(0, 1.5, n)
        y = (rng.random(n) < sigmoid(z)).astype(int)
        raw = sigmoid(3 * z + 1.0)  # overconfident and biased toward synthetic
        return raw, y, sigmoid(z)

    raw_val, y_val, _ = draw(5000)
    raw_test, y_test, truth = draw(50_000)
    calibrator = make_calibrator(method).fit(raw_val, y_val)
    brier_raw = np.mean((raw_test - y_test) ** 2)
    brier_cal = np.mean((calibrator.transform(raw_test) - y_test) ** 2)
    brier_oracle = np.mean((truth - y_test) ** 2)
    assert brier_cal < brier_raw - 0.01
    assert brier_cal == pytest.approx(brier_oracle, abs=0.003)


def test_platt_recovers_known_parameters():
    rng = np.random.default_rng(11)
    s = rng.uniform(0.001, 0.999, 200_000)
    logit = np.log(s / (1 - s))
    y = (rng.random(len(s)) < sigmoid(0.5 * logit - 1.0)).astype(int)
    platt = PlattCalibrator().fit(s, y)
    assert platt.a == pytest.approx(0.5, abs=0.02)
    assert platt.b == pytest.approx(-1.0, abs=0.03)


def test_calibrators_round_trip_through_json_state():
    rng = np.random.default_rng(0)
    raw = rng.random(300)
    y = (rng.random(300) < raw).astype(int)
    probe = np.linspace(0, 1, 17)
    for method in ("none", "sigmoid", "isotonic"):
        fitted = make_calibrator(method).fit(raw, y)
        rebuilt = calibrator_from_dict(fitted.to_dict())
        np.testing.assert_array_equal(rebuilt.transform(probe), fitted.transform(probe))
    iso = IsotonicCalibrator().fit(raw, y)
    assert np.all(np.diff(iso.transform(probe)) >= 0)


def test_unknown_calibration_is_refused():
    with pytest.raises(ValueError, match="unknown calibration 'platt'"):
        make_calibrator("platt")
