"""Validation metrics used for early stopping and stored in the model card."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score


def macro_auroc(y_true: np.ndarray, proba: np.ndarray, eligible: np.ndarray | None = None) -> float:
    """Mean one-vs-rest AUROC over the classes with both a positive and a negative (and
    ``eligible``); NaN when no class qualifies."""
    y_true = np.asarray(y_true) > 0
    pos = y_true.sum(axis=0)
    ok = (pos > 0) & (pos < len(y_true))
    if eligible is not None:
        ok &= np.asarray(eligible, bool)
    if not ok.any():
        return float("nan")
    return float(np.mean([roc_auc_score(y_true[:, c], proba[:, c]) for c in np.flatnonzero(ok)]))


def validation_metrics(y_true: np.ndarray, proba: np.ndarray, multilabel: bool,
                       eligible: np.ndarray | None = None) -> dict[str, float]:
    """The metrics logged per epoch.

    Multi-label: ``macro_auroc`` (the early-stopping metric) and ``n_auroc_classes``.
    Single-label: ``macro_f1`` (the early-stopping metric, over classes present in validation)
    and ``accuracy``, both for the argmax decision.
    """
    if multilabel:
        y = np.asarray(y_true) > 0
        pos = y.sum(axis=0)
        ok = (pos > 0) & (pos < len(y))
        if eligible is not None:
            ok &= np.asarray(eligible, bool)
        return {"macro_auroc": macro_auroc(y, proba, eligible), "n_auroc_classes": float(ok.sum())}
    pred = np.asarray(proba).argmax(axis=1)
    labels = np.unique(y_true)
    return {
        "macro_f1": float(f1_score(y_true, pred, labels=labels, average="macro", zero_division=0)),
        "accuracy": float(accuracy_score(y_true, pred)),
    }


def primary_metric(multilabel: bool) -> str:
    """Name of the early-stopping metric (higher is better)."""
    return "macro_auroc" if multilabel else "macro_f1"
