"""Study-level overlap rule: every external and added test set drops records that share an ECG
or a patient with training or validation, says why per reason, and can be limited to folds.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import shared_subdir
from test_data_identity import make_cache, simulated

from ecgtriage.cli.app import build_parser
from ecgtriage.data.identity import ecg_identity, match_signals
from ecgtriage.errors import ConfigError
from ecgtriage.study.data import DataPlan, Dataset
from ecgtriage.study.testsets import FoldSelection, clean_test_sets


@pytest.fixture(scope="module")
def signals():
    return simulated(30, 11)


def _plan(root: Path, signals: np.ndarray) -> DataPlan:
    # Training source (PTB-XL format): records 1-12; 1 and 2 share patient 1.
    ids = [str(i) for i in range(1, 13)]
    patients = [1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    train = make_cache(root / "train", "ptbxl", signals[:12], ids, patients,
                       folds=[1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9])
    splits = pd.DataFrame({"record_id": ids,
                           "split": ["train"] * 6 + ["val"] * 2 + ["test"] * 4})
    cinc = make_cache(root / "cinc", "challenge",
                      np.stack([signals[2], signals[9], 3.0 * signals[4] - 0.2,
                                0.5 * signals[10], signals[20], signals[21]]),
                      ["HR00003", "HR00010", "Q1", "Q2", "Q3", "Q4"])
    return DataPlan(train=Dataset("ptbxl_train", "train", train, str(root / "train")),
                    splits=splits, split_roles={},
                    externals=[Dataset("cinc", "external", cinc, str(root / "cinc"))])


def test_every_external_and_added_set_drops_shared_ecgs_and_patients(tmp_path, signals):
    plan = _plan(tmp_path, signals)
    # SPH-format set whose patient ids are the training patients' numbers: other institution.
    sph = make_cache(tmp_path / "sph", "sph", signals[22:25], ["A1", "A2", "A3"], ["1", "2", "3"])
    # The training source again in a fuller release, scored on its fold 10 only.
    again_ids = [str(i) for i in range(1, 15)]
    again = make_cache(tmp_path / "again", "ptbxl", np.concatenate([signals[:12], signals[25:27]]),
                       again_ids, [1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 99],
                       folds=[1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 10, 10])
    added = [Dataset("sph", "added", sph, "sph"),
             FoldSelection("again", "added", again, "again", (10,))]
    sets, excluded = clean_test_sets(plan, added)
    by_name = {t.name: t for t in sets}
    assert by_name["internal"].record_ids == ("9", "10", "11", "12")
    # HR00003 = PTB-XL 3 (trained on); Q1 = record 5 at another gain and offset (trained on).
    # HR00010 and Q2 are copies of internal-test records of unseen patients: kept.
    assert by_name["cinc"].record_ids == ("HR00010", "Q2", "Q3", "Q4")
    assert by_name["sph"].record_ids == ("A1", "A2", "A3")
    assert by_name["again"].record_ids == ("14",)
    reasons = {(e["dataset"], e["reason"].split(" (")[0]): e for e in excluded}
    alias = next(e for e in excluded if e["dataset"] == "cinc" and "known alias" in e["reason"])
    assert [r["record_id"] for r in alias["records"]] == ["HR00003"]
    assert alias["records"][0]["matched_record"] == "3"
    fingerprint = next(e for e in excluded if e["dataset"] == "cinc" and "fingerprint" in e["reason"])
    assert fingerprint["n"] == 1 and fingerprint["records"][0]["matched_record"] == "5"
    assert sum(e["n"] for e in excluded if e["dataset"] == "cinc") == 2
    assert not any(e["dataset"] == "sph" for e in excluded)
    outside = reasons[("again", "outside the selected strat_fold 10")]
    assert outside["n"] == 12
    patient = reasons[("again", "patient also in the training or validation split of ptbxl_train")]
    assert patient["n"] == 1 and patient["records"][0]["record_id"] == "13"


def test_folds_need_a_data_set_with_folds(tmp_path, signals):
    plan = _plan(tmp_path, signals)
    cinc = plan.externals[0]
    selected = FoldSelection("cinc10", "added", cinc.cache, cinc.source, (10,))
    with pytest.raises(ConfigError, match="has no folds; folds exist only in PTB-XL"):
        clean_test_sets(plan, [selected])


def test_evaluate_takes_folds_on_the_command_line():
    args = build_parser().parse_args(["evaluate", "full_ptbxl", "--study", "s", "--folds", "10"])
    assert args.folds == [10]


def _mini_ptbxl(shared: Path, out: Path, n_other: int = 40) -> Path:
    """A PTB-XL folder in ``out`` with PTB-XL 9739 (= Challenge HR09739) and ``n_other``
    other records of the shared subset (metadata filtered, signals linked, not copied)."""
    out.mkdir()
    table = pd.read_csv(shared / "ptbxl_database.csv", dtype=str, keep_default_na=False)
    pick = pd.concat([table[table["ecg_id"] == "9739"], table[table["ecg_id"] != "9739"].head(n_other)])
    pick.to_csv(out / "ptbxl_database.csv", index=False)
    (out / "scp_statements.csv").write_bytes((shared / "scp_statements.csv").read_bytes())
    os.symlink(shared / "records100", out / "records100")
    return out


def test_ptbxl_to_challenge_drops_hr_records_of_training_patients(tmp_path):
    """Real data: the Challenge's copy of a PTB-XL training ECG is dropped and said so."""
    from ecgtriage.data.prepare import prepare

    ptbxl_dir, cinc_dir = shared_subdir("ptbxl"), shared_subdir("cinc2021")
    quiet = {"workers": 1, "progress": False, "log": lambda m: None}
    train = prepare(_mini_ptbxl(ptbxl_dir, tmp_path / "ptbxl"), tmp_path / "c_ptbxl", **quiet)
    cinc = prepare(cinc_dir, tmp_path / "c_cinc", **quiet)
    ids = train.index["record_id"].astype(str)
    splits = pd.DataFrame({"record_id": ids,
                           "split": np.where(np.arange(len(ids)) % 5 == 4, "test", "train")})
    splits.loc[ids == "9739", "split"] = "train"
    plan = DataPlan(train=Dataset("ptbxl", "train", train, str(ptbxl_dir)), splits=splits,
                    split_roles={}, externals=[Dataset("cinc2021", "external", cinc, str(cinc_dir))])
    sets, excluded = clean_test_sets(plan, [])
    kept = set(next(t for t in sets if t.name == "cinc2021").record_ids)
    # Every HR record whose PTB-XL ECG (hence patient) is in training is dropped; the others
    # (PTB-XL ECGs outside this subset, and all non-PTB-XL Challenge records) are kept.
    seen_patients = set(train.index.loc[ids.isin(splits.loc[splits["split"] != "test",
                                                              "record_id"]), "patient_id"])
    ptbxl_patient = dict(zip("ptbxl:" + ids, train.index["patient_id"]))
    hr = [r for r in cinc.index["record_id"] if r.startswith("HR")]
    assert len(hr) == 8
    dropped = {r for r in hr if ptbxl_patient.get(ecg_identity("challenge", r)) in seen_patients}
    assert dropped == {"HR09739"}
    assert kept == set(cinc.index["record_id"]) - dropped
    entry = next(e for e in excluded if e["dataset"] == "cinc2021")
    assert entry["n"] == 1 and entry["reason"].startswith("same ECG as a training or validation")
    assert "HR09739 is ptbxl:9739" in entry["records"][0]["reason"]
    assert "patient ptbxl:4378" in entry["records"][0]["reason"]
    # The signal fingerprint finds the same pair on its own (500 Hz .mat vs 100 Hz WFDB).
    matches = match_signals(cinc, train)
    pairs = {(cinc.index["record_id"][m.test_row], ids[m.ref_row]) for m in matches}
    assert pairs == {("HR09739", "9739")}


def test_added_fold_selection_survives_a_rerun(tmp_path):
    """``evaluate --folds`` is recorded in added_test_sets.json and restored by later runs."""
    from ecgtriage import atomic
    from ecgtriage.data.prepare import prepare
    from ecgtriage.study import run as study_mod
    from ecgtriage.study.config import load_study_config
    from ecgtriage.synth.corpus import write_ptbxl_corpus

    corpus = write_ptbxl_corpus(tmp_path / "ptbxl", 6, 3, workers=1, progress=False)
    cache = prepare(corpus, tmp_path / "cache", workers=1, progress=False, log=lambda m: None)
    study = tmp_path / "study"
    study.mkdir()
    atomic.write_json(study / study_mod.ADDED_FILE,
                      [{"name": "later", "source": str(cache.path)},
                       {"name": "later_fold10", "source": str(cache.path), "folds": [10]}])
    cfg = load_study_config(None, out=str(study))
    plain, selected = study_mod.load_added(study, cfg)
    assert not isinstance(plain, FoldSelection)
    assert isinstance(selected, FoldSelection) and selected.folds == (10,)
    with pytest.raises(ConfigError, match="--folds: expected fold numbers ≥ 1"):
        study_mod.evaluate_study(study, corpus, folds=[0])
