"""Metrics against hand-computed examples and scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from ecgtriage.evaluate.metrics import (
    compute_metrics,
    multilabel_metrics,
    per_class_frame,
    single_label_metrics,
)

# Hand-worked example (see the comments for each expected number).
P1 = np.array(
    [
        [0.7, 0.2, 0.1],  # true 0, pred 0
        [0.3, 0.6, 0.1],  # true 0, pred 1
        [0.2, 0.5, 0.3],  # true 1, pred 1
        [0.1, 0.8, 0.1],  # true 1, pred 1
        [0.5, 0.1, 0.4],  # true 2, pred 0
        [0.1, 0.2, 0.7],  # true 2, pred 2
        [0.3, 0.3, 0.4],  # unknown tier: excluded
    ]
)
Y1 = np.array([0, 0, 1, 1, 2, 2, -1])


def test_single_label_hand_computed():
    r = single_label_metrics(Y1, P1, class_names=["N", "M", "S"])
    assert r["n_records"] == 6 and r["n_excluded_unknown"] == 1
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    pc = {row["class"]: row for row in r["per_class"]}
    assert pc["N"]["precision"] == pytest.approx(0.5) and pc["N"]["recall"] == pytest.approx(0.5)
    assert pc["M"]["precision"] == pytest.approx(2 / 3) and pc["M"]["f1"] == pytest.approx(0.8)
    assert pc["S"]["recall"] == pytest.approx(0.5) and pc["S"]["f1"] == pytest.approx(2 / 3)
    assert pc["S"]["specificity"] == pytest.approx(1.0)
    assert r["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    # Pairwise counts: class N positives 0.7, 0.3 vs negatives 0.2, 0.1, 0.5, 0.1 -> 7/8.
    assert pc["N"]["auroc"] == pytest.approx(7 / 8)
    assert pc["M"]["auroc"] == pytest.approx(7 / 8)
    assert pc["S"]["auroc"] == pytest.approx(1.0)
    # AP class N: ranks .7(P) .5(N) .3(P) -> 0.5*1 + 0.5*2/3.
    assert pc["N"]["auprc"] == pytest.approx(0.5 + 1 / 3)
    assert r["macro_auroc"] == pytest.approx((7 / 8 + 7 / 8 + 1) / 3)
    assert r["n_classes_auroc"] == 3
    json.dumps(r, allow_nan=False)


def test_single_label_class_without_positives_is_undefined_and_excluded():
    p = np.hstack([P1, np.zeros((7, 1))])
    p[4] = [0.1, 0.1, 0.2, 0.6]  # predicted as the empty class 3 -> a false positive there
    r = single_label_metrics(Y1, p)
    pc = r["per_class"]
    assert pc[3]["support"] == 0 and pc[3]["n_predicted"] == 1
    assert pc[3]["f1"] is None and pc[3]["recall"] is None and pc[3]["auroc"] is None
    assert pc[3]["precision"] == 0.0
    assert r["n_classes_f1"] == 3 and r["n_classes_auroc"] == 3
    known = Y1 >= 0
    ref = f1_score(Y1[known], p[known].argmax(1), labels=[0, 1, 2], average="macro")
    assert r["macro_f1"] == pytest.approx(ref)


def test_single_label_y_pred_overrides_argmax_and_class_mask():
    y_pred = np.array([0, 0, 1, 1, 2, 2, 0])
    r = single_label_metrics(Y1, P1, y_pred=y_pred, class_mask=[True, True, False])
    assert r["accuracy"] == 1.0
    assert r["n_classes_f1"] == 2 and r["n_classes_auroc"] == 2
    assert r["macro_auroc"] == pytest.approx(7 / 8)


def test_multilabel_hand_computed():
    y = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]])
    p = np.array([[0.9, 0.2, 0.1], [0.4, 0.7, 0.6], [0.6, 0.8, 0.2], [0.1, 0.3, 0.4]])
    r = multilabel_metrics(y, p, thresholds=[0.5, 0.5, 0.5], class_names=["1", "50", "88"])
    assert r["accuracy"] == pytest.approx(0.5)
    assert r["hamming_accuracy"] == pytest.approx(9 / 12)
    assert r["micro_f1"] == pytest.approx(6 / 9)
    c0, c1, c2 = r["per_class"]
    assert c0["confusion"] == [[1, 1], [1, 1]] and c0["f1"] == pytest.approx(0.5)
    assert c1["f1"] == 1.0 and c1["confusion"] == [[2, 0], [0, 2]]
    assert c2["f1"] is None and c2["auroc"] is None and c2["precision"] == 0.0
    assert r["macro_f1"] == pytest.approx(0.75) and r["n_classes_f1"] == 2
    assert c0["auroc"] == pytest.approx(0.75) and c1["auroc"] == 1.0
    assert r["n_classes_auroc"] == 2
    # Per-class thresholds change the decision: class 1 at 0.35 adds the 0.4 record.
    r2 = multilabel_metrics(y, p, thresholds=[0.35, 0.5, 0.5])
    assert r2["per_class"][0]["recall"] == 1.0
    json.dumps(r, allow_nan=False)


def test_multilabel_matches_sklearn_on_random_data():
    rng = np.random.default_rng(3)
    y = rng.random((200, 5)) < [0.5, 0.2, 0.05, 0.3, 0.0]
    p = np.clip(y * 0.3 + rng.random((200, 5)) * 0.7, 0, 1)
    r = compute_metrics(y, p, multilabel=True, thresholds=0.5)
    for c in range(4):
        assert r["per_class"][c]["auroc"] == pytest.approx(roc_auc_score(y[:, c], p[:, c]))
        assert r["per_class"][c]["auprc"] == pytest.approx(average_precision_score(y[:, c], p[:, c]))
        assert r["per_class"][c]["f1"] == pytest.approx(f1_score(y[:, c], p[:, c] >= 0.5))
    assert r["n_classes_auroc"] == 4
    frame = per_class_frame(r)
    assert list(frame["class"]) == ["0", "1", "2", "3", "4"]


def test_bad_inputs_name_the_field():
    with pytest.raises(ValueError, match=r"y_true: expected class indices in \[-1, 2\], found 3"):
        single_label_metrics(np.array([0, 3]), np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="proba: expected probabilities in"):
        single_label_metrics(np.array([0, 1]), np.full((2, 3), 2.0))
    with pytest.raises(ValueError, match=r"y_true: expected shape \(2, 3\)"):
        multilabel_metrics(np.zeros((2, 2)), np.zeros((2, 3)))


def test_probabilities_a_few_ulps_above_one_are_clipped_not_refused():
    from ecgtriage.evaluate._checks import as_proba

    arr = as_proba(np.array([[1.0000001, 0.0], [0.5, 0.5]]))
    assert arr.max() == 1.0
    with pytest.raises(ValueError, match=r"expected probabilities in \[0, 1\], found range \[0, 1.1\]"):
        as_proba(np.array([[1.1, 0.0]]))
