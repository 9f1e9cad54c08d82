"""Issue 13 for ``prepare`` and the cache: unusable records excluded with their reason, an
edited cache refused, a full disk or read-only output told in one line with nothing left."""

from __future__ import annotations

import errno
import json
import os
import time

import numpy as np
import pytest

from ecgtriage.cli import main
from ecgtriage.data import prepare as prepare_module
from ecgtriage.data.cache import open_cache
from ecgtriage.data.prepare import prepare
from ecgtriage.data.quality import QualityLimits, quality_problem, rate_problem
from ecgtriage.errors import DataError
from test_prepare_cache import _write_sph

T = np.arange(5000) / 500.0


def _ecg(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    spikes = (np.sin(2 * np.pi * 1.2 * T) > 0.995).astype(np.float32)
    return (np.tile(spikes, (12, 1)) + 0.05 * rng.standard_normal((12, T.size))).astype(np.float32)


def _quiet(_msg):
    return None


def test_flat_and_railed_records_are_excluded_with_their_reason(tmp_path):
    # A recorder saturated at ±3 mV: about 80 % of the samples sit on a rail.
    railed = np.tile(np.clip(10.0 * np.sin(2 * np.pi * 1.0 * T), -3.0, 3.0), (12, 1)).astype(np.float32)
    records = {"good": _ecg(), "zeros": np.zeros((12, 5000), np.float32),
               "constant": np.full((12, 5000), 0.7, np.float32), "railed": railed}
    root = _write_sph(tmp_path / "sph", records)
    cache = prepare(root, tmp_path / "cache", workers=1, log=_quiet)
    assert cache.index["record_id"].tolist() == ["good"]
    reasons = cache.excluded.set_index("record_id")["reason"]
    assert reasons["zeros"].startswith("flat record") and reasons["constant"].startswith("flat record")
    assert "clipped" in reasons["railed"]
    assert cache.manifest["n_excluded"] == 3 and cache.manifest["quality"]["min_fs"] == 100.0


def test_implausible_rates_are_excluded():
    assert rate_problem(1.0).startswith("implausible sampling rate 1 Hz")
    assert rate_problem(50.0) and rate_problem(20_000.0) and rate_problem(float("nan"))
    assert rate_problem(100.0) is None and rate_problem(500.0) is None
    assert quality_problem(_ecg(), _ecg(), 0) is None
    # A clean lead whose baseline is its minimum is not "clipped".
    clean = np.tile((np.sin(2 * np.pi * 1.2 * T) > 0.99).astype(np.float32), (12, 1))
    assert quality_problem(clean, clean, 0) is None
    assert quality_problem(_ecg(), np.full((12, 10), np.nan), 0).startswith("non-finite")


def test_rate_limits_come_from_the_quality_config(tmp_path):
    root = _write_sph(tmp_path / "sph", {"a": _ecg(), "b": _ecg(2)})
    with pytest.raises(DataError, match="implausible sampling rate 500 Hz"):
        prepare(root, tmp_path / "cache", workers=1, log=_quiet,
                quality=QualityLimits(min_fs=600.0, max_fs=1000.0))


@pytest.fixture()
def cache_dir(tmp_path):
    root = _write_sph(tmp_path / "sph", {"a": _ecg(), "b": _ecg(2)})
    return prepare(root, tmp_path / "cache", workers=1, log=_quiet).path


@pytest.mark.parametrize("edit, message", [
    ({"fs": 250.0}, r"fs × seconds = 250 × 10 = 2500 samples, but n_samples is 1000"),
    ({"seconds": 5.0}, r"but n_samples is 1000"),
    ({"n_records": 5}, r"n_records 5, but index.csv has 2 rows"),
    ({"fs": "NaN"}, r"fs: expected a positive number"),
])
def test_edited_manifest_is_refused(cache_dir, edit, message):
    path = cache_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(edit)
    path.write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=message):
        open_cache(cache_dir)


@pytest.mark.parametrize("workers", [1, 2])
def test_full_disk_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys, workers):
    # More than one chunk (16 records each), so two workers really run in two processes.
    root = _write_sph(tmp_path / "sph", {f"r{i}": _ecg(i) for i in range(40)})

    def full(signals, pos, signal):
        raise OSError(errno.ENOSPC, "No space left on device", "signals.npy")

    monkeypatch.setattr(prepare_module, "_write_row", full)
    out = tmp_path / "cache"
    code = main(["prepare", str(root), "--out", str(out), "--workers", str(workers)])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "ecgtriage prepare: error: signals.npy: No space left on device"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sph"]  # no .cache.*.tmp left


def test_allocation_failure_is_an_oserror_naming_the_file(tmp_path, monkeypatch):
    def no_space(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    with pytest.raises(OSError) as info:
        prepare_module._allocate_signals(tmp_path / "s.npy", (3, 12, 100))
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(tmp_path / "s.npy")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_is_one_line(tmp_path, capsys):
    root = _write_sph(tmp_path / "sph", {"a": _ecg()})
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(["prepare", str(root), "--out", str(locked / "cache"), "--workers", "1"]) == 1
    finally:
        locked.chmod(0o700)
    assert "Permission denied" in capsys.readouterr().err


def test_file_where_a_folder_is_expected_is_one_line(tmp_path, capsys):
    root = _write_sph(tmp_path / "sph", {"a": _ecg()})
    (tmp_path / "blocker").write_text("a file")
    assert main(["prepare", str(root), "--out", str(tmp_path / "blocker" / "cache"), "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "blocker" in err and "Traceback" not in err


def test_stale_temporaries_are_cleaned_by_the_next_run(tmp_path):
    root = _write_sph(tmp_path / "sph", {"a": _ecg()})
    stale = tmp_path / ".cache.k3j4h5_2.tmp"
    (stale / "cache").mkdir(parents=True)
    (stale / "cache" / "partial-signals.npy").write_bytes(b"\0" * 100)
    old = time.time() - 3600
    os.utime(stale, (old, old))
    prepare(root, tmp_path / "cache", workers=1, log=_quiet)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "sph"]


@pytest.mark.parametrize("exc, shown", [
    (OSError(errno.EROFS, "Read-only file system", "/mnt/ro/cache"), "/mnt/ro/cache: Read-only file system"),
    (OSError(errno.ENOSPC, "No space left on device", "/data/x.npy"), "/data/x.npy: No space left on device"),
    (OSError(errno.EEXIST, "File exists", "/a", None, "/b"), "/a -> /b: File exists"),
    (FileNotFoundError("cache folder /c does not exist"), "cache folder /c does not exist"),
    (DataError("x.csv: bad"), "x.csv: bad"),
    (OSError(errno.EIO, "Input/output error", "/dev/sdz"), None),  # not a user problem: traceback
    (ValueError("a bug"), None),
])
def test_cli_shows_expected_errors_in_one_line(exc, shown):
    from ecgtriage.cli.app import one_line

    assert one_line(exc) == shown
