"""Open a folder of ECG records, detecting its format from the files it holds."""

from __future__ import annotations

import os
from pathlib import Path

from ecgtriage.io.base import Source
from ecgtriage.io.challenge import ChallengeSource
from ecgtriage.io.ptbxl import DATABASE_FILE, PtbxlSource
from ecgtriage.io.sph import METADATA_FILE, SphSource

__all__ = ["Source", "SphSource", "PtbxlSource", "ChallengeSource", "open_source", "detect_format", "SOURCES"]

SOURCES: dict[str, type[Source]] = {"sph": SphSource, "ptbxl": PtbxlSource, "challenge": ChallengeSource}


def detect_format(path: str | os.PathLike) -> str:
    """``"ptbxl"`` if the folder has ``ptbxl_database.csv``, ``"sph"`` if it has
    ``metadata.csv``, ``"challenge"`` if it (or a sub-folder) has ``.hea`` files.

    Raises ``FileNotFoundError`` for a missing folder and ``ValueError`` listing what was found
    when no format matches.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"source folder {root} does not exist")
    if (root / DATABASE_FILE).is_file():
        return "ptbxl"
    if (root / METADATA_FILE).is_file():
        return "sph"
    for _folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(f.endswith(".hea") for f in files):
            return "challenge"
    found = sorted(p.name for p in root.iterdir())[:8]
    raise ValueError(
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
        raise ValueError(f"unknown source format {fmt!r}; expected one of {', '.join(SOURCES)}")
    return SOURCES[fmt](root)
