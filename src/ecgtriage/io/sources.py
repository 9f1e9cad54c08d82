"""Open a folder of ECG records, detecting its format from the files it holds."""

from __future__ import annotations

import os
from pathlib import Path

from ecgtriage.errors import ConfigError, DataError
from ecgtriage.io.base import Source
from ecgtriage.io.challenge import ChallengeSource
from ecgtriage.io.ptbxl import DATABASE_FILE, PtbxlSource
from ecgtriage.io.sph import METADATA_FILE, SphSource

__all__ = [
    "Source", "SphSource", "PtbxlSource", "ChallengeSource", "open_source", "detect_format",
    "release_folders", "SOURCES",
]

SOURCES: dict[str, type[Source]] = {"sph": SphSource, "ptbxl": PtbxlSource, "challenge": ChallengeSource}


def _release_format(folder: Path) -> str | None:
    # A release is recognised by its metadata file, which sits at its top.
    if (folder / DATABASE_FILE).is_file():
        return "ptbxl"
    if (folder / METADATA_FILE).is_file():
        return "sph"
    return None


def release_folders(path: str | os.PathLike) -> list[tuple[Path, str]]:
    """Sub-folders of ``path`` (one level down) that are SPH or PTB-XL releases, with format.

    Examples
    --------
    A folder filled by ``ecgtriage download ptbxl --out data/ptbxl`` and ``... sph --out
    data/sph`` gives ``[(data/ptbxl, "ptbxl"), (data/sph, "sph")]`` for ``data``.
    """
    root = Path(path)
    if not root.is_dir():
        return []
    found = []
    for child in sorted(root.iterdir()):
        if child.is_dir() and not child.name.startswith("."):
            fmt = _release_format(child)
            if fmt:
                found.append((child, fmt))
    return found


def detect_format(path: str | os.PathLike) -> str:
    """``"ptbxl"`` if the folder has ``ptbxl_database.csv``, ``"sph"`` if it has
    ``metadata.csv``, ``"challenge"`` if it (or a sub-folder) has ``.hea`` files.

    Raises
    ------
    FileNotFoundError
        The folder does not exist.
    DataError
        No format matches (the message lists what was found), or the folder holds several
        data sets (SPH or PTB-XL releases in sub-folders): reading their ``.hea`` files as one
        Challenge folder would mix them.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"source folder {root} does not exist")
    fmt = _release_format(root)
    if fmt:
        return fmt
    nested = release_folders(root)
    if nested:
        listed = ", ".join(f"{p.name}/ ({f})" for p, f in nested)
        raise DataError(
            f"{root} holds several data sets ({listed}); give one of their folders"
        )
    for _folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(f.endswith(".hea") for f in files):
            return "challenge"
    found = sorted(p.name for p in root.iterdir())[:8]
    raise DataError(
        f"cannot detect the format of {root}: expected {METADATA_FILE} (SPH), {DATABASE_FILE} "
        f"(PTB-XL) or .hea files (PhysioNet/CinC Challenge); found {', '.join(found) or 'nothing'}"
    )


def open_source(path: str | os.PathLike, format: str | None = None) -> Source:
    """Open ``path`` as a :class:`Source` (format detected unless ``format`` is given).

    A path to a file inside the folder (e.g. ``metadata.csv``) opens its folder.
    """
    root = Path(path)
    if root.is_file():
        root = root.parent
    fmt = format or detect_format(root)
    if fmt not in SOURCES:
        raise ConfigError(f"unknown source format {fmt!r}; expected one of {', '.join(SOURCES)}")
    return SOURCES[fmt](root)
