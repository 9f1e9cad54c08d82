"""The preprocessed-record cache written by ``ecgtriage prepare`` and read by everything else.

Layout (see docs/interfaces.md): ``signals.npy`` float16 (N, 12, T) memory-mapped,
``index.csv`` (one row per cached record, ``row`` = its row in ``signals.npy``),
``excluded.csv`` (``record_id, file, reason``) and ``manifest.json``, written last.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgtriage.errors import DataError

SIGNALS_FILE = "signals.npy"
INDEX_FILE = "index.csv"
EXCLUDED_FILE = "excluded.csv"
MANIFEST_FILE = "manifest.json"
#: Bumped when the cache layout changes, so old caches are rebuilt rather than misread.
CACHE_LAYOUT_VERSION = 1

INDEX_COLUMNS = (
    "record_id", "row", "patient_id", "fold", "statements", "age", "sex",
    "fs_source", "n_samples_source", "n_clipped", "file",
)
_INT_COLUMNS = ("row", "n_samples_source", "n_clipped")
_FLOAT_COLUMNS = ("age", "fs_source")


@dataclass
class Cache:
    """An opened cache: ``signals`` is a read-only memmap (N, 12, T) float16 in mV."""

    path: Path
    signals: np.ndarray
    index: pd.DataFrame
    manifest: dict[str, Any]
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["record_id", "file", "reason"]))
    #: True when ``prepare`` found this cache up to date and did not rebuild it.
    reused: bool = False

    @property
    def fs(self) -> float:
        return float(self.manifest["fs"])

    @property
    def n_samples(self) -> int:
        return int(self.manifest["n_samples"])

    @property
    def format(self) -> str:
        return str(self.manifest["format"])

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self) -> dict[str, Any]:
        # Pickling a memmap copies the whole array; workers (spawn/forkserver) re-map the file.
        state = dict(self.__dict__)
        state["signals"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.signals = np.load(Path(self.path) / SIGNALS_FILE, mmap_mode="r")

    def rows_for(self, record_ids: list[str] | pd.Series) -> np.ndarray:
        """Rows of ``signals`` for ``record_ids`` (``KeyError`` naming the first unknown id)."""
        lookup = pd.Series(self.index["row"].to_numpy(), index=self.index["record_id"])
        ids = [str(r) for r in record_ids]
        missing = [r for r in ids if r not in lookup.index]
        if missing:
            raise KeyError(f"record {missing[0]!r} is not in the cache at {self.path}")
        return lookup.loc[ids].to_numpy(dtype=np.int64)


def is_cache(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a cache folder written by ``ecgtriage prepare``.

    The test every command uses to tell a cache from a source folder: ``manifest.json`` and
    ``signals.npy`` side by side (a source release holds neither). A folder that has both but
    is damaged still counts as a cache, so that :func:`open_cache` names what is wrong instead
    of the folder being misread as a source.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     before = is_cache(folder)
    ...     for name in (MANIFEST_FILE, SIGNALS_FILE):
    ...         _ = (Path(folder) / name).write_text("")
    ...     (before, is_cache(folder))
    (False, True)
    """
    root = Path(path)
    return (root / MANIFEST_FILE).is_file() and (root / SIGNALS_FILE).is_file()


def read_index(path: str | os.PathLike) -> pd.DataFrame:
    """Read an ``index.csv`` with text columns kept as text (ids like ``00123`` stay intact)."""
    index = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in _INT_COLUMNS:
        if column in index.columns:
            index[column] = pd.to_numeric(index[column]).astype(np.int64)
    for column in _FLOAT_COLUMNS:
        if column in index.columns:
            index[column] = pd.to_numeric(index[column].replace("", np.nan)).astype(float)
    if "fold" in index.columns:
        index["fold"] = pd.array(pd.to_numeric(index["fold"].replace("", np.nan)), dtype="Int64")
    return index


def _check_manifest(path: Path, manifest: Any) -> None:
    """The manifest must agree with itself: a cache whose ``fs`` was edited would be read at
    the wrong rate by every model (wrong heart rates, wrong filters), silently.

    Raises
    ------
    DataError
        Naming the field: not an object, ``fs``/``seconds``/``n_samples`` missing, not
        positive and finite, or ``fs × seconds`` ≠ ``n_samples``.
    """
    if not isinstance(manifest, dict):
        raise DataError(f"{path}: expected a JSON object, found {type(manifest).__name__}")
    values = {}
    for key in ("fs", "seconds", "n_samples", "format"):
        if key not in manifest:
            raise DataError(f"{path}: {key}: missing")
    for key in ("fs", "seconds", "n_samples"):
        try:
            values[key] = float(manifest[key])
        except (TypeError, ValueError):
            raise DataError(f"{path}: {key}: expected a number, found {manifest[key]!r}") from None
        # Written so that NaN fails too.
        if not (0 < values[key] < float("inf")):
            raise DataError(f"{path}: {key}: expected a positive number, found {manifest[key]!r}")
    if values["n_samples"] != int(values["n_samples"]):
        raise DataError(f"{path}: n_samples: expected a whole number, found {manifest['n_samples']!r}")
    if abs(values["fs"] * values["seconds"] - values["n_samples"]) > 0.5:
        raise DataError(f"{path}: fs × seconds = {values['fs']:g} × {values['seconds']:g} = "
                        f"{values['fs'] * values['seconds']:g} samples, but n_samples is "
                        f"{int(values['n_samples'])}; the manifest was edited or damaged: rebuild "
                        "the cache with `ecgtriage prepare`")


def open_cache(path: str | os.PathLike) -> Cache:
    """Open the cache directory ``path``; ``FileNotFoundError``/``DataError`` name what is wrong.

    The manifest is checked against itself and against the arrays (``fs × seconds`` vs
    ``n_samples`` vs the signals' length, ``n_records`` vs the rows), so an edited or damaged
    cache is refused instead of read at the wrong rate.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"cache folder {root} does not exist (run `ecgtriage prepare` first)")
    for name in (MANIFEST_FILE, SIGNALS_FILE, INDEX_FILE):
        if not (root / name).is_file():
            raise FileNotFoundError(f"{root} is not a complete ecgtriage cache: {name} is missing")
    try:
        manifest = json.loads((root / MANIFEST_FILE).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{root / MANIFEST_FILE}: not valid JSON ({exc})") from None
    _check_manifest(root / MANIFEST_FILE, manifest)
    signals = np.load(root / SIGNALS_FILE, mmap_mode="r")
    index = read_index(root / INDEX_FILE)
    n_samples = int(manifest.get("n_samples", -1))
    if signals.ndim != 3 or signals.shape[1] != 12 or signals.shape[2] != n_samples:
        raise DataError(
            f"{root / SIGNALS_FILE}: shape {signals.shape}; expected (N, 12, {n_samples}) per {MANIFEST_FILE}"
        )
    if len(index) != signals.shape[0] or (len(index) and not np.array_equal(index["row"].to_numpy(), np.arange(len(index)))):
        raise DataError(
            f"{root / INDEX_FILE}: {len(index)} rows numbered inconsistently with "
            f"{signals.shape[0]} signals in {SIGNALS_FILE}"
        )
    n_records = manifest.get("n_records")
    if n_records is not None and int(n_records) != len(index):
        raise DataError(f"{root / MANIFEST_FILE}: n_records {n_records}, but {INDEX_FILE} has "
                        f"{len(index)} rows and {SIGNALS_FILE} {signals.shape[0]}; the cache was "
                        "edited or damaged: rebuild it with `ecgtriage prepare`")
    excluded_path = root / EXCLUDED_FILE
    excluded = (
        pd.read_csv(excluded_path, dtype=str, keep_default_na=False)
        if excluded_path.is_file()
        else pd.DataFrame(columns=["record_id", "file", "reason"])
    )
    return Cache(root, signals, index, manifest, excluded)
