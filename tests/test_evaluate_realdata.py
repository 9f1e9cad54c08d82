"""Rare/unseen grouping on the real SPH and PTB-XL label tables (skips without shared data)."""

from __future__ import annotations

import ast

import pandas as pd
import pytest

from ecgtriage.evaluate.rare_unseen import rare_unseen_analysis, training_counts

pytestmark = pytest.mark.realdata

# labels.md section 3.6: the 26 SPH codes below 0.5 % of the 25,770 records.
RARE_SPH = {31, 36, 37, 51, 54, 80, 81, 83, 84, 85, 86, 87, 88, 102, 104, 108, 140, 143, 148,
            152, 153, 155, 160, 161, 165, 166}


def test_real_sph_rare_codes_and_ptbxl_unseen_statements(shared_data):
    from ecgtriage.labels import load_scheme, statement_table

    meta = pd.read_csv(shared_data / "sph" / "metadata.csv")
    sph_index = pd.DataFrame({"record_id": meta["ECG_ID"].astype(str),
                              "statements": meta["AHA_Code"].astype(str)})
    sph = statement_table(sph_index, "sph")
    counts = training_counts(sph)
    codes = load_scheme("aha44").classes
    table, _ = rare_unseen_analysis(sph, counts, len(sph_index), codes, dataset="internal",
                                    by="aha_code")
    assert {int(c) for c in table.loc[table.group == "rare", "aha_code"]} == RARE_SPH
    assert not (table.group == "unseen").any()

    db = pd.read_csv(shared_data / "ptbxl" / "ptbxl_database.csv")
    ptb_index = pd.DataFrame({
        "record_id": db["ecg_id"].astype(str),
        "statements": [";".join(ast.literal_eval(s)) for s in db["scp_codes"]],
        "infarction_stadium1": db["infarction_stadium1"],
        "infarction_stadium2": db["infarction_stadium2"],
    })
    ptb = statement_table(ptb_index, "ptbxl")
    all_normal = {"record_ids": ptb_index["record_id"], "y_pred": [0] * len(ptb_index),
                  "y_true": [-1] * len(ptb_index), "classes": ["Normal", "Mild", "Moderate", "Serious"]}
    ext, head = rare_unseen_analysis(ptb, counts, len(sph_index), codes, dataset="external",
                                     tiers={"tier4": all_normal})
    groups = ext.set_index("statement")["group"]
    assert {"PACE", "SVTAC", "INJAS", "IVCD"} <= set(groups[groups == "unseen"].index)
    assert groups["SR"] == "ignored" and groups["NORM"] == "common"
    assert groups["AFLT"] == "rare" and groups["AFIB"] == "common"
    assert head["rates"]["unseen"]["n_records"] > 100
    assert head["rates"]["unseen"]["any"]["tier4"] == 0.0  # nothing flagged by an all-Normal model
