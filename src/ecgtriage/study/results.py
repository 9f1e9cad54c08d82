"""``results.json`` and ``tables/*.csv``: everything the study measured, in one layout.

``results.json`` (read by ``ecgtriage.report``) holds: ``schema_version``, ``package_version``,
``created``, ``synthetic``, ``wall_time_s``, ``config_hash``, ``config``, ``command``,
``schemes``, ``headline`` (+ ``headline_internal``, ``headline_externals``), ``claims``,
``data_roles``, ``split_note``, ``exclusions``, ``cells``, ``test_sets``, ``scores`` (one entry
per model × clean test set × view; view ∈ native / tier3 / tier4, metrics as
``{value, lo, hi}``), ``external`` (coverage, classes with positives, prevalence, EM-adjusted),
``rare_unseen`` (rows, headline), ``robustness`` (curves, summary) and ``caveats``.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ecgtriage import __version__, atomic
from ecgtriage import config as cfgmod
from ecgtriage.study.cells import Cell
from ecgtriage.study.claims import attention_claim, claims, headline
from ecgtriage.study.config import StudyConfig
from ecgtriage.study.data import DataPlan, Dataset, data_roles, exclusions
from ecgtriage.study.evaluation import Scored

SCHEMA_VERSION = 1


def assemble(cfg: StudyConfig, plan: DataPlan, cells: Sequence[Cell], added: Sequence[Dataset],
             scored: Scored, *,
             wall_time_s: float, command: str) -> dict[str, Any]:
    """The ``results.json`` dict of a study."""
    externals = [d.name for d in plan.externals] + [d.name for d in added]
    schemes = list(cfg.schemes)
    roles = data_roles(plan, added)
    results = {
        "schema_version": SCHEMA_VERSION,
        "package_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "synthetic": plan.synthetic,
        "wall_time_s": float(wall_time_s),
        "config_hash": cfgmod.config_hash(cfg),
        "config": cfgmod.to_dict(cfg),
        "command": command,
        "schemes": schemes,
        "headline_internal": f"internal test ({plan.train.name})",
        "headline_externals": externals,
        "headline": headline(scored.scores, schemes, "internal", externals),
        "claims": claims(scored.scores, schemes, "internal", externals,
                         comparison=scored.comparison, rare_codes=scored.rare_codes,
                         published_testable=published_setting(plan),
                         attention=attention_claim(scored.interpretability)),
        "comparison": scored.comparison,
        "referral": scored.referral,
        "rare_codes": scored.rare_codes,
        "data_roles": roles,
        "split_note": split_note(plan),
        "exclusions": exclusions([plan.train, *plan.externals, *added]) + scored.label_exclusions,
        "cells": [{"id": c.id, "scheme": c.scheme, "seed": c.seed, "hash": c.hash,
                   "dir": str(c.dir.name), "classes": scored.classes[c.scheme]} for c in cells],
        "test_sets": scored.test_sets,
        "scores": scored.scores,
        "external": scored.external,
        "rare_unseen": scored.rare_unseen,
        "robustness": scored.robustness,
        "interpretability": scored.interpretability,
        "caveats": caveats(plan, cfg),
    }
    return results


def published_setting(plan: DataPlan) -> str | None:
    """``None`` when the run is the published one (real SPH → real PTB-XL), else why not:
    the published values are only evidence about that setting."""
    if plan.synthetic:
        return "synthetic data (the published values are for real SPH → PTB-XL)"
    if plan.train.format != "sph" or not any(d.format == "ptbxl" for d in plan.externals):
        return (f"trained on {plan.train.format}, external "
                f"{', '.join(d.format for d in plan.externals) or 'none'}: the published "
                f"values are for SPH → PTB-XL")
    return None


def split_note(plan: DataPlan) -> str:
    roles = plan.split_roles or {}
    note = roles.get("note") if isinstance(roles, dict) else None
    text = (f"The training data set {plan.train.name} ({plan.train.format}) was split by "
            f"patient into training, validation and internal-test records.")
    return f"{text} {note}" if note else text


def caveats(plan: DataPlan, cfg: StudyConfig) -> list[str]:
    out = []
    if plan.synthetic:
        out.append("All ECGs are simulated; the numbers test the pipeline, not medicine.")
    out.append("Confidence intervals resample patients "
               f"({cfg.evaluation.bootstrap} resamples); they cover sampling of test patients, "
               "not the variation between training runs (use several seeds for that).")
    out.append("A 44-class prediction carries no modifiers (acute, rapid response...), so its "
               "collapsed tier cannot be Serious for reasons that only a modifier gives.")
    out.append("External labels come from a mapping between vocabularies; statements without a "
               "counterpart are reported as unseen, not silently dropped.")
    if len(cfg.seeds) == 1:
        out.append("One seed per scheme: differences between schemes smaller than the "
                   "confidence intervals may be due to chance.")
    return out


def _ci_columns(prefix: str, ci: Any) -> dict[str, Any]:
    if isinstance(ci, dict):
        return {prefix: ci.get("value"), f"{prefix}_lo": ci.get("lo"), f"{prefix}_hi": ci.get("hi")}
    return {prefix: ci, f"{prefix}_lo": None, f"{prefix}_hi": None}


def write_tables(out: Path, results: dict[str, Any]) -> None:
    """Write the CSV tables (one fact per row, keyed by names, never by position)."""
    tables: dict[str, list[dict[str, Any]]] = {}
    tables["headline"] = [
        {"scheme": h["scheme"], **_ci_columns("internal_f1", h["internal_f1"]),
         **{k: v for e, ci in h["external_accuracy"].items()
            for k, v in _ci_columns(f"external_accuracy[{e}]", ci).items()}}
        for h in results["headline"]
    ]
    tables["claims"] = results["claims"]
    tables["data_roles"] = results["data_roles"]
    tables["exclusions"] = [{k: v for k, v in e.items() if k != "records"}
                            for e in results["exclusions"]]
    tables["excluded_records"] = [{"dataset": e["dataset"], "reason": e["reason"], **r}
                                  for e in results["exclusions"] for r in e.get("records", [])]
    tables["metrics"] = [
        {"cell": s["cell"], "scheme": s["scheme"], "seed": s["seed"], "test_set": s["test_set"],
         "view": s["view"], "metric": name, **_ci_columns("value", ci)}
        for s in results["scores"] for name, ci in s["metrics"].items()
    ]
    tables["per_class"] = [
        {"cell": s["cell"], "scheme": s["scheme"], "seed": s["seed"], "test_set": s["test_set"],
         "view": s["view"], **row}
        for s in results["scores"] for row in s.get("per_class") or []
    ]
    tables["confusion"] = [
        {"cell": s["cell"], "test_set": s["test_set"], "view": s["view"], "true": t,
         "predicted": p, "count": s["confusion"]["matrix"][i][j]}
        for s in results["scores"] if s.get("confusion")
        for i, t in enumerate(s["confusion"]["labels"])
        for j, p in enumerate(s["confusion"]["labels"])
    ]
    tables["robustness_curves"] = results["robustness"].get("curves", [])
    tables["robustness_summary"] = results["robustness"].get("summary", [])
    tables["rare_unseen"] = results["rare_unseen"].get("table", [])
    tables["rare_unseen_headline"] = [
        {k: v for k, v in h.items() if k != "rate"} | _ci_columns("rate", h.get("rate"))
        for h in results["rare_unseen"].get("headline", [])
    ]
    tables["prevalence"] = [{"test_set": e["test_set"], **r} for e in results["external"]
                            for r in e.get("prevalence_table", [])]
    tables["em_adjusted"] = [{"test_set": e["test_set"], **r} for e in results["external"]
                             for r in e.get("em_adjusted", [])]
    tables["label_coverage"] = [{"test_set": e["test_set"], "measure": k, "value": v}
                                for e in results["external"] for k, v in e["coverage"].items()]
    tables["test_sets"] = results["test_sets"]
    comparison = results.get("comparison") or []
    tables["comparison"] = [
        {"test_set": c["test_set"], "target": r["target"], "kind": r["kind"],
         "scheme": r["scheme"], "n_seeds": r["n_seeds"], "metric": name,
         **_ci_columns("value", ci)}
        for c in comparison for r in c["rows"] for name, ci in r["metrics"].items()
    ]
    tables["comparison_differences"] = [{"test_set": c["test_set"], **d}
                                        for c in comparison for d in c["differences"]]
    tables["serious_by_reason"] = [
        {"test_set": c["test_set"], "reason": r["reason"], "n": r["n"],
         **{f"{m}_sensitivity": v["value"] for m, v in r.items() if isinstance(v, dict)}}
        for c in comparison for r in c["serious_by_reason"]
    ]
    tables["rare_codes"] = [
        {"test_set": ts, "code": r["code"], "n_positive": r["n_positive"],
         "threshold": r["threshold"], "f1": r["f1"], **_ci_columns("auroc", r.get("auroc")),
         **_ci_columns("auprc", r.get("auprc"))}
        for ts, rows in (results.get("rare_codes") or {}).items() for r in rows
    ]
    tables["referral"] = [{k: v for k, v in r.items() if k != "serious_sensitivity"}
                          | _ci_columns("serious_sensitivity", {
                              "value": r["serious_sensitivity"]["value"],
                              "lo": r["serious_sensitivity"]["low"],
                              "hi": r["serious_sensitivity"]["high"]})
                          for r in results.get("referral") or []]
    tables["robustness_skipped"] = results["robustness"].get("skipped", [])
    for name, rows in tables.items():
        atomic.write_csv(out / f"{name}.csv", pd.DataFrame(rows))
