"""Atomic writes: a reader sees either the old file or the complete new one, never half."""

from __future__ import annotations

import errno
import glob
import json
import math
import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


#: When this process started (wall clock), read once at import: temporary folders of our own
#: naming that are older than this were left by an earlier, interrupted process.
_PROCESS_START = time.time()


def _temp_names(target: Path) -> list[Path]:
    """Temporaries :func:`atomic_path` makes beside ``target`` (``.NAME.XXXX.tmp``, ``.NAME.old``)."""
    parent, name = target.parent, target.name
    if not parent.is_dir():
        return []
    # mkdtemp's random part: letters, digits and "_"; anything else is not ours.
    found = [p for p in parent.glob(f".{glob.escape(name)}.*.tmp")
             if re.fullmatch(r"[A-Za-z0-9_]{6,16}", p.name[len(name) + 2:-4])]
    backup = parent / f".{name}.old"
    if backup.exists() or backup.is_symlink():
        found.append(backup)
    return found


def clean_stale_temporaries(path: str | os.PathLike, older_than: float | None = None) -> list[Path]:
    """Remove temporaries that an interrupted earlier write of ``path`` left beside it.

    Only names this module makes (``.NAME.<random>.tmp`` folders and the ``.NAME.old`` backup)
    and only those last modified before this process started are removed, so a concurrent
    process writing the same output keeps its own temporary.

    Returns
    -------
    The paths removed.
    """
    cutoff = _PROCESS_START if older_than is None else older_than
    removed = []
    for stale in _temp_names(Path(path)):
        try:
            if stale.lstat().st_mtime >= cutoff:
                continue
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale)
            else:
                stale.unlink()
            removed.append(stale)
        except OSError:  # another process removed it, or we may not: not this write's problem
            continue
    return removed


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


@contextmanager
def atomic_path(path: str | os.PathLike, *, replace: bool = True,
                replace_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    Works for files and directories (write a whole directory into the yielded path). The
    temporary is removed whatever happens, and stale temporaries of an earlier interrupted
    write of the same ``path`` are cleaned first (:func:`clean_stale_temporaries`).

    Parameters
    ----------
    path : the output.
    replace : whether an existing *file* at ``path`` may be replaced by a file (the default,
        for outputs a command rewrites as it goes, such as ``metrics.csv``); commands pass
        ``False`` unless the user asked for ``--overwrite``.
    replace_dir : whether an existing non-empty *directory* at ``path`` may be replaced by the
        written directory. Off by default because a directory may hold anything the user keeps
        there; an empty directory is always replaced.

    Raises
    ------
    FileExistsError
        ``path`` is a file and ``replace`` is off.
    IsADirectoryError
        ``path`` is a directory and a file was written, or it is a non-empty directory and
        ``replace_dir`` is off.
    NotADirectoryError
        ``path`` is a file and a directory was written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    work = tmp / target.name
    try:
        yield work
        _check_replaceable(target, work, replace, replace_dir)
        if work.is_dir() and target.is_dir() and not target.is_symlink():
            backup = target.with_name(f".{target.name}.old")
            if backup.exists():
                shutil.rmtree(backup)
            os.replace(target, backup)
            os.replace(work, target)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(work, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_replaceable(target: Path, work: Path, replace: bool, replace_dir: bool) -> None:
    """Refuse to put ``work`` at ``target`` when that would destroy something not asked for."""
    if not (target.exists() or target.is_symlink()):
        return
    target_is_dir = target.is_dir() and not target.is_symlink()
    if work.is_dir():
        if not target_is_dir:
            raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder; refusing to "
                                     "replace it with a folder", str(target))
        if not replace_dir and not _is_empty_dir(target):
            raise IsADirectoryError(errno.EISDIR, "folder exists and is not empty; refusing to "
                                    "replace it", str(target))
        return
    if target_is_dir:
        raise IsADirectoryError(errno.EISDIR, "is a folder; refusing to replace it with a file",
                                str(target))
    if not replace:
        raise FileExistsError(errno.EEXIST, "exists; refusing to replace it (--overwrite "
                              "replaces it)", str(target))


def write_text(path: str | os.PathLike, text: str, *, replace: bool = True) -> None:
    with atomic_path(path, replace=replace) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | os.PathLike, data: bytes, *, replace: bool = True) -> None:
    with atomic_path(path, replace=replace) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | os.PathLike, obj: Any, *, replace: bool = True) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n",
               replace=replace)


def nan_to_none(value: Any) -> float | None:
    """``value`` as a Python float, or ``None`` where it is missing (``None``) or undefined (NaN).

    JSON has no NaN (``json.dumps`` writes a bare ``NaN`` that strict readers reject), and an
    undefined metric (a class without positives, a failed measurement) must read as "no value",
    not as a number.

    Examples
    --------
    >>> nan_to_none(float("nan")) is None, nan_to_none(None) is None, nan_to_none(1)
    (True, True, 1.0)
    """
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def json_safe(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays turned into Python types and NaN into ``None``, recursively.

    Dict keys become text and tuples become lists, as they would in JSON; anything else
    (strings, ``None``) passes through.

    Examples
    --------
    >>> import numpy as np
    >>> json_safe({"auc": np.float32(0.5), "ci": (np.nan, 1), 3: np.array([True, False])})
    {'auc': 0.5, 'ci': [None, 1], '3': [True, False]}
    """
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    import numpy as np  # lazily, like _json_default: writing text needs no numpy

    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return nan_to_none(obj)
    return obj


def write_csv(path: str | os.PathLike, frame: Any, *, replace: bool = True, **kwargs: Any) -> None:
    """Write a pandas DataFrame atomically (``index=False`` unless given)."""
    kwargs.setdefault("index", False)
    with atomic_path(path, replace=replace) as tmp:
        frame.to_csv(tmp, **kwargs)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")
