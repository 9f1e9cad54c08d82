"""ECE and reliability data against hand-computed values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecgtriage.evaluate.calibration import bin_index, calibration_report, reliability


def test_bins_are_right_closed():
    assert bin_index([0.0, 0.1, 0.2, 0.21, 1.0], 5).tolist() == [0, 0, 0, 1, 4]


def test_top_label_ece_hand_computed():
    p = np.array([[0.9, 0.1], [0.3, 0.7], [0.58, 0.42], [0.45, 0.55], [0.5, 0.5]])
    y = np.array([0, 0, 0, 1, -1])
    r = calibration_report(y, p, multilabel=False, n_bins=5)
    # bins: (0.4,0.6] -> .58 ok, .55 ok; (0.6,0.8] -> .7 wrong; (0.8,1] -> .9 ok
    assert r["ece"] == pytest.approx((2 * abs(1 - 0.565) + 0.7 + 0.1) / 4)
    d = r["diagram"]
    assert d["count"] == [0, 0, 2, 1, 1]
    assert d["accuracy"][:2] == [None, None]
    assert d["accuracy"][2:] == [1.0, 0.0, 1.0]
    assert d["confidence"][2] == pytest.approx(0.565)
    assert d["centre"] == pytest.approx([0.1, 0.3, 0.5, 0.7, 0.9])
    # Brier: (0.01+0.01) + (0.49+0.49) + (0.1764+0.1764) + (0.2025+0.2025), mean of 4
    assert r["brier"] == pytest.approx((0.02 + 0.98 + 0.3528 + 0.405) / 4)
    json.dumps(r, allow_nan=False)


def test_per_class_ece_hand_computed():
    p = np.array([[0.1, 0.2], [0.3, 0.2], [0.9, 0.6], [0.7, 0.6]])
    y = np.array([[0, 0], [1, 0], [1, 1], [1, 0]])
    r = calibration_report(y, p, multilabel=True, n_bins=2, class_names=["50", "60"])
    assert r["per_class"][0]["ece"] == pytest.approx(0.25)
    assert r["per_class"][1]["ece"] == pytest.approx(0.15)
    assert r["ece"] == pytest.approx(0.2) and r["n_classes_ece"] == 2
    masked = calibration_report(y, p, multilabel=True, n_bins=2, class_mask=[False, True])
    assert masked["ece"] == pytest.approx(0.15)
    assert r["diagram"]["count"] == [4, 4]


def test_perfectly_calibrated_sample_has_small_ece():
    rng = np.random.default_rng(0)
    conf = rng.random(200_000)
    outcome = rng.random(conf.size) < conf
    assert reliability(conf, outcome, 10)["ece"] < 0.01
    assert reliability(conf, np.ones(conf.size), 10)["ece"] == pytest.approx(1 - conf.mean(), abs=1e-9)
