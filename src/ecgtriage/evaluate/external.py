"""External validation: label coverage of a test set and raw vs prior-adjusted metrics.

A test set from another source (PTB-XL for an SPH-trained model) covers only part of the
training classes, and with other prevalences. The functions here say which classes exist there
and how they were mapped (from ``ecgtriage.labels.statement_table``), and score a model over
the classes that have positives, beside a label-shift-adjusted variant for tier models.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ecgtriage.atomic import json_safe
from ecgtriage.evaluate._checks import (
    as_class_index,
    as_multi_hot,
    as_proba,
    class_names_for,
)
from ecgtriage.evaluate.metrics import compute_metrics
from ecgtriage.evaluate.prior_shift import em_prior_shift

__all__ = ["statement_coverage", "code_class_coverage", "target_coverage", "external_scores"]

_STATEMENT_COLUMNS = ("record_id", "statement", "aha_code")


def _check_statements(statements: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _STATEMENT_COLUMNS if c not in statements.columns]
    if missing:
        raise ValueError(
            f"statement table: expected columns {list(_STATEMENT_COLUMNS)}, missing {missing}"
        )
    frame = statements.copy()
    frame["record_id"] = frame["record_id"].astype(str)
    frame["aha_key"] = [
        "" if pd.isna(c) else str(int(c)) for c in frame["aha_code"]
    ]
    for col in ("match_type", "name"):
        if col not in frame.columns:
            frame[col] = ""
    return frame


def statement_coverage(statements: pd.DataFrame, code_classes: Sequence[str]) -> pd.DataFrame:
    """One row per raw statement of a test set: how it maps onto the training code classes.

    Parameters
    ----------
    statements : DataFrame
        ``statement_table`` output for the test set (``record_id, statement, aha_code,
        match_type, name``, ...).
    code_classes : sequence of str
        The aha44 classes (AHA codes as strings, e.g. ``Scheme.classes``).

    Returns
    -------
    DataFrame
        ``statement, name, aha_code`` (str, "" if none), ``match_type``, ``n_records``,
        ``in_scheme`` (the statement maps to one of ``code_classes``), sorted by
        ``n_records`` descending.
    """
    frame = _check_statements(statements)
    classes = {str(c) for c in code_classes}
    grouped = frame.groupby("statement", sort=False).agg(
        name=("name", "first"),
        aha_code=("aha_key", "first"),
        match_type=("match_type", "first"),
        n_records=("record_id", "nunique"),
    )
    grouped["in_scheme"] = grouped["aha_code"].isin(classes)
    out = grouped.reset_index().sort_values(["n_records", "statement"], ascending=[False, True])
    return out.reset_index(drop=True)


def code_class_coverage(statements: pd.DataFrame, code_classes: Sequence[str]) -> pd.DataFrame:
    """One row per code class: does the test set contain it, through which statements.

    Returns
    -------
    DataFrame
        ``class, n_records`` (distinct records with a statement mapped to the class),
        ``statements`` (the test set's raw statements mapped to it, ``|``-joined),
        ``match_types`` (``|``-joined), ``covered`` (``n_records > 0``), in class order.
    """
    frame = _check_statements(statements)
    rows = []
    for cls in (str(c) for c in code_classes):
        sub = frame[frame["aha_key"] == cls]
        rows.append(
            {
                "class": cls,
                "n_records": int(sub["record_id"].nunique()),
                "statements": "|".join(sorted(sub["statement"].astype(str).unique())),
                "match_types": "|".join(sorted(sub["match_type"].astype(str).unique())),
            }
        )
    out = pd.DataFrame(rows, columns=["class", "n_records", "statements", "match_types"])
    out["covered"] = out["n_records"] > 0
    return out


def target_coverage(
    y: Any,
    *,
    multilabel: bool,
    class_names: Sequence[str],
    class_observable: Any | None = None,
) -> pd.DataFrame:
    """Per class: number of positive records and prevalence in a test set's targets.

    Returns ``class, n_records, prevalence, has_positives`` and ``observable`` (from
    ``Targets.class_observable`` when given). Single-label ``-1`` records are not counted.
    """
    names = [str(c) for c in class_names]
    if multilabel:
        yy = as_multi_hot(y)
        counts = yy.sum(axis=0)
        total = yy.shape[0]
    else:
        yy = as_class_index(y, len(names))
        yy = yy[yy >= 0]
        counts = np.bincount(yy, minlength=len(names))
        total = yy.size
    frame = pd.DataFrame(
        {
            "class": names,
            "n_records": counts.astype(int),
            "prevalence": counts / total if total else np.full(len(names), np.nan),
            "has_positives": counts > 0,
        }
    )
    if class_observable is not None:
        frame["observable"] = np.asarray(class_observable, dtype=bool)
    return frame


def external_scores(
    y_true: Any,
    proba: Any,
    *,
    multilabel: bool,
    class_names: Sequence[str] | None = None,
    thresholds: Any = 0.5,
    train_priors: Any | None = None,
    class_weight: Any | None = None,
    decide: Callable[[np.ndarray], np.ndarray] | None = None,
) -> dict[str, Any]:
    """Score a model on an external set, raw and (single-label) label-shift adjusted.

    Parameters
    ----------
    y_true, proba, multilabel, class_names, thresholds
        As for :func:`ecgtriage.evaluate.metrics.compute_metrics`. Macro averages run over
        the classes with positives in this set; ``n_classes_<metric>`` says how many.
    train_priors : (C,) float, optional
        Training class prevalence; single-label only. Enables the EM-adjusted variant.
    class_weight : (C,) float, ``"inverse_frequency"`` or None
        The model's training class weights, so EM starts from the priors its outputs
        encode (``prior_shift.effective_priors``), not the raw training frequencies.
    decide : callable, optional
        ``decide(proba) -> y_pred`` decision rule for single-label models (e.g. the Serious
        operating point: ``lambda p: serious_operating_point(p, 3, thr)``), applied to the
        raw and to the adjusted probabilities alike; default argmax.

    Returns
    -------
    dict
        ``raw`` (metrics), ``n_classes_with_positives``, ``n_classes``, and for single-label
        with ``train_priors``: ``prior_adjusted`` (metrics of the EM-corrected posteriors,
        estimated without test labels) and ``em`` (estimated priors, iterations).
    """
    p = as_proba(proba)
    names = class_names_for(class_names, p.shape[1])

    def score(probs: np.ndarray) -> dict[str, Any]:
        y_pred = None if (multilabel or decide is None) else decide(probs)
        return compute_metrics(
            y_true, probs, multilabel=multilabel, thresholds=thresholds,
            y_pred=y_pred, class_names=names,
        )

    raw = score(p)
    out: dict[str, Any] = {
        "raw": raw,
        "n_classes": len(names),
        "n_classes_with_positives": int(sum(r["support"] > 0 for r in raw["per_class"])),
    }
    if train_priors is not None:
        if multilabel:
            raise ValueError(
                "train_priors: EM prior correction applies to single-label (tier) models only"
            )
        adjusted, info = em_prior_shift(p, train_priors, class_weight=class_weight)
        out["prior_adjusted"] = score(adjusted)
        out["em"] = info
    return json_safe(out)
