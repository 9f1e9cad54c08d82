"""Common-ground scoring: every model scored at the tier granularities on identical targets.

* An aha44 model's probabilities are thresholded per class (the model card's thresholds) and
  the predicted code set is collapsed to a tier by the tier scheme's own rules
  (``ecgtriage.labels.collapse_to_tier``: modifier-free statements, most severe wins).
* A tier4 model is scored natively at tier4 and at tier3 with its probabilities summed
  through ``ecgtriage.labels.coarsen`` (P(Monitor) = P(Mild) + P(Moderate)), decided on
  those sums.
* A tier3 model is scored at tier3 only (tier4 cannot be derived from it).

Tier models decide at the validation-chosen Serious operating point: a record is Serious when
``p(Serious) >= serious_threshold``, otherwise the most probable of the other classes. The
Serious sensitivity there is the triage safety figure; specificity, PPV and NPV go with it.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ecgtriage.evaluate._checks import as_class_index, as_proba, jsonable, same_length
from ecgtriage.evaluate.bootstrap import bootstrap_metrics
from ecgtriage.evaluate.metrics import single_label_metrics

__all__ = [
    "serious_operating_point",
    "coarsen_index_map",
    "coarsen_proba",
    "collapse_aha44",
    "serious_summary",
    "common_ground_scores",
]

CollapseFn = Callable[[np.ndarray, Any], np.ndarray]
CoarsenFn = Callable[[np.ndarray, Any], np.ndarray]


def serious_operating_point(proba: Any, serious_index: int, threshold: float | None) -> np.ndarray:
    """Tier decision at a Serious operating point: the project's one Serious decision rule.

    Serious where ``proba[:, serious_index] >= threshold``; elsewhere the argmax over the
    other classes. ``threshold=None`` (no operating point could be tuned) gives the plain
    argmax. Compared with the argmax, a record whose P(Serious) is the largest but below the
    threshold falls to the most probable other class, and one at or above the threshold is
    Serious even when another class is more probable. ``ModelCard.decide`` (in
    ``ecgtriage.train.card``) and common-ground scoring both call this function, so the
    operating point means the same thing wherever it is applied.

    Returns
    -------
    (N,) int64 class indices.

    Examples
    --------
    >>> p = [[0.50, 0.20, 0.30], [0.20, 0.50, 0.30], [0.10, 0.30, 0.60]]
    >>> serious_operating_point(p, 2, 0.25).tolist()
    [2, 2, 2]
    >>> serious_operating_point(p, 2, 0.7).tolist()  # 3rd: the best of the others
    [0, 1, 1]
    >>> serious_operating_point(p, 2, None).tolist()
    [0, 1, 2]
    """
    p = as_proba(proba)
    if not 0 <= serious_index < p.shape[1]:
        raise ValueError(f"serious_index: expected 0..{p.shape[1] - 1}, found {serious_index}")
    if threshold is None:
        return p.argmax(axis=1)
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"serious_threshold: expected a probability in [0, 1], found {threshold}")
    others = p.copy()
    others[:, serious_index] = -np.inf
    return np.where(p[:, serious_index] >= threshold, serious_index, others.argmax(axis=1)).astype(np.int64)


def _default_collapse() -> CollapseFn:
    from ecgtriage.labels import collapse_to_tier

    return collapse_to_tier


def _default_coarsen() -> CoarsenFn:
    from ecgtriage.labels import coarsen

    return coarsen


def coarsen_index_map(n_fine: int, target: Any, coarsen_fn: CoarsenFn | None = None) -> np.ndarray:
    """Fine class index → coarse class index, read off ``coarsen_fn(arange(n_fine), target)``."""
    fn = coarsen_fn or _default_coarsen()
    return np.asarray(fn(np.arange(n_fine, dtype=np.int64), target), dtype=np.int64)


def coarsen_proba(proba: Any, index_map: Any, n_coarse: int) -> np.ndarray:
    """Sum fine-class probabilities into coarse classes (P(Monitor) = P(Mild) + P(Moderate))."""
    p = as_proba(proba)
    m = np.asarray(index_map, dtype=np.int64)
    if m.shape != (p.shape[1],):
        raise ValueError(f"index_map: expected {p.shape[1]} entries, found shape {m.shape}")
    return p @ np.eye(n_coarse)[m]


def collapse_aha44(
    proba: Any,
    thresholds: Any,
    tier_scheme: Any,
    collapse_fn: CollapseFn | None = None,
) -> np.ndarray:
    """Threshold aha44 probabilities per class and collapse the code set to a tier index.

    Parameters
    ----------
    proba : (N, 44) float
    thresholds : float or (44,) float (model card)
    tier_scheme : scheme name or ``Scheme`` passed on to ``collapse_fn``
    collapse_fn : defaults to ``ecgtriage.labels.collapse_to_tier``
    """
    p = as_proba(proba)
    thr = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (p.shape[1],))
    fn = collapse_fn or _default_collapse()
    return np.asarray(fn(p >= thr, tier_scheme), dtype=np.int64)


def serious_summary(
    metrics: Mapping[str, Any], serious_class: str = "Serious", threshold: float | None = None
) -> dict[str, Any]:
    """Serious sensitivity, specificity, PPV and NPV from a :func:`single_label_metrics` result."""
    row = next((r for r in metrics["per_class"] if r["class"] == serious_class), None)
    if row is None:
        raise ValueError(
            f"serious_class: expected one of {metrics['classes']}, found {serious_class!r}"
        )
    return {
        "sensitivity": row["recall"],
        "specificity": row["specificity"],
        "ppv": row["precision"],
        "npv": row["npv"],
        "tp": row["tp"],
        "fn": row["fn"],
        "fp": row["fp"],
        "tn": row["tn"],
        "n_serious": row["support"],
        "threshold": threshold,
    }


def common_ground_scores(
    source_scheme: str,
    proba: Any,
    targets: Mapping[str, Any],
    class_names: Mapping[str, Sequence[str]],
    *,
    thresholds: Any = 0.5,
    serious_threshold: float | None = None,
    patient_ids: Sequence[Any] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    serious_class: str = "Serious",
    collapse_fn: CollapseFn | None = None,
    coarsen_fn: CoarsenFn | None = None,
) -> dict[str, Any]:
    """Score one model at every reachable tier granularity against shared tier targets.

    Parameters
    ----------
    source_scheme : str
        The model's scheme: ``"aha44"`` (multi-label) or a tier scheme name (``"tier4"``,
        ``"tier3"``, ...).
    proba : (N, C) float
        The model's ``predict_proba`` output on the test records.
    targets : {tier scheme name: (N,) int}
        Tier targets (``Targets.y``, -1 unknown) of the same records, in the same order,
        identical for every model compared.
    class_names : {scheme name: classes}
        Classes of every tier in ``targets`` (and of ``source_scheme`` when it is a tier).
    thresholds : float or (C,) float
        aha44 per-class thresholds (model card); unused for tier models.
    serious_threshold : float, optional
        Tier models' validation-chosen Serious operating point; ``None`` = argmax.
    patient_ids : sequence, optional
        With it, patient-level bootstrap CIs (``n_boot``, ``seed``) are added.
    collapse_fn, coarsen_fn : callables
        Default to ``ecgtriage.labels.collapse_to_tier`` and ``ecgtriage.labels.coarsen``.

    Returns
    -------
    dict
        ``{tier: {"source_scheme", "derivation", "metrics", "serious", "bootstrap"}}`` for
        each reachable tier, where ``derivation`` is ``"native"``, ``"collapsed from aha44"``
        or ``"coarsened from <scheme>"``, ``metrics`` a :func:`single_label_metrics` result
        (AUROC/AUPRC only where probabilities exist: native or summed over coarsened
        classes), ``serious`` a :func:`serious_summary`, and ``bootstrap`` (``None`` without
        ``patient_ids``) holding ``accuracy``, ``macro_f1``, ``serious_sensitivity``,
        ``serious_specificity``, ``serious_ppv`` intervals. Unreachable tiers appear under
        ``"not_derivable"`` with the reason.
    """
    p = as_proba(proba)
    native_pred = None
    if source_scheme != "aha44":
        native_pred = _native_decisions(source_scheme, p, class_names, serious_class, serious_threshold)
    out: dict[str, Any] = {"not_derivable": {}}
    for tier, y in targets.items():
        if tier not in class_names:
            raise ValueError(f"class_names: expected an entry for {tier!r}, found {sorted(class_names)}")
        classes = list(class_names[tier])
        yt = as_class_index(y, len(classes), f"targets[{tier!r}]")
        same_length(proba=p, **{f"targets[{tier!r}]": yt})
        derived = _tier_decisions(source_scheme, tier, p, native_pred, classes, thresholds,
                                  collapse_fn, coarsen_fn, serious_class, serious_threshold)
        if derived is None:
            out["not_derivable"][tier] = f"{tier} cannot be derived from {source_scheme} predictions"
            continue
        y_pred, tier_proba, derivation = derived
        metrics = single_label_metrics(yt, tier_proba, y_pred=y_pred, class_names=classes)
        out[tier] = {
            "source_scheme": source_scheme,
            "derivation": derivation,
            "metrics": metrics,
            # An aha44 model has no Serious operating point: its tier comes from code thresholds.
            "serious": serious_summary(
                metrics, serious_class, serious_threshold if source_scheme != "aha44" else None
            ),
            "bootstrap": None if patient_ids is None else _serious_bootstrap(
                yt, tier_proba, y_pred, patient_ids, classes, serious_class, n_boot, seed),
        }
    return jsonable(out)


def _native_decisions(
    source_scheme: str,
    p: np.ndarray,
    class_names: Mapping[str, Sequence[str]],
    serious_class: str,
    serious_threshold: float | None,
) -> np.ndarray:
    """A tier model's own decisions at its Serious operating point, after checking that its
    probabilities match its scheme (a column mismatch would silently mislabel every tier)."""
    if source_scheme not in class_names:
        raise ValueError(f"class_names: expected an entry for {source_scheme!r}, found {sorted(class_names)}")
    src_classes = list(class_names[source_scheme])
    if len(src_classes) != p.shape[1]:
        raise ValueError(
            f"proba: expected {len(src_classes)} columns for {source_scheme}, found {p.shape[1]}"
        )
    if serious_class not in src_classes:
        raise ValueError(f"serious_class: {serious_class!r} is not a class of {source_scheme}: {src_classes}")
    return serious_operating_point(p, src_classes.index(serious_class), serious_threshold)


def _tier_decisions(
    source_scheme: str,
    tier: str,
    p: np.ndarray,
    native_pred: np.ndarray | None,
    classes: list[str],
    thresholds: Any,
    collapse_fn: CollapseFn | None,
    coarsen_fn: CoarsenFn | None,
    serious_class: str = "Serious",
    serious_threshold: float | None = None,
) -> tuple[np.ndarray, np.ndarray | None, str] | None:
    """(decisions, tier probabilities or None, derivation) of one model at ``tier``, or
    ``None`` when ``tier`` cannot be derived from ``source_scheme`` (tier4 from tier3)."""
    tier_proba = None
    if source_scheme == "aha44":
        y_pred = collapse_aha44(p, thresholds, tier, collapse_fn)
        derivation = "collapsed from aha44"
    elif tier == source_scheme:
        y_pred, tier_proba = native_pred, p
        derivation = "native"
    elif source_scheme == "tier4":
        index_map = coarsen_index_map(p.shape[1], tier, coarsen_fn)
        tier_proba = coarsen_proba(p, index_map, len(classes))
        # Decide on the summed probabilities (P(Monitor) = P(Mild) + P(Moderate)), not on
        # the coarsened argmax class: a record at 0.3 Mild / 0.3 Moderate / 0.4 Normal is
        # Monitor. Serious keeps its operating point (its probability is not summed).
        if serious_class in classes:
            y_pred = serious_operating_point(tier_proba, classes.index(serious_class),
                                             serious_threshold)
        else:
            y_pred = tier_proba.argmax(axis=1)
        derivation = f"coarsened from {source_scheme}"
    else:
        return None
    y_pred = as_class_index(y_pred, len(classes), f"{tier} predictions")
    n = p.shape[0]
    # as_class_index lets -1 through (an unknown target); a prediction must name a class.
    if y_pred.size != n or (y_pred < 0).any():
        raise ValueError(
            f"{tier} predictions: expected {n} class indices >= 0, found {y_pred.size} "
            f"with {int((y_pred < 0).sum())} negative"
        )
    return y_pred, tier_proba, derivation


def _serious_bootstrap(
    yt: np.ndarray,
    tier_proba: np.ndarray | None,
    y_pred: np.ndarray,
    patient_ids: Sequence[Any],
    classes: list[str],
    serious_class: str,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    """Patient-level bootstrap intervals of the headline and Serious figures at one tier."""
    boot = bootstrap_metrics(
        yt, tier_proba, patient_ids, multilabel=False, y_pred=y_pred,
        class_names=classes, n_boot=n_boot, seed=seed,
    )
    s = classes.index(serious_class)
    return {
        "accuracy": boot["summary"]["accuracy"],
        "macro_f1": boot["summary"]["macro_f1"],
        "serious_sensitivity": boot["per_class"][s]["recall"],
        "serious_specificity": boot["per_class"][s]["specificity"],
        "serious_ppv": boot["per_class"][s]["precision"],
        **{k: boot[k] for k in ("n_boot", "seed", "alpha", "n_patients", "unit")},
    }
