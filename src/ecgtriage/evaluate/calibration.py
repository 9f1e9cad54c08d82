"""Calibration: expected calibration error (ECE), reliability-diagram data and Brier score.

Bins are ``n_bins`` equal-width intervals of [0, 1], right-closed: bin k holds confidences in
``(k/n_bins, (k+1)/n_bins]``, and a confidence of exactly 0 falls in bin 0.

``ECE = sum_k (n_k / N) * |accuracy_k - confidence_k|`` where, per bin, ``confidence_k`` is the
mean predicted probability and ``accuracy_k`` the observed frequency of the event it predicts:

* single-label (top-label ECE): confidence = the highest class probability, event = "the
  argmax class is the true class";
* multi-label (per-class ECE): for each class, confidence = that class's probability, event =
  "the class is present"; the reported ECE is the mean of the per-class ECEs (over
  ``class_mask`` when given).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ecgtriage.atomic import json_safe
from ecgtriage.evaluate._checks import (
    as_class_index,
    as_multi_hot,
    as_proba,
    class_names_for,
)

__all__ = ["bin_index", "reliability", "calibration_report"]


def bin_index(confidence: Any, n_bins: int) -> np.ndarray:
    """Bin of each confidence for ``n_bins`` right-closed equal-width bins on [0, 1]."""
    if n_bins < 1:
        raise ValueError(f"n_bins: expected >= 1, found {n_bins}")
    c = np.asarray(confidence, dtype=np.float64)
    return np.clip(np.ceil(c * n_bins).astype(np.int64) - 1, 0, n_bins - 1)


def reliability(confidence: Any, outcome: Any, n_bins: int = 15) -> dict[str, Any]:
    """Reliability-diagram data and ECE for one set of (confidence, 0/1 outcome) pairs.

    Returns
    -------
    dict
        ``ece``, ``n``, ``n_bins`` and per-bin lists ``lower``, ``upper``, ``centre``,
        ``count``, ``confidence`` (mean predicted probability) and ``accuracy`` (observed
        frequency); the last two are ``None`` for empty bins.
    """
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    out_ = np.asarray(outcome, dtype=np.float64).ravel()
    if conf.shape != out_.shape:
        raise ValueError(f"outcome: expected {conf.size} values (as confidence), found {out_.size}")
    idx = bin_index(conf, n_bins)
    count = np.bincount(idx, minlength=n_bins).astype(np.float64)
    sum_conf = np.bincount(idx, weights=conf, minlength=n_bins)
    sum_acc = np.bincount(idx, weights=out_, minlength=n_bins)
    mean_conf = np.full(n_bins, np.nan)
    mean_acc = np.full(n_bins, np.nan)
    np.divide(sum_conf, count, out=mean_conf, where=count > 0)
    np.divide(sum_acc, count, out=mean_acc, where=count > 0)
    n = conf.size
    gaps = np.where(count > 0, np.abs(np.nan_to_num(mean_acc) - np.nan_to_num(mean_conf)), 0.0)
    ece = float((count * gaps).sum() / n) if n else float("nan")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return json_safe(
        {
            "ece": ece,
            "n": n,
            "n_bins": n_bins,
            "lower": edges[:-1],
            "upper": edges[1:],
            "centre": (edges[:-1] + edges[1:]) / 2,
            "count": count.astype(np.int64),
            "confidence": mean_conf,
            "accuracy": mean_acc,
        }
    )


def calibration_report(
    y_true: Any,
    proba: Any,
    *,
    multilabel: bool,
    n_bins: int = 15,
    class_names: Sequence[str] | None = None,
    class_mask: Any | None = None,
) -> dict[str, Any]:
    """ECE, Brier score and reliability-diagram data of a model's probabilities.

    Parameters
    ----------
    y_true : (N,) int with -1 unknown (single-label, dropped) or (N, C) 0/1 (multi-label)
    proba : (N, C) float
    multilabel : bool
    n_bins : int
    class_names : sequence of str, optional
    class_mask : (C,) bool, optional
        Multi-label only: classes averaged into ``ece``.

    Returns
    -------
    dict
        Single-label: ``kind`` = "top_label", ``ece``, ``brier`` (mean over records of the
        summed squared error against the one-hot target), ``n``, ``diagram`` (see
        :func:`reliability`). Multi-label: ``kind`` = "per_class", ``ece`` (mean per-class
        ECE), ``n_classes_ece``, ``brier`` (mean over records and classes),
        ``per_class`` (list of ``{"class", "ece", "diagram"}``) and ``diagram`` (all
        record-class pairs pooled, for a single plot).
    """
    p = as_proba(proba)
    n_classes = p.shape[1]
    names = class_names_for(class_names, n_classes)
    if not multilabel:
        y = as_class_index(y_true, n_classes)
        if y.size != p.shape[0]:
            raise ValueError(f"y_true: expected {p.shape[0]} records (as proba), found {y.size}")
        keep = y >= 0
        y, p = y[keep], p[keep]
        diagram = reliability(p.max(axis=1), p.argmax(axis=1) == y, n_bins)
        onehot = np.eye(n_classes)[y]
        brier = float(((p - onehot) ** 2).sum(axis=1).mean()) if y.size else float("nan")
        return json_safe(
            {"kind": "top_label", "ece": diagram["ece"], "brier": brier, "n": int(y.size),
             "diagram": diagram}
        )
    y = as_multi_hot(y_true)
    if y.shape != p.shape:
        raise ValueError(f"y_true: expected shape {p.shape} (as proba), found {y.shape}")
    mask = np.ones(n_classes, bool) if class_mask is None else np.asarray(class_mask, bool)
    per_class = []
    eces = np.full(n_classes, np.nan)
    for c in range(n_classes):
        d = reliability(p[:, c], y[:, c], n_bins)
        eces[c] = np.nan if d["ece"] is None else d["ece"]
        per_class.append({"class": names[c], "ece": d["ece"], "diagram": d})
    used = mask & ~np.isnan(eces)
    return json_safe(
        {
            "kind": "per_class",
            "ece": float(eces[used].mean()) if used.any() else float("nan"),
            "n_classes_ece": int(used.sum()),
            "brier": float(((p - y) ** 2).mean()) if p.size else float("nan"),
            "n": int(p.shape[0]),
            "per_class": per_class,
            "diagram": reliability(p.ravel(), y.ravel(), n_bins),
        }
    )
