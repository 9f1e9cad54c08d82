"""Single-file ECG readers (``ecgtriage.io.single``) for the triage command.

DICOM files are written here with pydicom's own writer and HL7 aECG documents with
``xml.etree`` following the HL7 v3 aECG structure, independently of the reader's code; the
values read back are compared with the physical values the writers encoded.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from ecgtriage.errors import ConfigError, DataError
from ecgtriage.io.single import InputECG, find_ecg_files, read_ecg_file
from ecgtriage.leads import CANONICAL_LEADS

FS = 500.0
N = 2500


def _sines(n_leads: int = 12, n: int = N, fs: float = FS) -> np.ndarray:
    """Known signals in mV: a different frequency and amplitude per lead."""
    t = np.arange(n) / fs
    return np.stack([(0.3 + 0.1 * k) * np.sin(2 * np.pi * (1.0 + 0.5 * k) * t)
                     for k in range(n_leads)])


# ----------------------------------------------------------------------------- DICOM
def _write_dicom(path: Path, digital: np.ndarray, names, *, fs=FS, sensitivity=1.0, units="uV",
                 correction=1.0, baseline=0.0, bits=16, interpretation="SS") -> Path:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ecg_class = "1.2.840.10008.5.1.4.1.1.9.1.1"  # 12-lead ECG Waveform Storage
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ecg_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = ecg_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "ECG"
    ds.PatientSex = "F"
    ds.PatientAge = "063Y"
    group = Dataset()
    group.MultiplexGroupLabel = "RHYTHM"
    group.SamplingFrequency = fs
    group.NumberOfWaveformChannels = len(names)
    group.NumberOfWaveformSamples = digital.shape[1]
    group.WaveformBitsAllocated = bits
    group.WaveformSampleInterpretation = interpretation
    channels = []
    for name in names:
        channel = Dataset()
        source = Dataset()
        source.CodeValue = "5.6.3-9-1"
        source.CodingSchemeDesignator = "SCPECG"
        source.CodeMeaning = f"Lead {name}" + (" (Einthoven)" if name in ("I", "II", "III") else "")
        channel.ChannelSourceSequence = [source]
        channel.ChannelSensitivity = sensitivity
        unit = Dataset()
        unit.CodeValue = units
        unit.CodingSchemeDesignator = "UCUM"
        unit.CodeMeaning = {"uV": "microvolt", "mV": "millivolt"}.get(units, units)
        channel.ChannelSensitivityUnitsSequence = [unit]
        channel.ChannelSensitivityCorrectionFactor = correction
        channel.ChannelBaseline = baseline
        channel.WaveformBitsStored = bits
        channels.append(channel)
    group.ChannelDefinitionSequence = channels
    dtype = {16: "<i2", 32: "<i4"}[bits]
    group.WaveformData = np.ascontiguousarray(digital.T.astype(dtype)).tobytes()
    ds.WaveformSequence = [group]
    ds.save_as(path, enforce_file_format=True)
    return path


def test_dicom_microvolts_scaled_to_mv(tmp_path):
    mv = _sines()
    sens = 2.5  # uV per count
    digital = np.round(mv * 1000 / sens).astype(np.int16)
    path = _write_dicom(tmp_path / "ecg.dcm", digital, CANONICAL_LEADS, sensitivity=sens)
    got = read_ecg_file(path)
    assert got.format == "dicom" and got.record.fs == FS and all(got.present)
    # Within half a quantisation step (1.25 uV).
    np.testing.assert_allclose(got.record.signal, mv, atol=sens / 2 * 1e-3 + 1e-7)
    assert any("uV -> mV" in n for n in got.notes)
    assert got.record.sex == "F" and got.record.age == 63


def test_dicom_correction_factor_and_baseline_follow_the_standard(tmp_path):
    """value = count x ChannelSensitivity x ChannelSensitivityCorrectionFactor + ChannelBaseline
    (DICOM PS3.3 C.10.9.1.4), applied by pydicom's waveform_array; checked with our formula."""
    rng = np.random.default_rng(0)
    digital = rng.integers(-2000, 2000, size=(12, 400)).astype(np.int16)
    path = _write_dicom(tmp_path / "ecg.dcm", digital, CANONICAL_LEADS, sensitivity=5.0,
                        correction=0.8, baseline=12.0)
    got = read_ecg_file(path)
    expected = (digital * 5.0 * 0.8 + 12.0) * 1e-3
    np.testing.assert_allclose(got.record.signal, expected, rtol=1e-6, atol=1e-6)


def test_dicom_millivolts_and_missing_leads(tmp_path):
    names = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
    mv = _sines(len(names))
    sens = 0.005  # mV per count
    digital = np.round(mv / sens).astype(np.int16)
    got = read_ecg_file(_write_dicom(tmp_path / "ecg.dcm", digital, names, sensitivity=sens,
                                     units="mV"))
    assert got.present == tuple(lead in names for lead in CANONICAL_LEADS)
    assert got.missing_leads == ("III", "aVR", "aVL", "aVF")
    for k, name in enumerate(names):
        np.testing.assert_allclose(got.record.signal[CANONICAL_LEADS.index(name)], mv[k],
                                   atol=sens / 2 + 1e-7)
    assert not got.record.signal[CANONICAL_LEADS.index("aVR")].any()
    assert not any("-> mV" in n for n in got.notes)


def test_dicom_wrong_units_is_a_data_error_naming_the_field(tmp_path):
    digital = np.zeros((12, 100), dtype=np.int16)
    path = _write_dicom(tmp_path / "bp.dcm", digital, CANONICAL_LEADS, units="mm[Hg]")
    with pytest.raises(DataError, match=r"bp\.dcm.*ChannelSensitivityUnitsSequence.*mm\[Hg\]"):
        read_ecg_file(path)


def test_dicom_unknown_and_duplicate_leads(tmp_path):
    digital = np.zeros((2, 100), dtype=np.int16)
    with pytest.raises(DataError, match="unknown lead name 'V7'"):
        read_ecg_file(_write_dicom(tmp_path / "a.dcm", digital, ("I", "V7")))
    with pytest.raises(DataError, match="lead II appears more than once"):
        read_ecg_file(_write_dicom(tmp_path / "b.dcm", digital, ("II", "II")))


def test_dicom_not_a_dicom_file(tmp_path):
    path = tmp_path / "x.dcm"
    path.write_bytes(b"not dicom at all")
    with pytest.raises(DataError, match="x.dcm"):
        read_ecg_file(path)


# ----------------------------------------------------------------------------- HL7 aECG
HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def _write_aecg(path: Path, digits: np.ndarray, names, *, scale=5.0, unit="uV", origin=0.0,
                increment="0.002", inc_unit="s", digits_text=None) -> Path:
    """An HL7 v3 AnnotatedECG: component/series/component/sequenceSet/component/sequence."""
    ET.register_namespace("", HL7)
    ET.register_namespace("xsi", XSI)
    q = lambda tag: f"{{{HL7}}}{tag}"  # noqa: E731
    root = ET.Element(q("AnnotatedECG"))
    ET.SubElement(root, q("id"), root="1.2.3")
    series = ET.SubElement(ET.SubElement(root, q("component")), q("series"))
    ET.SubElement(series, q("code"), code="RHYTHM", codeSystem="2.16.840.1.113883.5.4")
    seq_set = ET.SubElement(ET.SubElement(series, q("component")), q("sequenceSet"))
    time_seq = ET.SubElement(ET.SubElement(seq_set, q("component")), q("sequence"))
    ET.SubElement(time_seq, q("code"), code="TIME_ABSOLUTE", codeSystem="2.16.840.1.113883.5.4")
    value = ET.SubElement(time_seq, q("value"), {f"{{{XSI}}}type": "GLIST_TS"})
    ET.SubElement(value, q("head"), value="20240101120000.000")
    ET.SubElement(value, q("increment"), value=increment, unit=inc_unit)
    for k, name in enumerate(names):
        seq = ET.SubElement(ET.SubElement(seq_set, q("component")), q("sequence"))
        ET.SubElement(seq, q("code"), code=f"MDC_ECG_LEAD_{name.upper()}",
                      codeSystem="2.16.840.1.113883.6.24")
        val = ET.SubElement(seq, q("value"), {f"{{{XSI}}}type": "SLIST_PQ"})
        ET.SubElement(val, q("origin"), value=f"{origin:g}", unit=unit)
        ET.SubElement(val, q("scale"), value=f"{scale:g}", unit=unit)
        ET.SubElement(val, q("digits")).text = (
            digits_text if digits_text is not None else " ".join(str(int(d)) for d in digits[k]))
    ET.ElementTree(root).write(path, xml_declaration=True, encoding="utf-8")
    return path


def test_aecg_microvolt_scale_round_trip(tmp_path):
    mv = _sines()
    digits = np.round(mv * 1000 / 5.0)
    got = read_ecg_file(_write_aecg(tmp_path / "a.xml", digits, CANONICAL_LEADS, scale=5.0))
    assert got.format == "aecg" and got.record.fs == pytest.approx(500.0) and all(got.present)
    np.testing.assert_allclose(got.record.signal, mv, atol=2.5e-3 + 1e-7)
    assert any("uV -> mV" in n for n in got.notes)


def test_aecg_millivolt_scale_with_origin_and_ms_increment(tmp_path):
    digits = np.tile(np.arange(-50, 50), (12, 3))
    got = read_ecg_file(_write_aecg(tmp_path / "a.xml", digits, CANONICAL_LEADS, scale=0.01,
                                    unit="mV", origin=0.2, increment="4", inc_unit="ms"))
    assert got.record.fs == pytest.approx(250.0)
    np.testing.assert_allclose(got.record.signal, 0.2 + 0.01 * digits, atol=1e-6)


def test_aecg_missing_leads(tmp_path):
    names = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
    digits = np.round(_sines(len(names)) * 200)
    got = read_ecg_file(_write_aecg(tmp_path / "a.xml", digits, names))
    assert got.missing_leads == ("III", "aVR", "aVL", "aVF")
    assert got.present_leads == names


@pytest.mark.parametrize("kwargs, match", [
    ({"unit": "mmHg"}, r"scale unit.*'mmHg'"),
    ({"digits_text": "1 2 x 4"}, r"MDC_ECG_LEAD_I.*digits: non-numeric"),
])
def test_aecg_errors_name_the_field(tmp_path, kwargs, match):
    digits = np.zeros((12, 4))
    with pytest.raises(DataError, match=match):
        read_ecg_file(_write_aecg(tmp_path / "a.xml", digits, CANONICAL_LEADS, **kwargs))


def test_aecg_unknown_lead_and_entity_bomb(tmp_path):
    with pytest.raises(DataError, match="unknown lead name 'V7'"):
        read_ecg_file(_write_aecg(tmp_path / "a.xml", np.zeros((2, 4)), ("I", "V7")))
    bomb = tmp_path / "bomb.xml"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
                    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><AnnotatedECG>&b;</AnnotatedECG>')
    with pytest.raises(DataError, match="bomb.xml"):
        read_ecg_file(bomb)


# ----------------------------------------------------------------------------- CSV / NPY
def test_csv_header_round_trip_with_renames_reorder_and_time(tmp_path):
    mv = _sines(n=300)
    order = [11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]  # V6 first
    names = [CANONICAL_LEADS[i].upper() for i in order]
    path = tmp_path / "e.csv"
    rows = [",".join(["time"] + names)]
    rows += [",".join([f"{j / FS:.4f}"] + [repr(float(mv[i, j])) for i in order]) for j in range(300)]
    path.write_text("\n".join(rows) + "\n")
    got = read_ecg_file(path, fs=FS)
    np.testing.assert_allclose(got.record.signal, mv, atol=1e-6)
    notes = " | ".join(got.notes)
    assert "AVR->aVR" in notes and "reordered" in notes and "time column dropped" in notes


def test_csv_without_header_needs_leads_and_fs(tmp_path):
    path = tmp_path / "e.csv"
    np.savetxt(path, _sines(2, n=50).T, delimiter=",")
    with pytest.raises(ConfigError, match="sampling rate"):
        read_ecg_file(path)
    with pytest.raises(ConfigError, match="leads"):
        read_ecg_file(path, fs=FS)
    got = read_ecg_file(path, fs=FS, leads=["II", "V2"])
    assert got.present_leads == ("II", "V2")
    np.testing.assert_allclose(got.record.signal[[1, 7]], _sines(2, n=50), atol=1e-6)


@pytest.mark.parametrize("text, match", [
    ("I,II\n0.1,0.2\n0.1,abc\n", r"column 'II' row 3: non-numeric value 'abc'"),
    ("I,II\n0.1,0.2\n0.1,\n", r"lead II: 1 NaN/inf sample"),
    ("I,V7\n0.1,0.2\n", r"unknown lead name 'V7'"),
    ("I,i\n0.1,0.2\n", r"lead I appears more than once"),
])
def test_csv_errors_name_file_and_field(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=match) as info:
        read_ecg_file(path, fs=FS)
    assert "bad.csv" in str(info.value)


def test_npy_both_orientations_and_errors(tmp_path):
    mv = _sines(n=200)
    np.save(tmp_path / "a.npy", mv.astype(np.float32))
    np.save(tmp_path / "b.npy", mv.T)
    for name in ("a.npy", "b.npy"):
        got = read_ecg_file(tmp_path / name, fs=FS, leads=CANONICAL_LEADS)
        np.testing.assert_allclose(got.record.signal, mv, atol=1e-6)
        assert got.format == "npy"
    assert any("transposed" in n for n in read_ecg_file(tmp_path / "b.npy", fs=FS,
                                                         leads=CANONICAL_LEADS).notes)
    with pytest.raises(ConfigError, match="fs"):
        read_ecg_file(tmp_path / "a.npy", leads=CANONICAL_LEADS)
    with pytest.raises(DataError, match="neither axis matches"):
        read_ecg_file(tmp_path / "a.npy", fs=FS, leads=["I", "II"])
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="o.npy"):
        read_ecg_file(tmp_path / "o.npy", fs=FS, leads=["I"])


def test_leads_option_refused_for_formats_that_name_leads(tmp_path):
    path = _write_aecg(tmp_path / "a.xml", np.zeros((12, 4)), CANONICAL_LEADS)
    with pytest.raises(ConfigError, match="CSV and .npy files only"):
        read_ecg_file(path, leads=CANONICAL_LEADS)
    with pytest.raises(ConfigError, match="contradicts"):
        read_ecg_file(path, fs=100.0)


# ----------------------------------------------------------------------------- SPH, WFDB
def test_sph_h5_round_trip(tmp_path):
    import h5py

    mv = _sines(n=1000).astype(np.float16)
    with h5py.File(tmp_path / "A00001.h5", "w") as handle:
        handle.create_dataset("ecg", data=mv)
    got = read_ecg_file(tmp_path / "A00001.h5")
    assert got.format == "sph" and got.record.fs == 500.0 and got.record.record_id == "A00001"
    np.testing.assert_array_equal(got.record.signal, mv.astype(np.float32))


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.realdata
def test_wfdb_ptbxl_equals_ptbxl_source():
    root = SHARED / "ptbxl"
    if not root.is_dir():
        pytest.skip(f"shared real data not available at {root}")
    from ecgtriage.io.sources import open_source

    source = open_source(root, format="ptbxl")
    rid = source.record_ids()[0]
    expected = source.read(rid)
    hea = root / (expected.extra["file"] + ".hea")
    got = read_ecg_file(hea)
    assert got.format == "wfdb" and got.record.fs == expected.fs and all(got.present)
    np.testing.assert_array_equal(got.record.signal, expected.signal)
    assert any("AVR->aVR" in n for n in got.notes)


@pytest.mark.realdata
def test_challenge_header_reads_statements():
    root = SHARED / "cinc2021"
    if not root.is_dir():
        pytest.skip(f"shared real data not available at {root}")
    from ecgtriage.io.sources import open_source

    got = read_ecg_file(root / "A0689.mat")  # the signal file leads to its header
    assert isinstance(got, InputECG) and got.path.suffix == ".hea"
    assert got.format == "challenge" and got.record.fs == 500.0 and all(got.present)
    assert got.record.statements and all(s.isdigit() for s in got.record.statements)
    expected = open_source(root, format="challenge").read("A0689")
    np.testing.assert_array_equal(got.record.signal, expected.signal)
    assert got.record.statements == expected.statements
    files = find_ecg_files(root)
    assert len(files) == len(list(root.glob("*.hea"))) and all(f.suffix == ".hea" for f in files)


# ----------------------------------------------------------------------------- find_ecg_files
def test_find_ecg_files_lists_records_not_tables(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "a.csv").write_text("I,II\n0.1,0.2\n")
    (tmp_path / "labels.csv").write_text("record,label\nx,NORM\n")
    np.save(tmp_path / "sub" / "b.npy", np.zeros((12, 10)))
    (tmp_path / ".hidden" / "c.csv").write_text("I\n0.1\n")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "other.xml").write_text("<root/>")
    assert find_ecg_files(tmp_path) == [tmp_path / "a.csv", tmp_path / "sub" / "b.npy"]
    assert find_ecg_files(tmp_path / "notes.txt") == [tmp_path / "notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no ECG files found"):
        find_ecg_files(empty)
    with pytest.raises(DataError, match="does not exist"):
        find_ecg_files(tmp_path / "nope")


# ----------------------------------------------------------------------------- reduced lead sets
def test_derive_limb_leads_from_i_and_ii_is_exact(tmp_path):
    from ecgtriage.io.single import derive_limb_leads
    from ecgtriage.synth.simulator import simulate_ecg

    full = simulate_ecg("1", FS, 4.0, np.random.default_rng(2)).astype(np.float64)
    names = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
    rows = [CANONICAL_LEADS.index(n) for n in names]
    np.save(tmp_path / "eight.npy", full[rows])
    ecg = read_ecg_file(tmp_path / "eight.npy", fs=FS, leads=names)
    assert ecg.missing_leads == ("III", "aVR", "aVL", "aVF")
    done = derive_limb_leads(ecg)
    assert all(done.present) and done.record.extra["derived_leads"] == ("III", "aVR", "aVL", "aVF")
    np.testing.assert_allclose(done.record.signal, full, atol=1e-5)
    assert "derived from I, II" in done.notes[-1]
    # from II and aVL (any two limb leads determine the rest)
    np.save(tmp_path / "two.npy", full[[1, 4]])
    two = derive_limb_leads(read_ecg_file(tmp_path / "two.npy", fs=FS, leads=["II", "aVL"]))
    np.testing.assert_allclose(two.record.signal[:6], full[:6], atol=1e-5)
    assert not two.present[6]  # precordial leads are never derived
    # one limb lead: nothing to derive
    np.save(tmp_path / "one.npy", full[[0]])
    one = read_ecg_file(tmp_path / "one.npy", fs=FS, leads=["I"])
    assert derive_limb_leads(one) is one
