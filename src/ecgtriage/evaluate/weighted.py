"""Tier metrics under record weights: one value per row of a (B, N) weight matrix.

A patient bootstrap is a weight matrix (``ecgtriage.evaluate.bootstrap.cluster_weights``);
the full sample is a row of ones. Writing each metric once over weights gives the point
estimate and every resample from the same code, and lets two schemes be scored on the *same*
resamples for a paired difference (``ecgtriage.evaluate.intervals.paired_bootstrap_difference``).

The class set is fixed by the caller: a class with no positive record in a resample keeps
its place in a macro average (its F1 is 0 when it was predicted, and 0 when it was neither
present nor predicted), so rare classes cannot drop out and bias an interval upwards.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ecgtriage.evaluate.bootstrap import weighted_auroc, weighted_average_precision

__all__ = [
    "as_weights",
    "weighted_accuracy",
    "weighted_macro_f1",
    "weighted_recall",
    "weighted_specificity",
    "weighted_auroc",
    "weighted_average_precision",
    "sensitivity_at_specificity",
    "specificity_at_sensitivity",
]


def as_weights(weights: Any, n: int) -> np.ndarray:
    """(B, N) float64 weights; ``None`` means one row of ones (the full sample)."""
    if weights is None:
        return np.ones((1, n))
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if w.shape[1] != n:
        raise ValueError(f"weights: expected {n} columns (one per record), found {w.shape[1]}")
    return w


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def weighted_accuracy(y_true: Any, y_pred: Any, weights: Any = None) -> np.ndarray:
    """Share of weight on records whose decision equals the target."""
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    w = as_weights(weights, yt.size)
    return _ratio(w @ (yt == yp).astype(np.float64), w.sum(axis=1))


def weighted_macro_f1(y_true: Any, y_pred: Any, n_classes: int, weights: Any = None) -> np.ndarray:
    """Macro-F1 over the fixed classes ``0..n_classes-1``.

    A class neither present nor predicted in a resample scores 0 (as
    ``sklearn.metrics.f1_score(..., labels=range(n_classes), zero_division=0)``), never
    dropped from the mean.
    """
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    w = as_weights(weights, yt.size)
    f1 = np.zeros((w.shape[0], n_classes))
    for c in range(n_classes):
        t, p = yt == c, yp == c
        tp = w @ (t & p).astype(np.float64)
        den = 2 * tp + w @ (t ^ p).astype(np.float64)
        f1[:, c] = np.nan_to_num(_ratio(2 * tp, den), nan=0.0)
    return f1.mean(axis=1)


def weighted_recall(positive: Any, called: Any, weights: Any = None) -> np.ndarray:
    """Sensitivity: weight of positives called, over the weight of positives (NaN without)."""
    pos, hit = np.asarray(positive, bool), np.asarray(called, bool)
    w = as_weights(weights, pos.size)
    return _ratio(w @ (pos & hit).astype(np.float64), w @ pos.astype(np.float64))


def weighted_specificity(positive: Any, called: Any, weights: Any = None) -> np.ndarray:
    """Specificity: weight of negatives not called, over the weight of negatives."""
    pos, hit = np.asarray(positive, bool), np.asarray(called, bool)
    return weighted_recall(~pos, ~hit, weights)


def _roc_points(score: Any, positive: Any, weights: Any) -> tuple[np.ndarray, np.ndarray]:
    """(G, B) sensitivity and specificity when calling every record scoring at least each
    distinct score (highest first), per weight row."""
    s = np.asarray(score, dtype=np.float64)
    pos = np.asarray(positive, bool)
    w = as_weights(weights, s.size).T  # (N, B)
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), s.size - 1]  # end of each tie group
    w_sorted = w[order]
    tp = np.cumsum(w_sorted * pos[order][:, None], axis=0)[last]
    fp = np.cumsum(w_sorted * ~pos[order][:, None], axis=0)[last]
    n_pos, n_neg = tp[-1], fp[-1]
    sens = _ratio(tp, np.broadcast_to(n_pos, tp.shape))
    spec = 1.0 - _ratio(fp, np.broadcast_to(n_neg, fp.shape))
    return sens, spec


def sensitivity_at_specificity(score: Any, positive: Any, specificity: float,
                               weights: Any = None) -> np.ndarray:
    """Highest sensitivity among thresholds whose specificity is at least ``specificity``.

    Read off the empirical ROC of each weight row (0 when even the strictest threshold misses
    the specificity; NaN without positives or negatives). This is a matched operating point
    for comparing schemes, not a deployable threshold: it is chosen on the scored records.
    """
    sens, spec = _roc_points(score, positive, weights)
    ok = spec >= specificity - 1e-12
    out = np.where(ok, sens, 0.0).max(axis=0)
    undefined = np.isnan(sens[-1]) | np.isnan(spec[-1])
    return np.where(undefined, np.nan, out)


def specificity_at_sensitivity(score: Any, positive: Any, sensitivity: float,
                               weights: Any = None) -> np.ndarray:
    """Highest specificity among thresholds whose sensitivity is at least ``sensitivity``."""
    sens, spec = _roc_points(score, positive, weights)
    ok = sens >= sensitivity - 1e-12
    out = np.where(ok, spec, 0.0).max(axis=0)
    undefined = np.isnan(sens[-1]) | np.isnan(spec[-1])
    return np.where(undefined, np.nan, out)
