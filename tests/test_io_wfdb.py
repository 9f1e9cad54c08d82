"""WFDB reading: the numpy fast path equals wfdb.rdsamp on real records; bad files are named.

Real records come from ../shared/data (PTB-XL v1.0.1 records100/records500, CinC 2021).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgtriage.io.wfdb_read import read_header, read_signals

pytestmark = pytest.mark.realdata

PTBXL_100 = ["records100/00000/00001_lr", "records100/00000/00008_lr", "records100/00000/00017_lr"]
PTBXL_500 = ["records500/00000/00001_hr", "records500/00000/00022_hr", "records500/00000/00105_hr"]


@pytest.mark.parametrize("name", PTBXL_100 + PTBXL_500)
def test_fast_path_equals_wfdb_rdsamp(shared_data, name):
    base = shared_data / "ptbxl" / name
    signal, names, header = read_signals(base.with_suffix(".hea"))
    expected, fields = wfdb.rdsamp(str(base))
    assert names == fields["sig_name"]
    assert header.fs == fields["fs"]
    np.testing.assert_array_equal(signal, expected.T)


@pytest.mark.parametrize("name", ["A0689", "A1041", "HR03961"])
def test_challenge_mat_records_equal_wfdb_rdsamp(shared_data, name):
    base = shared_data / "cinc2021" / name
    signal, names, _ = read_signals(base.with_suffix(".hea"))
    expected, fields = wfdb.rdsamp(str(base))
    assert names == fields["sig_name"]
    np.testing.assert_array_equal(signal, expected.T)


def test_georgia_header_with_extension_in_record_name(shared_data, tmp_path):
    # The 2020 Georgia headers read "E00271.mat 12 500 5000 ...", which wfdb.rdheader rejects.
    src = shared_data / "cinc2021"
    with pytest.raises(ValueError):
        wfdb.rdheader(str(src / "E00271"))
    signal, names, header = read_signals(src / "E00271.hea")
    fixed = tmp_path / "E00271.hea"
    text = (src / "E00271.hea").read_text().splitlines()
    text[0] = text[0].replace("E00271.mat", "E00271", 1)
    fixed.write_text("\n".join(text) + "\n")
    shutil.copy(src / "E00271.mat", tmp_path / "E00271.mat")
    expected, _ = wfdb.rdsamp(str(tmp_path / "E00271"))
    np.testing.assert_array_equal(signal, expected.T)
    assert header.fs == 500 and header.sig_len == 5000 and "Dx: 59118001" in header.comments


def _copy_record(src_base: Path, dst_dir: Path) -> Path:
    for suffix in (".hea", ".dat"):
        shutil.copy(src_base.with_suffix(suffix), dst_dir / (src_base.name + suffix))
    return dst_dir / (src_base.name + ".hea")


def test_truncated_dat_is_named(shared_data, tmp_path):
    hea = _copy_record(shared_data / "ptbxl" / PTBXL_100[0], tmp_path)
    dat = hea.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:5000])
    with pytest.raises(ValueError, match=re.escape(
        f"signal file {dat}: truncated or wrong size: expected 24000 bytes (12 signals x 1000 "
        "samples, format 16), found 5000"
    )):
        read_signals(hea)


def test_corrupted_samples_fail_the_checksum(shared_data, tmp_path):
    hea = _copy_record(shared_data / "ptbxl" / PTBXL_100[0], tmp_path)
    dat = hea.with_suffix(".dat")
    data = bytearray(dat.read_bytes())
    data[0:2] = (12345).to_bytes(2, "little", signed=True)  # first sample of lead I
    dat.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=re.escape(f"signal file {dat}: checksum mismatch in lead I (header 1508, data ")):
        read_signals(hea)


def test_missing_signal_file_is_named(shared_data, tmp_path):
    hea = _copy_record(shared_data / "ptbxl" / PTBXL_100[0], tmp_path)
    hea.with_suffix(".dat").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(
        f"signal file {hea.with_suffix('.dat')} does not exist (named in {hea})"
    )):
        read_signals(hea)


def test_malformed_header_is_named(tmp_path):
    hea = tmp_path / "bad.hea"
    hea.write_text("bad 12 500 5000\nbad.dat 16 1000/mV 16 0 0 0 0 I\n")
    with pytest.raises(ValueError, match=re.escape(
        f"header file {hea}: record line declares 12 signals but 1 signal line(s) follow"
    )):
        read_header(hea)


def test_non_fast_path_formats_go_through_wfdb(tmp_path):
    rng = np.random.default_rng(3)
    signal = rng.normal(scale=0.5, size=(2000, 12))
    names = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    wfdb.wrsamp("rec", fs=500, units=["uV"] * 12, sig_name=names, p_signal=signal * 1000,
                fmt=["212"] * 12, adc_gain=[1.0] * 12, baseline=[0] * 12, write_dir=str(tmp_path))
    out, got_names, header = read_signals(tmp_path / "rec.hea")
    assert got_names == names and header.signals[0].fmt == "212"
    # 212 stores integers of 1 µV, read back in mV.
    np.testing.assert_allclose(out, signal.T, atol=1e-3)
