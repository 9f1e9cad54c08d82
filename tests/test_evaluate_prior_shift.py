"""EM prior correction recovers known priors on a synthetic label-shifted sample."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import norm

from ecgtriage.evaluate.prior_shift import (
    adjust_to_priors,
    class_priors,
    em_prior_shift,
    prevalence_shift_table,
)

MEANS = np.array([0.0, 2.0, 4.0])


def _bayes_posterior(x, priors):
    lik = norm.pdf(x[:, None], loc=MEANS[None, :], scale=1.0) * priors
    return lik / lik.sum(axis=1, keepdims=True)


def test_em_recovers_shifted_priors():
    rng = np.random.default_rng(0)
    train_priors = np.array([0.6, 0.3, 0.1])
    test_priors = np.array([0.2, 0.3, 0.5])
    y = rng.choice(3, size=20_000, p=test_priors)
    x = rng.normal(MEANS[y], 1.0)
    proba = _bayes_posterior(x, train_priors)  # a perfectly calibrated training-prior model
    adjusted, info = em_prior_shift(proba, train_priors)
    assert info["converged"]
    np.testing.assert_allclose(info["test_priors"], test_priors, atol=0.02)
    # The corrected posteriors are the Bayes posteriors under the estimated priors.
    np.testing.assert_allclose(adjusted, _bayes_posterior(x, np.array(info["test_priors"])), atol=1e-6)
    assert (adjusted.argmax(1) == y).mean() > (proba.argmax(1) == y).mean() + 0.03
    json.dumps(info, allow_nan=False)


def test_em_without_shift_stays_at_training_priors():
    rng = np.random.default_rng(1)
    priors = np.array([0.5, 0.3, 0.2])
    y = rng.choice(3, size=20_000, p=priors)
    proba = _bayes_posterior(rng.normal(MEANS[y], 1.0), priors)
    _, info = em_prior_shift(proba, priors)
    np.testing.assert_allclose(info["test_priors"], priors, atol=0.02)


def test_adjust_to_priors_closed_form():
    p = np.array([[0.5, 0.5], [0.8, 0.2]])
    out = adjust_to_priors(p, [0.5, 0.5], [0.2, 0.8])
    np.testing.assert_allclose(out[0], [0.2, 0.8])
    np.testing.assert_allclose(out[1], [0.16 / 0.32, 0.16 / 0.32])
    with pytest.raises(ValueError, match="train_priors: expected 2 class priors"):
        adjust_to_priors(p, [1.0], [0.5, 0.5])


def test_prevalence_table_single_and_multi_label():
    t = prevalence_shift_table(
        np.array([0, 0, 0, 1, -1]), np.array([0, 1, 1, 2]), multilabel=False,
        class_names=["N", "M", "S"], class_observable=[True, True, True],
    )
    assert t["train_n"].tolist() == [3, 1, 0]
    assert t["test_prevalence"].tolist() == pytest.approx([0.25, 0.5, 0.25])
    assert t["ratio"].iloc[1] == pytest.approx(2.0) and np.isnan(t["ratio"].iloc[2])
    m = prevalence_shift_table(np.array([[1, 0], [1, 1]]), np.array([[0, 1]]), multilabel=True)
    assert m["train_prevalence"].tolist() == [1.0, 0.5] and m["test_n"].tolist() == [0, 1]
    assert class_priors(np.array([0, 1, 1, -1]), 3).tolist() == pytest.approx([1 / 3, 2 / 3, 0])
