"""Sources: format detection, the three readers on real and hand-built files, bad input."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import wfdb

from ecgtriage.io.inspect import format_summary, summarize
from ecgtriage.io.sources import detect_format, open_source
from ecgtriage.leads import CANONICAL_LEADS
from ecgtriage.signal.resample import resample

SPH_HEADER = "ECG_ID,AHA_Code,Patient_ID,Age,Sex,N,Date\n"
CODE_CSV = "Category,Code,Description\nA,1,Normal ECG\nC,22,Sinus bradycardia\nE,60,Atrial premature complexes\nModifier,310,Frequent\n"


def write_sph(root: Path, records: dict[str, tuple[np.ndarray | None, str]], flat: bool = False, codes: bool = True) -> Path:
    """An SPH folder in the release layout: metadata.csv, code.csv, records/<id>.h5 (float16)."""
    root.mkdir(parents=True, exist_ok=True)
    folder = root if flat else root / "records"
    folder.mkdir(exist_ok=True)
    lines = [SPH_HEADER.strip()]
    for i, (rid, (signal, code)) in enumerate(records.items()):
        n = 5000 if signal is None else signal.shape[1]
        lines.append(f"{rid},{code},S{i:05d},{40 + i},{'MF'[i % 2]},{n},2020-01-0{1 + i % 9}")
        if signal is not None:
            with h5py.File(folder / f"{rid}.h5", "w") as handle:
                handle.create_dataset("ecg", data=signal.astype(np.float16))
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    if codes:
        (root / "code.csv").write_text(CODE_CSV)
    return root


def _ecg(n: int = 5000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=0.3, size=(12, n)).astype(np.float32)


# -- detection ---------------------------------------------------------------------------------
def test_detect_format_and_error(tmp_path, shared_data):
    assert detect_format(shared_data / "sph") == "sph"
    assert detect_format(shared_data / "ptbxl") == "ptbxl"
    assert detect_format(shared_data / "cinc2021") == "challenge"
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=re.escape(
        f"cannot detect the format of {tmp_path}: expected metadata.csv (SPH), ptbxl_database.csv "
        "(PTB-XL) or .hea files (PhysioNet/CinC Challenge); found notes.txt"
    )):
        open_source(tmp_path)
    with pytest.raises(FileNotFoundError, match=re.escape(f"source folder {tmp_path / 'nope'} does not exist")):
        open_source(tmp_path / "nope")


# -- SPH ---------------------------------------------------------------------------------------
@pytest.mark.realdata
def test_real_sph_metadata_parses_completely(shared_data):
    source = open_source(shared_data / "sph")
    meta = source.metadata()
    assert len(meta) == 25770 and source.problems().empty
    assert (meta["statements"] == "1").sum() == 13905
    # A02322 reads "1;1" in the file; exact duplicates are dropped.
    assert meta.set_index("record_id").loc["A02322", "statements"] == "1"
    assert list(meta.columns[:6]) == ["record_id", "patient_id", "age", "sex", "statements", "fold"]
    assert set(meta["sex"]) == {"M", "F"} and meta["fold"].isna().all()
    assert meta["n_samples"].min() == 5000 and meta["n_samples"].max() == 28000
    with pytest.raises(FileNotFoundError, match=re.escape(
        f"SPH record A00001: signal file {shared_data / 'sph' / 'records' / 'A00001.h5'} does not exist"
    )):
        source.read("A00001")


@pytest.mark.parametrize("flat", [False, True])
def test_sph_reader_on_release_layout(tmp_path, flat):
    sig = _ecg(6000)
    root = write_sph(tmp_path / "sph", {"A00001": (sig, "60+310;22"), "A00002": (_ecg(5000, 1), "1;1")}, flat=flat)
    source = open_source(root)
    assert source.format == "sph" and source.record_ids() == ["A00001", "A00002"]
    record = source.read("A00001")
    assert record.fs == 500.0 and record.leads == CANONICAL_LEADS and record.signal.dtype == np.float32
    np.testing.assert_array_equal(record.signal, sig.astype(np.float16).astype(np.float32))
    assert record.statements == ("60+310", "22")
    assert (record.patient_id, record.age, record.sex) == ("S00000", 40.0, "M")
    assert source.read("A00002").statements == ("1",)
    low = source.read("A00001", fs=100)
    assert low.fs == 100.0 and low.n_samples == 1200
    np.testing.assert_allclose(low.signal, resample(record.signal, 500, 100), atol=1e-6)


def test_sph_missing_corrupt_wrong_shape_nan(tmp_path):
    nan_sig = _ecg()
    nan_sig[1, 5:8] = np.nan
    root = write_sph(tmp_path / "sph", {
        "A1": (_ecg(), "1"), "A2": (None, "1"), "A3": (_ecg(), "1"), "A4": (_ecg(), "1"), "A5": (nan_sig, "1"), "A6": (_ecg(), "1"),
    })
    rec = root / "records"
    (rec / "A3.h5").write_bytes(b"not an hdf5 file at all" * 10)
    with h5py.File(rec / "A4.h5", "w") as handle:
        handle.create_dataset("ecg", data=_ecg().T.astype(np.float16))
    data = (rec / "A6.h5").read_bytes()
    (rec / "A6.h5").write_bytes(data[: len(data) // 2])
    source = open_source(root)
    assert source.read("A1").n_samples == 5000
    with pytest.raises(FileNotFoundError, match=re.escape(
        f"SPH record A2: signal file {rec / 'A2.h5'} does not exist (nor {root / 'A2.h5'}); this folder may hold metadata only"
    )):
        source.read("A2")
    with pytest.raises(ValueError, match=re.escape(f"signal file {rec / 'A3.h5'}: not a readable HDF5 file (corrupt or truncated: ")):
        source.read("A3")
    with pytest.raises(ValueError, match=re.escape(
        f"signal file {rec / 'A4.h5'}: dataset 'ecg' has shape (5000, 12); expected (12, n_samples) with leads "
        + ", ".join(CANONICAL_LEADS)
    )):
        source.read("A4")
    with pytest.raises(ValueError, match=re.escape(f"{rec / 'A5.h5'}: signal contains 3 NaN/inf sample(s) (first in lead II)")):
        source.read("A5")
    with pytest.raises(ValueError, match=re.escape(f"signal file {rec / 'A6.h5'}: not a readable HDF5 file (corrupt or truncated: ")):
        source.read("A6")


def test_sph_length_must_match_metadata(tmp_path):
    root = write_sph(tmp_path / "sph", {"A1": (_ecg(5000), "1")})
    (root / "metadata.csv").write_text(SPH_HEADER + "A1,1,S1,50,F,6000,2020-01-01\n")
    with pytest.raises(ValueError, match=re.escape(
        f"signal file {root / 'records' / 'A1.h5'}: dataset 'ecg' has 5000 samples but metadata.csv gives N = 6000"
    )):
        open_source(root).read("A1")


def test_sph_bad_metadata_files(tmp_path):
    root = tmp_path / "sph"
    root.mkdir()
    meta = root / "metadata.csv"
    meta.write_text("")
    with pytest.raises(ValueError, match=re.escape(
        f"{meta}: file is empty; expected a header row ECG_ID,AHA_Code,Patient_ID,Age,Sex,N,Date"
    )):
        open_source(root).metadata()
    meta.write_text(SPH_HEADER)
    with pytest.raises(ValueError, match=re.escape(f"{meta}: no records (header only)")):
        open_source(root).metadata()
    meta.write_text("ECG_ID,Patient_ID,Age,Sex,N,Date\nA1,S1,50,F,5000,2020-01-01\n")
    with pytest.raises(ValueError, match=re.escape(
        f"{meta}: missing column(s) AHA_Code; expected ECG_ID, AHA_Code, Patient_ID, Age, Sex, N, Date, "
        "found ECG_ID, Patient_ID, Age, Sex, N, Date"
    )):
        open_source(root).metadata()


def test_sph_unknown_and_malformed_codes_become_problems(tmp_path):
    root = write_sph(tmp_path / "sph", {"A1": (_ecg(), "60+310"), "A2": (_ecg(), "999"), "A3": (_ecg(), "60+"), "A4": (_ecg(), "22+308")})
    source = open_source(root)
    assert source.record_ids() == ["A1"]
    problems = source.problems().set_index("record_id")
    assert problems.loc["A2", "reason"] == "metadata.csv row 3 (ECG_ID A2) AHA_Code: unknown statement code 999 in '999'"
    assert problems.loc["A3", "reason"] == (
        "metadata.csv row 4 (ECG_ID A3) AHA_Code: malformed statement '60+' in '60+'; expected CODE or CODE+MODIFIER (digits)"
    )
    assert problems.loc["A4", "reason"] == "metadata.csv row 5 (ECG_ID A4) AHA_Code: unknown modifier code 308 in '22+308'"
    assert problems.loc["A2", "file"] == "metadata.csv"
    with pytest.raises(ValueError, match=re.escape("metadata.csv row 3 (ECG_ID A2) AHA_Code: unknown statement code 999")):
        source.read("A2")
    # Without code.csv the vocabulary is open.
    (root / "code.csv").unlink()
    assert open_source(root).record_ids() == ["A1", "A2", "A4"]


# -- PTB-XL ------------------------------------------------------------------------------------
@pytest.mark.realdata
@pytest.mark.parametrize(("ecg_id", "fs", "folder"), [("1", 100, "records100/00000/00001_lr"), ("8", 100, "records100/00000/00008_lr"), ("1", 500, "records500/00000/00001_hr"), ("17", 500, "records500/00000/00017_hr")])
def test_ptbxl_reader_equals_wfdb_rdsamp_reordered(shared_data, ecg_id, fs, folder):
    source = open_source(shared_data / "ptbxl")
    record = source.read(ecg_id, fs=fs)
    expected, fields = wfdb.rdsamp(str(shared_data / "ptbxl" / folder))
    names = [n.upper() for n in fields["sig_name"]]
    order = [names.index(lead.upper()) for lead in CANONICAL_LEADS]
    assert fields["sig_name"][3] == "AVR" and record.leads[3] == "aVR"
    np.testing.assert_array_equal(record.signal, expected.T[order].astype(np.float32))
    assert record.fs == fs and record.source_format == "ptbxl"


@pytest.mark.realdata
def test_ptbxl_metadata_and_fallback_resampling(shared_data):
    source = open_source(shared_data / "ptbxl")
    meta = source.metadata().set_index("record_id")
    assert len(meta) == 5493 and source.problems().empty
    row = meta.loc["1"]
    assert row["statements"] == "NORM;LVOLT;SR" and row["patient_id"] == "15709" and row["sex"] == "F"
    assert json.loads(row["scp_likelihoods"]) == {"NORM": 100.0, "LVOLT": 0.0, "SR": 0.0}
    assert row["fold"] == 3 and row["static_noise"] == ", I-V1,"
    for column in ("heart_axis", "infarction_stadium1", "infarction_stadium2", "baseline_drift", "burst_noise", "electrodes_problems", "extra_beats", "pacemaker"):
        assert column in meta.columns
    record = source.read("8")
    assert record.extra["strat_fold"] == 9 and record.extra["heart_axis"] == "LAD"
    assert record.extra["scp_likelihoods"]["IMI"] == 35.0
    # ecg_id 143 has no 500 Hz file here: 500 Hz is resampled from 100 Hz, 250 Hz from 500 Hz when present.
    assert not (shared_data / "ptbxl" / "records500/00000/00143_hr.hea").exists()
    up = source.read("143", fs=500)
    assert up.extra["fs_source"] == 100.0 and up.n_samples == 5000
    np.testing.assert_allclose(up.signal, resample(source.read("143", fs=100).signal, 100, 500), atol=1e-6)
    mid = source.read("1", fs=250)
    assert mid.extra["fs_source"] == 500.0 and mid.n_samples == 2500


def _small_ptbxl(shared: Path, dst: Path, ids: list[int]) -> Path:
    """A PTB-XL folder holding ``ids`` (files copied, database trimmed, text kept verbatim)."""
    dst.mkdir(parents=True)
    db = pd.read_csv(shared / "ptbxl_database.csv", dtype=str, keep_default_na=False)
    db = db[db["ecg_id"].astype(int).isin(ids)]
    db.to_csv(dst / "ptbxl_database.csv", index=False)
    shutil.copy(shared / "scp_statements.csv", dst / "scp_statements.csv")
    for name in db["filename_lr"].tolist() + db["filename_hr"].tolist():
        for suffix in (".hea", ".dat"):
            src = shared / (name + suffix)
            if src.exists():
                (dst / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, dst / (name + suffix))
    return dst


@pytest.mark.realdata
def test_ptbxl_bad_scp_codes_and_missing_columns(shared_data, tmp_path):
    root = _small_ptbxl(shared_data / "ptbxl", tmp_path / "ptbxl", [1, 7, 8])
    db = pd.read_csv(root / "ptbxl_database.csv", dtype=str, keep_default_na=False)
    db.loc[1, "scp_codes"] = "{'NORM': 100.0, 'XYZ': 0.0}"
    db.loc[2, "scp_codes"] = "__import__('os')"
    db.to_csv(root / "ptbxl_database.csv", index=False)
    source = open_source(root)
    assert source.record_ids() == ["1"]
    reasons = source.problems().set_index("record_id")["reason"]
    assert reasons["7"] == "ptbxl_database.csv row 3 (ecg_id 7) scp_codes: unknown statement(s) XYZ (not in scp_statements.csv)"
    assert reasons["8"] == (
        "ptbxl_database.csv row 4 (ecg_id 8) scp_codes: expected a dict literal of statement -> likelihood "
        "such as \"{'NORM': 100.0, 'SR': 0.0}\", found \"__import__('os')\""
    )
    db.drop(columns=["scp_codes"]).to_csv(root / "ptbxl_database.csv", index=False)
    with pytest.raises(ValueError, match=re.escape(f"{root / 'ptbxl_database.csv'}: missing column(s) scp_codes; expected ecg_id, patient_id, scp_codes, age")):
        open_source(root).metadata()


# -- Challenge ---------------------------------------------------------------------------------
@pytest.mark.realdata
def test_challenge_records_with_snomed_codes(shared_data):
    source = open_source(shared_data / "cinc2021")
    assert len(source) == 23 and source.problems().empty
    record = source.read("E09657")
    assert record.statements == ("164889003", "425623009", "164934002", "164873001")
    assert (record.age, record.sex, record.fs, record.n_samples) == (66.0, "F", 500.0, 5000)
    assert source.read("A1041").n_samples == 8500
    assert source.read("HR03961").statements == ("426783006",)
    meta = source.metadata().set_index("record_id")
    for rid in source.record_ids():  # CPSC, Georgia (quirky headers) and PTB-XL-derived records
        record = source.read(rid)
        assert record.n_samples == meta.loc[rid, "n_samples"] and record.signal.shape[0] == 12
        assert ";".join(record.statements) == meta.loc[rid, "statements"]


def _write_challenge(folder: Path, name: str, leads: list[str], dx: str, age: str = "61") -> None:
    signal = np.random.default_rng(0).normal(scale=0.2, size=(5000, len(leads)))
    wfdb.wrsamp(name, fs=500, units=["mV"] * len(leads), sig_name=leads, p_signal=signal, fmt=["16"] * len(leads),
                comments=[f"Age: {age}", "Sex: Female", f"Dx: {dx}"], write_dir=str(folder))


def test_challenge_lead_set_unknown_codes_and_nan_age(tmp_path, shared_data):
    folder = tmp_path / "cinc"
    folder.mkdir()
    shutil.copy(shared_data / "cinc2021" / "dx_mapping_scored.csv", folder)
    shutil.copy(shared_data / "cinc2021" / "dx_mapping_unscored.csv", folder)
    _write_challenge(folder, "R1", list(CANONICAL_LEADS), "164889003", age="NaN")
    _write_challenge(folder, "R2", list(CANONICAL_LEADS[:11]), "164889003")
    _write_challenge(folder, "R3", list(CANONICAL_LEADS), "164889003,999999")
    source = open_source(folder)
    record = source.read("R1")
    assert record.age is None and record.sex == "F" and record.statements == ("164889003",)
    with pytest.raises(ValueError, match=re.escape(
        f"{folder / 'R2.hea'}: lead set is missing V6; expected the 12 standard leads {', '.join(CANONICAL_LEADS)}, "
        f"found {', '.join(CANONICAL_LEADS[:11])}"
    )):
        source.read("R2")
    assert source.problems()["reason"].tolist() == [
        f"header file {folder / 'R3.hea'}: #Dx: unknown SNOMED CT code(s) 999999 "
        "(not in dx_mapping_scored.csv or dx_mapping_unscored.csv)"
    ]


# -- info --------------------------------------------------------------------------------------
def test_info_summary_counts(tmp_path):
    root = write_sph(tmp_path / "sph", {"A1": (_ecg(5000), "1"), "A2": (_ecg(6000), "60+310;22"), "A3": (None, "22"), "A4": (_ecg(), "999")})
    text = format_summary(summarize(open_source(root), read_signals=True))
    assert "format: sph" in text and "records: 3" in text
    assert "sampling rates: 500 Hz: 3" in text
    assert "lengths: min 10 s, median 10 s, max 12 s" in text
    assert "signal files: 2 of 3 present" in text
    assert "label vocabulary: 3 statements (statement: records)\n  22: 2\n  1: 1\n  60+310: 1" in text
    assert "problems: 2" in text
    assert "A4: metadata.csv row 5 (ECG_ID A4) AHA_Code: unknown statement code 999 in '999'" in text
    assert f"A3: signal file {root / 'records' / 'A3.h5'} does not exist" in text


def test_info_command_exit_code(tmp_path, capsys):
    from ecgtriage.cli import main

    root = write_sph(tmp_path / "sph", {"A1": (_ecg(5000), "1")})
    assert main(["info", str(root)]) == 0
    assert "format: sph" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "missing")]) == 1
    assert f"source folder {tmp_path / 'missing'} does not exist" in capsys.readouterr().err
