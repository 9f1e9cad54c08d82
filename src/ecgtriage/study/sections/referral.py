"""Refer-on-uncertainty, shown to buy safety: coverage against Serious sensitivity.

Triage refers a record to a clinician when the model's uncertainty (``ModelCard.uncertainty``)
exceeds the threshold calibrated on validation. Here, per tier model and clean test set, the
records are accepted from the most to the least certain; each row gives the share accepted
(coverage) and, among the accepted records, Serious sensitivity at the model's operating point
and 3-tier accuracy (a risk-coverage curve; Geifman & El-Yaniv 2017). The card's own threshold
is one of the rows. If abstaining buys safety, sensitivity on the accepted records rises as
coverage falls; the records referred are not lost, a clinician reads them.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ecgtriage.atomic import json_safe
from ecgtriage.evaluate.intervals import proportion_ci
from ecgtriage.labels import load_scheme
from ecgtriage.study.cells import Cell
from ecgtriage.study.predict import Predictions
from ecgtriage.study.sections.comparison import TIER, tier_answers
from ecgtriage.study.targets import StudyTargets
from ecgtriage.study.testsets import TestSet

#: Coverages of the curve (share of records accepted), fixed before looking.
COVERAGES = (1.0, 0.95, 0.9, 0.8, 0.7, 0.5)


def referral_section(cells: Sequence[Cell], clean: Sequence[TestSet], predictions: Predictions,
                     targets: StudyTargets) -> list[dict[str, Any]]:
    """Risk-coverage rows per (tier model, clean test set); aha44 models are left out (their
    Serious decision is the code rules', without a single operating point)."""
    s = load_scheme(TIER).classes.index("Serious")
    out = []
    for cell in cells:
        if cell.scheme not in ("tier3", "tier4"):
            continue
        for ts in clean:
            pred = predictions.get(cell, ts)
            card, ids = pred.card, pred.record_ids
            known = targets.known(ts.dataset, TIER, ids)
            if not known.any():
                continue
            y = targets.y(ts.dataset, TIER, ids)[known]
            rows = np.flatnonzero(known)
            decided = tier_answers(pred, rows)[card.scheme_name].decisions
            unc = card.uncertainty(pred.proba[rows])
            order = np.argsort(unc, kind="mergesort")
            points = [(c, int(round(c * len(y)))) for c in COVERAGES]
            thr = card.uncertainty_threshold
            if thr is not None:
                points.append((None, int((unc <= thr).sum())))
            for coverage, n_keep in points:
                keep = order[:max(n_keep, 0)]
                pos = y[keep] == s
                hit = int((decided[keep][pos] == s).sum())
                out.append(json_safe({
                    "scheme": cell.scheme, "seed": cell.seed, "test_set": ts.name,
                    "at": "card threshold" if coverage is None else f"coverage {coverage:g}",
                    "coverage": n_keep / len(y), "n_accepted": int(n_keep),
                    "n_referred": int(len(y) - n_keep),
                    "serious_referred": int((y == s).sum() - pos.sum()),
                    "serious_sensitivity": proportion_ci(hit, int(pos.sum())),
                    "accuracy": float((decided[keep] == y[keep]).mean()) if n_keep else None,
                }))
    return out
