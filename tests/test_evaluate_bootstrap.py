"""Patient-level bootstrap: weighted metrics equal scikit-learn, cluster vs ordinary bootstrap."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from ecgtriage.evaluate.bootstrap import (
    bootstrap_metrics,
    bootstrap_statistic,
    cluster_weights,
    patient_index,
    weighted_auroc,
    weighted_average_precision,
)
from ecgtriage.evaluate.metrics import compute_metrics


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3)) + 1.5 * np.eye(3)[y]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, np.round(p, 2)  # rounding creates ties


def test_weighted_auc_equals_sklearn_with_sample_weight():
    y, p = _data()
    w = np.random.default_rng(1).integers(0, 4, size=(3, y.size)).astype(float)
    yb = y == 1
    auroc = weighted_auroc(p[:, 1], yb, w)
    ap = weighted_average_precision(p[:, 1], yb, w)
    for b in range(3):
        assert auroc[b] == pytest.approx(roc_auc_score(yb, p[:, 1], sample_weight=w[b]))
        assert ap[b] == pytest.approx(average_precision_score(yb, p[:, 1], sample_weight=w[b]))
    assert np.isnan(weighted_auroc(p[:, 1], np.zeros(y.size, bool), w)).all()
    # Tie-free scores take the ungrouped path.
    s = np.random.default_rng(2).random(y.size)
    assert weighted_auroc(s, yb, w)[0] == pytest.approx(roc_auc_score(yb, s, sample_weight=w[0]))
    assert weighted_average_precision(s, yb, w)[1] == pytest.approx(
        average_precision_score(yb, s, sample_weight=w[1]))


def test_patient_index_first_appearance_order():
    idx, n = patient_index(["b", "a", "b", "c"])
    assert idx.tolist() == [0, 1, 0, 2] and n == 3
    w = cluster_weights(["b", "a", "b", "c"], 50, seed=2)
    assert np.array_equal(w[:, 0], w[:, 2])  # same patient, same weight
    assert np.allclose(w[:, [0, 1, 3]].sum(1), 3)  # 3 patients drawn per resample


def test_estimates_equal_point_metrics():
    y, p = _data()
    pids = [f"p{i // 2}" for i in range(y.size)]
    res = bootstrap_metrics(y, p, pids, multilabel=False, n_boot=50, seed=0)
    ref = compute_metrics(y, p, multilabel=False)
    for key in ("accuracy", "macro_f1", "macro_auroc", "macro_auprc"):
        assert res["summary"][key]["estimate"] == pytest.approx(ref[key])
        assert res["summary"][key]["low"] <= ref[key] <= res["summary"][key]["high"]
    for c in range(3):
        for m in ("recall", "precision", "specificity", "auroc"):
            assert res["per_class"][c][m]["estimate"] == pytest.approx(ref["per_class"][c][m])
    assert res["n_patients"] == 150 and res["unit"] == "patient"


def test_one_record_per_patient_equals_ordinary_bootstrap():
    y, p = _data(n=120)
    correct = (p.argmax(1) == y).astype(float)
    n_boot, seed = 200, 7
    res = bootstrap_statistic(
        lambda w: (w @ correct) / w.sum(1), [f"r{i}" for i in range(y.size)],
        n_boot=n_boot, seed=seed, return_samples=True,
    )
    idx = np.random.default_rng(seed).integers(0, y.size, size=(n_boot, y.size))
    ordinary = correct[idx].mean(axis=1)
    np.testing.assert_allclose(res["samples"], ordinary)
    lo, hi = np.percentile(ordinary, [2.5, 97.5])
    assert res["low"] == pytest.approx(lo) and res["high"] == pytest.approx(hi)
    # A non-linear metric too: macro AUROC of resample 0 against sklearn on the drawn records.
    full = bootstrap_metrics(y, p, [f"r{i}" for i in range(y.size)], multilabel=False,
                             n_boot=1, seed=seed)
    i0 = idx[0]
    ref = np.mean([roc_auc_score(y[i0] == c, p[i0, c]) for c in range(3)])
    assert full["summary"]["macro_auroc"]["low"] == pytest.approx(ref)


def test_duplicated_records_widen_the_interval():
    y, p = _data(n=150, seed=4)
    y5, p5 = np.repeat(y, 5), np.repeat(p, 5, axis=0)
    by_patient = [f"p{i}" for i in range(150) for _ in range(5)]
    by_record = [f"r{i}" for i in range(750)]
    kw = dict(multilabel=False, n_boot=400, seed=1)
    cluster = bootstrap_metrics(y5, p5, by_patient, **kw)["summary"]["accuracy"]
    naive = bootstrap_metrics(y5, p5, by_record, **kw)["summary"]["accuracy"]
    assert cluster["estimate"] == pytest.approx(naive["estimate"])
    # Five copies carry one patient's information: the honest interval is ~sqrt(5) wider.
    assert (cluster["high"] - cluster["low"]) > 1.6 * (naive["high"] - naive["low"])


def test_deterministic_by_seed_and_multilabel():
    rng = np.random.default_rng(5)
    y = rng.random((80, 4)) < 0.3
    p = np.clip(0.4 * y + 0.6 * rng.random((80, 4)), 0, 1)
    pids = [f"p{i // 3}" for i in range(80)]
    a = bootstrap_metrics(y, p, pids, multilabel=True, thresholds=0.5, n_boot=100, seed=3)
    b = bootstrap_metrics(y, p, pids, multilabel=True, thresholds=0.5, n_boot=100, seed=3)
    c = bootstrap_metrics(y, p, pids, multilabel=True, thresholds=0.5, n_boot=100, seed=4)
    assert a == b
    json.dumps(a, allow_nan=False)
    assert a["summary"]["macro_auroc"] != c["summary"]["macro_auroc"]
    ref = compute_metrics(y, p, multilabel=True, thresholds=0.5)
    assert a["summary"]["accuracy"]["estimate"] == pytest.approx(ref["accuracy"])
    assert a["summary"]["macro_f1"]["estimate"] == pytest.approx(ref["macro_f1"])


def test_unknown_targets_dropped_and_hard_predictions_only():
    y = np.array([0, 1, 2, -1, 1, 0])
    res = bootstrap_metrics(y, None, list("aabbcc"), multilabel=False,
                            y_pred=np.array([0, 1, 1, 0, 1, 0]),
                            class_names=["N", "M", "S"], n_boot=20, seed=0)
    assert res["n_records"] == 5
    assert res["summary"]["accuracy"]["estimate"] == pytest.approx(4 / 5)
    assert res["summary"]["macro_auroc"]["estimate"] is None
    assert res["per_class"][2]["recall"]["estimate"] == 0.0


def _rare_zero_f1_case():
    """Two well-predicted classes and 12 singleton classes that are never called (F1 = 0)."""
    y = np.concatenate([np.zeros(200, int), np.ones(200, int), np.arange(2, 14)])
    pred = np.where(y >= 2, 0, y)
    return y, pred, [f"r{i}" for i in range(y.size)]


def test_macro_f1_keeps_rare_zero_f1_classes_in_every_resample():
    y, pred, pids = _rare_zero_f1_case()
    names = [f"c{i}" for i in range(14)]
    point = compute_metrics(y, None, multilabel=False, y_pred=pred, class_names=names)["macro_f1"]
    assert point == pytest.approx((400 / 412 + 1.0) / 14)
    # The old behaviour: a class without positives in a resample left the average, so the
    # resampled macro F1 rose whenever a rare zero-F1 class was missed (P = 0.37 each).
    true_hot, pred_hot = np.eye(14)[y], np.eye(14)[pred]

    def dropping(w):
        tp, sup, npred = w @ (true_hot * pred_hot), w @ true_hot, w @ pred_hot
        f1 = np.where(sup > 0, 2 * tp / np.maximum(2 * tp + (npred - tp) + (sup - tp), 1e-12), np.nan)
        return np.nanmean(f1, axis=1)

    old = bootstrap_statistic(dropping, pids, n_boot=300, seed=0)
    assert old["estimate"] == pytest.approx(point)
    assert old["low"] > point + 0.02  # the whole interval above its own point estimate
    new = bootstrap_metrics(y, None, pids, multilabel=False, y_pred=pred, class_names=names,
                            n_boot=300, seed=0)["summary"]["macro_f1"]
    assert new["estimate"] == pytest.approx(point)
    assert new["low"] <= point <= new["high"]
    assert new["high"] - new["low"] < 0.01  # only class 0's false positives vary


def test_macro_f1_class_called_without_positives_counts_zero():
    from ecgtriage.evaluate.bootstrap import SUMMARY_METRICS, _macro_classes, _metrics_statistic

    # Class 2: one true positive (record 3) and one false positive (record 4): F1 = 2/3.
    y = np.array([0, 0, 1, 2, 0, 1])
    pred = np.array([0, 0, 1, 2, 2, 1])
    th, ph = np.eye(3, dtype=bool)[y], np.eye(3, dtype=bool)[pred]
    prc, sets = _macro_classes(th, None)
    stat = _metrics_statistic(th, ph, None, prc, sets)
    col = SUMMARY_METRICS.index("macro_f1")
    f1_0 = 2 * 2 / (2 * 2 + 1)
    assert stat(np.ones((1, 6)))[0, col] == pytest.approx((f1_0 + 1 + 2 / 3) / 3)
    # Resample without record 3: class 2 is called once (FP) with no positives -> F1 = 0.
    w = np.array([[1, 1, 1, 0, 1, 1.0]])
    assert stat(w)[0, col] == pytest.approx((f1_0 + 1 + 0) / 3)
    # Resample without records 3 and 4: class 2 neither present nor called -> its full-sample F1.
    w = np.array([[1, 1, 1, 0, 0, 1.0]])
    assert stat(w)[0, col] == pytest.approx((1 + 1 + 2 / 3) / 3)
