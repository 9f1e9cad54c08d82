"""External-validity section: what each external (or added) test set can express, how its
class prevalence differs from training, and EM prior-shift-adjusted tier accuracy
(Saerens et al. 2002) beside the raw one."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ecgtriage.evaluate.external import external_scores, statement_coverage, target_coverage
from ecgtriage.evaluate.prior_shift import class_priors, em_prior_shift, prevalence_shift_table
from ecgtriage.labels import load_scheme
from ecgtriage.study.cells import Cell
from ecgtriage.study.data import DataPlan
from ecgtriage.study.predict import Prediction, Predictions, prob_columns, write_predictions
from ecgtriage.study.score import COMMON_VIEWS
from ecgtriage.study.targets import StudyStatements, StudyTargets
from ecgtriage.study.testsets import TestSet


def train_ids(plan: DataPlan) -> list[str]:
    """Record ids of the training split (the reference for priors and training counts)."""
    return plan.splits.loc[plan.splits["split"] == "train", "record_id"].astype(str).tolist()


def external_section(schemes: Sequence[str], plan: DataPlan, cells: Sequence[Cell],
                     clean: Sequence[TestSet], predictions: Predictions, targets: StudyTargets,
                     statements: StudyStatements) -> list[dict[str, Any]]:
    """One entry per non-internal clean test set (see module docstring)."""
    out = []
    for ts in clean:
        if ts.kind == "internal":
            continue
        entry: dict[str, Any] = {"test_set": ts.name,
                                 "coverage": coverage(ts, targets, statements),
                                 "classes_with_positives": [], "prevalence": [],
                                 "prevalence_table": [], "em_adjusted": []}
        for scheme_name in dict.fromkeys([*schemes, *COMMON_VIEWS]):
            _prevalence(entry, scheme_name, plan, ts, targets)
        for cell in cells:
            if cell.scheme in COMMON_VIEWS:  # EM needs single-label posteriors over tiers
                entry["em_adjusted"].append(
                    _em_adjusted(predictions.get(cell, ts), plan, targets))
        out.append(entry)
    return out


def _prevalence(entry: dict[str, Any], scheme_name: str, plan: DataPlan, ts: TestSet,
                targets: StudyTargets) -> None:
    """Classes with positives and the train → test prevalence table of one scheme."""
    scheme = load_scheme(scheme_name)
    ids, tr = list(ts.record_ids), train_ids(plan)
    t_test, _ = targets.get(ts.dataset, scheme_name)
    y_test = targets.known_y(ts.dataset, scheme_name, ids)
    y_train = targets.known_y(plan.train, scheme_name, tr)
    cov = target_coverage(y_test, multilabel=scheme.multilabel, class_names=list(scheme.classes),
                          class_observable=t_test.class_observable)
    entry["classes_with_positives"].append({
        "scheme": scheme_name, "n_classes": len(scheme.classes),
        "n_with_positives": int(cov["has_positives"].sum()),
        "n_observable": int(np.asarray(t_test.class_observable, bool).sum())})
    table = prevalence_shift_table(
        y_train, y_test, multilabel=scheme.multilabel, class_names=list(scheme.classes),
        class_observable=t_test.class_observable)
    entry["prevalence_table"] += [{"scheme": scheme_name, **r} for r in table.to_dict("records")]
    if scheme_name in COMMON_VIEWS:
        for _, r in table.iterrows():
            for dataset, value in ((f"{plan.train.name} (train)", r["train_prevalence"]),
                                   (ts.name, r["test_prevalence"])):
                entry["prevalence"].append({"scheme": scheme_name, "class": r["class"],
                                            "dataset": dataset, "prevalence": float(value)})


def _em_adjusted(pred: Prediction, plan: DataPlan, targets: StudyTargets) -> dict[str, Any]:
    """Raw and EM-adjusted accuracy / macro-F1 of a tier model (most probable tier for both,
    as the main scores); the adjusted probabilities are written beside the raw table."""
    cell, classes = pred.cell, pred.classes
    y = targets.y(pred.test_set.dataset, cell.scheme, pred.record_ids)
    priors = class_priors(targets.y(plan.train, cell.scheme, train_ids(plan)), len(classes))
    weight = _class_weight(pred)
    result = external_scores(y, pred.proba, multilabel=False, class_names=classes,
                             train_priors=priors, class_weight=weight)
    raw, adj = result["raw"], result["prior_adjusted"]
    _write_adjusted(pred, priors, weight)
    return {"cell": cell.id, "scheme": cell.scheme, "seed": cell.seed, "view": cell.scheme,
            "raw_accuracy": raw["accuracy"], "adjusted_accuracy": adj["accuracy"],
            "raw_macro_f1": raw["macro_f1"], "adjusted_macro_f1": adj["macro_f1"],
            "em_converged": result["em"]["converged"],
            "estimated_priors": dict(zip(classes, result["em"]["test_priors"]))}


def _class_weight(pred: Prediction) -> str | None:
    """``"inverse_frequency"`` when the model was trained with inverse-frequency class
    weights (its posteriors then encode near-uniform priors, which EM must start from)."""
    return "inverse_frequency" if pred.card.config.get("class_weighting", False) else None


def _write_adjusted(pred: Prediction, priors: np.ndarray, class_weight: str | None) -> None:
    """EM-adjusted probabilities and both decisions beside the raw table (written once)."""
    path = pred.path.with_name(pred.path.stem + "__em_adjusted.csv")
    if path.is_file():
        return
    adjusted, _ = em_prior_shift(pred.proba, priors, class_weight=class_weight)
    classes = np.asarray(pred.classes)
    out = pred.table[["record_id", "patient_id"]].copy()
    out[prob_columns(pred.classes)] = adjusted
    out["decision_raw"] = classes[pred.proba.argmax(axis=1)]
    out["decision_adjusted"] = classes[adjusted.argmax(axis=1)]
    write_predictions(path, out)


def coverage(ts: TestSet, targets: StudyTargets, statements: StudyStatements
             ) -> dict[str, Any]:
    """How much of a test set's labelling the training vocabulary can express."""
    ids = list(ts.record_ids)
    out: dict[str, Any] = {"records": len(ids)}
    for scheme_name in COMMON_VIEWS:
        known = targets.known(ts.dataset, scheme_name, ids)
        out[f"fraction with a known {scheme_name} label"] = float(known.mean()) if ids else 0.0
    table = statements.get(ts.dataset, ids)
    cov = statement_coverage(table, load_scheme("aha44").classes)
    in_scheme = cov[cov["in_scheme"]]
    out["distinct statements"] = int(len(cov))
    out["statements with an aha44 counterpart"] = int(len(in_scheme))
    records_in = table.loc[table["statement"].isin(set(in_scheme["statement"])), "record_id"]
    out["fraction of records with an aha44-mapped statement"] = (
        float(records_in.nunique() / len(ids)) if ids else 0.0)
    missing = [f"{st} ({nm})" if isinstance(nm, str) and nm and nm != st else str(st)
               for st, nm in cov.loc[~cov["in_scheme"], ["statement", "name"]].itertuples(
                   index=False)]
    if missing:
        out["statements without a counterpart (most frequent first)"] = ", ".join(missing[:12])
    return out
