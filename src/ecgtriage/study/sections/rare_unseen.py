"""Rare and unseen pathologies: how often each model flags records carrying statements that
were rare (or absent) in training as abnormal (``ecgtriage.evaluate.rare_unseen``), and, per
external test set, the aha44 model on each rare code: the threshold it used, F1 there, and
AUROC / AUPRC with patient-bootstrap intervals, so the published "F1 = 0 on rare conditions"
claim is judged on discrimination too, not only on where the threshold fell."""

from __future__ import annotations

from typing import Any, Sequence


import numpy as np

from ecgtriage.atomic import json_safe
from ecgtriage.evaluate.bootstrap import bootstrap_statistic, weighted_auroc, weighted_average_precision
from ecgtriage.evaluate.rare_unseen import rare_unseen_analysis, training_counts
from ecgtriage.labels import load_scheme
from ecgtriage.study.cells import Cell
from ecgtriage.study.config import EvaluationConfig
from ecgtriage.study.data import DataPlan
from ecgtriage.study.predict import Predictions
from ecgtriage.study.sections.external import train_ids
from ecgtriage.study.targets import StudyStatements, StudyTargets
from ecgtriage.study.testsets import TestSet

#: Most rows the rare/unseen heatmap shows (the CSV table has them all).
HEATMAP_ROWS = 40


def rare_unseen_section(plan: DataPlan, cells: Sequence[Cell], clean: Sequence[TestSet],
                        predictions: Predictions, targets: StudyTargets,
                        statements: StudyStatements, evaluation: EvaluationConfig
                        ) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Per-statement rare/unseen table, headline rates, and the aha44 model on each rare code
    per external test set (:func:`rare_code_rows`).

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
    rare_codes: dict[str, list[dict[str, Any]]] = {}
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
        if ts.kind != "internal" and "aha44" in first and not table.empty:
            codes = [str(c) for c in table.loc[table["group"] == "rare", "aha_code"].dropna()]
            rare_codes[ts.name] = rare_code_rows(predictions.get(first["aha44"], ts), targets,
                                                 list(dict.fromkeys(codes)), evaluation)
    return {"rows": _heatmap_rows(rows, list(first)), "table": rows,
            "headline": headline}, rare_codes


def rare_code_rows(pred: Any, targets: StudyTargets, codes: Sequence[str],
                   evaluation: EvaluationConfig) -> list[dict[str, Any]]:
    """Per rare aha44 code with positives in the test set: its threshold (``inf``: never
    predicted, the code was absent from training), F1 at it, AUROC and AUPRC with CIs."""
    classes = [str(c) for c in pred.classes]
    y = targets.y(pred.test_set.dataset, "aha44", pred.record_ids) > 0
    thresholds = pred.card.code_thresholds()
    alpha = 1 - evaluation.bootstrap_ci
    out = []
    for code in codes:
        if code not in classes:
            continue
        j = classes.index(code)
        pos, score = y[:, j], pred.proba[:, j].astype(np.float64)
        if not pos.any() or pos.all():
            continue
        called = score >= thresholds[j]
        tp = int((pos & called).sum())
        f1 = 2 * tp / (2 * tp + int((pos ^ called).sum()))
        row: dict[str, Any] = {"code": code, "n_positive": int(pos.sum()),
                               "threshold": float(thresholds[j]), "f1": f1}
        for name, fn in (("auroc", weighted_auroc), ("auprc", weighted_average_precision)):
            if evaluation.bootstrap > 0:
                r = bootstrap_statistic(lambda w, fn=fn: fn(score, pos, w), pred.patient_ids,
                                        n_boot=evaluation.bootstrap, seed=evaluation.seed,
                                        alpha=alpha)
                row[name] = {"value": r["estimate"], "lo": r["low"], "hi": r["high"]}
            else:
                row[name] = {"value": float(fn(score, pos, np.ones((1, len(score))))[0]),
                             "lo": None, "hi": None}
        out.append(json_safe(row))
    return out


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
