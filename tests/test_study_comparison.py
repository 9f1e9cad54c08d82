"""The scheme comparison's pieces on hand-built inputs: Serious code sets read off the label
rules, the aha44 Serious score, tier answers, metrics per row with Wilson intervals."""

from __future__ import annotations

import numpy as np
import pytest

from ecgtriage.labels import load_scheme
from ecgtriage.study.config import EvaluationConfig
from ecgtriage.study.sections.comparison import (METRICS, Answer, _row, aha44_scores,
                                                 code_score_sets, metric_matrix)

AHA = tuple(load_scheme("aha44").classes)


def test_serious_code_sets_follow_the_label_rules():
    sets, abnormal = code_score_sets(AHA)
    named = {tuple(AHA[i] for i in s) for s in sets}
    assert ("88",) in named  # complete AV block is Serious on its own
    assert ("50", "108") in named  # pre-excited AF: Serious only as a pair
    assert ("51", "108") in named  # pre-excited flutter, like pre-excited AF (labels.md 7)
    assert ("50",) not in named and ("108",) not in named
    assert AHA.index("1") not in abnormal and len(abnormal) == len(AHA) - 1


def test_aha44_serious_score_is_the_best_serious_set():
    p = np.zeros((3, len(AHA)))
    p[0, AHA.index("88")] = 0.7
    p[1, [AHA.index("50"), AHA.index("108")]] = [0.9, 0.4]  # a pair scores its weaker code
    p[2, AHA.index("1")] = 0.95
    serious, abnormal = aha44_scores(p, AHA)
    np.testing.assert_allclose(serious, [0.7, 0.4, 0.0])
    np.testing.assert_allclose(abnormal, [0.7, 0.9, 0.0])


def test_metric_matrix_and_wilson_row_on_hand_counts():
    y = np.array([0, 0, 1, 1, 2, 2, 2, 0])
    dec = np.array([0, 1, 1, 1, 2, 2, 0, 0])
    score = np.array([0.1, 0.2, 0.3, 0.2, 0.9, 0.8, 0.4, 0.0])
    a = Answer(dec, score, 1 - np.array([0.9, 0.5, 0.4, 0.3, 0.05, 0.1, 0.3, 0.8]))
    m = dict(zip(METRICS, metric_matrix(a, y, np.ones((1, y.size)))[0]))
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["serious_sensitivity"] == pytest.approx(2 / 3)
    assert m["serious_specificity"] == pytest.approx(1.0)
    assert m["serious_auroc"] == pytest.approx(1.0)  # every Serious scores above the rest
    assert m["sensitivity_at_matched_specificity"] == pytest.approx(1.0)
    row = _row("tier3", "learned", "default", [a], y, [f"p{i}" for i in range(8)],
               EvaluationConfig(bootstrap=50))
    sens = row["metrics"]["serious_sensitivity"]
    assert (sens["k"], sens["n"], sens["interval"]) == (2, 3, "wilson")
    assert sens["lo"] < 2 / 3 < sens["hi"]
    acc = row["metrics"]["accuracy"]
    assert acc["lo"] <= acc["value"] <= acc["hi"]


def test_a_ceiling_row_has_no_scores_and_is_perfect_on_its_own_targets():
    y = np.array([0, 1, 2, 2, 1])
    row = _row("tier3", "ceiling", "default", [Answer(y)], y, list("abcde"),
               EvaluationConfig(bootstrap=20))
    assert row["metrics"]["accuracy"]["value"] == 1.0
    assert row["metrics"]["serious_auroc"] is None
