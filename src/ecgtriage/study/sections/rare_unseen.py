"""Rare and unseen pathologies: how often each model flags records carrying statements that
were rare (or absent) in training as abnormal (``ecgtriage.evaluate.rare_unseen``), and the
aha44 model's F1 on rare codes per external test set (for the published claim)."""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from ecgtriage.atomic import json_safe
from ecgtriage.evaluate.rare_unseen import rare_unseen_analysis, training_counts
from ecgtriage.labels import load_scheme
from ecgtriage.study.cells import Cell
from ecgtriage.study.data import DataPlan
from ecgtriage.study.predict import Predictions
from ecgtriage.study.sections.external import train_ids
from ecgtriage.study.targets import StudyStatements, StudyTargets
from ecgtriage.study.testsets import TestSet

#: Most rows the rare/unseen heatmap shows (the CSV table has them all).
HEATMAP_ROWS = 40


def rare_unseen_section(plan: DataPlan, cells: Sequence[Cell], clean: Sequence[TestSet],
                        predictions: Predictions, targets: StudyTargets,
                        statements: StudyStatements
                        ) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Per-statement rare/unseen table, headline rates, and aha44 F1 on rare codes per test set.

    With several seeds the first seed of each scheme stands for it (the per-model scores keep
    every seed).
    """
    tr = train_ids(plan)
    counts = training_counts(statements.get(plan.train, tr))
    code_classes = list(load_scheme("aha44").classes)
    first: dict[str, Cell] = {}
    for cell in cells:
        first.setdefault(cell.scheme, cell)
    rows: list[dict[str, Any]] = []
    headline: list[dict[str, Any]] = []
    rare_f1: dict[str, list[float]] = {}
    for ts in clean:
        aha44, tiers = _model_inputs(first, ts, predictions, targets)
        test_statements = statements.get(ts.dataset, ts.record_ids)
        if test_statements.empty or (aha44 is None and not tiers):
            continue
        table, head = rare_unseen_analysis(
            test_statements, counts, len(tr), code_classes, dataset=ts.name,
            aha44=aha44, tiers=tiers or None,
            by="aha_code" if ts.dataset.format == "sph" else "statement")
        rows += [json_safe(r) for r in table.to_dict("records")]
        headline += _headline_rows(head, ts.name)
        if ts.kind != "internal" and "aha44_code_f1" in table:
            rare = table[table["group"] == "rare"].drop_duplicates("aha_code")
            rare_f1[ts.name] = [float(f) for f in rare["aha44_code_f1"] if not pd.isna(f)]
    return {"rows": _heatmap_rows(rows, list(first)), "table": rows,
            "headline": headline}, rare_f1


def _model_inputs(first: dict[str, Cell], ts: TestSet, predictions: Predictions,
                  targets: StudyTargets) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Decisions and targets of the aha44 model and of each tier model on ``ts``."""
    aha44 = None
    tiers: dict[str, Any] = {}
    for scheme_name, cell in first.items():
        pred = predictions.get(cell, ts)
        ids = pred.record_ids
        decided = pred.decisions
        y = targets.y(ts.dataset, scheme_name, ids)
        if not pred.card.multilabel:
            tiers[scheme_name] = {"record_ids": ids, "y_pred": decided, "y_true": y,
                                  "classes": pred.classes}
        elif scheme_name == "aha44":
            aha44 = {"record_ids": ids, "y_pred": decided, "classes": pred.classes,
                     "y_true": y > 0}
    return aha44, tiers


def _headline_rows(head: dict[str, Any], test_set: str) -> list[dict[str, Any]]:
    rows = []
    for group in ("unseen", "rare"):
        rates = head["rates"][group]
        for scope, label in (("only", f"{group} only"), ("any", f"any {group}")):
            n = rates["n_records_only"] if scope == "only" else rates["n_records"]
            if not n:
                continue
            for model, rate in rates[scope].items():
                rows.append({"scheme": model, "test_set": test_set, "group": label,
                             "n": int(n), "rate": rate})
    return rows


def _heatmap_rows(rows: list[dict[str, Any]], schemes: list[str]) -> list[dict[str, Any]]:
    """Rare and unseen statements for the figure: ``statement, status, n, detection``."""
    picked = [r for r in rows if r.get("group") in ("rare", "unseen")]
    picked.sort(key=lambda r: (r["group"] != "unseen", -int(r.get("n_records", 0))))
    out = []
    for r in picked[:HEATMAP_ROWS]:
        detection = {s: r.get(f"{s}_flagged_abnormal") for s in schemes}
        out.append({"statement": f"{r['statement']} · {r['dataset']}", "status": r["group"],
                    "n": r.get("n_records"), "detection": detection})
    return out
