"""Scoring a study: predictions → metrics per model, test set and view (native / tier3 / tier4).

For each trained cell and each test set (internal, every external and added one, and every
corrupted copy) a prediction table is produced once (see :mod:`ecgtriage.study_predict`). The
tables are joined to the targets on ``record_id`` and scored with ``ecgtriage.evaluate``:

* native view: the model's own classes, decisions by the model card's validation-tuned rule;
* common ground: tier3 and tier4 decisions (aha44 collapsed through the labelling rules,
  tier4 coarsened to tier3), with Serious sensitivity at the validation operating point;
* clean test sets get patient-bootstrap CIs and calibration; corrupted copies get the point
  estimate of the robustness metric (3-tier macro-F1) only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ecgtriage.study_cells import Cell, prediction_key
from ecgtriage.study_predict import (
    TestSet,
    probabilities,
    read_predictions,
    write_predictions,
)

#: The metric robustness curves and their summary are drawn on (common ground for all schemes).
ROBUSTNESS_VIEW = "tier3"
ROBUSTNESS_METRIC = "macro_f1"


@dataclass
class Scored:
    """Everything ``study_results.assemble`` needs."""

    scores: list[dict[str, Any]] = field(default_factory=list)
    classes: dict[str, list[str]] = field(default_factory=dict)
    test_sets: list[dict[str, Any]] = field(default_factory=list)
    external: list[dict[str, Any]] = field(default_factory=list)
    rare_unseen: dict[str, Any] = field(default_factory=lambda: {"rows": [], "headline": []})
    rare_external_f1: dict[str, list[float]] = field(default_factory=dict)
    robustness: dict[str, Any] = field(default_factory=dict)
    label_exclusions: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- test sets


def clean_test_sets(plan: Any, added: list[Any]) -> tuple[list[TestSet], list[dict[str, Any]]]:
    """Internal test split, every external data set and every added one (uncorrupted).

    A test set in the training data's format may share patients with it (e.g. the full
    PTB-XL folder given later to score fold 10): records of patients who were in the training
    or validation split are left out and counted, so no model is tested on what it saw.
    Returns the test sets and those exclusions.
    """
    splits = plan.splits
    test_ids = splits.loc[splits["split"] == "test", "record_id"].astype(str)
    out = [TestSet("internal", "internal", plan.train, tuple(test_ids))]
    from ecgtriage.study_predict import patient_ids

    index = plan.train.cache.index.astype({"record_id": str})
    index = index.assign(patient_id=patient_ids(index["record_id"], index["patient_id"]))
    seen_ids = set(splits.loc[splits["split"] != "test", "record_id"].astype(str))
    seen_patients = set(index.loc[index["record_id"].isin(seen_ids), "patient_id"])
    excluded = []
    for kind, datasets in (("external", plan.externals), ("added", added)):
        for ds in datasets:
            idx = ds.cache.index
            ids = idx["record_id"].astype(str)
            keep = np.ones(len(idx), bool)
            if ds.format == plan.train.format:
                pids = pd.Series(patient_ids(ids, idx["patient_id"]), index=idx.index)
                keep = ~(ids.isin(seen_ids) | pids.isin(seen_patients)).to_numpy()
                if (~keep).any():
                    excluded.append({"dataset": ds.name, "n": int((~keep).sum()),
                                     "reason": f"patient also in the training or validation "
                                               f"split of {plan.train.name}"})
            out.append(TestSet(ds.name, kind, ds, tuple(ids[keep])))
    return out, excluded


def corrupted_test_sets(clean: list[TestSet], evaluation: Any
                        ) -> tuple[list[TestSet], list[dict[str, Any]]]:
    """Every corruption × level of the internal set (and of external ones if configured).

    Returns the test sets and the corruptions skipped as not applicable at a set's rate.
    """
    from ecgtriage.evaluate.robustness import CORRUPTIONS

    out, skipped = [], []
    for ts in clean:
        if ts.kind != "internal" and not evaluation.corrupt_external:
            continue
        for corruption in evaluation.corruptions:
            reason = CORRUPTIONS[corruption].applicable(ts.dataset.cache.fs)
            if reason is not None:
                skipped.append({"test_set": ts.name, "corruption": corruption,
                                "status": f"not applicable: {reason}"})
                continue
            for rank, severity in enumerate(evaluation.levels(corruption), start=1):
                out.append(ts.with_corruption(corruption, severity, rank))
    return out, skipped


def key_of(ts: TestSet, noise_seed: int) -> str:
    return prediction_key(ts.name, ts.dataset.content_hash, ts.corruption, ts.severity,
                       noise_seed if ts.corruption else None)


# ---------------------------------------------------------------------------- predictions


def ensure_predictions(cells: list[Cell], test_sets: list[TestSet], cfg: Any) -> int:
    """Predict every (cell, test set) whose table is missing; returns how many were made.

    Test-set-major: each (possibly corrupted) set of signals is built once and passed to
    every model that still lacks its predictions, since corrupting costs more than predicting.
    """
    from ecgtriage.study_predict import predict_signals

    seed = cfg.evaluation.seed
    todo = [(ts, [c for c in cells if not c.predictions_path(key_of(ts, seed)).is_file()])
            for ts in test_sets]
    todo = [(ts, missing) for ts, missing in todo if missing]
    models: dict[str, tuple[Any, list[str]]] = {}
    device = _device(cfg.train.device)
    made = 0
    with tqdm(total=sum(len(m) for _, m in todo), desc="predicting", unit="set",
              disable=None) as bar:
        for ts, missing in todo:
            for cell in missing:
                if cell.id not in models:
                    models[cell.id] = _load(cell, device)
            tables = predict_signals([models[c.id] for c in missing], ts, device=device,
                                     batch_size=cfg.evaluation.batch_size, noise_seed=seed)
            for cell, table in zip(missing, tables):
                write_predictions(cell.predictions_path(key_of(ts, seed)), table)
                made += 1
                bar.update(1)
    return made


def _load(cell: Cell, device: str) -> tuple[Any, list[str]]:
    from ecgtriage.train.checkpoint import load_checkpoint

    model, card = load_checkpoint(cell.run_dir, device=device)
    return model, [str(c) for c in card["scheme"]["classes"]]


def _device(name: str) -> str:
    if name == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


# ---------------------------------------------------------------------------- scoring


class _Targets:
    """Targets of every (data set, scheme), computed once and looked up by record id."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], tuple[Any, pd.Series]] = {}

    def get(self, dataset: Any, scheme_name: str) -> tuple[Any, pd.Series]:
        from ecgtriage.labels import load_scheme, targets_for_cache

        key = (dataset.name, scheme_name)
        if key not in self._cache:
            targets = targets_for_cache(dataset.cache, load_scheme(scheme_name))
            pos = pd.Series(np.arange(len(targets.record_ids)),
                            index=[str(r) for r in targets.record_ids])
            self._cache[key] = (targets, pos)
        return self._cache[key]

    def rows(self, dataset: Any, scheme_name: str, ids: list[str]) -> tuple[Any, np.ndarray]:
        targets, pos = self.get(dataset, scheme_name)
        missing = [r for r in ids if r not in pos.index]
        if missing:
            raise ValueError(f"data set {dataset.name}: record {missing[0]!r} has no target for "
                             f"scheme {scheme_name}")
        return targets, pos.loc[ids].to_numpy()


class _Statements:
    """``statement_table`` of every data set, computed once."""

    def __init__(self) -> None:
        self._cache: dict[str, pd.DataFrame] = {}

    def get(self, dataset: Any) -> pd.DataFrame:
        from ecgtriage.labels import statement_table

        if dataset.name not in self._cache:
            table = statement_table(dataset.cache)
            table["record_id"] = table["record_id"].astype(str)
            self._cache[dataset.name] = table
        return self._cache[dataset.name]


def decide(proba: np.ndarray, card: dict[str, Any]) -> np.ndarray:
    """A model's decisions: aha44 by the card's validation-tuned per-class thresholds, a tier
    model by its most probable class.

    Accuracy, F1 and confusion matrices use the most probable tier, as the reference study
    does; the card's Serious operating point only decides the reported Serious sensitivity
    (see ``score_cell_on``), since a threshold tuned for sensitivity on a handful of
    validation Serious records can call many records Serious.
    """
    from ecgtriage.train.thresholds import apply_f1_thresholds

    scheme = card["scheme"]
    thresholds = card.get("thresholds") or {}
    if scheme["multilabel"]:
        values = thresholds.get("values", {})
        return apply_f1_thresholds(proba, [values.get(str(c)) for c in scheme["classes"]])
    return proba.argmax(axis=1)


def _ci(summary: dict[str, Any] | None, name: str, point: Any = None) -> dict[str, Any] | None:
    entry = (summary or {}).get(name)
    if entry is None:
        return _point(point)
    value = entry.get("estimate", point)
    return {"value": _f(value), "lo": _f(entry.get("low")), "hi": _f(entry.get("high"))}


def _point(x: Any) -> dict[str, Any] | None:
    return None if _f(x) is None else {"value": _f(x), "lo": None, "hi": None}


def _f(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if np.isnan(x) else x


def score_view(y_true: np.ndarray, proba: np.ndarray | None, y_pred: np.ndarray,
               patient_ids: list[str], classes: list[str], *, multilabel: bool,
               class_mask: np.ndarray | None, cfg: Any) -> dict[str, Any]:
    """Point metrics, patient-bootstrap CIs, confusion matrix and calibration of one view."""
    from ecgtriage.evaluate.bootstrap import bootstrap_metrics
    from ecgtriage.evaluate.calibration import calibration_report
    from ecgtriage.evaluate.metrics import compute_metrics

    point = compute_metrics(y_true, proba, multilabel=multilabel, y_pred=y_pred,
                            class_names=classes, class_mask=class_mask)
    boot = None
    if cfg.evaluation.bootstrap > 0 and point["n_records"] > 0:
        boot = bootstrap_metrics(
            y_true, proba, patient_ids, multilabel=multilabel, y_pred=y_pred,
            class_names=classes, class_mask=class_mask, n_boot=cfg.evaluation.bootstrap,
            seed=cfg.evaluation.seed, alpha=1 - cfg.evaluation.bootstrap_ci)
    summary = boot["summary"] if boot else None
    metrics = {name: _ci(summary, name, point.get(name))
               for name in ("accuracy", "macro_f1", "macro_auroc", "macro_auprc")}
    reliability = None
    if proba is not None and point["n_records"] > 0:
        cal = calibration_report(y_true, proba, multilabel=multilabel, class_names=classes,
                                 class_mask=class_mask)
        metrics["ece"] = _f(cal["ece"])
        d = cal["diagram"]
        reliability = {"confidence": d["confidence"], "accuracy": d["accuracy"],
                       "count": d["count"]}
    confusion = None
    if not multilabel:
        confusion = {"labels": classes, "matrix": point["confusion_matrix"]}
    per_class = [{k: row.get(k) for k in ("class", "support", "precision", "recall", "f1",
                                          "auroc", "auprc")} for row in point["per_class"]]
    return {"metrics": metrics, "confusion": confusion, "reliability": reliability,
            "per_class": per_class, "n_records": point["n_records"]}


def score_study(cfg: Any, plan: Any, cells: list[Cell], added: list[Any]) -> Scored:
    """Predict what is missing, then score every model on every test set."""
    from ecgtriage.labels import load_scheme
    from ecgtriage.train.checkpoint import read_card

    clean, overlap = clean_test_sets(plan, added)
    corrupted, skipped = corrupted_test_sets(clean, cfg.evaluation)
    t0 = time.perf_counter()
    made = ensure_predictions(cells, clean + corrupted, cfg)
    out = Scored()
    out.timings = {"predictions_s": time.perf_counter() - t0, "prediction_tables_made": made,
                   "prediction_tables_reused": len(cells) * len(clean + corrupted) - made}
    t0 = time.perf_counter()
    targets = _Targets()
    out.test_sets = [
        {"name": ts.name, "kind": ts.kind, "dataset": ts.dataset.name,
         "n_records": len(ts.record_ids), "corruption": ts.corruption, "severity": ts.severity,
         "key": key_of(ts, cfg.evaluation.seed)}
        for ts in clean + corrupted
    ]
    curves: list[dict[str, Any]] = []
    for cell in tqdm(cells, desc="scoring", unit="model", disable=None):
        card = read_card(cell.run_dir)
        scheme = load_scheme(cell.scheme)
        classes = [str(c) for c in card["scheme"]["classes"]]
        out.classes[cell.scheme] = classes
        for ts in clean + corrupted:
            table = read_predictions(cell.predictions_path(key_of(ts, cfg.evaluation.seed)))
            views = score_cell_on(cell, card, scheme, classes, ts, table, targets, cfg,
                                  full=ts.clean)
            for view, result in views.items():
                if ts.clean:
                    out.scores.append({"cell": cell.id, "scheme": cell.scheme, "seed": cell.seed,
                                       "test_set": ts.name, "kind": ts.kind, "view": view,
                                       **{k: v for k, v in result.items() if k != "n_records"}})
                if view == ROBUSTNESS_VIEW:
                    value = result["metrics"][ROBUSTNESS_METRIC]
                    curves.append({"cell": cell.id, "scheme": cell.scheme, "seed": cell.seed,
                                   "test_set": ts.name, "corruption": ts.corruption,
                                   "severity": ts.severity, "rank": ts.rank,
                                   "value": None if value is None else value["value"]})
    out.label_exclusions = overlap + label_exclusions(clean, cfg.schemes, targets)
    from ecgtriage.study_score_extra import external_section, rare_unseen_section, robustness_section

    out.robustness = robustness_section(curves, skipped)
    statements = _Statements()
    out.external = external_section(cfg, plan, cells, clean, targets, statements)
    out.rare_unseen, out.rare_external_f1 = rare_unseen_section(cfg, plan, cells, clean, targets,
                                                                statements, out.scores)
    out.timings["scoring_s"] = time.perf_counter() - t0
    return out


def card_thresholds(card: dict[str, Any]) -> tuple[np.ndarray | None, float | None]:
    """(aha44 per-class thresholds, tier Serious threshold) from a model card.

    An aha44 class without a threshold (``null``: absent from training) gets ``inf`` so
    it is never predicted, as the card's rule says.
    """
    thresholds = card.get("thresholds") or {}
    scheme = card["scheme"]
    if scheme["multilabel"]:
        values = thresholds.get("values", {})
        per_class = [values.get(str(c)) for c in scheme["classes"]]
        return np.array([np.inf if v is None else float(v) for v in per_class]), None
    if thresholds.get("kind") == "serious_operating_point":
        return None, thresholds.get("threshold")
    return None, None


def score_cell_on(cell: Cell, card: dict[str, Any], scheme: Any, classes: list[str],
                  ts: TestSet, table: pd.DataFrame, targets: _Targets, cfg: Any, *, full: bool
                  ) -> dict[str, dict[str, Any]]:
    """Scores of one model on one test set: native view and common-ground tier views.

    ``full=False`` (corrupted copies) computes only the robustness view's point estimates.
    """
    from ecgtriage.evaluate.collapse import common_ground_scores

    ids = table["record_id"].astype(str).tolist()
    proba = probabilities(table, classes)
    pids = table["patient_id"].astype(str).tolist()
    tiers = ("tier3", "tier4") if full else (ROBUSTNESS_VIEW,)
    tier_targets = {}
    for view in tiers:
        t, rows = targets.rows(ts.dataset, view, ids)
        tier_targets[view] = np.asarray(t.y)[rows]
    names = {v: list(t_classes(v)) for v in tiers}
    names.setdefault(cell.scheme, classes)
    code_thr, serious_thr = card_thresholds(card)
    boot_ids = pids if full and cfg.evaluation.bootstrap > 0 else None

    def common_ground(threshold: float | None) -> dict[str, Any]:
        return common_ground_scores(
            cell.scheme, proba, tier_targets, names,
            thresholds=code_thr if code_thr is not None else 0.5, serious_threshold=threshold,
            patient_ids=boot_ids, n_boot=max(cfg.evaluation.bootstrap, 1),
            seed=cfg.evaluation.seed)

    most_probable = common_ground(None)
    # Serious sensitivity at the validation operating point (tier models; aha44 has none).
    at_op = common_ground(serious_thr) if full and serious_thr is not None else most_probable
    views: dict[str, dict[str, Any]] = {}
    if full:
        decisions = decide(proba, card)
        t, rows = targets.rows(ts.dataset, cell.scheme, ids)
        y = np.asarray(t.y)[rows]
        sel = np.flatnonzero(np.asarray(t.known, bool)[rows])
        views["native"] = score_view(
            y[sel], proba[sel], decisions[sel], [pids[i] for i in sel], classes,
            multilabel=scheme.multilabel, class_mask=np.asarray(t.class_observable, bool),
            cfg=cfg)
        if cell.scheme in at_op:
            views["native"]["metrics"].update(_serious_metrics(at_op[cell.scheme]))
    for view in tiers:
        entry = most_probable.get(view)
        if entry is None:
            continue  # e.g. tier4 from a tier3 model: not derivable
        views[view] = _common_ground_view(entry, at_op.get(view, entry), names[view])
    return views


def _serious_metrics(entry: dict[str, Any]) -> dict[str, Any]:
    boot = entry.get("bootstrap") or {}
    return {
        "serious_sensitivity": _ci(boot, "serious_sensitivity", entry["serious"]["sensitivity"]),
        "serious_specificity": _ci(boot, "serious_specificity", entry["serious"]["specificity"]),
    }


def _common_ground_view(entry: dict[str, Any], at_op: dict[str, Any], classes: list[str]
                        ) -> dict[str, Any]:
    """Metrics of the most probable tier, Serious sensitivity at the operating point."""
    m = entry["metrics"]
    boot = entry.get("bootstrap") or {}
    metrics = {
        "accuracy": _ci(boot, "accuracy", m["accuracy"]),
        "macro_f1": _ci(boot, "macro_f1", m["macro_f1"]),
        "macro_auroc": _ci(None, "", m.get("macro_auroc")),
        "macro_auprc": _ci(None, "", m.get("macro_auprc")),
        **_serious_metrics(at_op),
    }
    per_class = [{k: row.get(k) for k in ("class", "support", "precision", "recall", "f1",
                                          "auroc", "auprc")} for row in m["per_class"]]
    return {"metrics": metrics, "confusion": {"labels": classes,
                                              "matrix": m["confusion_matrix"]},
            "reliability": None, "per_class": per_class, "derivation": entry["derivation"],
            "n_records": m["n_records"]}


def t_classes(scheme_name: str) -> tuple[str, ...]:
    from ecgtriage.labels import load_scheme

    return load_scheme(scheme_name).classes


def label_exclusions(clean: list[TestSet], schemes: list[str], targets: _Targets
                     ) -> list[dict[str, Any]]:
    """Test records left out of a scheme's scores because their label is undeterminable."""
    rows = []
    for ts in clean:
        for scheme in dict.fromkeys([*schemes, "tier3", "tier4"]):
            t, pos = targets.rows(ts.dataset, scheme, list(ts.record_ids))
            n = int((~np.asarray(t.known, bool)[pos]).sum())
            if n:
                rows.append({"dataset": ts.name, "reason": f"no {scheme} label (undeterminable)",
                             "n": n})
    return rows
