"""``prepare`` and the cache: real PTB-XL subset, reuse, exclusions, strict mode, atomicity."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from ecgtriage.cli import main
from ecgtriage.data import prepare as prepare_module
from ecgtriage.data.cache import is_cache, open_cache
from ecgtriage.data.prepare import PrepareConfig, PrepareError, prepare
from ecgtriage.io.sources import open_source
from ecgtriage.signal.preprocess import preprocess

N_RECORDS = 20


def _small_ptbxl(shared: Path, dst: Path, n: int = N_RECORDS) -> Path:
    """The first ``n`` records of the shared PTB-XL (100 Hz files, trimmed database)."""
    dst.mkdir(parents=True)
    db = pd.read_csv(shared / "ptbxl_database.csv", dtype=str, keep_default_na=False).head(n)
    db.to_csv(dst / "ptbxl_database.csv", index=False)
    shutil.copy(shared / "scp_statements.csv", dst / "scp_statements.csv")
    for name in db["filename_lr"]:
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        for suffix in (".hea", ".dat"):
            shutil.copy(shared / (name + suffix), dst / (name + suffix))
    return dst


@pytest.fixture()
def ptbxl_subset(shared_data, tmp_path) -> Path:
    return _small_ptbxl(shared_data / "ptbxl", tmp_path / "ptbxl")


@pytest.mark.realdata
def test_prepare_real_ptbxl_subset_and_reuse(ptbxl_subset, tmp_path):
    out = tmp_path / "cache"
    messages: list[str] = []
    cache = prepare(ptbxl_subset, out, workers=1, log=messages.append)
    assert not cache.reused and messages == []
    assert cache.signals.shape == (N_RECORDS, 12, 1000) and cache.signals.dtype == np.float16
    assert sorted(p.name for p in out.iterdir()) == ["excluded.csv", "index.csv", "manifest.json", "signals.npy"]
    manifest = cache.manifest
    assert (manifest["format"], manifest["fs"], manifest["seconds"], manifest["n_samples"]) == ("ptbxl", 100.0, 10.0, 1000)
    assert manifest["n_records"] == N_RECORDS and manifest["n_excluded"] == 0
    assert manifest["preprocessing"]["band_low_hz"] == 0.5 and manifest["preprocessing"]["crop"] == "centre"
    assert len(manifest["content_hash"]) == 64 and manifest["source"] == str(ptbxl_subset.resolve())
    index = cache.index
    assert index["row"].tolist() == list(range(N_RECORDS))
    assert index["record_id"].tolist() == open_source(ptbxl_subset).record_ids()
    assert {"heart_axis", "infarction_stadium1", "scp_likelihoods", "static_noise", "pacemaker"} <= set(index.columns)
    first = index.iloc[0]
    assert (first["record_id"], first["patient_id"], first["fold"], first["statements"]) == ("1", "15709", 3, "NORM;LVOLT;SR")
    assert json.loads(first["scp_likelihoods"])["NORM"] == 100.0
    assert first["fs_source"] == 100.0 and first["n_samples_source"] == 1000
    # Each row is exactly the preprocessed record, stored as float16.
    source = open_source(ptbxl_subset)
    for rid in ("1", index["record_id"].iloc[-1]):
        row = cache.rows_for([rid])[0]
        record = source.read(rid, fs=100)
        expected = preprocess(record.signal, record.fs, PrepareConfig()).signal.astype(np.float16)
        np.testing.assert_array_equal(cache.signals[row], expected)

    stamp = (out / "signals.npy").stat().st_mtime_ns
    again = prepare(ptbxl_subset, out, workers=1, log=messages.append)
    assert again.reused and (out / "signals.npy").stat().st_mtime_ns == stamp
    assert messages == [f"reusing the existing cache at {out} (content hash {manifest['content_hash'][:12]} matches)"]

    rebuilt = prepare(ptbxl_subset, out, PrepareConfig(fs=250.0), workers=1, log=messages.append)
    assert not rebuilt.reused and rebuilt.signals.shape == (N_RECORDS, 12, 2500)


@pytest.mark.realdata
def test_corrupted_record_is_excluded_and_strict_fails(ptbxl_subset, tmp_path, capsys):
    source = open_source(ptbxl_subset)
    victim = source.record_ids()[4]
    dat = source.record_file(victim).with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:1000])
    cache = prepare(ptbxl_subset, tmp_path / "cache", workers=2, log=lambda _msg: None)
    assert len(cache) == N_RECORDS - 1 and cache.signals.shape[0] == N_RECORDS - 1
    assert victim not in set(cache.index["record_id"])
    excluded = pd.read_csv(tmp_path / "cache" / "excluded.csv", dtype=str)
    assert excluded.to_dict("records") == [{
        "record_id": victim,
        "file": str(source.record_file(victim).relative_to(ptbxl_subset)),
        "reason": f"signal file {dat}: truncated or wrong size: expected 24000 bytes (12 signals x 1000 samples, format 16), found 1000",
    }]
    # Rows after the excluded one moved up; the index still points at the right signals.
    later = cache.index["record_id"].iloc[4]
    record = source.read(later, fs=100)
    np.testing.assert_array_equal(
        cache.signals[cache.rows_for([later])[0]],
        preprocess(record.signal, record.fs, PrepareConfig()).signal.astype(np.float16),
    )

    with pytest.raises(PrepareError, match=re.escape(f"--strict: 1 record(s) of {ptbxl_subset} cannot be cached:\n  {victim} (")):
        prepare(ptbxl_subset, tmp_path / "strict", strict=True, workers=1)
    assert not (tmp_path / "strict").exists()
    code = main(["prepare", str(ptbxl_subset), "--out", str(tmp_path / "strict"), "--strict", "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 1 and f"{victim} (" in err and "truncated or wrong size" in err


@pytest.mark.realdata
def test_workers_give_the_same_cache(ptbxl_subset, tmp_path):
    one = prepare(ptbxl_subset, tmp_path / "one", workers=1)
    two = prepare(ptbxl_subset, tmp_path / "two", workers=2)
    np.testing.assert_array_equal(one.signals, two.signals)
    pd.testing.assert_frame_equal(one.index, two.index)


@pytest.mark.realdata
def test_interrupted_run_leaves_nothing_that_looks_complete(ptbxl_subset, tmp_path, monkeypatch):
    out = tmp_path / "cache"
    complete = prepare(ptbxl_subset, out, workers=1)
    old_hash = complete.manifest["content_hash"]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare_module, "_finalise_signals", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare(ptbxl_subset, out, PrepareConfig(seconds=8.0), workers=1)
    # The earlier complete cache is untouched and no partial folder is left behind.
    assert open_cache(out).manifest["content_hash"] == old_hash
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "ptbxl"]
    with pytest.raises(KeyboardInterrupt):
        prepare(ptbxl_subset, tmp_path / "fresh", workers=1)
    assert not (tmp_path / "fresh").exists()


def _write_sph(root: Path, signals: dict[str, np.ndarray]) -> Path:
    (root / "records").mkdir(parents=True)
    lines = ["ECG_ID,AHA_Code,Patient_ID,Age,Sex,N,Date"]
    for i, (rid, sig) in enumerate(signals.items()):
        lines.append(f"{rid},1,S{i},50,M,{sig.shape[1]},2020-01-01")
        with h5py.File(root / "records" / f"{rid}.h5", "w") as handle:
            handle.create_dataset("ecg", data=sig.astype(np.float16))
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    return root


def test_sph_amplitude_policy_and_window(tmp_path):
    t = np.arange(7500) / 500.0
    base = np.tile(0.5 * np.sin(2 * np.pi * 5 * t), (12, 1)).astype(np.float32)
    railed = base.copy()
    railed[2] *= 40.0  # lead III at ±20 mV
    root = _write_sph(tmp_path / "sph", {"A1": base, "A2": railed, "A3": base[:, :2000]})
    cache = prepare(root, tmp_path / "clip", workers=1, log=lambda _msg: None)
    index = cache.index.set_index("record_id")
    assert list(index.index) == ["A1", "A2"] and index.loc["A1", "n_clipped"] == 0
    assert index.loc["A2", "n_clipped"] > 0 and index.loc["A2", "n_samples_source"] == 7500
    assert float(np.abs(cache.signals[1]).max()) == 10.0
    assert cache.excluded["reason"].tolist() == ["record is 4.00 s long; records shorter than 5 s are excluded"]
    strict_amp = prepare(root, tmp_path / "exclude", PrepareConfig(amplitude_policy="exclude"), workers=1, log=lambda _msg: None)
    assert strict_amp.index["record_id"].tolist() == ["A1"]
    assert strict_amp.excluded.set_index("record_id").loc["A2", "reason"].startswith("amplitude beyond ±10 mV in lead III (peak ")
    assert strict_amp.excluded.set_index("record_id").loc["A2", "file"] == "records/A2.h5"
    # the one "cache or source?" test tells the prepared folders from the source they came from
    assert is_cache(tmp_path / "clip") and is_cache(tmp_path / "exclude") and not is_cache(root)


def test_is_cache_needs_manifest_and_signals(tmp_path):
    folder = tmp_path / "c"
    assert not is_cache(folder)  # missing folder
    folder.mkdir()
    (folder / "index.csv").write_text("record_id,row\n")
    (folder / "manifest.json").write_text("{}")
    assert not is_cache(folder)  # a manifest without signals.npy is not enough
    (folder / "signals.npy").write_bytes(b"")
    assert is_cache(folder)  # damaged, but a cache: open_cache names what is wrong
    assert not is_cache(folder / "signals.npy")  # a file is never a cache


def test_prepare_refuses_foreign_folder_and_empty_result(tmp_path):
    root = _write_sph(tmp_path / "sph", {"A1": np.zeros((12, 1000), dtype=np.float32)})
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("x")
    with pytest.raises(ValueError, match=re.escape(f"refusing to write the cache into {foreign}: it is not empty and holds no manifest.json")):
        prepare(root, foreign, workers=1)
    with pytest.raises(ValueError, match=re.escape(
        f"no record of {root} could be cached (1 excluded; first: A1: record is 2.00 s long; records shorter than 5 s are excluded)"
    )):
        prepare(root, tmp_path / "out", workers=1)


def test_open_cache_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(f"cache folder {tmp_path / 'x'} does not exist (run `ecgtriage prepare` first)")):
        open_cache(tmp_path / "x")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "signals.npy").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=re.escape(f"{tmp_path / 'half'} is not a complete ecgtriage cache: manifest.json is missing")):
        open_cache(tmp_path / "half")


def test_prepare_cli_flags(tmp_path, capsys):
    t = np.arange(5000) / 500.0
    sig = np.tile(np.sin(2 * np.pi * 3 * t), (12, 1)).astype(np.float32)
    root = _write_sph(tmp_path / "sph", {"A1": sig, "A2": sig})
    assert main(["prepare", str(root), "--out", str(tmp_path / "c"), "--fs", "500", "--seconds", "8", "--workers", "1"]) == 0
    assert f"wrote {tmp_path / 'c'}: 2 records, 0 excluded, 500 Hz x 4000 samples" in capsys.readouterr().out
    assert main(["prepare", str(root), "--out", str(tmp_path / "c"), "--fs", "500", "--seconds", "8", "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert "reused" in captured.out and "reusing the existing cache" in captured.err
    cache = open_cache(tmp_path / "c")
    assert cache.signals.shape == (2, 12, 4000)
    # A pickled cache (DataLoader workers under spawn) re-maps the file instead of copying it.
    import pickle

    blob = pickle.dumps(cache)
    assert len(blob) < cache.signals.nbytes
    clone = pickle.loads(blob)
    assert isinstance(clone.signals, np.memmap)
    np.testing.assert_array_equal(clone.signals, cache.signals)


def test_prepare_cli_config_file(tmp_path, capsys):
    sig = np.tile(np.sin(2 * np.pi * 3 * np.arange(5000) / 500.0), (12, 1)).astype(np.float32)
    root = _write_sph(tmp_path / "sph", {"A1": sig})
    good = tmp_path / "prep.toml"
    good.write_text("[prepare]\nband_high_hz = 30.0\ncrop = \"start\"\n")
    assert main(["prepare", str(root), "--out", str(tmp_path / "c"), "--config", str(good), "--workers", "1"]) == 0
    preprocessing = open_cache(tmp_path / "c").manifest["preprocessing"]
    assert preprocessing["band_high_hz"] == 30.0 and preprocessing["crop"] == "start" and preprocessing["fs"] == 100.0
    bad = tmp_path / "bad.json"
    bad.write_text('{"band_hi": 30}')
    assert main(["prepare", str(root), "--out", str(tmp_path / "d"), "--config", str(bad)]) == 1
    assert f"{bad}: unknown setting(s) band_hi; expected some of fs, seconds" in capsys.readouterr().err
