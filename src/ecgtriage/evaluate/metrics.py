"""Classification metrics for single-label (tier) and multi-label (aha44) predictions.

Every public function returns a plain, JSON-serialisable ``dict``: floats, ints, strings,
lists, with ``None`` where a metric is undefined. Undefined means:

* precision of a class that is never predicted (no predicted positives);
* recall, F1, AUROC and AUPRC of a class with no positive records;
* AUROC of a class with no negative records (AUPRC is then trivially 1 and kept).

Undefined classes are excluded from the macro averages, and every macro average states how
many classes it used (``n_classes_<metric>``). The per-class results are a list of dicts (one
per class, in class order) so ``pandas.DataFrame(result["per_class"])`` gives a table.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from ecgtriage.atomic import json_safe
from ecgtriage.evaluate._checks import (
    as_class_index,
    as_multi_hot,
    as_proba,
    class_names_for,
    same_length,
)

__all__ = [
    "single_label_metrics",
    "multilabel_metrics",
    "compute_metrics",
    "binary_counts_metrics",
    "per_class_frame",
]


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def binary_counts_metrics(tp: Any, fp: Any, fn: Any, tn: Any) -> dict[str, np.ndarray]:
    """Precision, recall (sensitivity), specificity, NPV and F1 from (possibly weighted) counts.

    Works element-wise on arrays of any shape, so it serves both the point estimate and
    the bootstrap (counts of shape (B, C)). F1 is ``2 TP / (2 TP + FP + FN)`` and is NaN
    where the class has no positives (``TP + FN == 0``).
    """
    tp, fp, fn, tn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn, tn))
    positives = tp + fn
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    f1 = np.where(positives > 0, f1, np.nan)
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, positives),
        "specificity": _ratio(tn, tn + fp),
        "npv": _ratio(tn, tn + fn),
        "f1": f1,
    }


def _auc_pair(y_bin: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """(AUROC, AUPRC) for one class; NaN where undefined."""
    n_pos = int(y_bin.sum())
    n_neg = int(y_bin.size - n_pos)
    if n_pos == 0:
        return float("nan"), float("nan")
    auprc = float(average_precision_score(y_bin, score))
    auroc = float(roc_auc_score(y_bin, score)) if n_neg > 0 else float("nan")
    return auroc, auprc


def _macro(values: np.ndarray, mask: np.ndarray | None) -> tuple[float, int]:
    vals = np.asarray(values, dtype=np.float64)
    keep = ~np.isnan(vals)
    if mask is not None:
        keep &= mask
    if not keep.any():
        return float("nan"), 0
    return float(vals[keep].mean()), int(keep.sum())


def _class_mask(class_mask: Any, n_classes: int) -> np.ndarray | None:
    if class_mask is None:
        return None
    mask = np.asarray(class_mask, dtype=bool)
    if mask.shape != (n_classes,):
        raise ValueError(f"class_mask: expected shape ({n_classes},), found {mask.shape}")
    return mask


def single_label_metrics(
    y_true: Any,
    proba: Any | None = None,
    *,
    y_pred: Any | None = None,
    class_names: Sequence[str] | None = None,
    class_mask: Any | None = None,
) -> dict[str, Any]:
    """Metrics of a single-label classifier (e.g. tier4 / tier3).

    Parameters
    ----------
    y_true : (N,) int
        True class index; ``-1`` (unknown tier) records are excluded and counted in
        ``n_excluded_unknown``.
    proba : (N, C) float, optional
        Class probabilities (``predict_proba``). Needed for AUROC/AUPRC (one-vs-rest) and,
        when ``y_pred`` is not given, for the predicted class (``argmax``).
    y_pred : (N,) int, optional
        Predicted class (e.g. from an operating-point rule or a collapse); overrides argmax.
    class_names : sequence of str, optional
    class_mask : (C,) bool, optional
        Restrict macro averages to these classes (e.g. ``Targets.class_observable``).

    Returns
    -------
    dict
        ``task``, ``classes``, ``n_records``, ``n_excluded_unknown``, ``accuracy``,
        ``macro_f1``/``n_classes_f1``, ``macro_precision``/``n_classes_precision``,
        ``macro_recall``/``n_classes_recall``, ``macro_auroc``/``n_classes_auroc``,
        ``macro_auprc``/``n_classes_auprc`` (``None`` without ``proba``),
        ``per_class`` (list of dicts: ``class, support, n_predicted, prevalence, tp, fp, fn,
        tn, precision, recall, specificity, npv, f1, auroc, auprc``) and
        ``confusion_matrix`` (C × C list, rows = true, columns = predicted).
    """
    if proba is None and y_pred is None:
        raise ValueError("single_label_metrics: give proba, y_pred or both")
    p = as_proba(proba) if proba is not None else None
    if p is not None:
        n_classes = p.shape[1]
    elif class_names is None:
        raise ValueError("single_label_metrics: class_names is required when proba is not given")
    else:
        n_classes = len(class_names)
    names = class_names_for(class_names, n_classes)
    yt = as_class_index(y_true, n_classes, "y_true")
    if y_pred is None:
        yp = p.argmax(axis=1)
    else:
        yp = as_class_index(y_pred, n_classes, "y_pred")
        if (yp < 0).any():
            raise ValueError("y_pred: expected class indices >= 0, found -1")
    same_length(y_true=yt, y_pred=yp, proba=p)
    known = yt >= 0
    yt_k, yp_k = yt[known], yp[known]
    p_k = p[known] if p is not None else None
    mask = _class_mask(class_mask, n_classes)

    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (yt_k, yp_k), 1)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    n_pred = cm.sum(axis=0)
    fp = n_pred - tp
    fn = support - tp
    tn = yt_k.size - tp - fp - fn
    bm = binary_counts_metrics(tp, fp, fn, tn)

    auroc = np.full(n_classes, np.nan)
    auprc = np.full(n_classes, np.nan)
    if p_k is not None:
        for c in range(n_classes):
            auroc[c], auprc[c] = _auc_pair(yt_k == c, p_k[:, c])

    out: dict[str, Any] = {
        "task": "single_label",
        "classes": names,
        "n_records": int(yt_k.size),
        "n_excluded_unknown": int((~known).sum()),
        "accuracy": float((yt_k == yp_k).mean()) if yt_k.size else float("nan"),
    }
    for key, vals in (("f1", bm["f1"]), ("precision", bm["precision"]), ("recall", bm["recall"])):
        out[f"macro_{key}"], out[f"n_classes_{key}"] = _macro(vals, mask)
    for key, vals in (("auroc", auroc), ("auprc", auprc)):
        if p_k is None:
            out[f"macro_{key}"], out[f"n_classes_{key}"] = None, 0
        else:
            out[f"macro_{key}"], out[f"n_classes_{key}"] = _macro(vals, mask)
    out["per_class"] = [
        {
            "class": names[c],
            "support": int(support[c]),
            "n_predicted": int(n_pred[c]),
            "prevalence": float(support[c] / yt_k.size) if yt_k.size else float("nan"),
            "tp": int(tp[c]),
            "fp": int(fp[c]),
            "fn": int(fn[c]),
            "tn": int(tn[c]),
            **{k: float(v[c]) for k, v in bm.items()},
            "auroc": float(auroc[c]),
            "auprc": float(auprc[c]),
        }
        for c in range(n_classes)
    ]
    out["confusion_matrix"] = cm.tolist()
    return json_safe(out)


def multilabel_metrics(
    y_true: Any,
    proba: Any,
    *,
    thresholds: Any = 0.5,
    y_pred: Any | None = None,
    class_names: Sequence[str] | None = None,
    class_mask: Any | None = None,
) -> dict[str, Any]:
    """Metrics of a multi-label classifier (aha44).

    Parameters
    ----------
    y_true : (N, C) 0/1
    proba : (N, C) float
        Per-class sigmoid probabilities.
    thresholds : float or (C,) float
        Per-class decision thresholds (the model card's); a record is positive for class c
        when ``proba[:, c] >= thresholds[c]``. Ignored when ``y_pred`` is given.
    y_pred : (N, C) 0/1, optional
        Predicted multi-hot, overriding the thresholds.
    class_names : sequence of str, optional
    class_mask : (C,) bool, optional
        Restrict macro averages to these classes (e.g. ``Targets.class_observable``).

    Returns
    -------
    dict
        ``task``, ``classes``, ``n_records``, ``accuracy`` (exact-match / subset accuracy),
        ``hamming_accuracy`` (mean per-label agreement), ``micro_f1``, macro averages as in
        :func:`single_label_metrics`, ``per_class`` (with ``confusion`` = [[TN, FP], [FN, TP]]
        per class, the layout of ``sklearn.metrics.multilabel_confusion_matrix``).
    """
    p = as_proba(proba)
    yt = as_multi_hot(y_true, "y_true")
    if yt.shape != p.shape:
        raise ValueError(f"y_true: expected shape {p.shape} (same as proba), found {yt.shape}")
    n, n_classes = p.shape
    names = class_names_for(class_names, n_classes)
    if y_pred is None:
        thr = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (n_classes,))
        yp = p >= thr
    else:
        yp = as_multi_hot(y_pred, "y_pred")
        if yp.shape != p.shape:
            raise ValueError(f"y_pred: expected shape {p.shape}, found {yp.shape}")
    mask = _class_mask(class_mask, n_classes)

    tp = (yt & yp).sum(axis=0)
    fp = (~yt & yp).sum(axis=0)
    fn = (yt & ~yp).sum(axis=0)
    tn = (~yt & ~yp).sum(axis=0)
    bm = binary_counts_metrics(tp, fp, fn, tn)
    auroc = np.full(n_classes, np.nan)
    auprc = np.full(n_classes, np.nan)
    for c in range(n_classes):
        auroc[c], auprc[c] = _auc_pair(yt[:, c], p[:, c])

    tp_all, fp_all, fn_all = tp.sum(), fp.sum(), fn.sum()
    out: dict[str, Any] = {
        "task": "multi_label",
        "classes": names,
        "n_records": int(n),
        "n_excluded_unknown": 0,
        "accuracy": float((yt == yp).all(axis=1).mean()) if n else float("nan"),
        "hamming_accuracy": float((yt == yp).mean()) if n else float("nan"),
        "micro_f1": float(2 * tp_all / (2 * tp_all + fp_all + fn_all))
        if (2 * tp_all + fp_all + fn_all) > 0
        else float("nan"),
    }
    for key, vals in (
        ("f1", bm["f1"]),
        ("precision", bm["precision"]),
        ("recall", bm["recall"]),
        ("auroc", auroc),
        ("auprc", auprc),
    ):
        out[f"macro_{key}"], out[f"n_classes_{key}"] = _macro(vals, mask)
    support = yt.sum(axis=0)
    out["per_class"] = [
        {
            "class": names[c],
            "support": int(support[c]),
            "n_predicted": int(yp[:, c].sum()),
            "prevalence": float(support[c] / n) if n else float("nan"),
            "tp": int(tp[c]),
            "fp": int(fp[c]),
            "fn": int(fn[c]),
            "tn": int(tn[c]),
            **{k: float(v[c]) for k, v in bm.items()},
            "auroc": float(auroc[c]),
            "auprc": float(auprc[c]),
            "confusion": [[int(tn[c]), int(fp[c])], [int(fn[c]), int(tp[c])]],
        }
        for c in range(n_classes)
    ]
    return json_safe(out)


def compute_metrics(
    y_true: Any,
    proba: Any,
    *,
    multilabel: bool,
    thresholds: Any = 0.5,
    y_pred: Any | None = None,
    class_names: Sequence[str] | None = None,
    class_mask: Any | None = None,
) -> dict[str, Any]:
    """Dispatch to :func:`multilabel_metrics` or :func:`single_label_metrics`.

    ``multilabel`` is ``Scheme.multilabel``; ``thresholds`` only applies to multi-label.
    """
    if multilabel:
        return multilabel_metrics(
            y_true, proba, thresholds=thresholds, y_pred=y_pred,
            class_names=class_names, class_mask=class_mask,
        )
    return single_label_metrics(
        y_true, proba, y_pred=y_pred, class_names=class_names, class_mask=class_mask
    )


def per_class_frame(result: dict[str, Any]):
    """The ``per_class`` list of a metrics result as a pandas DataFrame (``confusion`` dropped)."""
    import pandas as pd

    frame = pd.DataFrame(result["per_class"])
    return frame.drop(columns=["confusion"], errors="ignore")
