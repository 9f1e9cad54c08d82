"""Binomial intervals, paired bootstrap differences, seed spread and verdicts against known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import binomtest

from ecgtriage.evaluate.intervals import (
    equivalence_verdict,
    exact_interval,
    paired_bootstrap_difference,
    proportion_ci,
    seed_spread_ci,
    superiority_verdict,
    wilson_interval,
)

Z = 1.959963984540054


@pytest.mark.parametrize(
    ("k", "low", "high"),
    [
        # Hand-computed: 0/n -> [0, z^2/(n+z^2)]; 5/10 -> 0.5 ± z*sqrt(0.025+z^2/400)/(1+z^2/10).
        (0, 0.0, Z**2 / (10 + Z**2)),
        (5, 0.5 - Z * math.sqrt(0.025 + Z**2 / 400) / (1 + Z**2 / 10),
         0.5 + Z * math.sqrt(0.025 + Z**2 / 400) / (1 + Z**2 / 10)),
        (10, 10 / (10 + Z**2), 1.0),
    ],
)
def test_wilson_known_answers(k, low, high):
    lo, hi = wilson_interval(k, 10)
    assert lo == pytest.approx(low, abs=1e-9) and hi == pytest.approx(high, abs=1e-9)


def test_wilson_published_values():
    # Newcombe (Stat Med 1998), table I: 0/10 -> 0-0.2775, 81/263 -> 0.2553-0.3662.
    assert wilson_interval(0, 10)[1] == pytest.approx(0.2775, abs=5e-5)
    lo, hi = wilson_interval(81, 263)
    assert (lo, hi) == pytest.approx((0.2553, 0.3662), abs=5e-5)


@pytest.mark.parametrize(("k", "n"), [(0, 7), (3, 7), (7, 7), (12, 40)])
def test_exact_equals_scipy_clopper_pearson(k, n):
    ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert exact_interval(k, n) == pytest.approx((ref.low, ref.high))
    # Clopper-Pearson is never narrower than Wilson at these counts.
    wl, wh = wilson_interval(k, n)
    assert exact_interval(k, n)[0] <= wl + 1e-12 and exact_interval(k, n)[1] >= wh - 1e-12


def test_proportion_ci_dict_and_empty():
    d = proportion_ci(3, 7, method="exact")
    assert d["value"] == pytest.approx(3 / 7) and d["method"] == "exact" and d["n"] == 7
    assert (d["low"], d["high"]) == pytest.approx(exact_interval(3, 7))
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    empty = proportion_ci(0, 0)
    assert empty["value"] is None and empty["low"] is None
    json.dumps(empty, allow_nan=False)
    with pytest.raises(ValueError, match="method: expected one of"):
        proportion_ci(1, 2, method="wald")
    with pytest.raises(ValueError, match="0 <= k <= n"):
        wilson_interval(5, 3)


def _accuracy(inputs, w):
    y, pred = inputs
    return (w @ (y == pred).astype(float)) / w.sum(axis=1)


def _paired_data(seed=0):
    rng = np.random.default_rng(seed)
    pids = np.repeat(np.arange(200), 5)  # 200 patients, 5 records each
    y = rng.integers(0, 3, pids.size)
    b_right = rng.random(pids.size) < 0.7
    pred_b = np.where(b_right, y, (y + 1) % 3)
    return y, pred_b, b_right, pids, rng


def test_paired_identical_predictions_give_zero():
    y, pred_b, _, pids, _ = _paired_data()
    res = paired_bootstrap_difference(_accuracy, (y, pred_b), (y, pred_b.copy()), pids,
                                      n_boot=200, seed=0)
    assert res["difference"] == 0.0 and res["low"] == 0.0 and res["high"] == 0.0
    assert res["p_value"] == 1.0 and res["n_boot"] == 200
    json.dumps(res, allow_nan=False)


def test_paired_better_scheme_excludes_zero():
    y, pred_b, b_right, pids, rng = _paired_data(1)
    # A is right wherever B is, plus on 10 % of all records (same patients) where B is wrong.
    wrong = np.flatnonzero(~b_right)
    fix = rng.choice(wrong, size=y.size // 10, replace=False)
    pred_a = pred_b.copy()
    pred_a[fix] = y[fix]
    res = paired_bootstrap_difference(_accuracy, (y, pred_a), (y, pred_b), pids, n_boot=500, seed=2)
    assert res["difference"] == pytest.approx(0.10)
    assert 0.0 < res["low"] < 0.10 < res["high"]
    assert res["p_value"] < 0.01
    # Pairing matters: the difference's interval is much narrower than A's own interval.
    assert res["high"] - res["low"] < 0.05
    assert superiority_verdict(res, 0.0) == "supported"
    assert equivalence_verdict(res, 0.02) == "not supported"
    # Swapping the schemes mirrors the result.
    rev = paired_bootstrap_difference(_accuracy, (y, pred_b), (y, pred_a), pids, n_boot=500, seed=2)
    assert rev["low"] == pytest.approx(-res["high"]) and rev["high"] == pytest.approx(-res["low"])


def test_seed_spread_mixture_includes_between_seed_variance():
    rng = np.random.default_rng(3)
    between, within, k = 0.03, 0.04, 60
    points = 0.8 + between * rng.standard_normal(k)
    boots = [p + within * rng.standard_normal(2000) for p in points]
    res = seed_spread_ci(points, boots)
    assert res["method"] == "mixture" and res["n_seeds"] == k
    assert res["sd"] == pytest.approx(between, abs=0.008)
    assert res["within_sd"] == pytest.approx(within, abs=0.002)
    total = math.hypot(between, within)  # 0.05
    assert res["low"] == pytest.approx(res["mean"] - Z * total, abs=0.012)
    assert res["high"] == pytest.approx(res["mean"] + Z * total, abs=0.012)
    # The first seed's bootstrap interval alone is narrower than the one with seed variance.
    lo1, hi1 = np.percentile(boots[0], [2.5, 97.5])
    assert hi1 - lo1 < 0.85 * (res["high"] - res["low"])


def test_seed_spread_t_prediction_known_answer():
    res = seed_spread_ci([1.0, 2.0, 3.0], None)
    half = 4.302652729911275 * 1.0 * math.sqrt(1 + 1 / 3)
    assert res["method"] == "t-prediction" and res["sd"] == pytest.approx(1.0)
    assert (res["low"], res["high"]) == pytest.approx((2 - half, 2 + half))
    one = seed_spread_ci([0.5])
    assert one["mean"] == 0.5 and one["low"] is None
    with pytest.raises(ValueError, match="one replicate array per seed"):
        seed_spread_ci([0.1, 0.2], [np.ones(3)])


@pytest.mark.parametrize(
    ("low", "high", "equivalence", "superiority"),
    [
        (-0.01, 0.015, "supported", "inconclusive"),       # inside ±0.02; contains 0
        (-0.05, 0.05, "inconclusive", "inconclusive"),     # wide: never "supported"
        (0.03, 0.06, "not supported", "supported"),        # beyond +margin
        (-0.06, -0.03, "not supported", "not supported"),  # beyond -margin
        (0.005, 0.015, "supported", "supported"),
        (float("nan"), 0.01, "inconclusive", "inconclusive"),
    ],
)
def test_verdicts(low, high, equivalence, superiority):
    ci = {"low": low, "high": high}
    assert equivalence_verdict(ci, 0.02) == equivalence
    assert superiority_verdict(ci, 0.0) == superiority


def test_superiority_with_margin_and_non_inferiority():
    ci = {"low": 0.01, "high": 0.04}
    assert superiority_verdict(ci, 0.02) == "inconclusive"
    assert superiority_verdict(ci, 0.005) == "supported"
    assert superiority_verdict(ci, 0.05) == "not supported"
    # Non-inferiority (negative margin): A at most 2 points worse.
    assert superiority_verdict({"low": -0.015, "high": 0.01}, -0.02) == "supported"
    assert equivalence_verdict({"low": None, "high": None}, 0.02) == "inconclusive"
    with pytest.raises(ValueError, match="margin"):
        equivalence_verdict(ci, -0.1)
