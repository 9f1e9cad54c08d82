"""Patient-level (cluster) bootstrap confidence intervals, vectorised over resamples.

A resample draws ``P`` patients with replacement (``P`` = number of distinct patients) and
takes every record of every drawn patient. It is represented as a weight per record (how many
times its patient was drawn), so one resample is a row of a (B, N) weight matrix and every
metric is computed as a weighted metric over the original records; that turns 1000 resamples
into a few matrix products and one sort per class instead of 1000 calls to scikit-learn.

The draws are exactly ``np.random.default_rng(seed).integers(0, P, size=(n_boot, P))`` with
patients numbered in order of first appearance, so with one record per patient the resamples
are those of the ordinary record-level bootstrap drawn with the same generator.

Intervals are percentile intervals (``alpha/2`` and ``1 - alpha/2`` quantiles of the
resampled metric). Resamples where a per-class metric is undefined (e.g. no positive of a
class was drawn) are left out of that metric's interval; ``n_valid`` says how many remained.
Macro averages keep a fixed class set in every resample (see :func:`bootstrap_metrics`).
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ecgtriage.atomic import json_safe
from ecgtriage.evaluate._checks import (
    as_class_index,
    as_multi_hot,
    as_proba,
    class_names_for,
    same_length,
)
from ecgtriage.evaluate.metrics import binary_counts_metrics

__all__ = [
    "patient_index",
    "cluster_weights",
    "weighted_auroc",
    "weighted_average_precision",
    "percentile_interval",
    "bootstrap_statistic",
    "bootstrap_metrics",
]

# Bounds the (chunk, N) float64 weight block held at once (~32 MB).
_MAX_BLOCK = 4_000_000


def patient_index(patient_ids: Sequence[Any]) -> tuple[np.ndarray, int]:
    """Number patients in order of first appearance: ``(record -> patient index, P)``."""
    ids = pd.Series(list(patient_ids), dtype="object")
    if ids.isna().any():
        raise ValueError(
            f"patient_ids: expected an id for every record, found {int(ids.isna().sum())} missing"
        )
    codes, uniques = pd.factorize(ids.astype(str), sort=False)
    return codes.astype(np.int64), len(uniques)


def cluster_weights(patient_ids: Sequence[Any], n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, N) float64 record weights of a patient-level bootstrap.

    Entry ``[b, i]`` is how many times record ``i``'s patient was drawn in resample ``b``.
    """
    rec_patient, n_patients = patient_index(patient_ids)
    counts = _patient_counts(n_patients, n_boot, seed)
    return counts[:, rec_patient].astype(np.float64)


def _patient_counts(n_patients: int, n_boot: int, seed: int) -> np.ndarray:
    if n_boot < 1:
        raise ValueError(f"n_boot: expected >= 1, found {n_boot}")
    if n_patients < 1:
        raise ValueError("patient_ids: expected at least one record, found none")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_patients, size=(n_boot, n_patients))
    offsets = (np.arange(n_boot, dtype=np.int64) * n_patients)[:, None]
    flat = np.bincount((draws + offsets).ravel(), minlength=n_boot * n_patients)
    return flat.reshape(n_boot, n_patients).astype(np.int32)


def _tie_groups(sorted_scores: np.ndarray) -> np.ndarray:
    """Start index of each run of equal values in a sorted array."""
    change = np.flatnonzero(np.diff(sorted_scores) != 0) + 1
    return np.concatenate(([0], change))


# The helpers below work on weights laid out (N, B) — records by resamples — because a
# cumulative sum down axis 0 of a C-ordered array runs over contiguous rows, several times
# faster than along axis 1.


def _grouped_weights(score: Any, y_bin: Any, weights_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative weight per distinct score (ascending): two (G, B) arrays."""
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(y_bin, dtype=bool)
    order = np.argsort(s, kind="mergesort")
    starts = _tie_groups(s[order])
    w_sorted = weights_t[order]
    pos_sorted = w_sorted * y[order][:, None]
    if starts.size == s.size:  # no ties: every record is its own group
        return pos_sorted, w_sorted - pos_sorted
    total = np.add.reduceat(w_sorted, starts, axis=0)
    pos = np.add.reduceat(pos_sorted, starts, axis=0)
    return pos, total - pos


def _auroc_from_groups(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    neg_below = np.cumsum(neg, axis=0)
    neg_below -= 0.5 * neg  # ties with negatives count one half
    num = (pos * neg_below).sum(axis=0)
    den = pos.sum(axis=0) * neg.sum(axis=0)
    out = np.full(pos.shape[1], np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _ap_from_groups(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    # Thresholds run from the highest score down, so walk the ascending groups backwards.
    pos_d, neg_d = pos[::-1], neg[::-1]
    tp = np.cumsum(pos_d, axis=0)
    called = np.cumsum(neg_d, axis=0)
    called += tp
    precision = np.zeros_like(tp)
    np.divide(tp, called, out=precision, where=called > 0)
    total_pos = tp[-1]
    num = (pos_d * precision).sum(axis=0)
    out = np.full(pos.shape[1], np.nan)
    np.divide(num, total_pos, out=out, where=total_pos > 0)
    return out


def _transposed(weights: np.ndarray) -> np.ndarray:
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    return np.ascontiguousarray(w.T)


def weighted_auroc(score: Any, y_bin: Any, weights: np.ndarray) -> np.ndarray:
    """AUROC of one class for each row of ``weights`` (B, N); NaN where a row has no positive or negative weight.

    Equals ``sklearn.metrics.roc_auc_score(y_bin, score, sample_weight=w)`` for every row
    ``w`` (ties count one half, as in the trapezoidal ROC).
    """
    return _auroc_from_groups(*_grouped_weights(score, y_bin, _transposed(weights)))


def weighted_average_precision(score: Any, y_bin: Any, weights: np.ndarray) -> np.ndarray:
    """Average precision (AUPRC) of one class per row of ``weights`` (B, N); NaN without positive weight.

    Equals ``sklearn.metrics.average_precision_score(y_bin, score, sample_weight=w)``:
    ``sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds, highest first.
    """
    return _ap_from_groups(*_grouped_weights(score, y_bin, _transposed(weights)))


def percentile_interval(samples: Any, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile interval over axis 0, ignoring NaN: ``(low, high, n_valid)``."""
    arr = np.asarray(samples, dtype=np.float64)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: expected a value in (0, 1), found {alpha}")
    n_valid = (~np.isnan(arr)).sum(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanpercentile(arr, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
    return low, high, n_valid


def _chunks(n_boot: int, n_records: int) -> list[slice]:
    step = max(1, min(n_boot, _MAX_BLOCK // max(n_records, 1)))
    return [slice(i, min(i + step, n_boot)) for i in range(0, n_boot, step)]


def bootstrap_statistic(
    stat_fn: Callable[[np.ndarray], np.ndarray],
    patient_ids: Sequence[Any],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    return_samples: bool = False,
) -> dict[str, Any]:
    """Cluster-bootstrap CI of any statistic written as a function of record weights.

    Parameters
    ----------
    stat_fn : callable
        ``stat_fn(w)`` with ``w`` of shape (b, N) (record weights, one row per resample)
        returns shape (b,) or (b, K). Called once with ``np.ones((1, N))`` for the estimate.
    patient_ids : sequence, length N
    n_boot, seed, alpha : resamples, generator seed, 1 - coverage.
    return_samples : bool
        Also return the (n_boot,) or (n_boot, K) resampled values under ``"samples"``.

    Returns
    -------
    dict
        ``estimate``, ``low``, ``high``, ``n_valid`` (floats, or lists for K > 1), ``n_boot``,
        ``seed``, ``alpha``, ``n_records``, ``n_patients``, ``unit`` = ``"patient"``.
    """
    rec_patient, n_patients = patient_index(patient_ids)
    counts = _patient_counts(n_patients, n_boot, seed)
    n = rec_patient.size
    estimate = np.asarray(stat_fn(np.ones((1, n))), dtype=np.float64)[0]
    parts = []
    for sl in tqdm(_chunks(n_boot, n), desc="bootstrap", disable=None, leave=False):
        w = counts[sl][:, rec_patient].astype(np.float64)
        parts.append(np.asarray(stat_fn(w), dtype=np.float64))
    samples = np.concatenate(parts, axis=0)
    low, high, n_valid = percentile_interval(samples, alpha)
    out = {
        "estimate": estimate,
        "low": low,
        "high": high,
        "n_valid": n_valid,
        "n_boot": n_boot,
        "seed": seed,
        "alpha": alpha,
        "n_records": n,
        "n_patients": n_patients,
        "unit": "patient",
    }
    result = json_safe(out)
    if return_samples:
        result["samples"] = samples
    return result


def _metric_block(
    w: np.ndarray,
    true_hot: np.ndarray,
    pred_hot: np.ndarray,
    exact: np.ndarray,
    score: np.ndarray | None,
    auc_classes: np.ndarray,
) -> dict[str, np.ndarray]:
    """Weighted metrics for a (b, N) block of weights: each value (b,) or (b, C)."""
    t = true_hot.astype(np.float64)
    pr = pred_hot.astype(np.float64)
    total = w.sum(axis=1, keepdims=True)
    tp = w @ (t * pr)
    support = w @ t
    n_pred = w @ pr
    fp = n_pred - tp
    fn = support - tp
    tn = total - tp - fp - fn
    res = binary_counts_metrics(tp, fp, fn, tn)
    res["_support"], res["_n_pred"] = support, n_pred
    acc = np.full(w.shape[0], np.nan)
    np.divide(w @ exact.astype(np.float64), total[:, 0], out=acc, where=total[:, 0] > 0)
    res["accuracy"] = acc
    n_classes = t.shape[1]
    res["auroc"] = np.full((w.shape[0], n_classes), np.nan)
    res["auprc"] = np.full((w.shape[0], n_classes), np.nan)
    if score is not None:
        w_t = _transposed(w)
        for c in np.flatnonzero(auc_classes):
            pos, neg = _grouped_weights(score[:, c], true_hot[:, c], w_t)
            res["auroc"][:, c] = _auroc_from_groups(pos, neg)
            res["auprc"][:, c] = _ap_from_groups(pos, neg)
    return res


PER_CLASS_METRICS = ("precision", "recall", "specificity", "f1", "auroc", "auprc")
SUMMARY_METRICS = ("accuracy", "macro_f1", "macro_recall", "macro_auroc", "macro_auprc")


def bootstrap_metrics(
    y_true: Any,
    proba: Any | None,
    patient_ids: Sequence[Any],
    *,
    multilabel: bool,
    thresholds: Any = 0.5,
    y_pred: Any | None = None,
    class_names: Sequence[str] | None = None,
    class_mask: Any | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Patient-level bootstrap 95 % CIs of the headline and per-class metrics.

    Inputs are those of :func:`ecgtriage.evaluate.metrics.compute_metrics` plus one
    ``patient_id`` per record. Single-label records with ``y_true == -1`` are dropped first.
    ``proba`` may be ``None`` when only hard predictions exist (e.g. collapsed tiers); then
    AUROC/AUPRC are absent.

    Macro averages in each resample are over a class set fixed on the full test set (the
    classes with positives, and in ``class_mask``). A class is never dropped from a
    resample's average: a class with no positives but false positives in the resample has
    F1 = 0, and a class whose metric is undefined in the resample (no positives and no calls,
    or no positives for recall/AUROC/AUPRC) contributes its full-sample value, so rare classes
    with F1 = 0 cannot vanish and bias the interval upwards.

    Returns
    -------
    dict
        ``{"summary": {metric: {"estimate", "low", "high", "n_valid"}},
        "per_class": [{"class": name, metric: {...}, ...}], "n_boot", "seed", "alpha",
        "n_records", "n_patients", "unit": "patient"}`` with summary metrics
        ``accuracy`` (exact match for multi-label), ``macro_f1``, ``macro_recall``,
        ``macro_auroc``, ``macro_auprc`` and per-class ``precision, recall, specificity, f1,
        auroc, auprc``. A single-label Serious sensitivity CI is ``per_class[serious]["recall"]``.
    """
    true_hot, pred_hot, p, pids = _encoded(
        y_true, proba, patient_ids, multilabel=multilabel, thresholds=thresholds,
        y_pred=y_pred, class_names=class_names,
    )
    n_classes = true_hot.shape[1]
    names = class_names_for(class_names, n_classes)
    prc_classes, macro_sets = _macro_classes(true_hot, class_mask)
    stat = _metrics_statistic(true_hot, pred_hot, p, prc_classes, macro_sets)
    res = bootstrap_statistic(stat, pids, n_boot=n_boot, seed=seed, alpha=alpha)

    def entry(i: int) -> dict[str, Any]:
        return {k: res[k][i] for k in ("estimate", "low", "high", "n_valid")}

    # Columns of the statistic: the summary metrics, then each per-class metric for every class.
    summary = {name: entry(i) for i, name in enumerate(SUMMARY_METRICS)}
    per_class = []
    base = len(SUMMARY_METRICS)
    for c in range(n_classes):
        row: dict[str, Any] = {"class": names[c]}
        for j, metric in enumerate(PER_CLASS_METRICS):
            row[metric] = entry(base + j * n_classes + c)
        per_class.append(row)
    meta = {k: res[k] for k in ("n_boot", "seed", "alpha", "n_records", "n_patients", "unit")}
    return {"summary": summary, "per_class": per_class, **meta}


def _encoded(
    y_true: Any,
    proba: Any | None,
    patient_ids: Sequence[Any],
    *,
    multilabel: bool,
    thresholds: Any,
    y_pred: Any | None,
    class_names: Sequence[str] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, list[Any]]:
    """Checked inputs as (N, C) one-/multi-hot truth and decisions, probabilities and patients.

    Single-label records with an unknown target (``-1``) are dropped here, with their
    probabilities and patient ids, so that every later step sees the same records.
    """
    p = as_proba(proba) if proba is not None else None
    if multilabel:
        if p is None:
            raise ValueError("bootstrap_metrics: proba is required for multi-label metrics")
        yt = as_multi_hot(y_true, "y_true")
        if yt.shape != p.shape:
            raise ValueError(f"y_true: expected shape {p.shape}, found {yt.shape}")
        n_classes = p.shape[1]
        if y_pred is None:
            yp = p >= np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (n_classes,))
        else:
            yp = as_multi_hot(y_pred, "y_pred")
        pids = list(patient_ids)
        same_length(y_true=yt, patient_ids=pids)
        return yt, yp, p, pids
    if p is None and class_names is None:
        raise ValueError("bootstrap_metrics: class_names is required when proba is None")
    n_classes = p.shape[1] if p is not None else len(class_names)
    yt = as_class_index(y_true, n_classes, "y_true")
    yp = p.argmax(axis=1) if y_pred is None else as_class_index(y_pred, n_classes, "y_pred")
    pids = list(patient_ids)
    same_length(y_true=yt, y_pred=yp, proba=p, patient_ids=pids)
    keep = yt >= 0
    yt, yp = yt[keep], yp[keep]
    p = p[keep] if p is not None else None
    pids = [pid for pid, k in zip(pids, keep) if k]
    eye = np.eye(n_classes, dtype=bool)
    return eye[yt], eye[yp], p, pids


def _macro_classes(true_hot: np.ndarray, class_mask: Any | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Classes with positives, and per macro metric the classes it averages over.

    Decided once on the full test set, so that every resample averages over the same classes
    (a resample that loses a class's positives keeps it in the set; see :func:`_macro_values`).
    """
    n_classes = true_hot.shape[1]
    n_pos = true_hot.sum(axis=0)
    n_neg = true_hot.shape[0] - n_pos
    auc_classes = (n_pos > 0) & (n_neg > 0)
    prc_classes = n_pos > 0
    mask = np.ones(n_classes, bool) if class_mask is None else np.asarray(class_mask, bool)
    if mask.shape != (n_classes,):
        raise ValueError(f"class_mask: expected shape ({n_classes},), found {mask.shape}")
    macro_sets = {
        "f1": prc_classes & mask,
        "recall": prc_classes & mask,
        "auroc": auc_classes & mask,
        "auprc": prc_classes & mask,
    }
    return prc_classes, macro_sets


def _macro_values(
    block: Mapping[str, np.ndarray],
    key: str,
    sel: np.ndarray,
    reference: Mapping[str, np.ndarray] | None,
) -> np.ndarray:
    """(b, k) per-class values of one macro metric over the fixed class set ``sel``.

    The class set never changes between resamples. A class whose metric is undefined in a
    resample is not dropped (dropping rare classes with F1 = 0 biased the interval upwards):

    * F1 is ``2 TP / (2 TP + FP + FN)`` whenever that denominator is positive, so a class with
      no positives in the resample but false positives contributes **0**;
    * a class with neither positives nor calls in the resample (F1 = 0/0), and a recall,
      AUROC or AUPRC undefined for lack of positives (or negatives), contribute the class's
      **full-sample value** (the point-estimate convention): the resample carries no
      information about that class, so it neither rewards nor penalises it.
    """
    vals = block[key][:, sel].copy()
    if key == "f1":
        called_only = (block["_support"][:, sel] == 0) & (block["_n_pred"][:, sel] > 0)
        vals[called_only] = 0.0
    if reference is not None:
        ref = np.broadcast_to(reference[key][sel], vals.shape)
        missing = np.isnan(vals)
        vals[missing] = ref[missing]
    return vals


def _metrics_statistic(
    true_hot: np.ndarray,
    pred_hot: np.ndarray,
    p: np.ndarray | None,
    prc_classes: np.ndarray,
    macro_sets: Mapping[str, np.ndarray],
) -> Callable[[np.ndarray], np.ndarray]:
    """The weights → (b, summary + per-class metrics) function that :func:`bootstrap_statistic`
    resamples; column order is ``SUMMARY_METRICS`` then ``PER_CLASS_METRICS`` × classes.

    Macro averages run over the class set fixed on the full sample (``macro_sets``); see
    :func:`_macro_values` for classes undefined in a resample. Per-class intervals keep
    the resamples where the class's metric is defined (``n_valid``).
    """
    exact = (true_hot == pred_hot).all(axis=1)
    full = _metric_block(np.ones((1, true_hot.shape[0])), true_hot, pred_hot, exact, p, prc_classes)
    reference = {k: v[0] for k, v in full.items()}

    def stat(w: np.ndarray) -> np.ndarray:
        block = _metric_block(w, true_hot, pred_hot, exact, p, prc_classes)
        cols = [block["accuracy"][:, None]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for key in ("f1", "recall", "auroc", "auprc"):
                sel = macro_sets[key]
                if sel.any() and (key not in ("auroc", "auprc") or p is not None):
                    vals = _macro_values(block, key, sel, reference)
                    cols.append(np.nanmean(vals, axis=1)[:, None])
                else:
                    cols.append(np.full((w.shape[0], 1), np.nan))
        cols.extend(block[m] for m in PER_CLASS_METRICS)
        return np.concatenate(cols, axis=1)

    return stat
