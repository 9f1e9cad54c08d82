"""External-set coverage tables and raw vs prior-adjusted scoring."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from ecgtriage.evaluate.external import (
    code_class_coverage,
    external_scores,
    statement_coverage,
    target_coverage,
)

STATEMENTS = pd.DataFrame(
    {
        "record_id": ["r1", "r1", "r2", "r3", "r3", "r4"],
        "statement": ["IMI", "SR", "ILMI", "AFIB", "PACE", "NORM"],
        "aha_code": pd.array([161, pd.NA, 161, 50, pd.NA, 1], dtype="Int64"),
        "match_type": ["D", "unmapped", "S", "D", "unmapped", "D"],
        "name": ["inferior MI", "sinus rhythm", "inferolateral MI", "AF", "pacing", "normal"],
    }
)
CODES = ["1", "50", "88", "161"]


def test_statement_and_class_coverage():
    s = statement_coverage(STATEMENTS, CODES).set_index("statement")
    assert bool(s.loc["IMI", "in_scheme"]) and not bool(s.loc["PACE", "in_scheme"])
    assert s.loc["PACE", "aha_code"] == "" and s.loc["ILMI", "match_type"] == "S"
    c = code_class_coverage(STATEMENTS, CODES).set_index("class")
    assert c.loc["161", "n_records"] == 2 and c.loc["161", "statements"] == "ILMI|IMI"
    assert c.loc["161", "match_types"] == "D|S"
    assert not bool(c.loc["88", "covered"]) and c.loc["88", "statements"] == ""
    with pytest.raises(ValueError, match=r"missing \['aha_code'\]"):
        statement_coverage(STATEMENTS.drop(columns="aha_code"), CODES)


def test_target_coverage():
    t = target_coverage(np.array([0, 0, 2, -1]), multilabel=False, class_names=["N", "M", "S"],
                        class_observable=[True, False, True])
    assert t["n_records"].tolist() == [2, 0, 1]
    assert t["has_positives"].tolist() == [True, False, True]
    assert t["prevalence"].tolist() == pytest.approx([2 / 3, 0, 1 / 3])


def test_external_scores_raw_and_adjusted():
    rng = np.random.default_rng(0)
    means = np.array([0.0, 2.0, 4.0])
    train_priors = np.array([0.7, 0.25, 0.05])
    test_priors = np.array([0.3, 0.3, 0.4])
    y = rng.choice(3, size=6000, p=test_priors)
    x = rng.normal(means[y], 1.0)
    lik = norm.pdf(x[:, None], means[None, :], 1.0) * train_priors
    proba = lik / lik.sum(1, keepdims=True)
    r = external_scores(y, proba, multilabel=False, class_names=["N", "M", "S"],
                        train_priors=train_priors)
    assert r["n_classes_with_positives"] == 3
    assert r["prior_adjusted"]["accuracy"] > r["raw"]["accuracy"]
    assert r["prior_adjusted"]["per_class"][2]["recall"] > r["raw"]["per_class"][2]["recall"]
    np.testing.assert_allclose(r["em"]["test_priors"], test_priors, atol=0.03)
    assert r["raw"]["n_classes_auroc"] == r["prior_adjusted"]["n_classes_auroc"] == 3
    json.dumps(r, allow_nan=False)


def test_external_multilabel_counts_classes_with_positives():
    y = np.array([[1, 0, 0], [0, 0, 0], [1, 1, 0]])
    p = np.array([[0.8, 0.1, 0.2], [0.3, 0.2, 0.1], [0.6, 0.7, 0.1]])
    r = external_scores(y, p, multilabel=True, class_names=["1", "50", "88"])
    assert r["n_classes_with_positives"] == 2 and r["raw"]["n_classes_f1"] == 2
    with pytest.raises(ValueError, match="single-label"):
        external_scores(y, p, multilabel=True, train_priors=[0.3, 0.3, 0.4])
