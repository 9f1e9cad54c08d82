"""Study sections beyond per-model scores: external validity, rare/unseen, robustness summary.

* external: label coverage of each external (and added) test set, how many classes of each
  scheme have positives there, prevalence shift against the training split, and EM-adjusted
  (Saerens et al. 2002) tier accuracy beside the raw one;
* rare/unseen: how often each model flags records carrying rare or unseen statements as
  abnormal (``ecgtriage.evaluate.rare_unseen``);
* robustness: the area under each degradation curve (``ecgtriage.evaluate.robustness``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ecgtriage.study_predict import probabilities, read_predictions

TIER_SCHEMES = ("tier4", "tier3")


def _train_ids(plan: Any) -> list[str]:
    return plan.splits.loc[plan.splits["split"] == "train", "record_id"].astype(str).tolist()


def external_section(cfg: Any, plan: Any, cells: list[Any], clean: list[Any], targets: Any,
                     statements: Any) -> list[dict[str, Any]]:
    """One entry per non-internal clean test set (see module docstring)."""
    from ecgtriage.evaluate.external import external_scores, target_coverage
    from ecgtriage.evaluate.prior_shift import class_priors, prevalence_shift_table
    from ecgtriage.labels import load_scheme
    from ecgtriage.study_score import key_of
    from ecgtriage.train.checkpoint import read_card

    train_ids = _train_ids(plan)
    schemes = list(dict.fromkeys([*cfg.schemes, *TIER_SCHEMES]))
    out = []
    for ts in clean:
        if ts.kind == "internal":
            continue
        ids = list(ts.record_ids)
        entry: dict[str, Any] = {"test_set": ts.name,
                                 "coverage": coverage(ts, ids, targets, statements),
                                 "classes_with_positives": [], "prevalence": [],
                                 "prevalence_table": [], "em_adjusted": []}
        for scheme_name in schemes:
            scheme = load_scheme(scheme_name)
            t_test, rows = targets.rows(ts.dataset, scheme_name, ids)
            t_train, train_rows = targets.rows(plan.train, scheme_name, train_ids)
            known = np.asarray(t_test.known, bool)[rows]
            y_test = np.asarray(t_test.y)[rows][known]
            y_train = np.asarray(t_train.y)[train_rows][np.asarray(t_train.known, bool)[train_rows]]
            cov = target_coverage(y_test, multilabel=scheme.multilabel,
                                  class_names=list(scheme.classes),
                                  class_observable=t_test.class_observable)
            entry["classes_with_positives"].append({
                "scheme": scheme_name, "n_classes": len(scheme.classes),
                "n_with_positives": int(cov["has_positives"].sum()),
                "n_observable": int(np.asarray(t_test.class_observable, bool).sum())})
            table = prevalence_shift_table(
                y_train, y_test, multilabel=scheme.multilabel, class_names=list(scheme.classes),
                class_observable=t_test.class_observable)
            entry["prevalence_table"] += [{"scheme": scheme_name, **r}
                                          for r in table.to_dict("records")]
            if scheme_name in TIER_SCHEMES:
                for _, r in table.iterrows():
                    for dataset, value in ((f"{plan.train.name} (train)", r["train_prevalence"]),
                                           (ts.name, r["test_prevalence"])):
                        entry["prevalence"].append({"scheme": scheme_name, "class": r["class"],
                                                    "dataset": dataset,
                                                    "prevalence": float(value)})
        for cell in cells:
            if cell.scheme not in TIER_SCHEMES:
                continue  # EM needs single-label posteriors; aha44 has none over tiers
            card = read_card(cell.run_dir)
            classes = [str(c) for c in card["scheme"]["classes"]]
            table = read_predictions(cell.predictions_path(key_of(ts, cfg.evaluation.seed)))
            proba = probabilities(table, classes)
            t, rows = targets.rows(ts.dataset, cell.scheme, table["record_id"].astype(str).tolist())
            y = np.asarray(t.y)[rows]
            t_train, train_rows = targets.rows(plan.train, cell.scheme, train_ids)
            priors = class_priors(np.asarray(t_train.y)[train_rows], len(classes))
            # Most probable tier for raw and adjusted posteriors alike (as the main scores).
            result = external_scores(y, proba, multilabel=False, class_names=classes,
                                     train_priors=priors)
            raw, adj = result["raw"], result["prior_adjusted"]
            _write_adjusted(cell.predictions_path(key_of(ts, cfg.evaluation.seed)), table,
                            proba, priors, classes)
            entry["em_adjusted"].append({
                "cell": cell.id, "scheme": cell.scheme, "seed": cell.seed, "view": cell.scheme,
                "raw_accuracy": raw["accuracy"], "adjusted_accuracy": adj["accuracy"],
                "raw_macro_f1": raw["macro_f1"], "adjusted_macro_f1": adj["macro_f1"],
                "em_converged": result["em"]["converged"],
                "estimated_priors": dict(zip(classes, result["em"]["test_priors"]))})
        out.append(entry)
    return out


def _write_adjusted(raw_path: Any, table: pd.DataFrame, proba: np.ndarray, priors: np.ndarray,
                    classes: list[str]) -> None:
    """EM-adjusted probabilities and both decisions beside the raw table (written once)."""
    from ecgtriage.evaluate.prior_shift import em_prior_shift
    from ecgtriage.study_predict import prob_columns, write_predictions

    path = raw_path.with_name(raw_path.stem + "__em_adjusted.csv")
    if path.is_file():
        return
    adjusted, _ = em_prior_shift(proba, priors)
    out = table[["record_id", "patient_id"]].copy()
    out[prob_columns(classes)] = adjusted
    out["decision_raw"] = np.asarray(classes)[proba.argmax(axis=1)]
    out["decision_adjusted"] = np.asarray(classes)[adjusted.argmax(axis=1)]
    write_predictions(path, out)


def coverage(ts: Any, ids: list[str], targets: Any, statements: Any) -> dict[str, Any]:
    """How much of a test set's labelling the training vocabulary can express."""
    from ecgtriage.evaluate.external import statement_coverage
    from ecgtriage.labels import load_scheme

    out: dict[str, Any] = {"records": len(ids)}
    for scheme_name in ("tier3", "tier4"):
        t, rows = targets.rows(ts.dataset, scheme_name, ids)
        known = np.asarray(t.known, bool)[rows]
        out[f"fraction with a known {scheme_name} label"] = float(known.mean()) if len(ids) else 0.0
    table = statements.get(ts.dataset)
    table = table[table["record_id"].astype(str).isin(set(ids))]
    cov = statement_coverage(table, load_scheme("aha44").classes)
    in_scheme = cov[cov["in_scheme"]]
    out["distinct statements"] = int(len(cov))
    out["statements with an aha44 counterpart"] = int(len(in_scheme))
    records_in = table.loc[table["statement"].isin(set(in_scheme["statement"])), "record_id"]
    out["fraction of records with an aha44-mapped statement"] = (
        float(records_in.nunique() / len(ids)) if len(ids) else 0.0)
    missing = [f"{st} ({nm})" if isinstance(nm, str) and nm and nm != st else str(st)
               for st, nm in cov.loc[~cov["in_scheme"], ["statement", "name"]].itertuples(
                   index=False)]
    if missing:
        out["statements without a counterpart (most frequent first)"] = ", ".join(missing[:12])
    return out


#: Most rows the rare/unseen heatmap shows (the CSV table has them all).
HEATMAP_ROWS = 40


def rare_unseen_section(cfg: Any, plan: Any, cells: list[Any], clean: list[Any], targets: Any,
                        statements: Any, scores: list[dict[str, Any]]
                        ) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Per-statement rare/unseen table, headline rates, and aha44 F1 on rare codes per test set.

    With several seeds the first seed of each scheme stands for it (the per-model scores keep
    every seed).
    """
    from ecgtriage.evaluate.rare_unseen import rare_unseen_analysis, training_counts
    from ecgtriage.labels import load_scheme
    from ecgtriage.study_score import decide, key_of
    from ecgtriage.train.checkpoint import read_card

    train_ids = _train_ids(plan)
    train_statements = statements.get(plan.train)
    train_statements = train_statements[train_statements["record_id"].isin(set(train_ids))]
    counts = training_counts(train_statements)
    code_classes = list(load_scheme("aha44").classes)
    first = {}
    for cell in cells:
        first.setdefault(cell.scheme, cell)
    rows: list[dict[str, Any]] = []
    headline: list[dict[str, Any]] = []
    rare_f1: dict[str, list[float]] = {}
    for ts in clean:
        aha44 = None
        tiers: dict[str, Any] = {}
        for scheme_name, cell in first.items():
            card = read_card(cell.run_dir)
            classes = [str(c) for c in card["scheme"]["classes"]]
            table = read_predictions(cell.predictions_path(key_of(ts, cfg.evaluation.seed)))
            ids = table["record_id"].astype(str).tolist()
            pred = decide(probabilities(table, classes), card)
            t, pos = targets.rows(ts.dataset, scheme_name, ids)
            y = np.asarray(t.y)[pos]
            if load_scheme(scheme_name).multilabel:
                if scheme_name == "aha44":
                    aha44 = {"record_ids": ids, "y_pred": pred, "classes": classes,
                             "y_true": y > 0}
            else:
                tiers[scheme_name] = {"record_ids": ids, "y_pred": pred, "y_true": y,
                                      "classes": classes}
        test_statements = statements.get(ts.dataset)
        test_statements = test_statements[test_statements["record_id"].isin(set(ts.record_ids))]
        if test_statements.empty or (aha44 is None and not tiers):
            continue
        table, head = rare_unseen_analysis(
            test_statements, counts, len(train_ids), code_classes, dataset=ts.name,
            aha44=aha44, tiers=tiers or None,
            by="aha_code" if ts.dataset.format == "sph" else "statement")
        for record in table.to_dict("records"):
            rows.append(_clean_nan(record))
        for group in ("unseen", "rare"):
            rates = head["rates"][group]
            for scope, label in (("only", f"{group} only"), ("any", f"any {group}")):
                n = rates["n_records_only"] if scope == "only" else rates["n_records"]
                if not n:
                    continue
                for model, rate in rates[scope].items():
                    headline.append({"scheme": model, "test_set": ts.name, "group": label,
                                     "n": int(n), "rate": rate})
        if ts.kind != "internal" and "aha44_code_f1" in table:
            rare = table[table["group"] == "rare"].drop_duplicates("aha_code")
            rare_f1[ts.name] = [float(f) for f in rare["aha44_code_f1"] if not pd.isna(f)]
    return {"rows": _heatmap_rows(rows, list(first)), "table": rows,
            "headline": headline}, rare_f1


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


def _clean_nan(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in record.items()}


def robustness_section(curves: list[dict[str, Any]], skipped: list[dict[str, Any]]
                       ) -> dict[str, Any]:
    """Degradation curves (one row per model, test set, corruption and level) and their
    normalised areas (``ecgtriage.evaluate.robustness.degradation_summary``)."""
    from ecgtriage.evaluate.robustness import CORRUPTIONS, degradation_summary
    from ecgtriage.study_score import ROBUSTNESS_METRIC, ROBUSTNESS_VIEW

    for row in curves:
        row["unit"] = CORRUPTIONS[row["corruption"]].unit if row["corruption"] else ""
    summary: list[dict[str, Any]] = []
    frame = pd.DataFrame(curves)
    if not frame.empty and frame["corruption"].notna().any():
        frame = frame.assign(
            corruption=frame["corruption"].fillna("clean"), status="ok",
            value=pd.to_numeric(frame["value"], errors="coerce"))
        table = degradation_summary(frame, "value", group_by=("scheme", "seed", "test_set"))
        summary = [
            {"scheme": r["scheme"], "seed": int(r["seed"]), "test_set": r["test_set"],
             "corruption": r["corruption"], "clean": _none(r["clean"]),
             "auc": _none(r["auc_normalised"]), "at_worst": _none(r["at_worst"]),
             "status": r["status"]}
            for r in table.to_dict("records")
        ]
    return {"metric_label": f"{ROBUSTNESS_VIEW.replace('tier', '')}-tier "
                            f"{ROBUSTNESS_METRIC.replace('_', '-').replace('f1', 'F1')}",
            "curves": curves, "summary": summary, "skipped": skipped}


def _none(value: Any) -> Any:
    return None if isinstance(value, float) and np.isnan(value) else value
