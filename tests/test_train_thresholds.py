"""Decision thresholds tuned on hand-built validation predictions."""

from __future__ import annotations

import numpy as np
import pytest

from ecgtriage.evaluate.collapse import serious_operating_point
from ecgtriage.train.thresholds import (apply_f1_thresholds, fallback_thresholds,
                                        tune_f1_thresholds, tune_serious_threshold)


def test_f1_thresholds_known_answer():
    y = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0], [0, 1, 0]])
    p = np.array([
        [0.9, 0.2, 0.1],
        [0.6, 0.3, 0.2],
        [0.7, 0.4, 0.3],
        [0.1, 0.5, 0.4],
        [0.2, 0.8, 0.5],
    ])
    t = tune_f1_thresholds(y, p, eligible=np.array([True, True, True]))
    # Class 0: threshold 0.6 calls {0.9, 0.7, 0.6} → P=2/3, R=1, F1=0.8; 0.9 gives F1=2/3 and
    # 0.7 gives 0.5: best 0.6. Class 1: 0.8 → P=1, R=1/2, F1=2/3; 0.4 → {0.8,0.5,0.4}: P=2/3,
    # R=1, F1=0.8: best 0.4. Class 2: no positive → None.
    assert t == [pytest.approx(0.6), pytest.approx(0.4), None]
    decisions = apply_f1_thresholds(p, t)
    assert decisions[:, 0].tolist() == [True, True, True, False, False]
    assert not decisions[:, 2].any()


def test_ineligible_class_never_gets_a_threshold():
    y = np.array([[1, 1], [0, 0]])
    p = np.array([[0.9, 0.9], [0.1, 0.1]])
    assert tune_f1_thresholds(y, p, eligible=np.array([True, False])) == [pytest.approx(0.9), None]


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"expected equal \(N, C\) shapes, found \(2, 2\) and \(2, 3\)"):
        tune_f1_thresholds(np.zeros((2, 2)), np.zeros((2, 3)))


def test_serious_threshold_reaches_target_sensitivity():
    # Five Serious records (class 2) scored 0.9, 0.7, 0.5, 0.3, 0.1; target 0.8 → 4 of 5 must be
    # caught, so the largest such threshold is the 4th highest score, 0.3.
    y = np.array([2, 2, 2, 2, 2, 0, 1, 0])
    serious = np.array([0.9, 0.7, 0.5, 0.3, 0.1, 0.35, 0.2, 0.05])
    p = np.stack([(1 - serious) / 2, (1 - serious) / 2, serious], axis=1)
    op = tune_serious_threshold(y, p, serious=2, target_sensitivity=0.8)
    assert op["threshold"] == pytest.approx(0.3)
    assert op["sensitivity"] == pytest.approx(0.8)
    assert op["specificity"] == pytest.approx(2 / 3)  # the 0.35 non-Serious record is called
    assert op["n_serious"] == 5


def test_serious_threshold_without_serious_records_is_none():
    op = tune_serious_threshold(np.array([0, 1]), np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]]), 2)
    assert op["threshold"] is None and op["n_serious"] == 0


def test_tier_rule_differs_from_argmax_as_documented():
    p = np.array([
        [0.50, 0.20, 0.30],  # argmax Normal; P(Serious)=0.30 ≥ 0.25 → Serious
        [0.10, 0.30, 0.60],  # Serious either way
        [0.45, 0.35, 0.20],  # argmax Normal; below threshold → Normal
        [0.30, 0.36, 0.34],  # argmax Monitor; Serious 0.34 ≥ 0.25 → Serious
    ])
    assert serious_operating_point(p, 2, None).tolist() == [0, 2, 0, 1]
    assert serious_operating_point(p, 2, 0.25).tolist() == [2, 2, 0, 2]
    # A high threshold sends a Serious-argmax record to the best other class.
    assert serious_operating_point(p, 2, 0.7).tolist() == [0, 1, 0, 1]


def test_class_with_too_few_validation_positives_gets_the_weighted_fallback():
    # Class 1 has one validation positive: its F1 optimum (0.05, catching it) is noise, so it
    # gets w/(1+w) of its positive weight w=3 instead; class 0 (3 positives) is tuned.
    y = np.array([[1, 0], [1, 0], [1, 1], [0, 0], [0, 0]])
    p = np.array([[0.9, 0.3], [0.8, 0.2], [0.7, 0.05], [0.2, 0.6], [0.1, 0.1]])
    fallback = fallback_thresholds(np.array([1.0, 3.0]), 2)
    assert fallback.tolist() == [0.5, 0.75]
    t = tune_f1_thresholds(y, p, eligible=np.array([True, True]), min_positives=3, fallback=fallback)
    assert t == [pytest.approx(0.7), pytest.approx(0.75)]
    # Without a fallback such a class stays untuned.
    assert tune_f1_thresholds(y, p, min_positives=3)[1] is None


def test_serious_operating_point_needs_enough_serious_records():
    y = np.array([0, 1, 2, 2])
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.5, 0.49, 0.01]])
    op = tune_serious_threshold(y, p, serious=2, target_sensitivity=0.8, min_serious=3)
    assert op["threshold"] is None and op["n_serious"] == 2
    assert op["reason"].startswith("2 Serious validation record(s), fewer than the 3 needed")
    assert tune_serious_threshold(y, p, serious=2, min_serious=2)["threshold"] == pytest.approx(0.01)
