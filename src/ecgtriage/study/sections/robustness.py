"""Robustness section: degradation curves per model and corruption, and their normalised areas
(``ecgtriage.evaluate.robustness.degradation_summary``)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ecgtriage.atomic import nan_to_none
from ecgtriage.evaluate.robustness import CORRUPTIONS, degradation_summary
from ecgtriage.study.score import ROBUSTNESS_METRIC, ROBUSTNESS_VIEW


def robustness_section(curves: list[dict[str, Any]], skipped: list[dict[str, Any]]
                       ) -> dict[str, Any]:
    """Degradation curves (one row per model, test set, corruption and level), their areas,
    and the corruptions skipped as not applicable."""
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
    return {"metric_label": f"{ROBUSTNESS_VIEW.replace('tier', '')}-tier "
                            f"{ROBUSTNESS_METRIC.replace('_', '-').replace('f1', 'F1')}",
            "curves": curves, "summary": summary, "skipped": skipped}
