"""Cross-source identity: aliases, signal fingerprints and namespaced patients.

The fingerprint must catch a training ECG renamed and re-encoded in another format (other
gain, a baseline offset, another sampling rate before caching) and must never pair two
different ECGs, even simulated ones of one patient with the same statements; patient ids of
two institutions never match by text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.io import savemat
from scipy.signal import resample_poly

from ecgtriage.data import identity
from ecgtriage.data.cache import Cache
from ecgtriage.data.identity import (
    OVERLAP_COLUMNS,
    SKETCH_FILE,
    cache_sketches,
    ecg_identity,
    find_overlap,
    patient_identity,
)
from ecgtriage.data.prepare import prepare
from ecgtriage.io.sources import open_source
from ecgtriage.leads import CANONICAL_LEADS


def make_cache(folder: Path, fmt: str, signals: np.ndarray, record_ids, patients=None,
               folds=None, fs: float = 100.0) -> Cache:
    """An in-memory cache (the layout ``prepare`` writes, without the files)."""
    folder.mkdir(parents=True, exist_ok=True)
    n = len(record_ids)
    index = pd.DataFrame({
        "record_id": [str(r) for r in record_ids], "row": np.arange(n),
        "patient_id": ["" if p is None else str(p) for p in (patients or [None] * n)],
        "fold": pd.array(folds if folds is not None else [None] * n, dtype="Int64"),
    })
    manifest = {"fs": fs, "n_samples": signals.shape[-1], "seconds": signals.shape[-1] / fs,
                "format": fmt, "content_hash": f"test-{folder.name}"}
    return Cache(folder, np.asarray(signals, dtype=np.float16), index, manifest)


def simulated(n: int, seed: int, statements=("1",), fs: float = 100.0,
              patient_seed: int | None = None) -> np.ndarray:
    """``n`` simulated 10 s 12-lead ECGs (mV); with ``patient_seed``, all of one anatomy."""
    from ecgtriage.synth.simulator import sample_patient, simulate_ecg

    out = []
    for i in range(n):
        key = [patient_seed] if patient_seed is not None else [seed, i, 0]
        out.append(simulate_ecg(list(statements), fs, 10.0, np.random.default_rng([seed, i, 1]),
                                patient=sample_patient(np.random.default_rng(key))))
    return np.stack(out).astype(np.float32)


def test_aliases_map_challenge_copies_to_ptbxl_and_namespace_patients():
    assert ecg_identity("challenge", "HR09739") == ecg_identity("ptbxl", "9739") == "ptbxl:9739"
    assert ecg_identity("challenge", "HR9739") == "challenge:HR9739"  # not the alias pattern
    assert ecg_identity("sph", "HR09739") == "sph:HR09739"  # only Challenge names are aliases
    assert patient_identity("sph", "A1", "17") != patient_identity("ptbxl", "9", 17.0)
    assert patient_identity("ptbxl", "9", 17.0) == patient_identity("ptbxl", "10", "17")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Two data sets of 150 simulated Normal ECGs each: half of them pairs of one patient."""
    root = tmp_path_factory.mktemp("identity")
    a = np.concatenate([simulated(75, 1), simulated(75, 2, patient_seed=100)])
    b = np.concatenate([simulated(75, 3), simulated(75, 4, patient_seed=100)])
    return root, a, b


def test_unrelated_records_never_match_and_a_scaled_copy_does(corpus):
    root, a, b = corpus
    train = make_cache(root / "a", "sph", a, [f"A{i:05d}" for i in range(len(a))],
                       [str(i) for i in range(len(a))])
    test = make_cache(root / "b", "challenge", b, [f"B{i:04d}" for i in range(len(b))])
    assert find_overlap(train, test).empty  # false-match rate 0 over 150 × 150 pairs
    # The same corpus with one record replaced by a copy of a training ECG at another gain
    # and with a baseline offset is caught, and only that record.
    b2 = b.copy()
    b2[10] = 5.0 * a[42] + 0.3
    test2 = make_cache(root / "b2", "challenge", b2, [f"B{i:04d}" for i in range(len(b))])
    table = find_overlap(train, test2, names=["train"])
    assert list(table.columns) == list(OVERLAP_COLUMNS)
    assert set(table["test_record"]) == {"B0010"}
    fp = table[table["kind"] == "fingerprint"].iloc[0]
    assert fp["train_record"] == "A00042" and fp["via"] == "signal"
    # The copy's patient is the training record's: the patient row says how it was found.
    pat = table[table["kind"] == "patient"].iloc[0]
    assert pat["via"] == "fingerprint" and "sph:42" in pat["detail"]


def test_patient_ids_of_two_institutions_never_match(corpus):
    root, a, b = corpus
    sph = make_cache(root / "sph17", "sph", a[:5], [f"A{i:05d}" for i in range(5)], ["17"] * 5)
    ptbxl = make_cache(root / "ptbxl17", "ptbxl", b[:5], [str(i + 1) for i in range(5)],
                       [17.0] * 5)
    assert find_overlap(sph, ptbxl).empty
    # Control: the same id inside one source is one patient.
    sph_later = make_cache(root / "sph17b", "sph", b[:5], [f"X{i}" for i in range(5)],
                           ["17.0"] * 5)
    table = find_overlap(sph, sph_later)
    assert set(table["kind"]) == {"patient"} and len(table) == 5
    assert set(table["via"]) == {"patient id"}


def test_seen_limits_matches_but_unseen_copies_bridge_to_seen_patients(corpus):
    root, a, b = corpus
    # Training source: records t1 and t2 of patient 5; only t1 was seen (t2 is internal test).
    train = make_cache(root / "bridge_train", "ptbxl", a[:3], ["1", "2", "3"], [5, 5, 6])
    test = make_cache(root / "bridge_test", "challenge",
                      np.stack([a[1] * 2.0, a[2] * 0.5, b[0]]), ["HR00009", "Z2", "Z3"])
    table = find_overlap(train, test, seen=[["1"]])
    # Z2 is a copy of an unseen record of an unseen patient: kept.
    assert set(table["test_record"]) == {"HR00009"}
    row = table.iloc[0]
    assert (row["kind"], row["via"], row["train_record"]) == ("patient", "fingerprint", "1")


def test_sketches_are_computed_once_and_stored_beside_the_cache(corpus, monkeypatch):
    root, a, _ = corpus
    cache = make_cache(root / "stored", "sph", a[:20], [f"S{i}" for i in range(20)])
    first, valid = cache_sketches(cache)
    assert (cache.path / SKETCH_FILE).is_file() and valid.all()
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-2)

    def fail(*args, **kwargs):
        raise AssertionError("sketch recomputed although stored")

    monkeypatch.setattr(identity, "signal_sketch", fail)
    again, _ = cache_sketches(cache)
    np.testing.assert_array_equal(first, again)
    # Another cache content in the same folder is not served the stored sketches.
    other = make_cache(root / "stored", "sph", a[20:40], [f"S{i}" for i in range(20)])
    other.manifest["content_hash"] = "changed"
    with pytest.raises(AssertionError, match="recomputed"):
        cache_sketches(other)


def test_flat_records_carry_no_fingerprint(corpus):
    root, a, _ = corpus
    flat = np.zeros((3, 12, 1000), np.float32)
    flat[2, :2] = a[0, :2]  # two informative leads only
    train = make_cache(root / "flat_a", "sph", flat, ["F1", "F2", "F3"])
    test = make_cache(root / "flat_b", "challenge", flat.copy(), ["G1", "G2", "G3"])
    assert find_overlap(train, test).empty


def _write_challenge(folder: Path, name: str, sig_mv: np.ndarray, fs: int, gain: float,
                     offset_mv: float) -> None:
    """One Challenge 2021 record (MATLAB v4 ``val`` + header) at ``gain`` units/mV."""
    codes = np.round((sig_mv + offset_mv) * gain).astype(np.int16)
    savemat(folder / f"{name}.mat", {"val": codes}, format="4")
    lines = [f"{name} 12 {fs} {codes.shape[1]} 01-Jan-2020 09:00:00"]
    for lead, row in zip(CANONICAL_LEADS, codes):
        checksum = int(np.int16(np.sum(row, dtype=np.int64) & 0xFFFF))
        lines.append(f"{name}.mat 16+24 {gain:g}/mV 16 0 {int(row[0])} {checksum} 0 {lead}")
    lines += ["#Age: 60", "#Sex: Male", "#Dx: 426783006", "#Rx: Unknown", "#Hx: Unknown",
              "#Sx: Unknown"]
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")


def test_renamed_reencoded_copy_of_a_training_ecg_is_caught(tmp_path):
    """PTB-XL WFDB at 100 Hz, 1000 units/mV → Challenge .mat at 500 Hz, 200 units/mV, +0.2 mV,
    under another name; both prepared by ``prepare`` into 100 Hz caches."""
    from ecgtriage.synth.corpus import write_challenge_corpus, write_ptbxl_corpus

    ptbxl = write_ptbxl_corpus(tmp_path / "ptbxl", 12, 5, workers=1, progress=False)
    cinc = write_challenge_corpus(tmp_path / "cinc", 12, 6, workers=1, progress=False)
    source = open_source(ptbxl)
    rid = source.record_ids()[4]
    original = source.read(rid, fs=100)
    assert original.fs == 100
    copy = resample_poly(original.signal, 5, 1, axis=-1)
    _write_challenge(cinc, "Q12345", copy, 500, gain=200.0, offset_mv=0.2)
    train = prepare(ptbxl, tmp_path / "c_train", workers=1, progress=False, log=lambda m: None)
    test = prepare(cinc, tmp_path / "c_test", workers=1, progress=False, log=lambda m: None)
    a = np.asarray(train.signals[train.rows_for([rid])], np.float32)
    b = np.asarray(test.signals[test.rows_for(["Q12345"])], np.float32)
    assert np.abs(a - b).max() > 1e-3  # not the same array: the copy really was re-encoded
    table = find_overlap(train, test, names=["ptbxl"])
    assert set(table["test_record"]) == {"Q12345"}
    fp = table[table["kind"] == "fingerprint"]
    assert len(fp) == 1 and fp.iloc[0]["train_record"] == rid
    corr = float(fp.iloc[0]["detail"].split("correlation ")[1].split()[0])
    assert corr >= identity.MIN_CORRELATION
