"""Decision rules tuned on the validation split only, stored in the model card.

* Multi-label: one threshold per class maximising that class's F1 on validation. A class with
  no positive training example or no positive validation example gets ``None`` (no tuned
  threshold: its F1 on validation is undefined or meaningless).
* Ordered tiers: an operating point for the most severe class ("Serious"): the largest
  threshold ``t`` on ``P(Serious)`` whose validation sensitivity reaches the target. Decision
  rule (:func:`apply_tier_rule`): predict Serious when ``P(Serious) ≥ t``, otherwise the argmax
  over the remaining classes. Compared with a plain argmax, records whose ``P(Serious)`` is the
  largest but below ``t`` fall to the most probable other class, and records with
  ``P(Serious) ≥ t`` become Serious even when another class is more probable; a lower ``t``
  trades specificity for sensitivity on the class that matters most for triage.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve


def tune_f1_thresholds(
    y_true: np.ndarray, proba: np.ndarray, eligible: np.ndarray | None = None
) -> list[float | None]:
    """Per-class F1-optimal thresholds on validation predictions.

    Parameters
    ----------
    y_true : (N, C) 0/1 validation targets.
    proba : (N, C) validation probabilities.
    eligible : (C,) bool, classes allowed a threshold (e.g. present in training).

    Returns
    -------
    list of C thresholds; ``None`` for ineligible classes and classes without a positive.
    Ties in F1 go to the highest threshold (fewest positive calls).
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=np.float64)
    if y_true.shape != proba.shape or y_true.ndim != 2:
        raise ValueError(f"y_true and proba: expected equal (N, C) shapes, found {y_true.shape} and {proba.shape}")
    n_classes = y_true.shape[1]
    eligible = np.ones(n_classes, bool) if eligible is None else np.asarray(eligible, bool)
    out: list[float | None] = []
    for c in range(n_classes):
        positives = y_true[:, c] > 0
        if not eligible[c] or not positives.any():
            out.append(None)
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
    y_true: np.ndarray, proba: np.ndarray, serious: int, target_sensitivity: float = 0.8
) -> dict:
    """The largest ``P(serious)`` threshold reaching ``target_sensitivity`` on validation.

    Parameters
    ----------
    y_true : (N,) validation class indices.
    proba : (N, C) validation class probabilities.
    serious : index of the most severe class.
    target_sensitivity : required fraction of validation Serious records called Serious.

    Returns
    -------
    dict with ``threshold`` (None when validation has no Serious record), ``target_sensitivity``,
    ``sensitivity`` and ``specificity`` achieved on validation, and ``n_serious``.
    """
    y_true = np.asarray(y_true)
    score = np.asarray(proba, dtype=np.float64)[:, serious]
    is_serious = y_true == serious
    result = {"class_index": int(serious), "target_sensitivity": float(target_sensitivity),
              "n_serious": int(is_serious.sum())}
    if not is_serious.any():
        return {**result, "threshold": None, "sensitivity": None, "specificity": None}
    pos = np.sort(score[is_serious])[::-1]
    # The k-th highest Serious score is the largest threshold catching k Serious records.
    k = int(np.ceil(target_sensitivity * len(pos) - 1e-9))
    threshold = float(pos[max(k, 1) - 1])
    called = score >= threshold
    negatives = ~is_serious
    spec = float((~called[negatives]).mean()) if negatives.any() else None
    return {**result, "threshold": threshold, "sensitivity": float(called[is_serious].mean()),
            "specificity": spec}


def apply_tier_rule(proba: np.ndarray, serious: int, threshold: float | None) -> np.ndarray:
    """(N,) class indices: Serious when ``P(serious) ≥ threshold``, else argmax of the others.

    With ``threshold=None`` this is the plain argmax.
    """
    proba = np.asarray(proba, dtype=np.float64)
    if threshold is None:
        return proba.argmax(axis=1)
    others = proba.copy()
    others[:, serious] = -np.inf
    decision = others.argmax(axis=1)
    decision[proba[:, serious] >= threshold] = serious
    return decision
