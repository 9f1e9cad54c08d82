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

from ecgtriage.study_predict import probabilities, read_predictions

TIER_SCHEMES = ("tier4", "tier3")


def _train_ids(plan: Any) -> list[str]:
    return plan.splits.loc[plan.splits["split"] == "train", "record_id"].astype(str).tolist()


def external_section(cfg: Any, plan: Any, cells: list[Any], clean: list[Any], targets: Any
                     ) -> list[dict[str, Any]]:
    """One entry per non-internal clean test set (see module docstring)."""
    from ecgtriage.evaluate.prior_shift import class_priors, em_prior_shift, prevalence_shift_table
    from ecgtriage.evaluate.metrics import compute_metrics
    from ecgtriage.labels import coarsen, load_scheme
    from ecgtriage.study_score import decide, key_of

    train_ids = _train_ids(plan)
    schemes = list(dict.fromkeys([*cfg.schemes, *TIER_SCHEMES]))
    out = []
    for ts in clean:
        if ts.kind == "internal":
            continue
        ids = list(ts.record_ids)
        entry: dict[str, Any] = {"test_set": ts.name, "coverage": coverage(ts, ids, targets),
                                 "classes_with_positives": [], "prevalence": [],
                                 "prevalence_table": [], "em_adjusted": []}
        for scheme_name in schemes:
            scheme = load_scheme(scheme_name)
            t_test, rows = targets.rows(ts.dataset, scheme_name, ids)
            t_train, train_rows = targets.rows(plan.train, scheme_name, train_ids)
            y_test = np.asarray(t_test.y)[rows]
            y_train = np.asarray(t_train.y)[train_rows]
            known = np.asarray(t_test.known, bool)[rows]
            if scheme.multilabel:
                positives = (y_test[known] > 0).any(axis=0)
            else:
                positives = np.bincount(y_test[known & (y_test >= 0)],
                                        minlength=len(scheme.classes)) > 0
            entry["classes_with_positives"].append({
                "scheme": scheme_name, "n_classes": len(scheme.classes),
                "n_with_positives": int(positives.sum()),
                "n_observable": int(np.asarray(t_test.class_observable, bool).sum())})
            table = prevalence_shift_table(
                y_train[np.asarray(t_train.known, bool)[train_rows]], y_test[known],
                multilabel=scheme.multilabel, class_names=list(scheme.classes),
                class_observable=t_test.class_observable)
            entry["prevalence_table"] += [{"scheme": scheme_name, **r}
                                          for r in table.to_dict("records")]
            if scheme_name in TIER_SCHEMES:
                for _, r in table.iterrows():
                    entry["prevalence"].append({"scheme": scheme_name, "class": r["class"],
                                                "dataset": f"{plan.train.name} (train)",
                                                "prevalence": float(r["train_prevalence"])})
                    entry["prevalence"].append({"scheme": scheme_name, "class": r["class"],
                                                "dataset": ts.name,
                                                "prevalence": float(r["test_prevalence"])})
        for cell in cells:
            if cell.scheme not in TIER_SCHEMES:
                continue  # EM needs single-label posteriors; aha44 has none over tiers
            from ecgtriage.train.checkpoint import read_card

            card = read_card(cell.run_dir)
            classes = [str(c) for c in card["scheme"]["classes"]]
            table = read_predictions(cell.predictions_path(key_of(ts, cfg.evaluation.seed)))
            proba = probabilities(table, classes)
            t_train, train_rows = targets.rows(plan.train, cell.scheme, train_ids)
            priors = class_priors(np.asarray(t_train.y)[train_rows], len(classes))
            adjusted, info = em_prior_shift(proba, priors)
            raw_pred = decide(proba, card)
            adj_pred = adjusted.argmax(axis=1)
            views = {cell.scheme: (raw_pred, adj_pred)}
            if cell.scheme == "tier4":
                views["tier3"] = (coarsen(raw_pred, "tier3"), coarsen(adj_pred, "tier3"))
            for view, (raw, adj) in views.items():
                t, rows = targets.rows(ts.dataset, view, list(table["record_id"].astype(str)))
                y = np.asarray(t.y)[rows]
                sel = y >= 0
                names = list(load_scheme(view).classes)
                m_raw = compute_metrics(y[sel], None, multilabel=False, y_pred=raw[sel],
                                        class_names=names)
                m_adj = compute_metrics(y[sel], None, multilabel=False, y_pred=adj[sel],
                                        class_names=names)
                entry["em_adjusted"].append({
                    "cell": cell.id, "scheme": cell.scheme, "seed": cell.seed, "view": view,
                    "raw_accuracy": m_raw["accuracy"], "adjusted_accuracy": m_adj["accuracy"],
                    "raw_macro_f1": m_raw["macro_f1"], "adjusted_macro_f1": m_adj["macro_f1"],
                    "em_converged": info["converged"],
                    "estimated_priors": dict(zip(classes, info["test_priors"]))})
        out.append(entry)
    return out


def coverage(ts: Any, ids: list[str], targets: Any) -> dict[str, Any]:
    """How much of a test set's labelling the training vocabulary can express."""
    out: dict[str, Any] = {"records": len(ids)}
    for scheme_name in ("tier3", "tier4", "aha44"):
        t, rows = targets.rows(ts.dataset, scheme_name, ids)
        known = np.asarray(t.known, bool)[rows]
        if scheme_name == "aha44":
            y = np.asarray(t.y)[rows]
            out["fraction with at least one aha44 class"] = float((y[known] > 0).any(axis=1).mean()
                                                                  if known.any() else 0.0)
            out["aha44 classes that can occur here"] = int(
                np.asarray(t.class_observable, bool).sum())
            details = getattr(t, "details", None)
            if details is not None and "unmapped" in details:
                unmapped = details.set_index(details["record_id"].astype(str)).loc[ids, "unmapped"]
                codes = sorted({c for v in unmapped for c in _codes(v)})
                out["statements without an aha44 counterpart"] = len(codes)
                if codes:
                    out["examples of such statements"] = ", ".join(codes[:12])
        else:
            out[f"fraction with a known {scheme_name} label"] = float(known.mean()) if len(
                known) else 0.0
    return out


def _codes(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, (list, tuple, set)):
        return [str(v) for v in value]
    return [v for v in str(value).replace(",", ";").split(";") if v.strip()]
