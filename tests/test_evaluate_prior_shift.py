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


# --- Class-weighted training: EM from the priors the outputs encode -------------------------
#: Tolerance on every recovered prior (absolute), with 20,000 test records.
PRIOR_TOL = 0.02


def test_effective_priors_known_answers():
    from ecgtriage.evaluate.prior_shift import effective_priors

    pi = np.array([0.6, 0.3, 0.1, 0.0])
    np.testing.assert_allclose(effective_priors(pi), pi)
    # Inverse-frequency weights encode uniform priors over the present classes.
    np.testing.assert_allclose(effective_priors(pi, "inverse_frequency"), [1 / 3, 1 / 3, 1 / 3, 0])
    np.testing.assert_allclose(effective_priors(pi, [1.0, 2.0, 3.0, 5.0]), [0.6, 0.6, 0.3, 0] / np.float64(1.5))
    with pytest.raises(ValueError, match="class_weight: expected 4 weights"):
        effective_priors(pi, [1.0, 2.0])


@pytest.mark.parametrize("test_priors", [[0.2, 0.3, 0.5], [0.7, 0.25, 0.05], [0.1, 0.8, 0.1]])
def test_em_recovers_priors_from_balanced_posteriors(test_priors):
    rng = np.random.default_rng(7)
    train_priors = np.array([0.6, 0.3, 0.1])
    test_priors = np.array(test_priors)
    y = rng.choice(3, size=20_000, p=test_priors)
    x = rng.normal(MEANS[y], 1.0)
    # An ideal inverse-frequency-weighted model: Bayes posteriors under uniform priors.
    proba = _bayes_posterior(x, np.full(3, 1 / 3))
    adjusted, info = em_prior_shift(proba, train_priors, class_weight="inverse_frequency")
    assert info["converged"]
    np.testing.assert_allclose(info["encoded_priors"], 1 / 3)
    np.testing.assert_allclose(info["test_priors"], test_priors, atol=PRIOR_TOL)
    np.testing.assert_allclose(adjusted, _bayes_posterior(x, np.array(info["test_priors"])), atol=1e-6)
    # Started from the training frequencies instead, EM lands far from the truth.
    _, wrong = em_prior_shift(proba, train_priors)
    assert np.abs(np.array(wrong["test_priors"]) - test_priors).max() > 3 * PRIOR_TOL


def test_em_with_a_real_class_weighted_fit():
    """A multinomial logistic regression fitted with balanced class weights (exactly the
    inverse-frequency weighting of the trainer) on 1-D Gaussian classes, whose posterior
    family contains the truth: EM given its class weights recovers the shifted priors."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.utils.class_weight import compute_class_weight

    rng = np.random.default_rng(11)
    train_priors = np.array([0.6, 0.3, 0.1])
    y_tr = rng.choice(3, size=30_000, p=train_priors)
    x_tr = rng.normal(MEANS[y_tr], 1.0)[:, None]
    weights = compute_class_weight("balanced", classes=np.arange(3), y=y_tr)
    model = LogisticRegression(class_weight="balanced", C=1e4, max_iter=1000).fit(x_tr, y_tr)
    test_priors = np.array([0.15, 0.35, 0.5])
    y_te = rng.choice(3, size=20_000, p=test_priors)
    proba = model.predict_proba(rng.normal(MEANS[y_te], 1.0)[:, None])
    observed = class_priors(y_tr, 3)
    _, info = em_prior_shift(proba, observed, class_weight=weights)
    np.testing.assert_allclose(info["encoded_priors"], 1 / 3, atol=1e-9)
    np.testing.assert_allclose(info["test_priors"], test_priors, atol=PRIOR_TOL)
    # Plain (unweighted) fit: the default train_priors path recovers them too.
    plain = LogisticRegression(C=1e4, max_iter=1000).fit(x_tr, y_tr)
    _, info_plain = em_prior_shift(plain.predict_proba(rng.normal(MEANS[y_te], 1.0)[:, None]), observed)
    np.testing.assert_allclose(info_plain["test_priors"], test_priors, atol=PRIOR_TOL)
