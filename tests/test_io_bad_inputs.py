"""Regression tests for the reader bugs the fuzz suite found (issue 13), one case each.

Each of these raised a bare ``TypeError``/``OverflowError``/``KeyError``/``RecursionError``
(a traceback for the user) or was accepted with a meaningless value before the fix.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from ecgtriage.errors import DataError
from ecgtriage.io.aha_code import parse_aha_code
from ecgtriage.io.base import optional_float
from ecgtriage.io.extract import safe_extract
from ecgtriage.io.ptbxl import PtbxlSource, _parse_scp_codes
from ecgtriage.io.sph import SphSource
from ecgtriage.io.wfdb_read import read_header, read_signals

WHERE = "ptbxl_database.csv row 2 (ecg_id 1)"


@pytest.mark.parametrize("text, message", [
    ("{[]: 1}", "expected a dict literal"),
    ("{" * 200 + "}" * 200, "expected a dict literal"),
    ("{'NORM': 1" + "0" * 400 + "}", "likelihood of NORM must be a finite number"),
    ("{'NORM': 1e999}", "likelihood of NORM must be a finite number"),
    ("{' ': 0.0}", "statement ' ' is empty, holds ';' or repeats another"),
    ("{'A;B': 0.0}", "statement 'A;B' is empty"),
    ("{'NORM': 1, 'NORM ': 2}", "statement 'NORM ' is empty, holds ';' or repeats another"),
])
def test_scp_codes_refused_with_a_data_error(text, message):
    with pytest.raises(DataError) as err:
        _parse_scp_codes(text, WHERE)
    assert str(err.value).startswith(f"{WHERE} scp_codes: ")
    assert message in str(err.value)


def test_scp_codes_valid_still_parse():
    assert _parse_scp_codes("{'NORM': 100.0, ' SR ': 0}", WHERE) == {"NORM": 100.0, "SR": 0.0}


@pytest.mark.parametrize("text", ["٣", "1+٣", "1" * 10, "1" * 5000])
def test_aha_code_non_ascii_or_huge_digits_refused(text):
    with pytest.raises(DataError, match=r"^AHA_Code: malformed statement"):
        parse_aha_code(text)


def test_non_finite_age_reads_as_unknown():
    assert optional_float("inf") is None and optional_float("-inf") is None
    assert optional_float("1e999") is None and optional_float("59") == 59.0


def test_sph_absurd_n_is_a_problem_row(tmp_path):
    (tmp_path / "metadata.csv").write_text(
        "ECG_ID,AHA_Code,Patient_ID,Age,Sex,N,Date\n"
        "A1,1,H1,inf,M,999999999999999999999999,2020\nA2,1,H2,50,F,5000,2020\n")
    source = SphSource(tmp_path)
    meta = source.metadata()
    assert list(meta["record_id"]) == ["A2"]
    problems = source.problems()
    assert list(problems["record_id"]) == ["A1"] and "N: expected an integer" in problems["reason"][0]


def test_ptbxl_absurd_fold_and_infinite_id_are_problem_rows(tmp_path):
    (tmp_path / "ptbxl_database.csv").write_text(
        "ecg_id,patient_id,age,sex,scp_codes,strat_fold,filename_lr\n"
        "1,inf,50,1,{},999999999999999999999999999999,records100/00000/00001_lr\n"
        "inf,7,50,1,{},1,records100/00000/00002_lr\n"
        "3,8,50,1,{},1,records100/00000/00003_lr\n")
    source = PtbxlSource(tmp_path)
    assert list(source.metadata()["record_id"]) == ["3"]
    reasons = dict(zip(source.problems()["record_id"], source.problems()["reason"]))
    assert "strat_fold: expected a fold number" in reasons["1"]
    assert "ecg_id and strat_fold must be finite integers" in reasons["inf"]


def _header(tmp_path: Path, record_line: str, signal_line: str) -> Path:
    path = tmp_path / "r.hea"
    path.write_text(f"{record_line}\n{signal_line}\n")
    (tmp_path / "r.dat").write_bytes(np.zeros(4, "<i2").tobytes())
    return path


@pytest.mark.parametrize("record_line, signal_line, message", [
    ("r 1 0 4", "r.dat 16 1000/mV 16 0 0 0 0 I", "sampling frequency must be a positive number"),
    ("r 1 nan 4", "r.dat 16 1000/mV 16 0 0 0 0 I", "sampling frequency must be a positive number"),
    ("r 1 100 -4", "r.dat 16 1000/mV 16 0 0 0 0 I", "must be >= 0"),
    ("r 1 100 4", "r.dat 999 1000/mV 16 0 0 0 0 I", "storage format 999 is not one of"),
    ("r 1 100 4", "r.dat 16 1e999/mV 16 0 0 0 0 I", "is not a finite number"),
])
def test_wfdb_header_values_checked(tmp_path, record_line, signal_line, message):
    path = _header(tmp_path, record_line, signal_line)
    with pytest.raises(DataError) as err:
        read_header(path)
    assert str(err.value).startswith(f"header file {path}: ") and message in str(err.value)


def test_wfdb_signal_file_below_the_folder_is_allowed(tmp_path):
    # Only leaving the folder is refused; a sub-folder inside it is still read.
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.dat").write_bytes(np.array([1000, 2000], "<i2").tobytes())
    (tmp_path / "r.hea").write_text("r 1 100 2\nsub/x.dat 16 1000/mV 16 0 0 3000 0 I\n")
    signal, names, _ = read_signals(tmp_path / "r.hea")
    np.testing.assert_allclose(signal, [[1.0, 2.0]])
    assert names == ["I"]


def test_extract_merges_into_an_existing_folder(tmp_path):
    target = tmp_path / "t"
    (target / "d").mkdir(parents=True)
    (target / "mine.txt").write_text("kept")
    (target / "d" / "old.txt").write_text("old")
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("d/old.txt", "new")
        zf.writestr("d/e/f.txt", "f")
    result = safe_extract(archive, target, progress=False)
    assert result.files == ("d/e/f.txt", "d/old.txt")
    assert (target / "mine.txt").read_text() == "kept"
    assert (target / "d/old.txt").read_text() == "new"
    assert (target / "d/e/f.txt").read_text() == "f"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "t"]  # no staging left


def test_sph_ecg_group_instead_of_dataset_is_a_data_error(tmp_path):
    h5py = pytest.importorskip("h5py")
    (tmp_path / "records").mkdir()
    with h5py.File(tmp_path / "records" / "A1.h5", "w") as fh:
        fh.create_group("ecg")
    (tmp_path / "metadata.csv").write_text("ECG_ID,AHA_Code,Patient_ID,Age,Sex,N,Date\n"
                                           "A1,1,H1,50,M,,2020\n")
    with pytest.raises(DataError, match=r"A1\.h5: 'ecg' is a Group, expected a \(12, n_samples\)"):
        SphSource(tmp_path).read("A1")


def test_non_utf8_tables_are_user_errors(tmp_path):
    from ecgtriage.errors import ConfigError
    from ecgtriage.labels.schemes import load_scheme

    (tmp_path / "metadata.csv").write_bytes(b"ECG_ID,AHA_Code,Patient_ID,Age,Sex\nA1,1,H\xff\xfe,5,M\n")
    with pytest.raises(DataError, match=r"metadata\.csv: not UTF-8 text \(byte \d+: invalid"):
        SphSource(tmp_path).metadata()
    (tmp_path / "s.csv").write_bytes(b"# name: s\n# version: 1\nvocabulary,statement,class\n\xff\n")
    with pytest.raises(ConfigError, match=r"s\.csv: not UTF-8 text"):
        load_scheme(tmp_path / "s.csv")


def test_challenge_header_leaving_its_folder_is_a_problem_row(tmp_path):
    from ecgtriage.io.challenge import ChallengeSource

    (tmp_path / "A1.hea").write_text(
        "A1 1 500 2\n../elsewhere/x.dat 16 1000/mV 16 0 0 0 0 I\n#Dx: 426783006\n")
    (tmp_path / "A2.hea").write_text("A2 1 500 2\nA2.dat 16 1000/mV 16 0 0 0 0 I\n#Dx: 426783006\n")
    source = ChallengeSource(tmp_path)
    assert source.record_ids() == ["A2"]
    reason = source.problems()["reason"][0]
    assert reason == (f"header file {tmp_path / 'A1.hea'}: signal line 1: file name "
                      "'../elsewhere/x.dat' leaves the record's folder; only files beside the "
                      "header (or below it) are read")
    (tmp_path / "dx_mapping_scored.csv").write_bytes(b"SNOMEDCTCode\n\xff\xfe\n")
    with pytest.raises(DataError, match=r"dx_mapping_scored\.csv: not a readable UTF-8 CSV"):
        ChallengeSource(tmp_path).metadata()


def test_implausible_rate_does_not_explode_resampling():
    from ecgtriage.io.base import make_record

    with pytest.raises(DataError, match=r"^r\.hea: resampling 4 samples from 1e-300 Hz to 100 Hz "
                                        r"would make 4e\+302 samples per lead"):
        make_record(np.zeros((12, 4), np.float32), 1e-300, 100.0, "r.hea", record_id="r",
                    patient_id=None, age=None, sex=None, statements=(), source_format="sph")
