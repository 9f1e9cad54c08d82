"""Robustness section: degradation curves per model and corruption, and their normalised areas
(``ecgtriage.evaluate.robustness.degradation_summary``)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ecgtriage.atomic import nan_to_none
from ecgtriage.evaluate.collapse import common_ground_scores
from ecgtriage.evaluate.robustness import CORRUPTIONS, degradation_summary
from ecgtriage.labels import load_scheme
from ecgtriage.study.score import ROBUSTNESS_METRIC, ROBUSTNESS_VIEW


def sample_sizes(test_sets: Sequence[Any]) -> list[dict[str, Any]]:
    """Per test set, how many records its corrupted copies hold and of how many: the
    robustness sample the report's robustness section states (``sampled_from`` is ``None``
    when the copies hold every record)."""
    seen: dict[str, dict[str, Any]] = {}
    for ts in test_sets:
        if ts.corruption is not None and ts.name not in seen:
            seen[ts.name] = {"test_set": ts.name, "n_records": len(ts.record_ids),
                             "sampled_from": ts.sampled_from}
    return list(seen.values())


def curve_intervals(cells: Sequence[Any], test_sets: Sequence[Any], predictions: Any,
                    targets: Any, *, n_boot: int, seed: int) -> list[dict[str, Any]]:
    """Patient-bootstrap intervals of the robustness metric on the records actually scored.

    One row per (model, corrupted test set) plus, per model and sampled test set, the clean
    reference on the *same* sample (``corruption`` ``None``, ``sample`` true), so that a
    sampled curve is compared with its own records and its intervals widen honestly with the
    smaller n instead of borrowing the precision of the full clean set.
    """
    by_name = {ts.name: ts for ts in test_sets if ts.corruption is None}
    view_classes = list(load_scheme(ROBUSTNESS_VIEW).classes)
    rows: list[dict[str, Any]] = []
    for cell in cells:
        card = predictions.card(cell)
        names = {ROBUSTNESS_VIEW: view_classes}
        names.setdefault(card.scheme_name, card.classes)
        code_thr = card.code_thresholds()
        refs: dict[str, Any] = {}
        for ts in test_sets:
            if ts.corruption is None:
                continue
            pred = predictions.get(cell, ts)
            jobs = [(ts, pred.proba, pred.record_ids, pred.patient_ids)]
            if ts.sampled_from is not None and ts.name not in refs and ts.name in by_name:
                clean = predictions.get(cell, by_name[ts.name])
                pos = {r: i for i, r in enumerate(clean.record_ids)}
                rows_ = np.asarray([pos[r] for r in ts.record_ids])
                refs[ts.name] = True
                jobs.insert(0, (None, clean.proba[rows_], list(ts.record_ids),
                                [clean.patient_ids[i] for i in rows_]))
            for which, proba, ids, pids in jobs:
                y = targets.y(ts.dataset, ROBUSTNESS_VIEW, ids)
                entry = common_ground_scores(
                    card.scheme_name, proba, {ROBUSTNESS_VIEW: y}, names,
                    thresholds=code_thr if code_thr is not None else 0.5,
                    serious_threshold=None, patient_ids=pids, n_boot=max(n_boot, 1),
                    seed=seed).get(ROBUSTNESS_VIEW)
                if entry is None:
                    continue
                boot = (entry.get("bootstrap") or {}).get(ROBUSTNESS_METRIC) or {}
                rows.append({
                    "cell": cell.id, "scheme": cell.scheme, "seed": cell.seed,
                    "test_set": ts.name,
                    "corruption": None if which is None else ts.corruption,
                    "severity": None if which is None else ts.severity,
                    "rank": 0 if which is None else ts.rank,
                    "sample": ts.sampled_from is not None, "n_records": len(ids),
                    "value": nan_to_none(entry["metrics"][ROBUSTNESS_METRIC]),
                    "lo": nan_to_none(boot.get("low")), "hi": nan_to_none(boot.get("high"))})
    return rows


def robustness_section(curves: list[dict[str, Any]], skipped: list[dict[str, Any]],
                       samples: list[dict[str, Any]] | None = None,
                       intervals: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Degradation curves (one row per model, test set, corruption and level), their areas,
    and the corruptions skipped as not applicable.

    ``samples`` (:func:`sample_sizes`) states the records the corrupted copies were made of;
    ``intervals`` (:func:`curve_intervals`) adds each curve point's bootstrap interval on
    those records and the clean reference on the same sample.
    """
    curves = [{**row, "unit": CORRUPTIONS[row["corruption"]].unit if row["corruption"] else ""}
              for row in curves]
    summary: list[dict[str, Any]] = []
    frame = pd.DataFrame(curves)
    if not frame.empty and frame["corruption"].notna().any():
        frame = frame.assign(
            corruption=frame["corruption"].fillna("clean"), status="ok",
            value=pd.to_numeric(frame["value"], errors="coerce"))
        table = degradation_summary(frame, "value", group_by=("scheme", "seed", "test_set"))
        summary = [
            {"scheme": r["scheme"], "seed": int(r["seed"]), "test_set": r["test_set"],
             "corruption": r["corruption"], "clean": nan_to_none(r["clean"]),
             "auc": nan_to_none(r["auc_normalised"]), "at_worst": nan_to_none(r["at_worst"]),
             "status": r["status"]}
            for r in table.to_dict("records")
        ]
    extra: dict[str, Any] = {}
    if samples is not None:
        extra["samples"] = samples
    if intervals is not None:
        extra["intervals"] = intervals
    return {**extra, "metric_label": f"{ROBUSTNESS_VIEW.replace('tier', '')}-tier "
                            f"{ROBUSTNESS_METRIC.replace('_', '-').replace('f1', 'F1')}",
            "curves": curves, "summary": summary, "skipped": skipped}
