"""Malicious archives served over HTTP to ``ecgtriage download``: refused, nothing written.

Each archive is put where the real release would be (SPH's ``records.tar.gz`` on a figshare
stand-in, PTB-XL's zip on a PhysioNet stand-in, both on 127.0.0.1). Every case must end with
exit code 1 and a one-line message, no file outside the target (a sentinel folder beside it
is snapshotted, contents included) and no target folder at all (nothing inside it either).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from ecgtriage.cli import main
from ecgtriage.io.extract import ExtractLimits, UnsafeArchiveError, safe_extract
from test_download_extract import tar_bytes
from test_download_datasets import (  # noqa: F401 - fixtures are used by name
    TOP,
    _serve_ptbxl,
    _serve_sph,
    fake_ptbxl,
    fake_sph,
    server,
)


def _tree(root: Path) -> dict[str, bytes | str]:
    """Every path under ``root`` with its content (files), link target (links) or kind."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_file():
                out[rel] = path.read_bytes()
            else:
                out[rel] = "dir"
    return out


@pytest.fixture
def world(tmp_path: Path) -> dict:
    """``data/`` (the download's parent) beside ``sentinel/`` (what an attack would hit)."""
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    (sentinel / "keep.txt").write_text("do not touch")
    (tmp_path / "data").mkdir()
    return {"root": tmp_path, "sentinel": sentinel, "data": tmp_path / "data"}


def _assert_refused(world: dict, dataset: str, url: str, capsys, expect: str) -> str:
    before = _tree(world["root"])
    target = world["data"] / dataset
    code = main(["download", dataset, "--out", str(target), "--base-url", url])
    # A local server thread may print a dropped connection of an earlier test to stderr;
    # that is the test server's noise, not the command's output.
    err = re.sub(r"-{40}\nException occurred during processing.*?-{40}\n", "",
                 capsys.readouterr().err, flags=re.S)
    assert code == 1, err
    assert err.count("\n") == 1 and err.startswith("ecgtriage download: error: "), err
    assert expect in err, err
    after = _tree(world["root"])
    # Only the resumable downloads folder may be new; everything else is as it was.
    new = {k for k in after if k not in before}
    assert all(k.startswith("data/.downloads") for k in new), sorted(new)
    assert {k: v for k, v in after.items() if k in before} == before
    assert not target.exists()
    # No staging folder left beside the target either.
    assert sorted(p.name for p in world["data"].iterdir()) in ([], [".downloads"])
    return err


def _tar_gz(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    return tar_bytes(members, "w:gz")


def _ti(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info


def _serve_sph_tar(server, fake_sph, tar_bytes: bytes) -> str:
    _serve_sph(server, {"files": {**fake_sph["files"], "records.tar.gz": tar_bytes}})
    return f"{server.url}/v2"


def _good() -> tuple[tarfile.TarInfo, bytes]:
    # A harmless member first: it must not be left behind when a later one is refused.
    return _ti("records/A00001.h5"), b"\x89HDF fine"


def _cve_2025_4517_chain(sentinel: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """The PATH_MAX symlink chain of CVE-2025-4517 aimed at ``sentinel``.

    Nested long folder names, each paired with a one-letter symlink to it, make the short
    path ``a/b/c/...`` resolve to one longer than PATH_MAX; ``os.path.realpath`` then stops
    resolving and a lexical check believes the next link stays inside.
    """
    comp = "d" * 247
    steps = "abcdefghijklmnop"
    members: list[tuple[tarfile.TarInfo, bytes | None]] = [_good()]
    path = ""
    for step in steps:
        members.append((_ti(os.path.join(path, comp), tarfile.DIRTYPE), None))
        members.append((_ti(os.path.join(path, step), tarfile.SYMTYPE, comp), None))
        path = os.path.join(path, comp)
    linkpath = os.path.join("/".join(steps), "l" * 254)
    members.append((_ti(linkpath, tarfile.SYMTYPE, "../" * len(steps)), None))
    members.append((_ti("escape", tarfile.SYMTYPE,
                        linkpath + "/" + "../" * 8 + str(sentinel).lstrip("/")), None))
    members.append((_ti("escape/pwned.txt"), b"pwned"))
    return members


def _tar_attacks(sentinel: Path) -> dict[str, tuple[list, str]]:
    secret = sentinel / "keep.txt"
    return {
        "dotdot": ([_good(), (_ti("records/../../../sentinel/x.txt"), b"pwned")],
                   "escapes the target directory via '..'"),
        "absolute": ([_good(), (_ti(str(sentinel / "abs.txt")), b"pwned")],
                     "has an absolute path"),
        "symlink_out": ([_good(), (_ti("records/out", tarfile.SYMTYPE, str(sentinel)), None),
                         (_ti("records/out/pwned.txt"), b"pwned")],
                        "is a symbolic link"),
        "symlink_relative_out": ([_good(), (_ti("records/up", tarfile.SYMTYPE,
                                                "../../../../sentinel"), None)],
                                 "is a symbolic link"),
        "hardlink_out": ([_good(), (_ti("records/h", tarfile.LNKTYPE, str(secret)), None)],
                         "is a hard link"),
        "pathmax_chain": (_cve_2025_4517_chain(sentinel), "is a symbolic link"),
        "chardev": ([_good(), (_ti("records/null", tarfile.CHRTYPE), None)],
                    "is a device or special file"),
        "blockdev": ([_good(), (_ti("records/sda", tarfile.BLKTYPE), None)],
                     "is a device or special file"),
        "fifo": ([_good(), (_ti("records/fifo", tarfile.FIFOTYPE), None)],
                 "is a device or special file"),
        "bomb": ([_good(), (_ti("records/zeros.h5"), bytes(20 << 20))], "a zip bomb?"),
        "long_path": ([_good(), (_ti("records/" + "/".join(["p" * 250] * 20) + "/x.h5"),
                                 b"deep")], "would be written at a path longer than 4096"),
    }


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(_tar_attacks(Path("/x"))))
def test_sph_tar_attack_is_refused(case, server, fake_sph, world, capsys):
    members, expect = _tar_attacks(world["sentinel"])[case]
    url = _serve_sph_tar(server, fake_sph, _tar_gz(members))
    err = _assert_refused(world, "sph", url, capsys, expect)
    assert "records.tar.gz" in err


def _zip(entries: list[tuple[zipfile.ZipInfo | str, bytes]],
         compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        zf.writestr(f"{TOP}/ptbxl_database.csv", "ecg_id\n")
        for info, data in entries:
            zf.writestr(info, data)
    return buf.getvalue()


def _symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _crc_broken_zip() -> bytes:
    payload = b"A" * 4000
    data = bytearray(_zip([(f"{TOP}/records100/x.dat", payload)], zipfile.ZIP_STORED))
    at = bytes(data).index(payload)
    data[at + 100] ^= 0xFF  # the stored bytes no longer match the recorded CRC-32
    return bytes(data)


def _zip_attacks(sentinel: Path) -> dict[str, tuple[bytes, str]]:
    fifo = zipfile.ZipInfo(f"{TOP}/fifo")
    fifo.create_system = 3
    fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
    return {
        "dotdot": (_zip([(f"{TOP}/../../sentinel/x.txt", b"pwned")]),
                   "escapes the target directory via '..'"),
        "absolute": (_zip([(zipfile.ZipInfo(str(sentinel / "abs.txt")), b"pwned")]),
                     "has an absolute path"),
        "symlink": (_zip([(_symlink_info(f"{TOP}/records100"), str(sentinel).encode())]),
                    "is a symbolic link"),
        "fifo": (_zip([(fifo, b"")]), "is a device or special file"),
        "bomb": (_zip([(f"{TOP}/records500/zeros.dat", bytes(20 << 20))]), "a zip bomb?"),
        "crc": (_crc_broken_zip(), "Bad CRC-32"),
    }


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(_zip_attacks(Path("/x"))))
def test_ptbxl_zip_attack_is_refused(case, server, fake_ptbxl, world, capsys):
    data, expect = _zip_attacks(world["sentinel"])[case]
    _serve_ptbxl(server, {**fake_ptbxl, "zip": data})
    _assert_refused(world, "ptbxl", server.url, capsys, expect)


def test_existing_symlink_in_target_is_not_followed(world):
    # A link planted inside a target that already holds files must not carry a member out.
    target = world["data"] / "records"
    target.mkdir()
    (target / "mine.txt").write_text("user file")
    (target / "sub").symlink_to(world["sentinel"], target_is_directory=True)
    archive = world["root"] / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("new.txt", "fine")
        zf.writestr("sub/pwned.txt", "pwned")
    before = _tree(world["root"])
    with pytest.raises(UnsafeArchiveError, match=r"a\.zip: member 'sub/pwned\.txt' "):
        safe_extract(archive, target, progress=False)
    assert _tree(world["root"]) == before  # not even new.txt


def test_existing_symlink_in_target_refused_by_the_command(server, fake_sph, world, capsys):
    target = world["data"] / "sph"
    target.mkdir()
    (target / "records").symlink_to(world["sentinel"], target_is_directory=True)
    _serve_sph(server, fake_sph)
    before = _tree(world["root"])
    assert main(["download", "sph", "--out", str(target), "--base-url",
                 f"{server.url}/v2"]) == 1
    assert "already exists and was not completed" in capsys.readouterr().err
    assert _tree(world["root"]) == before


def test_limits_are_configurable(world):
    archive = world["root"] / "many.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(5):
            zf.writestr(f"f{i}.txt", "x" * 100)
    target = world["data"] / "t"
    with pytest.raises(UnsafeArchiveError, match=r"5 members exceed the limit of 4"):
        safe_extract(archive, target, progress=False, limits=ExtractLimits(max_members=4))
    with pytest.raises(UnsafeArchiveError, match=r"500 uncompressed bytes exceed the limit "
                                                  r"of 499"):
        safe_extract(archive, target, progress=False, limits=ExtractLimits(max_total_bytes=499))
    assert not target.exists()
    result = safe_extract(archive, target, progress=False, limits=ExtractLimits(max_members=5))
    assert len(result.files) == 5
    with pytest.raises(Exception, match=r"ExtractLimits\.max_ratio: expected a number >= 0"):
        ExtractLimits(max_ratio=-1)


def test_tar_bomb_refused_under_a_custom_total_limit(world):
    # The declared sizes are checked header by header, before any byte is decompressed.
    archive = world["root"] / "big.tar.gz"
    archive.write_bytes(_tar_gz([_good(), (_ti("records/z.h5"), bytes(3 << 20))]))
    with pytest.raises(UnsafeArchiveError, match=r"member 'records/z\.h5' brings the "
                                                  r"uncompressed size past the limit"):
        safe_extract(archive, world["data"] / "t", progress=False,
                     limits=ExtractLimits(max_total_bytes=1 << 20))
    assert list(world["data"].iterdir()) == []


def test_crc_mismatch_leaves_no_zero_byte_file(world):
    archive = world["root"] / "crc.zip"
    archive.write_bytes(_crc_broken_zip())
    with pytest.raises(ValueError, match=r"crc\.zip: member '.*/records100/x\.dat' is corrupt "
                                         r"or truncated: Bad CRC-32"):
        safe_extract(archive, world["data"] / "t", progress=False)
    assert list(world["data"].iterdir()) == []


def test_truncated_tar_member_leaves_nothing(world):
    plain = gzip.decompress(_tar_gz([_good(), (_ti("records/b.h5"), os.urandom(50_000))]))
    archive = world["root"] / "cut.tar"
    archive.write_bytes(plain[: len(plain) // 2])  # ends inside records/b.h5
    with pytest.raises(ValueError, match=r"cut\.tar"):
        safe_extract(archive, world["data"] / "t", progress=False)
    assert list(world["data"].iterdir()) == []


def test_real_shape_archive_still_extracts(server, fake_sph, world, capsys):
    # The refusals must not catch the honest release: same server, same command, exit 0.
    _serve_sph(server, fake_sph)
    target = world["data"] / "sph"
    assert main(["download", "sph", "--out", str(target), "--base-url",
                 f"{server.url}/v2"]) == 0
    assert sorted(p.name for p in (target / "records").iterdir()) == ["A00001.h5", "A00002.h5"]
    assert hashlib.md5((target / "metadata.csv").read_bytes()).hexdigest() == hashlib.md5(
        fake_sph["files"]["metadata.csv"]).hexdigest()
    assert _tree(world["sentinel"]) == {"keep.txt": b"do not touch"}


def test_cli_limit_defaults_match_the_library():
    from ecgtriage.cli import download as cli_download
    from ecgtriage.io.extract import DEFAULT_LIMITS

    assert cli_download.DEFAULT_MAX_GIB * (1 << 30) == DEFAULT_LIMITS.max_total_bytes
    assert cli_download.DEFAULT_MAX_RATIO == DEFAULT_LIMITS.max_ratio
    assert cli_download.DEFAULT_MAX_MEMBERS == DEFAULT_LIMITS.max_members


def test_cli_limits_reach_the_extraction(server, fake_sph, world, capsys):
    # The honest release passes the defaults but not a limit of 1 member.
    _serve_sph(server, fake_sph)
    target = world["data"] / "sph"
    argv = ["download", "sph", "--out", str(target), "--base-url", f"{server.url}/v2"]
    assert main([*argv, "--max-members", "1"]) == 1
    err = capsys.readouterr().err
    assert err == ("ecgtriage download: error: refusing to extract records.tar.gz: more than 1 "
                   "members; nothing was extracted\n")
    assert not target.exists()
    assert main([*argv, "--max-ratio", "0"]) == 1
    assert capsys.readouterr().err == ("ecgtriage download: error: --max-ratio: expected a "
                                       "positive number, found 0.0\n")
    assert main(argv) == 0


def test_binary_checksum_list_is_a_one_line_error(server, fake_ptbxl, world, capsys):
    _serve_ptbxl(server, fake_ptbxl, sums="x")
    server.routes["/files/ptb-xl/1.0.3/SHA256SUMS.txt"] = b"\xff\xfe\x00binary"
    _assert_refused(world, "ptbxl", server.url, capsys,
                    "SHA256SUMS.txt: expected a text checksum list, found bytes that are not UTF-8")


@pytest.mark.parametrize("field, value, expect", [
    ("size", "big", "a non-negative integer size"),
    ("size", -1, "a non-negative integer size"),
    ("computed_md5", 12, "expected a string download_url and md5"),
    ("download_url", None, "expected a string download_url and md5"),
    ("name", 5, "unsafe or missing file name 5"),
    ("name", "../metadata.csv", "unsafe or missing file name '../metadata.csv'"),
])
def test_malformed_figshare_listing_is_a_one_line_error(server, fake_sph, world, capsys,
                                                        field, value, expect):
    _serve_sph(server, fake_sph)
    route = "/v2/articles/17912441/files?page_size=1000"
    listing = json.loads(server.routes[route])
    listing[0][field] = value
    server.routes[route] = json.dumps(listing).encode()
    _assert_refused(world, "sph", f"{server.url}/v2", capsys, expect)
