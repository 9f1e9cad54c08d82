"""Rare and unseen pathologies: per-statement behaviour of every scheme's model.

Each statement of a test set is put in a group by its training frequency:

* ``common``: maps to a training code class with at least ``rare_fraction`` (0.5 %) of the
  training records;
* ``rare``: maps to a training code class with fewer;
* ``unseen``: has no class in the training scheme (no AHA code, or a code the training set
  never contains), e.g. PTB-XL's PACE, SVTAC, INJ*, IVCD;
* ``ignored``: no code and no tier of its own (PTB-XL ``SR``): not a pathology, not scored.

Per statement the table gives, for the aha44 model, the share of the statement's records whose
predicted code set contains the mapped code (statement-level recall) and that code's F1 over
the test set; for each tier model, the share of the statement's records put in their correct
tier (record tier, as in the targets) and the share flagged as not Normal. Predictions are
joined to statements on ``record_id``, never on row order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ecgtriage.atomic import json_safe
from ecgtriage.evaluate._checks import as_multi_hot

__all__ = ["training_counts", "statement_groups", "rare_unseen_analysis", "GROUPS"]

GROUPS = ("common", "rare", "unseen", "ignored")
_REQUIRED = ("record_id", "statement", "aha_code")


def _code_key(value: Any) -> str:
    return "" if pd.isna(value) else str(int(value))


def training_counts(train_statements: pd.DataFrame) -> dict[str, int]:
    """Distinct training records per AHA code (as str) from the training set's statement table."""
    missing = [c for c in ("record_id", "aha_code") if c not in train_statements.columns]
    if missing:
        raise ValueError(f"train_statements: expected columns record_id, aha_code; missing {missing}")
    frame = train_statements[train_statements["aha_code"].notna()]
    keys = frame["aha_code"].map(_code_key)
    counts = frame.assign(key=keys).groupby("key")["record_id"].nunique()
    return {str(k): int(v) for k, v in counts.items()}


def statement_groups(
    statements: pd.DataFrame,
    train_counts: Mapping[str, int],
    n_train_records: int,
    code_classes: Sequence[str],
    rare_fraction: float = 0.005,
) -> pd.Series:
    """Group (see module notes) of every row of a statement table, aligned with its index."""
    if n_train_records <= 0:
        raise ValueError(f"n_train_records: expected a positive count, found {n_train_records}")
    classes = {str(c) for c in code_classes}
    cut = rare_fraction * n_train_records
    tier_col = statements["tier4"] if "tier4" in statements.columns else pd.Series("", index=statements.index)
    groups = []
    for code, tier in zip(statements["aha_code"].map(_code_key), tier_col.fillna("").astype(str)):
        count = int(train_counts.get(code, 0)) if code in classes else 0
        if not code and tier in ("ignore", ""):
            groups.append("ignored")
        elif count == 0:
            groups.append("unseen")
        elif count < cut:
            groups.append("rare")
        else:
            groups.append("common")
    return pd.Series(groups, index=statements.index, name="group")


def _indexed(record_ids: Any, values: Any, name: str) -> dict[str, int]:
    ids = [str(r) for r in record_ids]
    if len(ids) != len(values):
        raise ValueError(f"{name}: expected one prediction per record id ({len(ids)}), found {len(values)}")
    if len(set(ids)) != len(ids):
        raise ValueError(f"{name}: record_ids must be unique")
    return {r: i for i, r in enumerate(ids)}


def rare_unseen_analysis(
    statements: pd.DataFrame,
    train_counts: Mapping[str, int],
    n_train_records: int,
    code_classes: Sequence[str],
    *,
    dataset: str,
    aha44: Mapping[str, Any] | None = None,
    tiers: Mapping[str, Mapping[str, Any]] | None = None,
    by: str = "statement",
    rare_fraction: float = 0.005,
    normal_class: str = "Normal",
    normal_code: str = "1",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-statement table and headline abnormal-detection rates for one test set.

    Parameters
    ----------
    statements : DataFrame
        ``ecgtriage.labels.statement_table`` of the test set (``record_id, statement,
        aha_code, tier4, name``, ...). Rows of records without predictions are dropped (and
        counted in the headline).
    train_counts : {AHA code: records}
        :func:`training_counts` of the training split.
    n_train_records : int
        Number of training records (the rare cut is ``rare_fraction`` of it).
    code_classes : sequence of str
        aha44 classes (AHA codes as str).
    dataset : str
        Label put in the ``dataset`` column (e.g. ``"internal"``, ``"external"``).
    aha44 : dict, optional
        ``{"record_ids": (N,), "y_pred": (N, C) 0/1, "classes": (C,)}`` and optionally
        ``"y_true": (N, C)`` (enables the per-code F1).
    tiers : {scheme name: dict}, optional
        ``{"record_ids": (N,), "y_pred": (N,) int, "y_true": (N,) int (-1 unknown),
        "classes": (C,)}`` per tier model.
    by : ``"statement"`` (raw statement, e.g. PTB-XL SCP codes) or ``"aha_code"`` (SPH, so
        ``60+310`` and ``60`` share a row).
    rare_fraction, normal_class, normal_code : thresholds and the Normal class/code names.

    Returns
    -------
    table : DataFrame
        One row per statement: ``dataset, statement, name, aha_code, group, n_records,
        train_count, train_fraction``; with ``aha44``: ``aha44_recall``,
        ``aha44_flagged_abnormal`` (a code other than Normal predicted) and, with ``y_true``,
        ``aha44_code_f1``; per tier scheme ``<scheme>_correct_tier`` and
        ``<scheme>_flagged_abnormal`` (shares of the statement's records).
    headline : dict
        ``{"dataset", "n_records", "n_records_without_prediction", "rates": {group:
        {"n_records", "any": {model: rate}, "only": {model: rate}}}}`` where ``any`` counts
        records carrying at least one statement of the group and ``only`` records whose
        scored statements all belong to it (e.g. unseen-only records), and ``rate`` is the
        share flagged as not Normal.
    """
    missing = [c for c in _REQUIRED if c not in statements.columns]
    if missing:
        raise ValueError(f"statements: expected columns {list(_REQUIRED)}, missing {missing}")
    if by not in ("statement", "aha_code"):
        raise ValueError(f"by: expected 'statement' or 'aha_code', found {by!r}")
    frame = statements.copy()
    frame["record_id"] = frame["record_id"].astype(str)
    frame["aha_key"] = frame["aha_code"].map(_code_key)
    frame["group"] = statement_groups(frame, train_counts, n_train_records, code_classes, rare_fraction)
    if "name" not in frame.columns:
        frame["name"] = ""

    outputs = _ModelOutputs()
    if aha44 is not None:
        outputs.add_aha44(aha44, normal_code)
    for scheme, pred in (tiers or {}).items():
        outputs.add_tier(scheme, pred, normal_class)

    n_all = frame["record_id"].nunique()
    if outputs.available is not None:
        frame = frame[frame["record_id"].isin(outputs.available)]
    key = "statement" if by == "statement" else "aha_key"
    rows = [
        _statement_row(stmt, sub, by=by, dataset=dataset, train_counts=train_counts,
                       n_train_records=n_train_records, outputs=outputs,
                       with_aha44=aha44 is not None, tier_schemes=list(tiers or {}))
        for stmt, sub in frame.groupby(key, sort=True)
    ]
    table = pd.DataFrame(rows)
    headline = {
        "dataset": dataset,
        "n_records": int(frame["record_id"].nunique()),
        "n_records_without_prediction": int(n_all - frame["record_id"].nunique()),
        "rare_fraction": rare_fraction,
        "rates": _detection_rates(frame, outputs.flagged),
    }
    return table, json_safe(headline)


@dataclass
class _ModelOutputs:
    """Every model's answers per record, keyed by record id (never by row order)."""

    #: model name → record → flagged as not Normal.
    flagged: dict[str, dict[str, bool]] = field(default_factory=dict)
    #: tier scheme → record → 1.0 / 0.0 for a correct / wrong tier, NaN for an unknown target.
    correct: dict[str, dict[str, float]] = field(default_factory=dict)
    #: aha44: record → the codes predicted for it.
    has_code: dict[str, set[str]] = field(default_factory=dict)
    #: aha44: code → F1 over the test set (NaN without positives); empty without ``y_true``.
    code_f1: dict[str, float] = field(default_factory=dict)
    aha44_classes: list[str] = field(default_factory=list)
    #: Records every model has a prediction for; ``None`` while no model was added.
    available: set[str] | None = None

    def _restrict(self, ids: set[str]) -> None:
        self.available = set(ids) if self.available is None else self.available & ids

    def add_aha44(self, aha44: Mapping[str, Any], normal_code: str) -> None:
        classes = [str(c) for c in aha44["classes"]]
        y_pred = as_multi_hot(aha44["y_pred"], "aha44 y_pred")
        if y_pred.shape[1] != len(classes):
            raise ValueError(f"aha44 y_pred: expected {len(classes)} columns, found {y_pred.shape[1]}")
        pos = _indexed(aha44["record_ids"], y_pred, "aha44")
        self.aha44_classes = classes
        self._restrict(set(pos))
        abnormal = y_pred[:, [c != normal_code for c in classes]].any(axis=1)
        self.flagged["aha44"] = {r: bool(abnormal[i]) for r, i in pos.items()}
        self.has_code = {r: {classes[j] for j in np.flatnonzero(y_pred[i])} for r, i in pos.items()}
        if aha44.get("y_true") is not None:
            y_true = as_multi_hot(aha44["y_true"], "aha44 y_true")
            tp = (y_true & y_pred).sum(0)
            den = 2 * tp + (~y_true & y_pred).sum(0) + (y_true & ~y_pred).sum(0)
            for j, c in enumerate(classes):
                self.code_f1[c] = float(2 * tp[j] / den[j]) if y_true[:, j].any() else float("nan")

    def add_tier(self, scheme: str, pred: Mapping[str, Any], normal_class: str) -> None:
        t_classes = [str(c) for c in pred["classes"]]
        if normal_class not in t_classes:
            raise ValueError(f"tiers[{scheme!r}]: normal_class {normal_class!r} not in {t_classes}")
        yp = np.asarray(pred["y_pred"], dtype=np.int64)
        yt = np.asarray(pred["y_true"], dtype=np.int64)
        pos = _indexed(pred["record_ids"], yp, scheme)
        if yt.shape != yp.shape:
            raise ValueError(f"tiers[{scheme!r}]: y_true shape {yt.shape} != y_pred shape {yp.shape}")
        self._restrict(set(pos))
        normal = t_classes.index(normal_class)
        self.flagged[scheme] = {r: bool(yp[i] != normal) for r, i in pos.items()}
        self.correct[scheme] = {r: (float(yp[i] == yt[i]) if yt[i] >= 0 else np.nan) for r, i in pos.items()}


def _statement_row(
    stmt: Any,
    sub: pd.DataFrame,
    *,
    by: str,
    dataset: str,
    train_counts: Mapping[str, int],
    n_train_records: int,
    outputs: _ModelOutputs,
    with_aha44: bool,
    tier_schemes: Sequence[str],
) -> dict[str, Any]:
    """One row of the per-statement table from the statement's rows ``sub``."""
    rec = sub["record_id"].unique()
    code = sub["aha_key"].iloc[0]
    count = int(train_counts.get(code, 0)) if code else 0
    row: dict[str, Any] = {
        "dataset": dataset,
        "statement": str(stmt) if by == "statement" else (code or str(sub["statement"].iloc[0])),
        "name": str(sub["name"].iloc[0]),
        "aha_code": code,
        "group": sub["group"].iloc[0],
        "n_records": int(rec.size),
        "train_count": count,
        "train_fraction": count / n_train_records,
    }
    if with_aha44:
        row["aha44_recall"] = (
            float(np.mean([code in outputs.has_code[r] for r in rec]))
            if code in outputs.aha44_classes else np.nan
        )
        row["aha44_flagged_abnormal"] = float(np.mean([outputs.flagged["aha44"][r] for r in rec]))
        if outputs.code_f1:
            row["aha44_code_f1"] = outputs.code_f1.get(code, np.nan)
    for scheme in tier_schemes:
        vals = np.array([outputs.correct[scheme][r] for r in rec])
        row[f"{scheme}_correct_tier"] = float(np.nanmean(vals)) if (~np.isnan(vals)).any() else np.nan
        row[f"{scheme}_flagged_abnormal"] = float(np.mean([outputs.flagged[scheme][r] for r in rec]))
    return row


def _detection_rates(frame: pd.DataFrame, flagged: Mapping[str, Mapping[str, bool]]) -> dict[str, Any]:
    """Share of records flagged not Normal per group and model: records with any statement of
    the group (``any``) and records whose scored statements all belong to it (``only``)."""
    record_groups = frame[frame["group"] != "ignored"].groupby("record_id")["group"].agg(set)
    rates: dict[str, Any] = {}
    for group in GROUPS[:3]:
        any_ids = [r for r, g in record_groups.items() if group in g]
        only_ids = [r for r, g in record_groups.items() if g == {group}]
        rates[group] = {
            "n_records": len(any_ids),
            "n_records_only": len(only_ids),
            "any": {m: (float(np.mean([f[r] for r in any_ids])) if any_ids else np.nan) for m, f in flagged.items()},
            "only": {m: (float(np.mean([f[r] for r in only_ids])) if only_ids else np.nan) for m, f in flagged.items()},
        }
    return rates
