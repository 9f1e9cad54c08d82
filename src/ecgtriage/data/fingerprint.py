"""A content hash of a source folder, cheap enough to compute on every ``prepare``."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: Files hashed by content (metadata and labels); all others by (path, size, mtime), since
#: hashing gigabytes of signals on every run would cost more than the cache saves.
CONTENT_SUFFIXES = (".csv", ".hea", ".json", ".txt", ".tsv")


def source_fingerprint(root: str | os.PathLike, skip: str | os.PathLike | None = None) -> str:
    """SHA-256 over every non-hidden file under ``root`` (sorted by relative path).

    ``skip`` (e.g. a cache folder written inside the source) is left out.
    """
    base = Path(root)
    skip_path = Path(skip).resolve() if skip is not None else None
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(base):
        here = Path(folder)
        dirs[:] = sorted(
            d for d in dirs
            if not d.startswith(".") and (skip_path is None or (here / d).resolve() != skip_path)
        )
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = here / name
            rel = path.relative_to(base).as_posix()
            digest.update(rel.encode() + b"\0")
            if name.lower().endswith(CONTENT_SUFFIXES):
                with open(path, "rb") as handle:
                    digest.update(hashlib.file_digest(handle, "sha256").digest())
            else:
                stat = path.stat()
                digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
            digest.update(b"\n")
    return digest.hexdigest()
