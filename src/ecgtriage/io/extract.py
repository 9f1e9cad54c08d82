"""Safe extraction of zip and tar(.gz/.bz2/.xz) archives downloaded from the internet.

The dataset archives this project fetches (PTB-XL's zip, SPH's ``records.tar.gz``) hold only
plain files and folders, so anything else is treated as an attack, not as a feature to
support. The whole member list is checked **before anything is written**; the first unsafe
member aborts the extraction with :class:`UnsafeArchiveError` naming the archive and the
member:

- an absolute path (``/etc/x``, ``C:\\x``) or a path with a ``..`` component;
- any symbolic link or hard link (a link is the only way a later member can be written
  through an earlier one, which is how the CVE-2025-4517 ``PATH_MAX`` chain escapes checks
  that only look at names);
- a device, FIFO or other special file;
- a member whose resolved destination (``os.path.realpath``) is not inside the resolved
  target, a path longer than the system allows, a name given twice, or a file where
  another member needs a folder;
- encrypted or unsupported-compression zip members;
- more members, more uncompressed bytes or a higher compression ratio than
  :class:`ExtractLimits` allows (zip bombs).

Extraction then writes into a fresh temporary folder beside ``target`` (so nothing that
already exists can redirect a write) with ``O_EXCL | O_NOFOLLOW``, and moves the result into
``target`` only when every member was written and passed its CRC. Any failure removes the
temporary folder: a refused or corrupt archive leaves nothing behind, not even a 0-byte
file. When ``target`` already holds files, a path component under it that is a symbolic
link is refused before anything is moved, so a link planted there cannot redirect a file.

``strip_top_dir=True`` flattens an archive whose members all sit under one top folder
(the PhysioNet zip's ``ptb-xl-a-large-...-1.0.3/``): that folder's contents land directly in
``target``. Checks are applied to the paths after stripping.
"""

from __future__ import annotations

import lzma
import os
import re
import shutil
import stat
import struct
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ecgtriage.errors import DataError, UserError

_DRIVE = re.compile(r"^[A-Za-z]:")
_CHUNK = 1 << 20
#: Longest path and file name the extraction will create; Linux's PATH_MAX and NAME_MAX.
#: Checked up front so that a too-long name is refused, not half-written.
_PATH_MAX = 4096
_NAME_MAX = 255
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
#: What a corrupt or truncated compressed stream raises while it is read.
_READ_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError,
                OSError, struct.error, ValueError, NotImplementedError, RuntimeError)


class UnsafeArchiveError(UserError):
    """An archive member would write outside the target, is not a plain file/folder, or
    exceeds the :class:`ExtractLimits`."""


@dataclass(frozen=True)
class ExtractLimits:
    """Upper bounds an archive must respect before a byte is extracted.

    The defaults leave ample room for the real releases (SPH's ``records.tar.gz`` expands to
    a few GB, PTB-XL's zip to about 3 GB, with ratios below 10) and stop a bomb long before
    it fills a disk.

    Attributes
    ----------
    max_total_bytes : total uncompressed size of all members (default 64 GiB).
    max_members : number of members (default one million; PTB-XL has about 44 000).
    max_ratio : uncompressed / compressed size, per zip member and for the whole archive.
    ratio_floor_bytes : the ratio is only enforced above this uncompressed size, so that a
        small, highly compressible file (a CSV of zeros) in a legitimate archive is not
        mistaken for a bomb.
    """

    max_total_bytes: int = 64 << 30
    max_members: int = 1_000_000
    max_ratio: float = 200.0
    ratio_floor_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        for name in ("max_total_bytes", "max_members", "max_ratio", "ratio_floor_bytes"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise UserError(f"ExtractLimits.{name}: expected a number >= 0, found {value!r}")


DEFAULT_LIMITS = ExtractLimits()


@dataclass(frozen=True)
class ExtractResult:
    """What :func:`safe_extract` wrote.

    Attributes
    ----------
    files : relative POSIX paths (after stripping) of the regular files written, sorted.
    stripped : the top folder that was flattened away, or ``None``.
    """

    files: tuple[str, ...]
    stripped: str | None


@dataclass(frozen=True)
class _Member:
    """A validated member: where it goes (components after stripping) and what it is."""

    name: str
    rel: tuple[str, ...]
    is_dir: bool
    size: int
    ref: object  # the ZipInfo or TarInfo to read it from


def safe_extract(
    archive: str | os.PathLike,
    target: str | os.PathLike,
    *,
    strip_top_dir: bool = False,
    progress: bool = True,
    limits: ExtractLimits | None = None,
) -> ExtractResult:
    """Extract a zip or tar archive into ``target`` without letting any member escape it.

    Parameters
    ----------
    archive : path of a ``.zip`` or tar (optionally gz/bz2/xz-compressed) file; the format
        is detected from the content, not the name.
    target : destination folder, created if missing.
    strip_top_dir : flatten a single top-level folder shared by every member.
    progress : tqdm bar over the bytes written.
    limits : size, count and ratio bounds (default :data:`DEFAULT_LIMITS`).

    Raises
    ------
    UnsafeArchiveError : a member is unsafe or a limit is exceeded (message names archive,
        member and reason); nothing is written in that case.
    DataError : the file is not a readable zip or tar archive, or a member is corrupt or
        truncated (CRC mismatch); nothing is left behind in that case either.
    """
    archive = Path(archive)
    limits = limits or DEFAULT_LIMITS
    try:
        is_zip = zipfile.is_zipfile(archive)
        is_tar = not is_zip and tarfile.is_tarfile(archive)
    except FileNotFoundError:
        raise
    except _READ_ERRORS as exc:
        raise DataError(f"{archive} is not a readable archive: {exc}") from None
    if not (is_zip or is_tar):
        raise DataError(f"{archive} is neither a zip nor a tar archive")
    # The target itself is resolved once: a user's symlinked data folder is honoured, and
    # every member is then compared with this one real location.
    root = Path(os.path.realpath(target))
    if root.exists() and not root.is_dir():
        raise DataError(f"cannot extract {archive.name}: {target} exists and is not a folder")
    if is_zip:
        return _extract(archive, root, strip_top_dir, progress, limits, _ZipReader(archive))
    return _extract(archive, root, strip_top_dir, progress, limits, _TarReader(archive))


def _refuse(archive: Path, member: str, reason: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"refusing to extract {archive.name}: member {member!r} {reason}; nothing was extracted"
    )


def _split(archive: Path, name: str) -> list[str]:
    """Path components of a member name, refusing absolute paths and ``..``."""
    if "\x00" in name:
        raise _refuse(archive, name, "has a NUL byte in its name")
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise _refuse(archive, name, "has an absolute path")
    parts = [p for p in re.split(r"[/\\]", name) if p not in ("", ".")]
    if ".." in parts:
        raise _refuse(archive, name, "escapes the target directory via '..'")
    return parts


def _common_top(all_parts: list[list[str]]) -> str | None:
    tops = {parts[0] for parts in all_parts if parts}
    if len(tops) == 1 and any(len(parts) > 1 for parts in all_parts):
        return tops.pop()
    return None


class _ZipReader:
    """Member listing and streaming for zip files, errors mapped to :class:`DataError`."""

    def __init__(self, archive: Path) -> None:
        self.archive = archive
        try:
            self.zf = zipfile.ZipFile(archive)
            self.infos = self.zf.infolist()
        except _READ_ERRORS as exc:
            raise DataError(f"{archive} is not a readable zip archive: {exc}") from None

    def members(self, limits: ExtractLimits):
        """Yield ``(name, is_dir, size)``; refuse links, special files and bombs."""
        archive = self.archive
        if len(self.infos) > limits.max_members:
            raise UnsafeArchiveError(
                f"refusing to extract {archive.name}: {len(self.infos)} members exceed the "
                f"limit of {limits.max_members}; nothing was extracted"
            )
        for info in self.infos:
            kind = stat.S_IFMT(info.external_attr >> 16)
            if kind == stat.S_IFLNK:
                raise _refuse(archive, info.filename, "is a symbolic link (links are not "
                              "allowed in dataset archives)")
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise _refuse(archive, info.filename, "is a device or special file")
            if info.flag_bits & 0x1:
                raise _refuse(archive, info.filename, "is encrypted")
            if info.compress_type not in _ZIP_METHODS:
                raise _refuse(archive, info.filename,
                              f"uses unsupported compression method {info.compress_type}")
            size = 0 if info.is_dir() else info.file_size
            if size > limits.ratio_floor_bytes and (
                info.compress_size == 0 or size / info.compress_size > limits.max_ratio
            ):
                ratio = size / info.compress_size if info.compress_size else float("inf")
                raise _refuse(archive, info.filename,
                              f"expands {ratio:.0f}x ({size} bytes), over the limit of "
                              f"{limits.max_ratio:g}x (a zip bomb?)")
            yield info.filename, info.is_dir(), size, info

    def open(self, ref):
        return self.zf.open(ref)

    def close(self) -> None:
        self.zf.close()


class _TarReader:
    """Member listing and streaming for tar files, errors mapped to :class:`DataError`."""

    def __init__(self, archive: Path) -> None:
        self.archive = archive
        try:
            self.tf = tarfile.open(archive, "r:*")
        except _READ_ERRORS as exc:
            raise DataError(f"{archive} is not a readable tar archive: {exc}") from None

    def members(self, limits: ExtractLimits):
        """Yield ``(name, is_dir, size)``; refuse links, special files and oversize content.

        Headers are read one by one so that a bomb is refused as soon as the declared sizes
        pass the limit, without decompressing the rest of it.
        """
        archive = self.archive
        count = total = 0
        while True:
            try:
                member = self.tf.next()
            except _READ_ERRORS as exc:
                raise DataError(f"{archive} is not a readable tar archive: {exc}") from None
            if member is None:
                return
            count += 1
            if count > limits.max_members:
                raise UnsafeArchiveError(
                    f"refusing to extract {archive.name}: more than {limits.max_members} "
                    "members; nothing was extracted"
                )
            if member.issym() or member.islnk():
                kind = "symbolic" if member.issym() else "hard"
                raise _refuse(archive, member.name,
                              f"is a {kind} link to {member.linkname!r} (links are not "
                              "allowed in dataset archives)")
            if not (member.isreg() or member.isdir()):
                raise _refuse(archive, member.name, "is a device or special file")
            size = member.size if member.isreg() else 0
            total += size
            if total > limits.max_total_bytes:
                raise _refuse(archive, member.name,
                              f"brings the uncompressed size past the limit of "
                              f"{limits.max_total_bytes} bytes")
            yield member.name, member.isdir(), size, member

    def open(self, ref):
        handle = self.tf.extractfile(ref)
        if handle is None:
            raise DataError(f"{self.archive}: member {ref.name!r} has no readable content")
        return handle

    def close(self) -> None:
        self.tf.close()


def _extract(archive: Path, root: Path, strip_top_dir: bool, progress: bool,
             limits: ExtractLimits, reader) -> ExtractResult:
    try:
        listed = list(reader.members(limits))
        members, top = _validate(archive, root, listed, strip_top_dir, limits)
        _check_existing(archive, root, members)
        stage = _write_stage(archive, root, members, reader, progress, limits)
    finally:
        reader.close()
    try:
        _move_into_place(archive, stage / "t", root, members)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    files = sorted("/".join(m.rel) for m in members if not m.is_dir)
    return ExtractResult(files=tuple(files), stripped=top)


def _validate(archive: Path, root: Path, listed: list, strip_top_dir: bool,
              limits: ExtractLimits) -> tuple[list[_Member], str | None]:
    """Check names, destinations, duplicates and total size of every member."""
    all_parts = [_split(archive, name) for name, *_ in listed]
    top = _common_top(all_parts) if strip_top_dir else None
    members: list[_Member] = []
    files: dict[tuple[str, ...], str] = {}
    dirs: set[tuple[str, ...]] = set()
    total = 0
    root_str = str(root)
    for (name, is_dir, size, ref), parts in zip(listed, all_parts):
        rel = tuple(parts[1:] if top is not None and parts and parts[0] == top else parts)
        if not rel:
            if not is_dir:
                raise _refuse(archive, name, "is a file where a folder is expected")
            continue
        if any(len(os.fsencode(p)) > _NAME_MAX for p in rel):
            raise _refuse(archive, name, f"has a path component longer than {_NAME_MAX} bytes")
        dest = os.path.join(root_str, *rel)
        # The member is first written in the staging folder, whose path is longer than the
        # target's by ".<name>.XXXXXXXX.extract/t"; the margin keeps that write possible too.
        if len(os.fsencode(dest)) + len(os.fsencode(root.name)) + 32 >= _PATH_MAX:
            raise _refuse(archive, name, f"would be written at a path longer than {_PATH_MAX} "
                          "bytes")
        # The resolved destination, not the name, decides: it must stay under the target.
        if os.path.commonpath([root_str, os.path.realpath(dest)]) != root_str:
            raise _refuse(archive, name, "resolves outside the target directory")
        if rel in files or (not is_dir and rel in dirs):
            raise _refuse(archive, name, "is given twice or collides with a folder")
        for i in range(1, len(rel) + (1 if is_dir else 0)):
            if rel[:i] in files:
                raise _refuse(archive, name, f"needs {'/'.join(rel[:i])!r} as a folder, but "
                              "that is a file in the archive")
            dirs.add(rel[:i])
        if not is_dir:
            files[rel] = name
        total += size
        members.append(_Member(name, rel, is_dir, size, ref))
    if total > limits.max_total_bytes:
        raise UnsafeArchiveError(
            f"refusing to extract {archive.name}: {total} uncompressed bytes exceed the limit "
            f"of {limits.max_total_bytes}; nothing was extracted"
        )
    packed = archive.stat().st_size
    if total > limits.ratio_floor_bytes and total > limits.max_ratio * max(packed, 1):
        raise UnsafeArchiveError(
            f"refusing to extract {archive.name}: {packed} bytes expand to {total} "
            f"({total / max(packed, 1):.0f}x, over the limit of {limits.max_ratio:g}x; "
            "a zip bomb?); nothing was extracted"
        )
    return members, top


def _check_existing(archive: Path, root: Path, members: list[_Member]) -> None:
    """Refuse when something already under ``root`` would redirect or block a member.

    A symbolic link planted inside the target (``target/records -> /home/you``) would
    otherwise carry every file written "into" it somewhere else.
    """
    if not root.is_dir():
        return
    seen: set[tuple[str, ...]] = set()
    for member in members:
        for i in range(1, len(member.rel) + 1):
            prefix = member.rel[:i]
            if prefix in seen:
                continue
            seen.add(prefix)
            path = root.joinpath(*prefix)
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                break
            except OSError as exc:
                raise DataError(f"cannot extract {archive.name}: {path}: {exc.strerror}") from None
            if stat.S_ISLNK(mode):
                raise _refuse(archive, member.name,
                              f"would be written through the existing symbolic link {path}")
            last_file = i == len(member.rel) and not member.is_dir
            if last_file and not stat.S_ISREG(mode) or not last_file and not stat.S_ISDIR(mode):
                raise _refuse(archive, member.name,
                              f"collides with the existing {path} (not a "
                              f"{'file' if last_file else 'folder'})")


def _write_stage(archive: Path, root: Path, members: list[_Member], reader, progress: bool,
                 limits: ExtractLimits) -> Path:
    """Write every member into a fresh folder beside ``root``; remove it on any failure."""
    root.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".extract", dir=root.parent))
    base = stage / "t"
    try:
        base.mkdir()
        written = 0
        total = sum(m.size for m in members)
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=f"extract {archive.name}", disable=None if progress else True,
                  leave=False) as bar:
            for member in members:
                dest = _make_parents(base, member)
                if dest is not None:
                    written = _write_member(archive, member, reader, dest, written, limits, bar)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return stage


def _make_parents(root: Path, member: _Member) -> Path | None:
    """Create ``member``'s folders under ``root``; its file destination, or ``None`` for a
    folder member (nothing more to write)."""
    dest = root.joinpath(*member.rel)
    if member.is_dir:
        dest.mkdir(parents=True, exist_ok=True)
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest


def _write_member(archive: Path, member: _Member, reader, dest: Path, written: int,
                  limits: ExtractLimits, bar) -> int:
    # O_EXCL | O_NOFOLLOW: the stage is fresh, so anything already at dest is an attack.
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as out:
        try:
            src = reader.open(member.ref)
        except UserError:
            raise
        except _READ_ERRORS as exc:
            raise DataError(f"{archive}: member {member.name!r} is corrupt: {exc}") from None
        with src:
            while True:
                try:
                    chunk = src.read(_CHUNK)
                except _READ_ERRORS as exc:
                    raise DataError(
                        f"{archive}: member {member.name!r} is corrupt or truncated: {exc}"
                    ) from None
                if not chunk:
                    break
                written += len(chunk)
                # Declared sizes can lie; the bytes actually produced are what fill a disk.
                if written > limits.max_total_bytes:
                    raise _refuse(archive, member.name,
                                  f"brings the uncompressed size past the limit of "
                                  f"{limits.max_total_bytes} bytes")
                out.write(chunk)
                bar.update(len(chunk))
    return written


def _move_into_place(archive: Path, staged: Path, root: Path, members: list[_Member]) -> None:
    """Rename the staged tree onto ``root``, or merge it into an existing ``root``."""
    if not root.exists() or (root.is_dir() and not any(root.iterdir())):
        # rename(2) replaces an empty folder atomically.
        os.replace(staged, root)
        return
    # Checked again right before moving: the window since _check_existing is small, and
    # nothing is moved at all if a link appeared meanwhile.
    _check_existing(archive, root, members)
    for member in members:
        dest = _make_parents(root, member)
        if dest is not None:
            os.replace(staged.joinpath(*member.rel), dest)
