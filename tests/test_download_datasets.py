"""PTB-XL and SPH recipes end to end against a local PhysioNet / figshare stand-in."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import wfdb

from ecgtriage.cli import main
from ecgtriage.io.download import ChecksumError, DownloadError
from ecgtriage.io.download_datasets import (
    PTBXL_ZIP,
    SPH_COLLECTION_ID,
    download_ptbxl,
    download_sph,
    parse_sha256sums,
)
from test_download_http import LocalServer

ZIP_PATH = f"/static/published-projects/ptb-xl/{PTBXL_ZIP}"
SUMS_PATH = "/files/ptb-xl/1.0.3/SHA256SUMS.txt"
TOP = PTBXL_ZIP.removesuffix(".zip")
LEADS = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]


@pytest.fixture
def server():
    srv = LocalServer()
    yield srv
    srv.close()


def _signal(fs: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(rng.normal(0, 0.5, size=(fs, 12)), 3)


@pytest.fixture(scope="module")
def fake_ptbxl(tmp_path_factory) -> dict:
    """A one-record PTB-XL tree (real WFDB files), its zip and its SHA256SUMS.txt."""
    root = tmp_path_factory.mktemp("ptbxl_src") / TOP
    for rate, suffix, folder in ((100, "lr", "records100"), (500, "hr", "records500")):
        rec_dir = root / folder / "00000"
        rec_dir.mkdir(parents=True)
        wfdb.wrsamp(f"00001_{suffix}", fs=rate, units=["mV"] * 12, sig_name=LEADS,
                    p_signal=_signal(rate, rate), fmt=["16"] * 12, adc_gain=[1000.0] * 12,
                    baseline=[0] * 12, write_dir=str(rec_dir))
    (root / "ptbxl_database.csv").write_text(
        "ecg_id,patient_id,age,sex,scp_codes,strat_fold,filename_lr,filename_hr\n"
        "1,15709.0,56.0,1,\"{'NORM': 100.0, 'SR': 0.0}\",3,"
        "records100/00000/00001_lr,records500/00000/00001_hr\n"
    )
    (root / "scp_statements.csv").write_text(",description,diagnostic\nNORM,normal ECG,1.0\n")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    sums = "".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()} {p.relative_to(root).as_posix()}\n"
        for p in files
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in files:
            zf.write(p, f"{TOP}/{p.relative_to(root).as_posix()}")
        zf.writestr(f"{TOP}/SHA256SUMS.txt", sums)
    return {"root": root, "zip": buf.getvalue(), "sums": sums,
            "n_listed": len(files)}


def _serve_ptbxl(server: LocalServer, fake: dict, sums: str | None = None) -> None:
    server.routes[ZIP_PATH] = fake["zip"]
    server.routes[SUMS_PATH] = (sums or fake["sums"]).encode()


def test_ptbxl_end_to_end(server, fake_ptbxl, tmp_path):
    _serve_ptbxl(server, fake_ptbxl)
    summary = download_ptbxl(tmp_path, base_url=server.url, progress=False)
    target = tmp_path / "ptbxl"
    assert summary.path == target and not summary.already_present
    assert summary.n_verified == fake_ptbxl["n_listed"]
    for rel in ("ptbxl_database.csv", "records100/00000/00001_lr.dat",
                "records500/00000/00001_hr.hea"):
        assert (target / rel).read_bytes() == (fake_ptbxl["root"] / rel).read_bytes()
    # The extracted record reads back through wfdb with the values that were written.
    signal, fields = wfdb.rdsamp(str(target / "records100/00000/00001_lr"))
    assert fields["fs"] == 100 and fields["sig_name"] == LEADS
    np.testing.assert_allclose(signal, _signal(100, 100), atol=1e-3)
    marker = json.loads((tmp_path / ".downloads/ptbxl/complete.json").read_text())
    assert marker["version"] == "1.0.3" and marker["n_verified"] == summary.n_verified
    assert not (tmp_path / ".downloads/ptbxl" / PTBXL_ZIP).exists()  # archive cleaned up
    assert sorted(p.name for p in tmp_path.iterdir()) == [".downloads", "ptbxl"]

    n_requests = len(server.requests)
    again = download_ptbxl(tmp_path, base_url=server.url, progress=False)
    assert again.already_present and again.n_files == summary.n_files
    assert len(server.requests) == n_requests  # nothing fetched the second time


def test_ptbxl_resumes_partial_zip(server, fake_ptbxl, tmp_path):
    _serve_ptbxl(server, fake_ptbxl)
    part = tmp_path / ".downloads/ptbxl" / f"{PTBXL_ZIP}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(fake_ptbxl["zip"][:1000])
    download_ptbxl(tmp_path, base_url=server.url, progress=False, keep_archives=True)
    assert (ZIP_PATH, "bytes=1000-") in server.requests
    assert (tmp_path / ".downloads/ptbxl" / PTBXL_ZIP).read_bytes() == fake_ptbxl["zip"]
    assert (tmp_path / "ptbxl/ptbxl_database.csv").is_file()


def test_ptbxl_checksum_mismatch(server, fake_ptbxl, tmp_path):
    rel = "records100/00000/00001_lr.dat"
    actual = hashlib.sha256((fake_ptbxl["root"] / rel).read_bytes()).hexdigest()
    wrong = "0" * 64
    _serve_ptbxl(server, fake_ptbxl, sums=fake_ptbxl["sums"].replace(actual, wrong))
    with pytest.raises(ChecksumError) as err:
        download_ptbxl(tmp_path, base_url=server.url, progress=False)
    assert str(err.value) == (
        f"sha256 mismatch for {rel}: expected {wrong}, found {actual}; "
        f"deleted {PTBXL_ZIP}, rerun to download it again"
    )
    # No half-built dataset folder and no staging leftovers.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".downloads"]
    assert not (tmp_path / ".downloads/ptbxl" / PTBXL_ZIP).exists()


def test_ptbxl_corrupt_zip_is_deleted_for_a_fresh_download(server, fake_ptbxl, tmp_path):
    _serve_ptbxl(server, fake_ptbxl)
    server.routes[ZIP_PATH] = b"PK\x03\x04 this is not really a zip"
    with pytest.raises(ValueError, match=rf"^.*{PTBXL_ZIP} is neither a zip nor a tar archive; "
                                         rf"deleted {PTBXL_ZIP}, rerun to download it again$"):
        download_ptbxl(tmp_path, base_url=server.url, progress=False)
    assert not (tmp_path / ".downloads/ptbxl" / PTBXL_ZIP).exists()
    _serve_ptbxl(server, fake_ptbxl)
    assert download_ptbxl(tmp_path, base_url=server.url, progress=False).n_verified > 0


def test_ptbxl_refuses_foreign_folder(server, fake_ptbxl, tmp_path):
    _serve_ptbxl(server, fake_ptbxl)
    (tmp_path / "ptbxl").mkdir()
    (tmp_path / "ptbxl" / "mine.txt").write_text("user data")
    with pytest.raises(Exception, match=r"ptbxl already exists and was not completed by "
                                        r"'ecgtriage download'"):
        download_ptbxl(tmp_path, base_url=server.url, progress=False)
    assert (tmp_path / "ptbxl" / "mine.txt").read_text() == "user data"
    assert server.requests == []


def test_parse_sha256sums_rejects_malformed_line():
    good = "a" * 64
    assert parse_sha256sums(f"{good} RECORDS\n{good} *records100/x.dat\n") == {
        "RECORDS": good, "records100/x.dat": good}
    with pytest.raises(ValueError, match=r"^S line 2: expected '<64 hex digits> <path>', "
                                         r"found 'xyz RECORDS'$"):
        parse_sha256sums(f"{good} a\nxyz RECORDS\n", source="S")
    with pytest.raises(ValueError, match=r"^S line 1: path '../etc/passwd' points outside"):
        parse_sha256sums(f"{good} ../etc/passwd\n", source="S")


def _h5_bytes(seed: int) -> tuple[bytes, np.ndarray]:
    ecg = np.random.default_rng(seed).normal(0, 0.3, size=(12, 500)).astype(np.float16)
    buf = io.BytesIO()
    with h5py.File(buf, "w") as fh:
        fh.create_dataset("ecg", data=ecg)
    return buf.getvalue(), ecg


@pytest.fixture(scope="module")
def fake_sph() -> dict:
    """Files of a miniature SPH collection: two CSVs and records.tar.gz of two HDF5 files."""
    signals = {}
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w:gz") as tf:
        for i, record_id in enumerate(("A00001", "A00002")):
            data, signals[record_id] = _h5_bytes(i)
            info = tarfile.TarInfo(f"records/{record_id}.h5")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    files = {
        "metadata.csv": b"ECG_ID,AHA_Code,Patient_ID,Age,Sex,N,Date\n"
                        b"A00001,1,H0001,59,M,500,2020-01-01\nA00002,60+310;147,H0002,70,F,500,2020-01-02\n",
        "code.csv": b"Category,Code,Description\nA,1,Normal ECG\n"
                    b"F,60,Ventricular premature complex(es)\nL,147,T-wave abnormality\n"
                    b"Modifier,310,Frequent\n",
        "records.tar.gz": tar_buf.getvalue(),
    }
    return {"files": files, "signals": signals}


def _serve_sph(server: LocalServer, fake: dict, md5_override: dict | None = None) -> None:
    articles = []
    for article_id, names in ((17912441, ["metadata.csv"]), (17912444, ["records.tar.gz"]),
                              (17912507, ["code.csv"])):
        articles.append({"id": article_id, "title": names[0]})
        listing = []
        for k, name in enumerate(names):
            data = fake["files"][name]
            server.routes[f"/ndownloader/files/{article_id}{k}"] = data
            md5 = (md5_override or {}).get(name, hashlib.md5(data).hexdigest())
            listing.append({"id": article_id * 10 + k, "name": name, "size": len(data),
                            "computed_md5": md5, "supplied_md5": "",
                            "download_url": f"{server.url}/ndownloader/files/{article_id}{k}"})
        server.routes[f"/v2/articles/{article_id}/files?page_size=1000"] = json.dumps(listing).encode()
    server.routes[f"/v2/collections/{SPH_COLLECTION_ID}/articles?page_size=1000"] = (
        json.dumps(articles).encode())


def test_sph_end_to_end(server, fake_sph, tmp_path):
    _serve_sph(server, fake_sph)
    summary = download_sph(tmp_path, api_url=f"{server.url}/v2", progress=False)
    target = tmp_path / "sph"
    assert summary.n_verified == 3 and summary.n_files == 4
    assert (target / "metadata.csv").read_bytes() == fake_sph["files"]["metadata.csv"]
    assert (target / "code.csv").read_bytes() == fake_sph["files"]["code.csv"]
    for record_id, ecg in fake_sph["signals"].items():
        with h5py.File(target / "records" / f"{record_id}.h5", "r") as fh:
            np.testing.assert_array_equal(fh["ecg"][()], ecg)
    assert (tmp_path / ".downloads/sph/complete.json").is_file()


def test_sph_md5_mismatch_deletes_part(server, fake_sph, tmp_path):
    wrong = "f" * 32
    _serve_sph(server, fake_sph, md5_override={"metadata.csv": wrong})
    with pytest.raises(ChecksumError) as err:
        download_sph(tmp_path, api_url=f"{server.url}/v2", progress=False)
    found = hashlib.md5(fake_sph["files"]["metadata.csv"]).hexdigest()
    assert str(err.value) == (
        f"md5 mismatch for metadata.csv: expected {wrong}, found {found} "
        f"(from {server.url}/ndownloader/files/179124410; deleted, rerun to download it again)"
    )
    assert not (tmp_path / ".downloads/sph/metadata.csv.part").exists()
    assert not (tmp_path / "sph").exists()


def test_sph_missing_required_file(server, fake_sph, tmp_path):
    _serve_sph(server, fake_sph)
    server.routes["/v2/articles/17912507/files?page_size=1000"] = b"[]"
    with pytest.raises(DownloadError, match=rf"^figshare collection {SPH_COLLECTION_ID} lacks "
                                            r"code\.csv \(found: metadata\.csv, records\.tar\.gz\)$"):
        download_sph(tmp_path, api_url=f"{server.url}/v2", progress=False)


def test_cli_download_and_http_error(server, fake_ptbxl, tmp_path, capsys):
    _serve_ptbxl(server, fake_ptbxl)
    # --out is the dataset folder itself; partial downloads live beside it in .downloads.
    target = tmp_path / "data" / "my-ptbxl"
    assert main(["download", "ptbxl", "--out", str(target), "--base-url", server.url]) == 0
    assert f"in {target}" in capsys.readouterr().out
    assert (target / "ptbxl_database.csv").is_file()
    assert (tmp_path / "data" / ".downloads" / "my-ptbxl" / "complete.json").is_file()
    assert main(["download", "ptbxl", "--out", str(target), "--base-url", server.url]) == 0
    assert "already complete" in capsys.readouterr().out

    api = f"{server.url}/nowhere"
    assert main(["download", "sph", "--out", str(tmp_path / "sph"), "--base-url", api]) == 1
    assert capsys.readouterr().err == (
        f"ecgtriage download: error: HTTP 404 (Not Found) for "
        f"{api}/collections/{SPH_COLLECTION_ID}/articles?page_size=1000\n"
    )


def test_failed_download_leaves_no_empty_folder(server, tmp_path, capsys):
    # PTB-XL's checksum list is missing on this server: the run fails before any byte arrives.
    target = tmp_path / "new" / "deeper" / "ptbxl"
    assert main(["download", "ptbxl", "--out", str(target), "--base-url", server.url]) == 1
    assert "HTTP 404" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_timeout_default_matches_the_library():
    from ecgtriage.cli import download as cli_download
    from ecgtriage.io.download import DEFAULT_TIMEOUT

    assert cli_download.DEFAULT_TIMEOUT == DEFAULT_TIMEOUT


def test_sph_download_opens_with_project_reader(server, fake_sph, tmp_path):
    sources = pytest.importorskip("ecgtriage.io.sources")
    _serve_sph(server, fake_sph)
    download_sph(tmp_path, api_url=f"{server.url}/v2", progress=False)
    source = sources.open_source(tmp_path / "sph")
    assert source.format == "sph" and source.record_ids() == ["A00001", "A00002"]
    record = source.read("A00002")
    np.testing.assert_array_equal(record.signal, fake_sph["signals"]["A00002"].astype(np.float32))


@pytest.mark.realdata
def test_ptbxl_release_of_real_records_round_trips(server, shared_data, tmp_path):
    """Zip three real PTB-XL records like the PhysioNet release; the download reads back equal."""
    sources = pytest.importorskip("ecgtriage.io.sources")
    src = shared_data / "ptbxl"
    lines = (src / "ptbxl_database.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    header, rows = lines[0], lines[1:4]
    members = {"ptbxl_database.csv": (header + "".join(rows)).encode("utf-8"),
               "scp_statements.csv": (src / "scp_statements.csv").read_bytes()}
    table = list(csv.DictReader(io.StringIO(header + "".join(rows))))
    ids = [row["ecg_id"] for row in table]
    for row in table:
        for ext in (".hea", ".dat"):
            rel = row["filename_lr"] + ext
            members[rel] = (src / rel).read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for rel, data in members.items():
            zf.writestr(f"{TOP}/{rel}", data)
        zf.writestr(f"{TOP}/records500/", "")
    sums = "".join(f"{hashlib.sha256(d).hexdigest()} {rel}\n" for rel, d in members.items())
    server.routes[ZIP_PATH] = buf.getvalue()
    server.routes[SUMS_PATH] = sums.encode()
    download_ptbxl(tmp_path, base_url=server.url, progress=False)
    downloaded = sources.open_source(tmp_path / "ptbxl")
    original = sources.open_source(src)
    assert downloaded.format == "ptbxl" and downloaded.record_ids() == ids
    for rid in ids:
        np.testing.assert_array_equal(downloaded.read(rid, fs=100).signal,
                                      original.read(rid, fs=100).signal)
