"""The schemes compared fairly: the same records, paired differences, each beside its ceiling.

A 44-code model carries no modifiers, so collapsed through the label rules it cannot express
most Serious records (on real SPH a perfect aha44 model reaches 52 of 292 Serious records).
Comparing its learned tiers with a tier model's, without saying so, measures the scheme's
vocabulary rather than what the network learned. Per test set this section therefore shows,
at the common 3-tier granularity and on the records every scheme has a label for:

* **learned** rows: each model's tiers at its own operating point: tier models at the
  validation-chosen Serious threshold (tier4 summed to tier3, P(Mild) + P(Moderate)); the
  aha44 model both by its code thresholds and the label rules, and by a *Serious score* (the
  highest probability over the code sets that are Serious on their own) with its own
  validation-chosen threshold, like the tier models;
* **ceiling** rows: each scheme's own true labels collapsed to tier3 (an oracle), the best
  that scheme can reach on the same targets: what is not learned versus what is not
  expressible;
* two target variants: the default (modifier-aware) tiers and the modifier-free tiers
  (labels.md decision 4), which are what the aha44 codes alone determine;
* matched operating points: Serious sensitivity at a fixed specificity and specificity at a
  fixed sensitivity, read off each model's ROC, plus Serious-vs-rest and abnormal-vs-Normal
  AUROC/AUPRC;
* paired patient-bootstrap differences between schemes on the same resamples
  (``ecgtriage.evaluate.intervals.paired_bootstrap_difference``);
* the share of aha44 records with no code above threshold, and Serious records per reason
  with each model's sensitivity per reason (Wilson intervals: the counts are small).

Proportions (sensitivity, specificity) carry Wilson intervals; the other metrics patient-
bootstrap intervals; with several seeds the interval includes the between-seed spread
(``seed_spread_ci``) and the paired difference is taken between seed means.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from ecgtriage.atomic import json_safe
from ecgtriage.evaluate.bootstrap import bootstrap_statistic
from ecgtriage.evaluate.collapse import (coarsen_index_map, coarsen_proba, collapse_aha44,
                                         serious_operating_point)
from ecgtriage.evaluate.intervals import (paired_bootstrap_difference, proportion_ci,
                                          seed_spread_ci)
from ecgtriage.evaluate.weighted import (sensitivity_at_specificity,
                                         specificity_at_sensitivity, weighted_accuracy,
                                         weighted_auroc, weighted_average_precision,
                                         weighted_macro_f1, weighted_recall,
                                         weighted_specificity)
from ecgtriage.labels import coarsen, collapse_to_tier, load_scheme
from ecgtriage.study.cells import Cell
from ecgtriage.study.config import EvaluationConfig
from ecgtriage.study.predict import Prediction, Predictions
from ecgtriage.study.score import wilson_entry
from ecgtriage.study.targets import StudyStatements, StudyTargets
from ecgtriage.study.testsets import TestSet
from ecgtriage.train.thresholds import tune_serious_threshold

TIER = "tier3"
#: Matched operating points, fixed before looking at any result.
MATCHED_SPECIFICITY = 0.90
MATCHED_SENSITIVITY = 0.90
#: Metrics of every row, in table order.
METRICS = ("accuracy", "macro_f1", "serious_sensitivity", "serious_specificity",
           "serious_auroc", "serious_auprc", "abnormal_auroc",
           "sensitivity_at_matched_specificity", "specificity_at_matched_sensitivity")
#: Metrics whose paired differences between schemes are reported.
DIFFERENCE_METRICS = ("accuracy", "macro_f1", "serious_sensitivity",
                      "sensitivity_at_matched_specificity", "serious_auroc", "abnormal_auroc")
TARGETS = ("default", "modifier_free")
AHA44_RULES = "aha44 (code rules)"


@dataclass(frozen=True)
class Answer:
    """One model's tier3 answers on the compared records."""

    decisions: np.ndarray  #: (N,) tier3 index at the model's operating point
    serious: np.ndarray | None = None  #: (N,) Serious score (None: a ceiling row)
    abnormal: np.ndarray | None = None  #: (N,) abnormal-vs-Normal score


@lru_cache(maxsize=4)
def code_score_sets(classes: tuple[str, ...], tier: str = TIER
                    ) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
    """aha44 code sets that are Serious through the rules, and the codes that are abnormal.

    Serious sets are the single codes Serious on their own plus the pairs Serious only
    together (e.g. pre-excitation with AF); abnormal codes are those not collapsing to
    Normal. Read off ``collapse_to_tier`` itself, so the score follows the label rules.
    """
    n = len(classes)
    tiers = load_scheme(tier).classes
    serious, normal = tiers.index("Serious"), tiers.index("Normal")
    single = collapse_to_tier(np.eye(n, dtype=bool), tier)
    sets = [(i,) for i in range(n) if single[i] == serious]
    pairs = [(i, j) for i, j in itertools.combinations(range(n), 2)
             if single[i] != serious and single[j] != serious]
    if pairs:
        hot = np.zeros((len(pairs), n), dtype=bool)
        for row, (i, j) in enumerate(pairs):
            hot[row, [i, j]] = True
        both = collapse_to_tier(hot, tier)
        sets += [p for p, t in zip(pairs, both) if t == serious]
    abnormal = tuple(i for i in range(n) if single[i] != normal)
    return tuple(sets), abnormal


def aha44_scores(proba: np.ndarray, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(Serious score, abnormal score) of aha44 probabilities: the highest probability over
    the Serious code sets (a set scores its least probable code) and over abnormal codes."""
    sets, abnormal = code_score_sets(tuple(classes))
    p = np.asarray(proba, dtype=np.float64)
    serious = (np.max([p[:, list(s)].min(axis=1) for s in sets], axis=0) if sets
               else np.zeros(len(p)))
    abn = p[:, list(abnormal)].max(axis=1) if abnormal else np.zeros(len(p))
    return serious, abn


def aha44_operating_point(val: Prediction | None, val_y: np.ndarray | None,
                          target_sensitivity: float) -> dict[str, Any]:
    """The aha44 Serious score's threshold chosen on validation like the tier models'."""
    if val is None or val_y is None:
        return {"threshold": None, "reason": "no validation predictions"}
    score, _ = aha44_scores(val.proba, val.classes)
    serious = load_scheme(TIER).classes.index("Serious")
    proba = np.zeros((len(score), serious + 1))
    proba[:, serious] = score
    return tune_serious_threshold(val_y, proba, serious, target_sensitivity)


def tier_answers(pred: Prediction, rows: np.ndarray, serious_threshold: float | None = None
                 ) -> dict[str, Answer]:
    """Tier3 answers of one model on ``rows`` of its table: one entry, two for aha44 (its
    code rules, and its Serious score at ``serious_threshold``)."""
    card, p = pred.card, pred.proba[rows]
    tiers = list(load_scheme(TIER).classes)
    s, normal = tiers.index("Serious"), tiers.index("Normal")
    if card.scheme_name == "aha44":
        thr = card.code_thresholds()
        rules = collapse_aha44(p, thr if thr is not None else 0.5, TIER)
        serious, abnormal = aha44_scores(p, card.classes)
        out = {AHA44_RULES: Answer(rules, serious, abnormal)}
        if serious_threshold is not None:
            # The Serious score decides Serious; below it, a rule-Serious record stays abnormal.
            monitor = next(i for i in range(len(tiers)) if i not in (s, normal))
            below = np.where(rules == s, monitor, rules)
            out["aha44"] = Answer(np.where(serious >= serious_threshold, s, below), serious,
                                  abnormal)
        return out
    if card.scheme_name == TIER:
        p3 = p
    else:
        p3 = coarsen_proba(p, coarsen_index_map(p.shape[1], TIER), len(tiers))
    # Both tier models at their validation Serious operating point (``pred.decisions`` is the
    # plain argmax the headline accuracy uses).
    decisions = serious_operating_point(p3, s, card.serious_threshold)
    return {card.scheme_name: Answer(np.asarray(decisions), p3[:, s], 1.0 - p3[:, normal])}


def _metric(name: str, answer: Answer, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """One metric of ``METRICS`` per weight row (NaN for a score metric of a ceiling row)."""
    tiers = load_scheme(TIER).classes
    s, normal = tiers.index("Serious"), tiers.index("Normal")
    pos, called = y == s, answer.decisions == s
    if name == "accuracy":
        return weighted_accuracy(y, answer.decisions, w)
    if name == "macro_f1":
        return weighted_macro_f1(y, answer.decisions, len(tiers), w)
    if name == "serious_sensitivity":
        return weighted_recall(pos, called, w)
    if name == "serious_specificity":
        return weighted_specificity(pos, called, w)
    if answer.serious is None:
        return np.full(w.shape[0], np.nan)
    if name == "serious_auroc":
        return weighted_auroc(answer.serious, pos, w)
    if name == "serious_auprc":
        return weighted_average_precision(answer.serious, pos, w)
    if name == "abnormal_auroc":
        return weighted_auroc(answer.abnormal, y != normal, w)
    if name == "sensitivity_at_matched_specificity":
        return sensitivity_at_specificity(answer.serious, pos, MATCHED_SPECIFICITY, w)
    if name == "specificity_at_matched_sensitivity":
        return specificity_at_sensitivity(answer.serious, pos, MATCHED_SENSITIVITY, w)
    raise ValueError(f"metric: expected one of {METRICS}, found {name!r}")


def metric_matrix(answer: Answer, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(B, len(METRICS)) metrics of one answer against tier3 targets ``y`` per weight row."""
    return np.stack([_metric(name, answer, y, w) for name in METRICS], axis=1)


def _row(scheme: str, kind: str, target: str, answers: list[Answer], y: np.ndarray,
         pids: list[str], evaluation: EvaluationConfig) -> dict[str, Any]:
    """One table row: point values, intervals and (for proportions) Wilson intervals."""
    alpha = 1 - evaluation.bootstrap_ci
    per_seed = []
    for a in answers:
        if evaluation.bootstrap > 0:
            per_seed.append(bootstrap_statistic(
                lambda w, a=a: metric_matrix(a, y, w), pids, n_boot=evaluation.bootstrap,
                seed=evaluation.seed, alpha=alpha, return_samples=True))
        else:
            per_seed.append({"estimate": metric_matrix(a, y, np.ones((1, len(y))))[0]})
    tiers = load_scheme(TIER).classes
    s = tiers.index("Serious")
    metrics: dict[str, Any] = {}
    for k, name in enumerate(METRICS):
        points = [float(np.asarray(r["estimate"], dtype=float)[k]) for r in per_seed]
        if np.all(np.isnan(points)):
            metrics[name] = None
            continue
        if name in ("serious_sensitivity", "serious_specificity"):
            pos = y == s
            grp = pos if name == "serious_sensitivity" else ~pos
            hits = [int(((a.decisions == s) == (name == "serious_sensitivity"))[grp].sum())
                    for a in answers]
            entry = wilson_entry(int(round(np.mean(hits))), int(grp.sum()), alpha)
            metrics[name] = entry and {**entry, "value": float(np.mean(points))}
            continue
        if "samples" in per_seed[0]:
            spread = seed_spread_ci(points, [r["samples"][:, k] for r in per_seed], alpha)
            metrics[name] = {"value": spread["mean"], "lo": spread["low"],
                             "hi": spread["high"], "seed_sd": spread["sd"],
                             "interval": "patient bootstrap"
                             + (" + seed spread" if len(points) > 1 else "")}
        else:
            metrics[name] = {"value": float(np.mean(points)), "lo": None, "hi": None}
    return {"scheme": scheme, "kind": kind, "target": target, "n_seeds": len(answers),
            "metrics": metrics}


def _difference(a: list[Answer], b: list[Answer], y: np.ndarray, pids: list[str], metric: str,
                evaluation: EvaluationConfig) -> dict[str, Any]:
    def stat(answers: list[Answer], w: np.ndarray) -> np.ndarray:
        return np.mean([_metric(metric, x, y, w) for x in answers], axis=0)

    return paired_bootstrap_difference(stat, a, b, pids, n_boot=max(evaluation.bootstrap, 1),
                                       seed=evaluation.seed, alpha=1 - evaluation.bootstrap_ci)


def _serious_by_reason(ts: TestSet, ids: np.ndarray, y: np.ndarray,
                       learned: dict[str, list[Answer]], statements: StudyStatements,
                       alpha: float) -> list[dict[str, Any]]:
    """Serious records per reason (the statement that makes them Serious) and each model's
    sensitivity on them (first seed; Wilson intervals)."""
    s = load_scheme(TIER).classes.index("Serious")
    serious_ids = set(ids[y == s].tolist())
    table = statements.get(ts.dataset, sorted(serious_ids))
    table = table[(table["tier3"] == "Serious") & table["record_id"].isin(serious_ids)]
    if table.empty:
        return []
    pos = {r: i for i, r in enumerate(ids.tolist())}
    rows = []
    reasons = table.assign(reason=table["name"].where(table["name"] != "", table["statement"])
                           + " [" + table["statement"].astype(str) + "]")
    for reason, sub in reasons.groupby("reason", sort=True):
        idx = np.array(sorted({pos[r] for r in sub["record_id"]}))
        row: dict[str, Any] = {"reason": reason, "n": int(idx.size)}
        for scheme, answers in learned.items():
            k = int((answers[0].decisions[idx] == s).sum())
            row[scheme] = proportion_ci(k, int(idx.size), alpha)
        rows.append(row)
    rows.sort(key=lambda r: -r["n"])
    return rows


def comparison_section(cells: Sequence[Cell], clean: Sequence[TestSet],
                       validation: TestSet | None, predictions: Predictions,
                       targets: StudyTargets, statements: StudyStatements,
                       evaluation: EvaluationConfig, serious_sensitivity: float
                       ) -> list[dict[str, Any]]:
    """Per clean test set: learned and ceiling rows under both target variants, paired
    differences, the aha44 no-code share and Serious sensitivity per reason.

    ``serious_sensitivity`` is the training target sensitivity of the tier models' Serious
    operating point; the aha44 Serious score gets its threshold by the same rule.
    """
    schemes = list(dict.fromkeys(c.scheme for c in cells))
    if not any(s in schemes for s in ("aha44", "tier3", "tier4")):
        return []
    aha44_op: dict[str, dict[str, Any]] = {}
    if validation is not None:
        for cell in cells:
            if cell.scheme == "aha44":
                ds, ids = validation.dataset, list(validation.record_ids)
                known = targets.known(ds, TIER, ids)
                val = predictions.get(cell, validation)
                rows = np.flatnonzero(known)
                val_rows = _rows_of(val, [ids[i] for i in rows])
                sub = _Subset(val, val_rows)
                aha44_op[cell.id] = aha44_operating_point(
                    sub, targets.y(ds, TIER, [ids[i] for i in rows]), serious_sensitivity)
    out = []
    for ts in clean:
        section = _compare_one(ts, cells, schemes, predictions, targets, statements,
                               evaluation, aha44_op)
        if section is not None:
            out.append(section)
    return out


class _Subset:
    """A prediction restricted to some rows (enough of ``Prediction`` for the operating point)."""

    def __init__(self, pred: Prediction, rows: np.ndarray) -> None:
        self.proba = pred.proba[rows]
        self.classes = pred.classes


def _rows_of(pred: Prediction, ids: Sequence[str]) -> np.ndarray:
    position = {r: i for i, r in enumerate(pred.record_ids)}
    return np.array([position[r] for r in ids], dtype=np.int64)


def _compare_one(ts: TestSet, cells: Sequence[Cell], schemes: list[str],
                 predictions: Predictions, targets: StudyTargets, statements: StudyStatements,
                 evaluation: EvaluationConfig, aha44_op: dict[str, dict[str, Any]]
                 ) -> dict[str, Any] | None:
    ds, all_ids = ts.dataset, list(ts.record_ids)
    known = targets.known(ds, TIER, all_ids) & targets.known(ds, "aha44", all_ids)
    if "tier4" in schemes:
        known &= targets.known(ds, "tier4", all_ids)
    ids = np.asarray(all_ids)[known]
    if ids.size == 0:
        return None
    id_list = ids.tolist()
    y = {"default": targets.y(ds, TIER, id_list),
         "modifier_free": collapse_to_tier(targets.y(ds, "aha44", id_list) > 0, TIER)}
    ceilings = {"aha44": y["modifier_free"], TIER: y["default"]}
    if "tier4" in schemes:
        ceilings["tier4"] = coarsen(targets.y(ds, "tier4", id_list), TIER)
    learned: dict[str, list[Answer]] = {}
    no_code: list[float] = []
    pids: list[str] | None = None
    for cell in cells:
        pred = predictions.get(cell, ts)
        rows = _rows_of(pred, id_list)
        if pids is None:
            pids = [pred.patient_ids[i] for i in rows]
        op = aha44_op.get(cell.id, {}).get("threshold")
        for name, answer in tier_answers(pred, rows, op).items():
            learned.setdefault(name, []).append(answer)
        if cell.scheme == "aha44":
            thr = pred.card.code_thresholds()
            called = pred.proba[rows] >= np.asarray(thr if thr is not None else 0.5)
            no_code.append(float((~called.any(axis=1)).mean()))
    assert pids is not None
    rows_out, differences = [], []
    for target in TARGETS:
        for name, answers in learned.items():
            rows_out.append(_row(name, "learned", target, answers, y[target], pids, evaluation))
        for scheme in schemes:
            if scheme in ceilings:
                rows_out.append(_row(scheme, "ceiling", target, [Answer(ceilings[scheme])],
                                     y[target], pids, evaluation))
        for a, b in itertools.combinations(list(learned), 2):
            for metric in DIFFERENCE_METRICS:
                d = _difference(learned[a], learned[b], y[target], pids, metric, evaluation)
                differences.append({**d, "a": a, "b": b, "value_a": d["a"], "value_b": d["b"],
                                    "target": target, "metric": metric})
    tiers = load_scheme(TIER).classes
    counts = {t: {c: int((y[t] == i).sum()) for i, c in enumerate(tiers)} for t in TARGETS}
    native = _native_gap(ts, cells, predictions, targets, id_list, pids, evaluation)
    return json_safe({
        "test_set": ts.name, "kind": ts.kind, "n_records": int(ids.size),
        "n_left_out": int((~known).sum()), "n_patients": len(set(pids)),
        "target_counts": counts,
        "rows": rows_out, "differences": differences,
        "aha44_no_code_share": float(np.mean(no_code)) if no_code else None,
        "aha44_operating_points": list(aha44_op.values()),
        "serious_by_reason": _serious_by_reason(ts, ids, y["default"], learned, statements,
                                                1 - evaluation.bootstrap_ci),
        "matched": {"specificity": MATCHED_SPECIFICITY, "sensitivity": MATCHED_SENSITIVITY},
        "native_macro_f1_tier3_minus_tier4": native,
    })


def _native_gap(ts: TestSet, cells: Sequence[Cell], predictions: Predictions,
                targets: StudyTargets, ids: list[str], pids: list[str],
                evaluation: EvaluationConfig) -> dict[str, Any] | None:
    """Paired difference of native macro-F1, tier3 model on tier3 targets minus tier4 model
    on tier4 targets, on the same records (the published "4-tier is about 2 % below" claim)."""
    answers: dict[str, list[tuple[np.ndarray, np.ndarray, int]]] = {}
    for cell in cells:
        if cell.scheme not in ("tier3", "tier4"):
            continue
        pred = predictions.get(cell, ts)
        rows = _rows_of(pred, ids)
        answers.setdefault(cell.scheme, []).append(
            (targets.y(ts.dataset, cell.scheme, ids), pred.decisions[rows], len(pred.classes)))
    if set(answers) != {"tier3", "tier4"}:
        return None

    def stat(runs: list[tuple[np.ndarray, np.ndarray, int]], w: np.ndarray) -> np.ndarray:
        return np.mean([weighted_macro_f1(y, d, n, w) for y, d, n in runs], axis=0)

    d = paired_bootstrap_difference(stat, answers["tier3"], answers["tier4"], pids,
                                    n_boot=max(evaluation.bootstrap, 1), seed=evaluation.seed,
                                    alpha=1 - evaluation.bootstrap_ci)
    return {**d, "a": "tier3", "b": "tier4", "value_a": d["a"], "value_b": d["b"]}
