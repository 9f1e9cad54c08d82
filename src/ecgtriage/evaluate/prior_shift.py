"""Label (prior) shift: prevalence tables and prior correction of single-label posteriors.

When only the class priors change between training and test (``p(x | y)`` fixed), a
calibrated posterior ``p_tr(y | x)`` becomes ``p_te(y | x) ∝ p_tr(y | x) · p_te(y) / p_tr(y)``.
The test priors are unknown without test labels; :func:`em_prior_shift` estimates them from
the model's test outputs alone with the EM procedure of Saerens, Latinne & Decaestecker
(Neural Computation 14:21-41, 2002), and returns the corrected posteriors.

EM must start from the priors the outputs **encode**, which are not the training frequencies
when the model was trained with class weights. Weighted cross-entropy with weight ``w_y``
has the population risk ``sum_y pi_y w_y E[-log q_y(x) | y]``; minimised pointwise over the
simplex it gives ``q_y(x) ∝ pi_y w_y p(x | y)``, the Bayes posterior under the priors
``pi_y w_y / sum_c pi_c w_c`` (:func:`effective_priors`). The inverse-frequency weights of
:mod:`ecgtriage.train.objectives` make these uniform over the present classes: a tier model
trained with them outputs roughly balanced posteriors, and EM started from the training
frequencies would mistake that for a prior shift.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ecgtriage.atomic import json_safe
from ecgtriage.evaluate._checks import (
    as_class_index,
    as_multi_hot,
    as_proba,
    class_names_for,
)

__all__ = [
    "class_priors",
    "effective_priors",
    "adjust_to_priors",
    "em_prior_shift",
    "prevalence_shift_table",
]


def class_priors(y: Any, n_classes: int | None = None, *, multilabel: bool = False) -> np.ndarray:
    """Class prevalence of a target array.

    Single-label ``(N,)`` indices (``-1`` ignored): fraction of known records per class
    (sums to 1; ``n_classes`` is required). Multi-label ``(N, C)``: fraction of records
    carrying each class (need not sum to 1).
    """
    if multilabel:
        yy = as_multi_hot(y)
        return yy.mean(axis=0) if yy.shape[0] else np.full(yy.shape[1], np.nan)
    if n_classes is None:
        raise ValueError("class_priors: n_classes is required for single-label targets")
    yy = as_class_index(y, n_classes)
    yy = yy[yy >= 0]
    counts = np.bincount(yy, minlength=n_classes).astype(np.float64)
    return counts / counts.sum() if counts.sum() else np.full(n_classes, np.nan)


def _priors(priors: Any, n_classes: int, name: str) -> np.ndarray:
    p = np.asarray(priors, dtype=np.float64)
    if p.shape != (n_classes,):
        raise ValueError(f"{name}: expected {n_classes} class priors, found shape {p.shape}")
    if (p < 0).any() or not np.isfinite(p).all() or p.sum() <= 0:
        raise ValueError(f"{name}: expected non-negative finite priors with a positive sum, found {p}")
    return p / p.sum()


def effective_priors(train_priors: Any, class_weight: Any | None = None) -> np.ndarray:
    """The class priors a (class-)weighted cross-entropy model's posteriors encode.

    Parameters
    ----------
    train_priors : (C,) float
        Class prevalence of the training set (``class_priors(train_y, C)``).
    class_weight : (C,) float, ``"inverse_frequency"`` or None
        The cross-entropy class weights used in training (``Objective.class_weight``);
        ``"inverse_frequency"`` means ``1 / prior`` on present classes (what
        :func:`ecgtriage.train.objectives` uses with ``class_weighting=True``); ``None`` means
        unweighted training (the outputs encode ``train_priors``).

    Returns
    -------
    (C,) float64
        ``train_priors * class_weight``, normalised to sum 1 (see the module docstring for the
        derivation). Inverse-frequency weights give the uniform distribution over classes
        present in training, and 0 for absent ones.
    """
    pi = np.asarray(train_priors, dtype=np.float64)
    if pi.ndim != 1:
        raise ValueError(f"train_priors: expected a 1-D array of class priors, found shape {pi.shape}")
    pi = _priors(pi, pi.size, "train_priors")
    if class_weight is None:
        return pi
    if isinstance(class_weight, str):
        if class_weight != "inverse_frequency":
            raise ValueError(
                f"class_weight: expected an array, 'inverse_frequency' or None, found {class_weight!r}"
            )
        w = np.divide(1.0, pi, out=np.zeros_like(pi), where=pi > 0)
    else:
        w = np.asarray(class_weight, dtype=np.float64)
        if w.shape != pi.shape:
            raise ValueError(f"class_weight: expected {pi.size} weights, found shape {w.shape}")
        if (w < 0).any() or not np.isfinite(w).all():
            raise ValueError(f"class_weight: expected non-negative finite weights, found {w}")
    return _priors(pi * w, pi.size, "train_priors × class_weight")


def adjust_to_priors(proba: Any, train_priors: Any, new_priors: Any) -> np.ndarray:
    """Re-weight single-label posteriors from the training priors to ``new_priors``.

    Classes with a training prior of 0 keep probability 0 (the model never learnt them).
    """
    p = as_proba(proba)
    tr = _priors(train_priors, p.shape[1], "train_priors")
    new = _priors(new_priors, p.shape[1], "new_priors")
    ratio = np.divide(new, tr, out=np.zeros_like(new), where=tr > 0)
    w = p * ratio
    norm = w.sum(axis=1, keepdims=True)
    # A record whose whole mass sits on classes given prior 0 keeps its original posterior.
    return np.where(norm > 0, w / np.where(norm > 0, norm, 1.0), p)


def em_prior_shift(
    proba: Any,
    train_priors: Any,
    *,
    class_weight: Any | None = None,
    max_iter: int = 1000,
    tol: float = 1e-8,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Estimate test priors by EM (Saerens et al. 2002) and return the corrected posteriors.

    Parameters
    ----------
    proba : (N, C) float
        Test-set posteriors of a single-label model (softmax outputs), assumed calibrated
        on the training distribution.
    train_priors : (C,) float
        Class prevalence of the training set (e.g. ``class_priors(train_y, C)``).
    class_weight : (C,) float, ``"inverse_frequency"`` or None
        The training class weights; EM then starts from and re-weights against
        ``effective_priors(train_priors, class_weight)``, the priors the outputs encode.
        Leave ``None`` only for a model trained without class weights.
    max_iter, tol : stopping rule on the largest change of any prior.

    Returns
    -------
    adjusted : (N, C) float64
        Posteriors under the estimated test priors.
    info : dict
        ``train_priors``, ``encoded_priors`` (the priors EM adjusted from), ``test_priors``
        (the EM estimate), ``n_iter``, ``converged`` (JSON-serialisable).
    """
    p = as_proba(proba)
    train = _priors(train_priors, p.shape[1], "train_priors")
    tr = effective_priors(train, class_weight)
    if p.shape[0] == 0:
        raise ValueError("proba: expected at least one test record, found none")
    pi = tr.copy()
    converged = False
    n_iter = 0
    adjusted = p
    for n_iter in range(1, max_iter + 1):
        # E-step: posteriors under the current prior estimate; M-step: their mean.
        adjusted = adjust_to_priors(p, tr, pi)
        new_pi = adjusted.mean(axis=0)
        delta = float(np.abs(new_pi - pi).max())
        pi = new_pi
        if delta < tol:
            converged = True
            break
    adjusted = adjust_to_priors(p, tr, pi)
    info = {
        "method": "EM (Saerens, Latinne & Decaestecker 2002)",
        "train_priors": train,
        "encoded_priors": tr,
        "test_priors": pi,
        "n_iter": n_iter,
        "converged": converged,
    }
    return adjusted, json_safe(info)


def prevalence_shift_table(
    train_y: Any,
    test_y: Any,
    *,
    multilabel: bool,
    class_names: Sequence[str] | None = None,
    n_classes: int | None = None,
    estimated_test_priors: Any | None = None,
    class_observable: Any | None = None,
) -> pd.DataFrame:
    """Train vs test prevalence per class.

    Parameters
    ----------
    train_y, test_y : targets (``Targets.y``) of the training and the test set.
    multilabel : bool
    class_names : sequence of str, optional (gives ``n_classes`` when set)
    estimated_test_priors : (C,) float, optional
        E.g. ``info["test_priors"]`` from :func:`em_prior_shift`; adds ``test_prevalence_em``.
    class_observable : (C,) bool, optional
        ``Targets.class_observable`` of the test source; adds ``observable``.

    Returns
    -------
    pandas.DataFrame
        One row per class: ``class, train_n, train_prevalence, test_n, test_prevalence,
        ratio`` (test / train; NaN where the training prevalence is 0), ``difference``
        (test - train), and the optional columns above.
    """
    if multilabel:
        tr = as_multi_hot(train_y, "train_y")
        te = as_multi_hot(test_y, "test_y")
        if tr.shape[1] != te.shape[1]:
            raise ValueError(f"test_y: expected {tr.shape[1]} classes (as train_y), found {te.shape[1]}")
        c = tr.shape[1]
        tr_n, te_n = tr.sum(axis=0), te.sum(axis=0)
        tr_tot, te_tot = tr.shape[0], te.shape[0]
    else:
        c = len(class_names) if class_names is not None else n_classes
        if c is None:
            raise ValueError("prevalence_shift_table: give class_names or n_classes for single-label targets")
        tr = as_class_index(train_y, c, "train_y")
        te = as_class_index(test_y, c, "test_y")
        tr, te = tr[tr >= 0], te[te >= 0]
        tr_n, te_n = np.bincount(tr, minlength=c), np.bincount(te, minlength=c)
        tr_tot, te_tot = tr.size, te.size
    names = class_names_for(class_names, c)
    tr_p = tr_n / tr_tot if tr_tot else np.full(c, np.nan)
    te_p = te_n / te_tot if te_tot else np.full(c, np.nan)
    ratio = np.divide(te_p, tr_p, out=np.full(c, np.nan), where=tr_p > 0)
    frame = pd.DataFrame(
        {
            "class": names,
            "train_n": tr_n.astype(int),
            "train_prevalence": tr_p,
            "test_n": te_n.astype(int),
            "test_prevalence": te_p,
            "ratio": ratio,
            "difference": te_p - tr_p,
        }
    )
    if estimated_test_priors is not None:
        est = np.asarray(estimated_test_priors, dtype=np.float64)
        if est.shape != (c,):
            raise ValueError(f"estimated_test_priors: expected {c} values, found shape {est.shape}")
        frame["test_prevalence_em"] = est
    if class_observable is not None:
        obs = np.asarray(class_observable, dtype=bool)
        if obs.shape != (c,):
            raise ValueError(f"class_observable: expected {c} values, found shape {obs.shape}")
        frame["observable"] = obs
    return frame
