"""Everything measured on a study's trained models: predictions, per-model scores, sections.

:func:`score_study` builds the test sets, predicts what is missing, loads every prediction
once (:class:`~ecgtriage.study.predict.Predictions`), scores each model
(:mod:`ecgtriage.study.score`) and computes the report sections
(:mod:`ecgtriage.study.sections`) from those same predictions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from ecgtriage.study.cells import Cell
from ecgtriage.study.config import StudyConfig
from ecgtriage.study.data import DataPlan, Dataset
from ecgtriage.study.predict import Predictions, ensure_predictions
from ecgtriage.study.score import score_models
from ecgtriage.study.sections.comparison import comparison_section
from ecgtriage.study.sections.external import external_section
from ecgtriage.study.sections.interpretability import interpretability_section
from ecgtriage.study.sections.referral import referral_section
from ecgtriage.study.sections.rare_unseen import rare_unseen_section
from ecgtriage.study.sections.robustness import curve_intervals, robustness_section, sample_sizes
from ecgtriage.study.targets import StudyStatements, StudyTargets, label_exclusions
from ecgtriage.study.testsets import TestSet, clean_test_sets, corrupted_test_sets, key_of


@dataclass
class Scored:
    """Everything ``results.assemble`` needs."""

    scores: list[dict[str, Any]] = field(default_factory=list)
    classes: dict[str, list[str]] = field(default_factory=dict)
    test_sets: list[dict[str, Any]] = field(default_factory=list)
    external: list[dict[str, Any]] = field(default_factory=list)
    rare_unseen: dict[str, Any] = field(default_factory=lambda: {"rows": [], "headline": []})
    rare_codes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    robustness: dict[str, Any] = field(default_factory=dict)
    label_exclusions: list[dict[str, Any]] = field(default_factory=list)
    comparison: list[dict[str, Any]] = field(default_factory=list)
    referral: list[dict[str, Any]] = field(default_factory=list)
    interpretability: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)


def score_study(cfg: StudyConfig, plan: DataPlan, cells: Sequence[Cell],
                added: Sequence[Dataset]) -> Scored:
    """Predict what is missing, then score every model on every test set."""
    clean, overlap = clean_test_sets(plan, added)
    corrupted, skipped = corrupted_test_sets(clean, cfg.evaluation)
    everything = clean + corrupted
    validation = validation_set(plan)
    t0 = time.perf_counter()
    predicted = everything + ([validation] if validation else [])
    made = ensure_predictions(cells, predicted, cfg)
    out = Scored()
    out.timings = {"predictions_s": time.perf_counter() - t0, "prediction_tables_made": made,
                   "prediction_tables_reused": len(cells) * len(predicted) - made}
    t0 = time.perf_counter()
    seed = cfg.evaluation.seed
    predictions, targets, statements = Predictions(seed), StudyTargets(), StudyStatements()
    out.test_sets = [
        {"name": ts.name, "kind": ts.kind, "dataset": ts.dataset.name,
         "n_records": len(ts.record_ids), "corruption": ts.corruption, "severity": ts.severity,
         "key": key_of(ts, seed)}
        for ts in everything
    ]
    out.classes = {cell.scheme: predictions.card(cell).classes for cell in cells}
    model_scores = score_models(cells, everything, predictions, targets, cfg.evaluation)
    out.scores = model_scores.scores
    out.label_exclusions = overlap + label_exclusions(clean, cfg.schemes, targets)
    out.robustness = robustness_section(
        model_scores.curves, skipped, samples=sample_sizes(corrupted),
        intervals=curve_intervals(cells, everything, predictions, targets,
                                  n_boot=cfg.evaluation.bootstrap, seed=seed))
    out.external = external_section(cfg.schemes, plan, cells, clean, predictions, targets,
                                    statements)
    out.rare_unseen, out.rare_codes = rare_unseen_section(
        plan, cells, clean, predictions, targets, statements, cfg.evaluation)
    out.comparison = comparison_section(cells, clean, validation, predictions, targets,
                                        statements, cfg.evaluation,
                                        cfg.train.serious_sensitivity)
    out.referral = referral_section(cells, clean, predictions, targets)
    out.timings["scoring_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    out.interpretability = interpretability_section(cells, clean, predictions, statements,
                                                    cfg.evaluation, synthetic=plan.synthetic,
                                                    targets=targets)
    out.timings["interpretability_s"] = time.perf_counter() - t0
    return out


def validation_set(plan: DataPlan) -> TestSet | None:
    """The validation split as a prediction set: operating points that are not stored in a
    model card (the aha44 Serious score's) are chosen on it, never on a test set."""
    splits = plan.splits
    ids = splits.loc[splits["split"] == "val", "record_id"].astype(str)
    if ids.empty:
        return None
    return TestSet("validation", "validation", plan.train, tuple(ids))
