"""Per-model scores: one model's predictions on one test set → metrics per view.

Views of a (model, test set) pair, all computed on the same records:

* ``native``: the model's own classes, decided by its model card (aha44 by the card's
  validation-tuned per-class thresholds, a tier model by its most probable class);
* ``tier3`` / ``tier4`` (common ground): aha44 collapsed through the labelling rules, tier4
  coarsened to tier3, with Serious sensitivity at the card's validation operating point.

Clean test sets get patient-bootstrap CIs and calibration; corrupted copies get the point
estimate of the robustness metric only (3-tier macro-F1), the value a degradation curve needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from tqdm.auto import tqdm

from ecgtriage.atomic import nan_to_none
from ecgtriage.evaluate.bootstrap import bootstrap_metrics
from ecgtriage.evaluate.calibration import calibration_report
from ecgtriage.evaluate.collapse import common_ground_scores
from ecgtriage.evaluate.intervals import proportion_ci
from ecgtriage.evaluate.metrics import compute_metrics
from ecgtriage.labels import load_scheme
from ecgtriage.study.cells import Cell
from ecgtriage.study.config import EvaluationConfig
from ecgtriage.study.predict import Prediction, Predictions
from ecgtriage.study.targets import StudyTargets
from ecgtriage.study.testsets import TestSet

#: The view and metric robustness curves are drawn on (common ground for all schemes).
ROBUSTNESS_VIEW = "tier3"
ROBUSTNESS_METRIC = "macro_f1"
#: Tier views every model is scored on.
COMMON_VIEWS = ("tier3", "tier4")
_HEADLINE_METRICS = ("accuracy", "macro_f1", "macro_auroc", "macro_auprc")
_PER_CLASS = ("class", "support", "precision", "recall", "f1", "auroc", "auprc")


@dataclass
class ModelScores:
    """Scores of every model on every test set."""

    #: one entry per (model, clean test set, view): metrics as ``{value, lo, hi}``
    scores: list[dict[str, Any]] = field(default_factory=list)
    #: one row per (model, test set incl. corrupted copies) of the robustness metric
    curves: list[dict[str, Any]] = field(default_factory=list)


def ci_entry(summary: dict[str, Any] | None, name: str, point: Any = None
             ) -> dict[str, Any] | None:
    """``{value, lo, hi}`` of a bootstrap summary entry, or the point estimate alone."""
    entry = (summary or {}).get(name)
    if entry is None:
        value = nan_to_none(point)
        return None if value is None else {"value": value, "lo": None, "hi": None}
    value = entry.get("estimate", point)
    return {"value": nan_to_none(value), "lo": nan_to_none(entry.get("low")),
            "hi": nan_to_none(entry.get("high"))}


def score_view(y_true: np.ndarray, proba: np.ndarray | None, y_pred: np.ndarray,
               patient_ids: Sequence[str], classes: Sequence[str], *, multilabel: bool,
               class_mask: np.ndarray | None, evaluation: EvaluationConfig) -> dict[str, Any]:
    """Point metrics, patient-bootstrap CIs, confusion matrix and calibration of one view."""
    classes = list(classes)
    point = compute_metrics(y_true, proba, multilabel=multilabel, y_pred=y_pred,
                            class_names=classes, class_mask=class_mask)
    summary = None
    if evaluation.bootstrap > 0 and point["n_records"] > 0:
        summary = bootstrap_metrics(
            y_true, proba, list(patient_ids), multilabel=multilabel, y_pred=y_pred,
            class_names=classes, class_mask=class_mask, n_boot=evaluation.bootstrap,
            seed=evaluation.seed, alpha=1 - evaluation.bootstrap_ci)["summary"]
    metrics: dict[str, Any] = {name: ci_entry(summary, name, point.get(name))
                               for name in _HEADLINE_METRICS}
    reliability = None
    if proba is not None and point["n_records"] > 0:
        cal = calibration_report(y_true, proba, multilabel=multilabel, class_names=classes,
                                 class_mask=class_mask)
        metrics["ece"] = nan_to_none(cal["ece"])
        d = cal["diagram"]
        reliability = {"confidence": d["confidence"], "accuracy": d["accuracy"],
                       "count": d["count"]}
    confusion = None if multilabel else {"labels": classes, "matrix": point["confusion_matrix"]}
    per_class = [{k: row.get(k) for k in _PER_CLASS} for row in point["per_class"]]
    return {"metrics": metrics, "confusion": confusion, "reliability": reliability,
            "per_class": per_class, "n_records": point["n_records"]}


def _serious_metrics(entry: dict[str, Any], alpha: float = 0.05) -> dict[str, Any]:
    """Serious sensitivity and specificity with Wilson intervals: Serious records are few
    (a handful in a small test set), where a percentile bootstrap is coarse and can collapse
    to a point."""
    s = entry["serious"]
    return {"serious_sensitivity": wilson_entry(s["tp"], s["tp"] + s["fn"], alpha),
            "serious_specificity": wilson_entry(s["tn"], s["tn"] + s["fp"], alpha)}


def wilson_entry(k: int, n: int, alpha: float = 0.05) -> dict[str, Any] | None:
    """``{value, lo, hi, k, n, interval}`` of a proportion with its Wilson interval (the
    metric-entry shape of the scores); ``None`` without trials."""
    if not n:
        return None
    ci = proportion_ci(int(k), int(n), alpha)
    return {"value": ci["value"], "lo": ci["low"], "hi": ci["high"], "k": ci["k"],
            "n": ci["n"], "interval": "wilson"}


def _common_ground_view(entry: dict[str, Any], at_op: dict[str, Any], classes: list[str],
                        alpha: float = 0.05) -> dict[str, Any]:
    """Metrics of the most probable tier, Serious sensitivity at the operating point."""
    m = entry["metrics"]
    boot = entry.get("bootstrap") or {}
    metrics = {
        "accuracy": ci_entry(boot, "accuracy", m["accuracy"]),
        "macro_f1": ci_entry(boot, "macro_f1", m["macro_f1"]),
        "macro_auroc": ci_entry(None, "", m.get("macro_auroc")),
        "macro_auprc": ci_entry(None, "", m.get("macro_auprc")),
        **_serious_metrics(at_op, alpha),
    }
    per_class = [{k: row.get(k) for k in _PER_CLASS} for row in m["per_class"]]
    return {"metrics": metrics, "confusion": {"labels": classes,
                                              "matrix": m["confusion_matrix"]},
            "reliability": None, "per_class": per_class, "derivation": entry["derivation"],
            "n_records": m["n_records"]}


def score_prediction(pred: Prediction, targets: StudyTargets, evaluation: EvaluationConfig,
                     ) -> dict[str, dict[str, Any]]:
    """Scores of one model on one test set: native view and common-ground tier views.

    A corrupted test set gets only the robustness view's point estimates.
    """
    full = pred.test_set.clean
    dataset, card, proba = pred.test_set.dataset, pred.card, pred.proba
    ids, pids = pred.record_ids, pred.patient_ids
    views_wanted = COMMON_VIEWS if full else (ROBUSTNESS_VIEW,)
    tier_targets = {v: targets.y(dataset, v, ids) for v in views_wanted}
    names = {v: list(load_scheme(v).classes) for v in views_wanted}
    names.setdefault(card.scheme_name, card.classes)
    code_thr = card.code_thresholds()
    boot_ids = pids if full and evaluation.bootstrap > 0 else None
    alpha = 1 - evaluation.bootstrap_ci

    def common_ground(threshold: float | None) -> dict[str, Any]:
        return common_ground_scores(
            card.scheme_name, proba, tier_targets, names,
            thresholds=code_thr if code_thr is not None else 0.5, serious_threshold=threshold,
            patient_ids=boot_ids, n_boot=max(evaluation.bootstrap, 1), seed=evaluation.seed)

    most_probable = common_ground(None)
    # Serious sensitivity at the validation operating point (tier models; aha44 has none).
    serious_thr = card.serious_threshold
    at_op = common_ground(serious_thr) if full and serious_thr is not None else most_probable
    views: dict[str, dict[str, Any]] = {}
    if full:
        native, rows = targets.rows(dataset, card.scheme_name, ids)
        y = np.asarray(native.y)[rows]
        sel = np.flatnonzero(np.asarray(native.known, bool)[rows])
        views["native"] = score_view(
            y[sel], proba[sel], pred.decisions[sel], [pids[i] for i in sel], card.classes,
            multilabel=card.multilabel,
            class_mask=np.asarray(native.class_observable, bool), evaluation=evaluation)
        if card.scheme_name in at_op:
            views["native"]["metrics"].update(_serious_metrics(at_op[card.scheme_name], alpha))
    for view in views_wanted:
        entry = most_probable.get(view)
        if entry is None:
            continue  # e.g. tier4 from a tier3 model: not derivable
        views[view] = _common_ground_view(entry, at_op.get(view, entry), names[view], alpha)
    return views


def score_models(cells: Sequence[Cell], test_sets: Sequence[TestSet], predictions: Predictions,
                 targets: StudyTargets, evaluation: EvaluationConfig) -> ModelScores:
    """Score every model on every test set (clean: every view; corrupted: the curve point)."""
    out = ModelScores()
    for cell in tqdm(cells, desc="scoring", unit="model", disable=None):
        for ts in test_sets:
            views = score_prediction(predictions.get(cell, ts), targets, evaluation)
            who = {"cell": cell.id, "scheme": cell.scheme, "seed": cell.seed,
                   "test_set": ts.name}
            for view, result in views.items():
                if ts.clean:
                    out.scores.append({**who, "kind": ts.kind, "view": view,
                                       **{k: v for k, v in result.items() if k != "n_records"}})
                if view == ROBUSTNESS_VIEW:
                    value = result["metrics"][ROBUSTNESS_METRIC]
                    out.curves.append({**who, "corruption": ts.corruption,
                                       "severity": ts.severity, "rank": ts.rank,
                                       "value": None if value is None else value["value"]})
    return out
