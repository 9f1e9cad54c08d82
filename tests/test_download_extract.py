"""Safe extraction: malicious zip/tar members are refused before anything is written."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from ecgtriage.io.extract import UnsafeArchiveError, safe_extract


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w") -> bytes:
    """A tar archive (GNU format, so long names survive) of hand-made members."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.GNU_FORMAT) as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return buf.getvalue()


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w") -> Path:
    path.write_bytes(tar_bytes(members, mode))
    return path


def _info(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o644
    return info


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, Path]:
    """(work folder holding the archive, extraction target inside it)."""
    work = tmp_path / "work"
    work.mkdir()
    return work, work / "target"


def _assert_refused(archive: Path, target: Path, message: str, **kwargs) -> None:
    parent = archive.parent.parent
    before = _snapshot(parent)
    with pytest.raises(UnsafeArchiveError) as err:
        safe_extract(archive, target, **kwargs)
    assert str(err.value) == message
    # Nothing anywhere: not outside the target, and not even the safe members inside it.
    assert _snapshot(parent) == before


def test_zip_with_top_folder_is_flattened(sandbox):
    work, target = sandbox
    archive = work / "release.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("release-1.0/", "")
        zf.writestr("release-1.0/a.csv", "x,y\n1,2\n")
        zf.writestr("release-1.0/records100/00000/00001_lr.dat", b"\x01\x02\x03")
    result = safe_extract(archive, target, strip_top_dir=True, progress=False)
    assert result.stripped == "release-1.0"
    assert result.files == ("a.csv", "records100/00000/00001_lr.dat")
    assert (target / "a.csv").read_text() == "x,y\n1,2\n"
    assert (target / "records100/00000/00001_lr.dat").read_bytes() == b"\x01\x02\x03"


def test_zip_without_common_top_is_not_stripped(sandbox):
    work, target = sandbox
    archive = work / "flat.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a/x.txt", "1")
        zf.writestr("b.txt", "2")
    result = safe_extract(archive, target, strip_top_dir=True, progress=False)
    assert result.stripped is None
    assert (target / "a/x.txt").read_text() == "1" and (target / "b.txt").read_text() == "2"


def test_zip_dotdot_member_refused(sandbox):
    work, target = sandbox
    archive = work / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr("../evil", "pwned")
    _assert_refused(
        archive, target,
        "refusing to extract evil.zip: member '../evil' escapes the target directory via '..'; "
        "nothing was extracted",
    )
    assert not (work.parent / "evil").exists()


def test_zip_absolute_member_refused(sandbox):
    work, target = sandbox
    archive = work / "abs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo("/tmp/abs.txt"), "pwned")
    _assert_refused(
        archive, target,
        "refusing to extract abs.zip: member '/tmp/abs.txt' has an absolute path; "
        "nothing was extracted",
    )


def test_zip_symlink_member_refused(sandbox):
    work, target = sandbox
    archive = work / "link.zip"
    info = zipfile.ZipInfo("data/link")
    info.create_system = 3  # unix, so the mode bits in external_attr are meaningful
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info, "../../etc/passwd")
    _assert_refused(
        archive, target,
        "refusing to extract link.zip: member 'data/link' is a symbolic link "
        "(links are not allowed in dataset archives); nothing was extracted",
    )


def test_tar_absolute_member_refused(sandbox):
    work, target = sandbox
    archive = _tar(work / "abs.tar", [(_info("ok.txt"), b"fine"), (_info("/tmp/evil.txt"), b"x")])
    with tarfile.open(archive) as tf:  # the fixture really carries the absolute name
        assert "/tmp/evil.txt" in tf.getnames()
    _assert_refused(
        archive, target,
        "refusing to extract abs.tar: member '/tmp/evil.txt' has an absolute path; "
        "nothing was extracted",
    )


def test_tar_symlink_escaping_refused(sandbox):
    work, target = sandbox
    archive = _tar(work / "evil.tar.gz", [
        (_info("records/A00001.h5"), b"h5"),
        (_info("records/link", tarfile.SYMTYPE, "../../outside.txt"), None),
        # A second member that would write through the link if it were created.
        (_info("records/link/payload"), b"pwned"),
    ], mode="w:gz")
    _assert_refused(
        archive, target,
        "refusing to extract evil.tar.gz: member 'records/link' is a symbolic link to "
        "'../../outside.txt' (links are not allowed in dataset archives); nothing was extracted",
    )
    assert not (work / "outside.txt").exists()


def test_tar_absolute_symlink_refused(sandbox):
    work, target = sandbox
    archive = _tar(work / "abslink.tar", [(_info("passwd", tarfile.SYMTYPE, "/etc/passwd"), None)])
    _assert_refused(
        archive, target,
        "refusing to extract abslink.tar: member 'passwd' is a symbolic link to '/etc/passwd' "
        "(links are not allowed in dataset archives); nothing was extracted",
    )


def test_tar_symlink_inside_the_archive_is_refused_too(sandbox):
    # Even a link that stays inside the archive is refused: dataset archives need none, and
    # a link is what lets a later member be written somewhere its name does not say.
    work, target = sandbox
    archive = _tar(work / "inner.tar", [
        (_info("top/a.txt"), b"a"),
        (_info("top/link", tarfile.SYMTYPE, "a.txt"), None),
    ])
    _assert_refused(
        archive, target,
        "refusing to extract inner.tar: member 'top/link' is a symbolic link to 'a.txt' "
        "(links are not allowed in dataset archives); nothing was extracted",
        strip_top_dir=True,
    )


def test_tar_hardlink_escaping_refused(sandbox):
    work, target = sandbox
    archive = _tar(work / "hard.tar", [(_info("h", tarfile.LNKTYPE, "../secret"), None)])
    _assert_refused(
        archive, target,
        "refusing to extract hard.tar: member 'h' is a hard link to '../secret' (links are "
        "not allowed in dataset archives); nothing was extracted",
    )


def test_tar_device_refused(sandbox):
    work, target = sandbox
    archive = _tar(work / "dev.tar", [(_info("dev/null", tarfile.CHRTYPE), None)])
    _assert_refused(
        archive, target,
        "refusing to extract dev.tar: member 'dev/null' is a device or special file; "
        "nothing was extracted",
    )


def test_tar_plain_members_and_stripping(sandbox):
    work, target = sandbox
    archive = _tar(work / "good.tar.gz", [
        (_info("records", tarfile.DIRTYPE), None),
        (_info("records/A00001.h5"), b"first"),
        (_info("records/sub", tarfile.DIRTYPE), None),
        (_info("records/sub/A00002.h5"), b"second"),
    ], mode="w:gz")
    result = safe_extract(archive, target, strip_top_dir=True, progress=False)
    assert result.stripped == "records"
    assert result.files == ("A00001.h5", "sub/A00002.h5")
    assert (target / "A00001.h5").read_bytes() == b"first"
    assert (target / "sub/A00002.h5").read_bytes() == b"second"
    # Only the target appeared beside the archive: the staging folder is gone.
    assert sorted(p.name for p in work.iterdir()) == ["good.tar.gz", "target"]


def test_tar_hardlink_inside_the_archive_is_refused(sandbox):
    work, target = sandbox
    archive = _tar(work / "hard_in.tar", [
        (_info("a.h5"), b"first"),
        (_info("copy.h5", tarfile.LNKTYPE, "a.h5"), None),
    ])
    _assert_refused(
        archive, target,
        "refusing to extract hard_in.tar: member 'copy.h5' is a hard link to 'a.h5' (links "
        "are not allowed in dataset archives); nothing was extracted",
    )


def test_not_an_archive(sandbox):
    work, target = sandbox
    bogus = work / "notes.zip"
    bogus.write_text("just text")
    with pytest.raises(ValueError, match=r"notes\.zip is neither a zip nor a tar archive$"):
        safe_extract(bogus, target)
