"""Atomic writes: a reader sees either the old file or the complete new one, never half."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    Works for files and directories (write a whole directory into the yielded path).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    work = tmp / target.name
    try:
        yield work
        if target.is_dir() and not target.is_symlink():
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


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


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


def write_csv(path: str | os.PathLike, frame: Any, **kwargs: Any) -> None:
    """Write a pandas DataFrame atomically (``index=False`` unless given)."""
    kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
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
