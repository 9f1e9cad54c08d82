"""Patient-level, stratified, deterministic splits (SPH) and PTB-XL fold roles."""

import ast

import numpy as np
import pandas as pd
import pytest

from ecgtriage.labels import encode_targets
from ecgtriage.labels.splits import make_splits


@pytest.fixture(scope="module")
def sph_index(shared_data):
    meta = pd.read_csv(shared_data / "sph" / "metadata.csv", dtype=str)
    return pd.DataFrame({"record_id": meta["ECG_ID"], "patient_id": meta["Patient_ID"], "statements": meta["AHA_Code"]})


@pytest.fixture(scope="module")
def sph_split(sph_index):
    return make_splits(sph_index, "sph", seed=0)


@pytest.mark.realdata
def test_no_patient_in_two_parts(sph_index, sph_split):
    joined = sph_split.assign(patient=sph_index["patient_id"].to_numpy())
    assert joined.groupby("patient")["split"].nunique().max() == 1
    assert list(sph_split["record_id"]) == list(sph_index["record_id"])
    patients = joined.drop_duplicates("patient")["split"].value_counts(normalize=True)
    assert patients["val"] == pytest.approx(0.1, abs=0.01)
    assert patients["test"] == pytest.approx(0.1, abs=0.01)


@pytest.mark.realdata
def test_stratified_by_tier_and_rare_statements_everywhere(sph_index, sph_split):
    tier = encode_targets(sph_index, "sph", "tier4").y
    overall = np.bincount(tier, minlength=4) / len(tier)
    for part in ("train", "val", "test"):
        mask = (sph_split["split"] == part).to_numpy()
        share = np.bincount(tier[mask], minlength=4) / mask.sum()
        assert np.abs(share - overall).max() < 0.01, part
    statements = sph_index.assign(s=sph_index["statements"].str.split(";")).explode("s")
    statements["code"] = statements["s"].str.split("+").str[0]
    statements["split"] = statements["record_id"].map(dict(zip(sph_split["record_id"], sph_split["split"])))
    for key in ("code", "s"):
        n_patients = statements.groupby(key)["patient_id"].nunique()
        eligible = n_patients[n_patients >= 3].index
        parts = statements[statements[key].isin(eligible)].groupby(key)["split"].nunique()
        assert (parts == 3).all(), parts[parts < 3]


@pytest.mark.realdata
def test_deterministic_and_order_independent(sph_index, sph_split):
    shuffled = sph_index.sample(frac=1.0, random_state=3)
    again = make_splits(shuffled, "sph", seed=0).set_index("record_id")["split"]
    assert (again.loc[sph_split["record_id"]].to_numpy() == sph_split["split"].to_numpy()).all()
    other = make_splits(sph_index, "sph", seed=1)
    assert (other["split"] != sph_split["split"]).mean() > 0.05


def _ptbxl_like(folds, patients=None):
    n = len(folds)
    return pd.DataFrame({
        "record_id": [str(i) for i in range(n)],
        "patient_id": patients if patients is not None else [f"p{i}" for i in range(n)],
        "statements": ["NORM;SR" if i % 3 else "IMI;SR" for i in range(n)],
        "fold": folds,
    })


def test_ptbxl_official_folds_when_fold_10_exists():
    folds = [1 + i % 10 for i in range(100)]
    split = make_splits(_ptbxl_like(folds), "ptbxl", seed=0)
    expected = ["test" if f == 10 else "val" if f == 9 else "train" for f in folds]
    assert split["split"].tolist() == expected
    assert split.roles["folds"] == {"train": [1, 2, 3, 4, 5, 6, 7, 8], "val": [9], "test": [10]}


def test_ptbxl_without_fold_10_uses_fold_9_as_test():
    folds = [1 + i % 9 for i in range(180)]
    patients = [f"p{i // 2}" if (1 + i % 9) <= 8 else f"q{i}" for i in range(180)]
    split = make_splits(_ptbxl_like(folds, patients), "ptbxl", seed=0)
    fold = pd.Series(folds)
    assert (split["split"][fold == 9] == "test").all()
    assert set(split["split"][fold <= 8]) == {"train", "val"}
    assert split.roles["test"] == "strat_fold 9 (fold 10 absent)"
    assert split.roles["folds"]["test"] == [9]
    joined = split.assign(patient=patients)
    assert joined.groupby("patient")["split"].nunique().max() == 1


def test_ptbxl_patient_across_test_fold_is_an_error():
    frame = _ptbxl_like([1, 9], patients=["same", "same"])
    with pytest.raises(ValueError, match="patient same is in strat_fold 9 and in folds 1-8"):
        make_splits(frame, "ptbxl", seed=0)


@pytest.mark.realdata
def test_ptbxl_real_shared_subset(shared_data):
    db = pd.read_csv(shared_data / "ptbxl" / "ptbxl_database.csv")
    index = pd.DataFrame({
        "record_id": db["ecg_id"].astype(str), "patient_id": db["patient_id"], "fold": db["strat_fold"],
        "statements": [";".join(ast.literal_eval(c)) for c in db["scp_codes"]],
    })
    split = make_splits(index, "ptbxl", seed=0)
    assert (split["split"][db["strat_fold"] == 9] == "test").all()
    val_share = (split["split"] == "val").sum() / (db["strat_fold"] <= 8).sum()
    assert val_share == pytest.approx(0.1, abs=0.03)
    patients = index["patient_id"].astype(int).astype(str)
    assert split.assign(p=patients.to_numpy()).groupby("p")["split"].nunique().max() == 1


@pytest.mark.parametrize("val, test", [(0.6, 0.5), (-0.1, 0.1), (0.1, 1.0)])
def test_bad_fractions(val, test):
    with pytest.raises(ValueError, match="must be in \\[0, 1\\) with a sum below 1"):
        make_splits(_ptbxl_like([1, 2]), "sph", seed=0, val_fraction=val, test_fraction=test)


def test_records_without_patient_are_their_own_patient():
    frame = pd.DataFrame({"record_id": [f"r{i}" for i in range(50)], "patient_id": [None] * 50,
                          "statements": ["164889003"] * 50})
    split = make_splits(frame, "challenge", seed=0)
    assert split["split"].value_counts().to_dict() == {"train": 40, "val": 5, "test": 5}
