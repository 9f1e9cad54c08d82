"""Decision rules tuned on the validation split only, stored in the model card.

* Multi-label: one threshold per class maximising that class's F1 on validation. A class with
  no positive training example gets ``None`` (never predicted). A trained class with fewer than
  ``min_positives`` validation positives is not tuned (an F1 optimum over one or two records is
  noise, and for rare codes it drifts towards calling nearly everything positive); it gets the
  fallback threshold instead: the probability at which a model trained with BCE positive weight
  ``w`` has unweighted odds 1, ``w / (1 + w)`` (0.5 for an unweighted loss).
* Ordered tiers: an operating point for the most severe class ("Serious"): the largest
  threshold ``t`` on ``P(Serious)`` whose validation sensitivity reaches the target. Decision
  rule (``ecgtriage.evaluate.collapse.serious_operating_point``, applied to a trained model by
  ``ModelCard.decide``): predict Serious when ``P(Serious) ≥ t``, otherwise the argmax over the
  remaining classes. Compared with a plain argmax, records whose ``P(Serious)`` is the
  largest but below ``t`` fall to the most probable other class, and records with
  ``P(Serious) ≥ t`` become Serious even when another class is more probable; a lower ``t``
  trades specificity for sensitivity on the class that matters most for triage.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve

from ecgtriage.errors import DataError


def _check_finite(proba: np.ndarray) -> None:
    """Refuse NaN/inf probabilities: a NaN sorts last and compares False, so a threshold tuned
    on it would be NaN or silently skip records instead of failing."""
    bad = np.flatnonzero(~np.isfinite(proba).all(axis=tuple(range(1, proba.ndim))))
    if len(bad):
        raise DataError(f"validation probabilities: non-finite values in {len(bad)} row(s), "
                        f"first rows {bad[:5].tolist()}; thresholds cannot be tuned")


def fallback_thresholds(pos_weight: np.ndarray | None, n_classes: int) -> np.ndarray:
    """``w / (1 + w)`` per class: where a ``pos_weight``-weighted BCE model's odds equal 1
    in the unweighted problem (0.5 everywhere when ``pos_weight`` is ``None``)."""
    if pos_weight is None:
        return np.full(n_classes, 0.5)
    w = np.asarray(pos_weight, dtype=np.float64).reshape(n_classes)
    return w / (1.0 + w)


def tune_f1_thresholds(
    y_true: np.ndarray,
    proba: np.ndarray,
    eligible: np.ndarray | None = None,
    min_positives: int = 1,
    fallback: np.ndarray | None = None,
) -> list[float | None]:
    """Per-class F1-optimal thresholds on validation predictions.

    Parameters
    ----------
    y_true : (N, C) 0/1 validation targets.
    proba : (N, C) validation probabilities.
    eligible : (C,) bool, classes allowed a threshold (e.g. present in training).
    min_positives : validation positives a class needs to be tuned.
    fallback : (C,) thresholds for eligible classes with fewer than ``min_positives``
        validation positives (see :func:`fallback_thresholds`); ``None`` leaves them untuned.

    Returns
    -------
    list of C thresholds; ``None`` for ineligible classes and for classes below
    ``min_positives`` when no fallback is given. Ties in F1 go to the highest threshold
    (fewest positive calls).
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=np.float64)
    if y_true.shape != proba.shape or y_true.ndim != 2:
        raise ValueError(f"y_true and proba: expected equal (N, C) shapes, found {y_true.shape} and {proba.shape}")
    _check_finite(proba)
    n_classes = y_true.shape[1]
    eligible = np.ones(n_classes, bool) if eligible is None else np.asarray(eligible, bool)
    out: list[float | None] = []
    for c in range(n_classes):
        positives = y_true[:, c] > 0
        if not eligible[c]:
            out.append(None)
            continue
        if positives.sum() < max(min_positives, 1):
            out.append(None if fallback is None else float(fallback[c]))
            continue
        precision, recall, thresholds = precision_recall_curve(positives, proba[:, c])
        p, r = precision[:-1], recall[:-1]
        f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)
        best = np.flatnonzero(f1 == f1.max())[-1]
        out.append(float(thresholds[best]))
    return out


def apply_f1_thresholds(proba: np.ndarray, thresholds: list[float | None]) -> np.ndarray:
    """(N, C) bool decisions; classes with a ``None`` threshold are never predicted."""
    proba = np.asarray(proba)
    t = np.array([np.inf if v is None else v for v in thresholds])
    return proba >= t


def tune_serious_threshold(
    y_true: np.ndarray,
    proba: np.ndarray,
    serious: int,
    target_sensitivity: float = 0.8,
    min_serious: int = 1,
) -> dict:
    """The largest ``P(serious)`` threshold reaching ``target_sensitivity`` on validation.

    Parameters
    ----------
    y_true : (N,) validation class indices.
    proba : (N, C) validation class probabilities.
    serious : index of the most severe class.
    target_sensitivity : required fraction of validation Serious records called Serious.
    min_serious : validation Serious records needed to tune; with fewer, the threshold of the
        k-th highest score is noise (one record can drag it to ~0 and call half the test set
        Serious), so no operating point is set and the rule is the plain argmax.

    Returns
    -------
    dict with ``threshold`` (None when validation has fewer than ``min_serious`` Serious
    records), ``target_sensitivity``, ``sensitivity`` and ``specificity`` achieved on
    validation, ``n_serious`` and, when untuned, ``reason``.
    """
    y_true = np.asarray(y_true)
    _check_finite(np.asarray(proba, dtype=np.float64))
    score = np.asarray(proba, dtype=np.float64)[:, serious]
    is_serious = y_true == serious
    result = {"class_index": int(serious), "target_sensitivity": float(target_sensitivity),
              "n_serious": int(is_serious.sum())}
    if is_serious.sum() < max(min_serious, 1):
        return {**result, "threshold": None, "sensitivity": None, "specificity": None,
                "reason": f"{int(is_serious.sum())} Serious validation record(s), fewer than the "
                          f"{max(min_serious, 1)} needed to tune an operating point: plain argmax"}
    pos = np.sort(score[is_serious])[::-1]
    # The k-th highest Serious score is the largest threshold catching k Serious records.
    k = int(np.ceil(target_sensitivity * len(pos) - 1e-9))
    threshold = float(pos[max(k, 1) - 1])
    called = score >= threshold
    negatives = ~is_serious
    spec = float((~called[negatives]).mean()) if negatives.any() else None
    return {**result, "threshold": threshold, "sensitivity": float(called[is_serious].mean()),
            "specificity": spec}
