"""Common-ground scoring with hand-built collapse and coarsen mappings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecgtriage.evaluate.collapse import (
    coarsen_index_map,
    coarsen_proba,
    collapse_aha44,
    common_ground_scores,
    serious_operating_point,
)

CODES = ["1", "60", "50", "88"]  # toy code scheme
CODE_TIER4 = np.array([0, 1, 2, 3])  # Normal, Mild (VPC), Moderate (AF), Serious (CHB)
TIER4 = ["Normal", "Mild", "Moderate", "Serious"]
TIER3 = ["Normal", "Monitor", "Serious"]
T4_TO_T3 = np.array([0, 1, 1, 2])


def toy_collapse(multi_hot, tier_scheme):
    """Most severe statement wins; no statement -> Normal."""
    tiers = np.where(multi_hot, CODE_TIER4[None, :], 0).max(axis=1)
    return T4_TO_T3[tiers] if tier_scheme == "tier3" else tiers


def toy_coarsen(idx, target):
    assert target == "tier3"
    return T4_TO_T3[np.asarray(idx)]


def test_serious_operating_point():
    p = np.array([[0.5, 0.2, 0.1, 0.2], [0.1, 0.6, 0.0, 0.3], [0.1, 0.1, 0.1, 0.7]])
    assert serious_operating_point(p, 3, 0.25).tolist() == [0, 3, 3]
    assert serious_operating_point(p, 3, 0.8).tolist() == [0, 1, 0]  # 3rd: argmax of the others
    assert serious_operating_point(p, 3, None).tolist() == [0, 1, 3]


def test_coarsen_proba_sums_groups():
    m = coarsen_index_map(4, "tier3", toy_coarsen)
    assert m.tolist() == [0, 1, 1, 2]
    out = coarsen_proba(np.array([[0.1, 0.2, 0.3, 0.4]]), m, 3)
    np.testing.assert_allclose(out, [[0.1, 0.5, 0.4]])


def test_collapse_aha44_thresholds_per_class():
    p = np.array([[0.9, 0.1, 0.1, 0.1], [0.2, 0.6, 0.4, 0.1], [0.1, 0.6, 0.4, 0.35]])
    thr = [0.5, 0.5, 0.3, 0.3]
    assert collapse_aha44(p, thr, "tier4", toy_collapse).tolist() == [0, 2, 3]
    assert collapse_aha44(p, thr, "tier3", toy_collapse).tolist() == [0, 1, 2]


def test_common_ground_aha44_and_tier4_on_identical_targets():
    y4 = np.array([0, 1, 2, 3, 3, 0])
    y3 = T4_TO_T3[y4]
    targets = {"tier4": y4, "tier3": y3}
    names = {"tier4": TIER4, "tier3": TIER3}
    p44 = np.array([
        [0.9, 0.0, 0.0, 0.0],  # Normal
        [0.1, 0.8, 0.0, 0.0],  # Mild
        [0.1, 0.0, 0.9, 0.0],  # Moderate
        [0.1, 0.0, 0.0, 0.9],  # Serious
        [0.1, 0.0, 0.8, 0.2],  # missed CHB -> Moderate
        [0.2, 0.0, 0.0, 0.6],  # false Serious
    ])
    r = common_ground_scores("aha44", p44, targets, names, thresholds=0.5, collapse_fn=toy_collapse)
    s4 = r["tier4"]["serious"]
    assert r["tier4"]["derivation"] == "collapsed from aha44"
    assert (s4["tp"], s4["fn"], s4["fp"], s4["tn"]) == (1, 1, 1, 3)
    assert s4["sensitivity"] == 0.5 and s4["specificity"] == 0.75 and s4["ppv"] == 0.5
    assert r["tier4"]["metrics"]["accuracy"] == pytest.approx(4 / 6)
    assert r["tier3"]["metrics"]["accuracy"] == pytest.approx(4 / 6)
    assert r["tier4"]["metrics"]["macro_auroc"] is None  # hard collapsed labels only

    p4 = np.array([
        [0.7, 0.1, 0.1, 0.1],
        [0.2, 0.5, 0.1, 0.2],
        [0.1, 0.2, 0.6, 0.1],
        [0.1, 0.1, 0.5, 0.3],  # Serious at threshold 0.25
        [0.1, 0.1, 0.6, 0.2],  # missed
        [0.6, 0.1, 0.0, 0.3],  # false Serious at 0.25
    ])
    r4 = common_ground_scores("tier4", p4, targets, names, serious_threshold=0.25,
                              coarsen_fn=toy_coarsen, patient_ids=list("aabbcc"), n_boot=50)
    assert r4["tier4"]["derivation"] == "native"
    assert r4["tier3"]["derivation"] == "coarsened from tier4"
    assert r4["tier4"]["metrics"]["confusion_matrix"][3] == [0, 0, 1, 1]
    assert r4["tier3"]["serious"]["sensitivity"] == r4["tier4"]["serious"]["sensitivity"] == 0.5
    assert r4["tier3"]["metrics"]["n_classes_auroc"] == 3  # from summed probabilities
    assert r4["tier4"]["serious"]["threshold"] == 0.25
    boot = r4["tier4"]["bootstrap"]
    assert boot["serious_sensitivity"]["estimate"] == 0.5 and boot["n_patients"] == 3
    json.dumps(r4, allow_nan=False)

    p3 = coarsen_proba(p4, T4_TO_T3, 3)
    r3 = common_ground_scores("tier3", p3, targets, names)
    assert "tier4" in r3["not_derivable"] and "tier3" in r3


def test_bad_serious_class_is_named():
    with pytest.raises(ValueError, match="serious_class: 'Urgent' is not a class of tier3"):
        common_ground_scores("tier3", np.full((2, 3), 1 / 3), {"tier3": [0, 1]},
                             {"tier3": TIER3}, serious_class="Urgent")


def test_default_wiring_uses_the_package_tier_rules():
    from ecgtriage.labels import load_scheme

    codes = list(load_scheme("aha44").classes)
    t4 = list(load_scheme("tier4").classes)
    t3 = list(load_scheme("tier3").classes)
    p = np.zeros((4, len(codes)))
    p[0, codes.index("1")] = 0.9                                # Normal
    p[1, codes.index("88")] = 0.9                               # complete AV block: Serious
    p[2, [codes.index("85"), codes.index("51")]] = 0.9          # 2:1 block in flutter: Moderate (C1)
    p[3, codes.index("60")] = 0.9                               # VPC: Mild
    y4 = np.array([t4.index(c) for c in ("Normal", "Serious", "Moderate", "Mild")])
    targets = {"tier4": y4, "tier3": np.array([0, 2, 1, 1])}
    r = common_ground_scores("aha44", p, targets, {"tier4": t4, "tier3": t3}, thresholds=0.5)
    assert r["tier4"]["metrics"]["accuracy"] == 1.0 and r["tier3"]["metrics"]["accuracy"] == 1.0
    p4 = np.eye(4)[[0, 3, 2, 1]] * 0.7 + 0.075
    r4 = common_ground_scores("tier4", p4, targets, {"tier4": t4, "tier3": t3})
    assert r4["tier3"]["metrics"]["accuracy"] == 1.0


def test_tier4_to_tier3_decides_on_summed_probabilities():
    """0.4 Normal / 0.3 Mild / 0.3 Moderate is Normal by the tier4 argmax but Monitor once
    P(Mild) + P(Moderate) = 0.6 is compared with P(Normal) (issue 10: sum, not argmax)."""
    p4 = np.array([[0.4, 0.3, 0.3, 0.0],
                   [0.6, 0.2, 0.2, 0.0],
                   [0.1, 0.1, 0.1, 0.7]])
    y = np.array([1, 0, 2])
    r = common_ground_scores("tier4", p4, {"tier3": y}, {"tier4": TIER4, "tier3": TIER3},
                             coarsen_fn=toy_coarsen)
    assert r["tier3"]["metrics"]["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
