"""Rare/unseen statement table on a hand-built external set."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ecgtriage.evaluate.rare_unseen import rare_unseen_analysis, training_counts

CODES = ["1", "50", "88", "161"]
TIER4 = ["Normal", "Mild", "Moderate", "Serious"]


def _train():
    rows = [("t%d" % i, "1") for i in range(600)]
    rows += [("t%d" % (600 + i), "50") for i in range(300)]
    rows += [("t%d" % (900 + i), "88") for i in range(3)]
    rows += [("t%d" % (903 + i), "161") for i in range(97)] + [("t0", "161")] * 3
    frame = pd.DataFrame(rows, columns=["record_id", "code"])
    frame["aha_code"] = frame["code"].astype(int).astype("Int64")
    return frame


EXTERNAL = pd.DataFrame(
    [
        ("r1", "IMI", 161, "Moderate", "inferior MI"),
        ("r1", "SR", None, "ignore", "sinus rhythm"),
        ("r2", "PACE", None, "Moderate", "pacing"),
        ("r3", "PACE", None, "Moderate", "pacing"),
        ("r3", "AFIB", 50, "Moderate", "AF"),
        ("r4", "NORM", 1, "Normal", "normal"),
        ("r5", "3AVB", 88, "Serious", "complete AVB"),
        ("r6", "SVTAC", None, "Serious", "SVT"),  # no prediction: dropped and counted
    ],
    columns=["record_id", "statement", "aha_code", "tier4", "name"],
).astype({"aha_code": "Int64"})

IDS = ["r5", "r4", "r3", "r2", "r1"]  # deliberately not the table's order
AHA_PRED = {
    "r1": [0, 0, 0, 1], "r2": [1, 0, 0, 0], "r3": [0, 1, 0, 0], "r4": [1, 0, 0, 0], "r5": [0, 0, 0, 0],
}
TIER_TRUE = {"r1": 2, "r2": 2, "r3": 2, "r4": 0, "r5": 3}
TIER_PRED = {"r1": 2, "r2": 1, "r3": 2, "r4": 0, "r5": 2}


def test_training_counts_are_distinct_records():
    counts = training_counts(_train())
    assert counts == {"1": 600, "50": 300, "88": 3, "161": 97 + 1}


def test_table_and_headline():
    aha = {"record_ids": IDS, "y_pred": np.array([AHA_PRED[r] for r in IDS]), "classes": CODES,
           "y_true": np.array([[0, 0, 0, 1] if r == "r1" else [0, 0, 1, 0] if r == "r5" else
                               [0, 1, 0, 0] if r == "r3" else [1, 0, 0, 0] if r == "r4" else
                               [0, 0, 0, 0] for r in IDS])}
    tiers = {"tier4": {"record_ids": IDS, "y_pred": [TIER_PRED[r] for r in IDS],
                       "y_true": [TIER_TRUE[r] for r in IDS], "classes": TIER4}}
    table, head = rare_unseen_analysis(
        EXTERNAL, training_counts(_train()), 1000, CODES, dataset="external", aha44=aha, tiers=tiers
    )
    t = table.set_index("statement")
    assert t.loc["IMI", "group"] == "common" and t.loc["3AVB", "group"] == "rare"
    assert t.loc["PACE", "group"] == "unseen" and t.loc["SR", "group"] == "ignored"
    assert "SVTAC" not in t.index and head["n_records_without_prediction"] == 1
    assert t.loc["IMI", "aha44_recall"] == 1.0 and t.loc["3AVB", "aha44_recall"] == 0.0
    assert np.isnan(t.loc["PACE", "aha44_recall"])
    assert t.loc["PACE", "n_records"] == 2
    assert t.loc["PACE", "aha44_flagged_abnormal"] == 0.5
    assert t.loc["PACE", "tier4_correct_tier"] == 0.5
    assert t.loc["PACE", "tier4_flagged_abnormal"] == 1.0
    assert t.loc["3AVB", "tier4_correct_tier"] == 0.0 and t.loc["3AVB", "train_count"] == 3
    assert t.loc["IMI", "aha44_code_f1"] == 1.0 and t.loc["3AVB", "aha44_code_f1"] == 0.0
    unseen = head["rates"]["unseen"]
    assert unseen["n_records"] == 2 and unseen["n_records_only"] == 1
    assert unseen["any"] == {"aha44": 0.5, "tier4": 1.0}
    assert unseen["only"] == {"aha44": 0.0, "tier4": 1.0}
    assert head["rates"]["rare"]["any"]["aha44"] == 0.0
    json.dumps(head, allow_nan=False)


def test_internal_rows_by_code_merge_modifiers():
    sph = pd.DataFrame(
        {"record_id": ["a", "b", "b"], "statement": ["60+310", "60", "22"],
         "aha_code": pd.array([60, 60, 22], dtype="Int64"), "tier4": ["Moderate", "Mild", "Mild"]}
    )
    tiers = {"tier3": {"record_ids": ["a", "b"], "y_pred": [1, 0], "y_true": [1, 1],
                       "classes": ["Normal", "Monitor", "Serious"]}}
    table, _ = rare_unseen_analysis(sph, {"60": 500, "22": 2}, 1000, ["22", "60"],
                                    dataset="internal", tiers=tiers, by="aha_code")
    t = table.set_index("statement")
    assert t.loc["60", "n_records"] == 2 and t.loc["60", "group"] == "common"
    assert t.loc["22", "group"] == "rare" and t.loc["60", "tier3_flagged_abnormal"] == 0.5


def test_duplicate_prediction_ids_rejected():
    with pytest.raises(ValueError, match="record_ids must be unique"):
        rare_unseen_analysis(EXTERNAL, {}, 10, CODES, dataset="x",
                             tiers={"tier4": {"record_ids": ["r1", "r1"], "y_pred": [0, 0],
                                              "y_true": [0, 0], "classes": TIER4}})
