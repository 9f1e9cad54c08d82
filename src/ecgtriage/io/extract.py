"""Safe extraction of zip and tar(.gz/.bz2/.xz) archives downloaded from the internet.

Every member is checked **before anything is written**; the first unsafe one aborts the
whole extraction with :class:`UnsafeArchiveError` naming the archive and the member:

- an absolute path (``/etc/x``, ``C:\\x``) or a path with a ``..`` component;
- a symbolic link whose target is absolute or resolves outside the extraction folder;
- a hard link to a member outside the extraction folder;
- a device, FIFO or other special file;
- in zip archives, any symbolic link (``zipfile`` would write the link text as a file).

Tar members are then written through ``tarfile``'s ``filter="data"`` (PEP 706), which also
drops set-uid bits and ownership, so a check missed here is still caught there. Zip members
are written one by one to paths built from the validated components only.

``strip_top_dir=True`` flattens an archive whose members all sit under one top folder
(the PhysioNet zip's ``ptb-xl-a-large-...-1.0.3/``): that folder's contents land directly in
``target``. Checks are applied to the paths after stripping, so a link that reaches into
the stripped folder's parent is refused too.
"""

from __future__ import annotations

import gzip
import os
import posixpath
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ecgtriage.errors import DataError, UserError

_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafeArchiveError(UserError):
    """An archive member would write outside the target or is not a plain file/folder."""


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


def safe_extract(
    archive: str | os.PathLike,
    target: str | os.PathLike,
    *,
    strip_top_dir: bool = False,
    progress: bool = True,
) -> ExtractResult:
    """Extract a zip or tar archive into ``target`` without letting any member escape it.

    Parameters
    ----------
    archive : path of a ``.zip`` or tar (optionally gz/bz2/xz-compressed) file; the format
        is detected from the content, not the name.
    target : destination folder, created if missing.
    strip_top_dir : flatten a single top-level folder shared by every member.
    progress : tqdm bar over the bytes written.

    Raises
    ------
    UnsafeArchiveError : a member is unsafe (message names archive, member and reason);
        nothing is written in that case.
    ValueError : the file is not a readable zip or tar archive.
    """
    archive = Path(archive)
    target = Path(target)
    if zipfile.is_zipfile(archive):
        return _extract_zip(archive, target, strip_top_dir, progress)
    if tarfile.is_tarfile(archive):
        return _extract_tar(archive, target, strip_top_dir, progress)
    raise DataError(f"{archive} is neither a zip nor a tar archive")


def _refuse(archive: Path, member: str, reason: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"refusing to extract {archive.name}: member {member!r} {reason}; nothing was extracted"
    )


def _split(archive: Path, name: str) -> list[str]:
    """Path components of a member name, refusing absolute paths and ``..``."""
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


def _strip(parts: list[str], top: str | None) -> list[str]:
    return parts[1:] if top is not None and parts and parts[0] == top else parts


def _outside(rel_path: str) -> bool:
    norm = posixpath.normpath(rel_path)
    return norm == ".." or norm.startswith("../") or norm.startswith("/")


def _extract_zip(
    archive: Path, target: Path, strip_top_dir: bool, progress: bool
) -> ExtractResult:
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{archive} is not a readable zip archive: {exc}") from None
    with zf:
        infos = zf.infolist()
        all_parts = []
        for info in infos:
            parts = _split(archive, info.filename)
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode)
            if kind == stat.S_IFLNK:
                raise _refuse(
                    archive, info.filename, "is a symbolic link (not allowed in zip archives)"
                )
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise _refuse(archive, info.filename, "is a device or special file")
            all_parts.append(parts)
        top = _common_top(all_parts) if strip_top_dir else None
        target.mkdir(parents=True, exist_ok=True)
        root = target.resolve()
        written = []
        total = sum(info.file_size for info in infos)
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=f"extract {archive.name}", disable=None if progress else True,
                  leave=False) as bar:
            for info, parts in zip(infos, all_parts):
                rel = _strip(parts, top)
                if not rel:
                    continue
                dest = root.joinpath(*rel)
                if info.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                # A folder created earlier could be a pre-existing symlink in target.
                if not dest.parent.resolve().is_relative_to(root):
                    raise _refuse(archive, info.filename, "resolves outside the target directory")
                try:
                    with zf.open(info) as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                except zipfile.BadZipFile as exc:
                    raise DataError(
                        f"{archive}: member {info.filename!r} is corrupt: {exc}"
                    ) from None
                written.append("/".join(rel))
                bar.update(info.file_size)
    return ExtractResult(files=tuple(sorted(written)), stripped=top)


def _extract_tar(
    archive: Path, target: Path, strip_top_dir: bool, progress: bool
) -> ExtractResult:
    try:
        tf = tarfile.open(archive, "r:*")
    except tarfile.TarError as exc:
        raise DataError(f"{archive} is not a readable tar archive: {exc}") from None
    with tf:
        try:
            members = tf.getmembers()
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(f"{archive} is not a readable tar archive: {exc}") from None
        all_parts = [_split(archive, m.name) for m in members]
        top = _common_top(all_parts) if strip_top_dir else None
        renamed = []
        for member, parts in zip(members, all_parts):
            rel = _strip(parts, top)
            if not rel:
                continue
            name = "/".join(rel)
            changes = {"name": name}
            if member.issym():
                link = member.linkname
                if link.startswith("/") or _DRIVE.match(link) or _outside(
                    posixpath.join(posixpath.dirname(name), link)
                ):
                    raise _refuse(
                        archive, member.name,
                        f"is a symbolic link to {link!r} outside the target directory",
                    )
            elif member.islnk():
                link_parts = [p for p in re.split(r"[/\\]", member.linkname) if p not in ("", ".")]
                inside = (
                    not member.linkname.startswith("/")
                    and ".." not in link_parts
                    and (top is None or (link_parts[:1] == [top] and len(link_parts) > 1))
                )
                if not inside:
                    raise _refuse(
                        archive, member.name,
                        f"is a hard link to {member.linkname!r} outside the target directory",
                    )
                changes["linkname"] = "/".join(_strip(link_parts, top))
            elif not (member.isreg() or member.isdir()):
                raise _refuse(archive, member.name, "is a device or special file")
            renamed.append((member.name, member.replace(**changes, deep=False)))
        target.mkdir(parents=True, exist_ok=True)
        total = sum(m.size for _, m in renamed if m.isreg())
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=f"extract {archive.name}", disable=None if progress else True,
                  leave=False) as bar:
            for original, member in renamed:
                try:
                    tf.extract(member, target, filter="data")
                except tarfile.FilterError as exc:
                    raise UnsafeArchiveError(
                        f"refusing to extract {archive.name}: member {original!r}: {exc}"
                    ) from None
                except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
                    raise DataError(f"{archive}: member {original!r} is corrupt: {exc}") from None
                if member.isreg():
                    bar.update(member.size)
    files = sorted(m.name for _, m in renamed if m.isreg() or m.islnk())
    return ExtractResult(files=tuple(files), stripped=top)
