"""Weighted tier metrics equal scikit-learn's with sample weights, row by row."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score, roc_curve

from ecgtriage.evaluate.weighted import (sensitivity_at_specificity,
                                         specificity_at_sensitivity, weighted_accuracy,
                                         weighted_macro_f1, weighted_recall,
                                         weighted_specificity)


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 200)
    yp = np.where(rng.random(200) < 0.7, y, rng.integers(0, 3, 200))
    w = rng.integers(0, 3, (5, 200)).astype(float)
    return y, yp, w


def test_accuracy_and_macro_f1_match_sklearn_per_weight_row(data):
    y, yp, w = data
    acc = weighted_accuracy(y, yp, w)
    f1 = weighted_macro_f1(y, yp, 3, w)
    for b in range(w.shape[0]):
        assert acc[b] == pytest.approx(accuracy_score(y, yp, sample_weight=w[b]))
        assert f1[b] == pytest.approx(f1_score(y, yp, labels=[0, 1, 2], average="macro",
                                               sample_weight=w[b], zero_division=0))
    assert weighted_accuracy(y, yp)[0] == pytest.approx(accuracy_score(y, yp))


def test_absent_class_stays_in_the_macro_average():
    """A resample without any Serious record keeps Serious in the mean (F1 0), so a rare
    class with F1 0 cannot vanish and lift the interval."""
    y = np.array([0, 0, 1, 1, 2])
    yp = np.array([0, 0, 1, 1, 0])
    w = np.array([[1, 1, 1, 1, 0.0]])  # the Serious record not drawn
    assert weighted_macro_f1(y, yp, 3, w)[0] == pytest.approx(2 / 3)


def test_recall_and_specificity(data):
    y, yp, w = data
    pos, called = y == 2, yp == 2
    r = weighted_recall(pos, called, w)
    s = weighted_specificity(pos, called, w)
    for b in range(w.shape[0]):
        assert r[b] == pytest.approx(recall_score(pos, called, sample_weight=w[b]))
        assert s[b] == pytest.approx(recall_score(~pos, ~called, sample_weight=w[b]))
    assert np.isnan(weighted_recall(np.zeros(3, bool), np.ones(3, bool))[0])


def test_matched_operating_points_read_the_roc():
    rng = np.random.default_rng(0)
    pos = rng.random(300) < 0.2
    score = rng.normal(pos * 1.5, 1.0)
    fpr, tpr, _ = roc_curve(pos, score)
    want = tpr[(1 - fpr) >= 0.9].max()
    assert sensitivity_at_specificity(score, pos, 0.9)[0] == pytest.approx(want)
    want_spec = (1 - fpr)[tpr >= 0.8].max()
    assert specificity_at_sensitivity(score, pos, 0.8)[0] == pytest.approx(want_spec)


def test_matched_point_known_answer_with_ties():
    score = np.array([0.9, 0.8, 0.8, 0.3, 0.2, 0.1])
    pos = np.array([True, True, False, True, False, False])
    # >= 0.9: 1/3 of positives at specificity 1; >= 0.8 (a tie): 2/3 at 2/3; >= 0.3: all
    # positives, still at specificity 2/3.
    assert sensitivity_at_specificity(score, pos, 0.9)[0] == pytest.approx(1 / 3)
    assert sensitivity_at_specificity(score, pos, 0.6)[0] == pytest.approx(1.0)
    assert sensitivity_at_specificity(score, pos, 1.0)[0] == pytest.approx(1 / 3)
    assert specificity_at_sensitivity(score, pos, 1.0)[0] == pytest.approx(2 / 3)
