"""What every source format provides: metadata without signals, and one record per read."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgtriage.errors import DataError
from ecgtriage.io.record import ECGRecord

#: Columns every ``Source.metadata()`` table starts with, in this order.
COMMON_COLUMNS = ("record_id", "patient_id", "age", "sex", "statements", "fold")
PROBLEM_COLUMNS = ("record_id", "file", "reason")
#: Most samples per lead a resampled record may have (about 55 h at 500 Hz).
_MAX_RESAMPLED = 10**8


class Source(ABC):
    """A folder of ECG records in one format.

    Subclasses parse the metadata lazily (once) and open the signal file on every ``read``, so a
    ``Source`` can be pickled into DataLoader or process-pool workers and read concurrently.

    Records whose metadata cannot be used (malformed or unknown label codes, unreadable headers)
    are left out of ``metadata()``/``record_ids()`` and listed by ``problems()`` with the reason;
    ``read`` of such a record raises ``ValueError`` with that reason.
    """

    #: "sph" | "ptbxl" | "challenge"
    format: str = ""
    #: Extra metadata columns copied into a cache's ``index.csv``.
    index_columns: tuple[str, ...] = ()

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self._table: pd.DataFrame | None = None
        self._problems: pd.DataFrame | None = None
        self._rows: dict[str, dict[str, Any]] | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r})"

    def __getstate__(self) -> dict[str, Any]:
        # Workers rebuild the per-record lookup from the table instead of unpickling 2 copies.
        state = dict(self.__dict__)
        state["_rows"] = None
        return state

    # -- to implement -------------------------------------------------------------------------
    @abstractmethod
    def _load(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Return ``(metadata, problems)`` (see the class docstring)."""

    @abstractmethod
    def record_file(self, record_id: str, fs: float | None = None) -> Path:
        """The signal (or header) file ``read(record_id, fs)`` opens; it may not exist."""

    @abstractmethod
    def _read(self, row: dict[str, Any], fs: float | None) -> ECGRecord:
        """Read the record described by its metadata ``row``."""

    def native_rates(self) -> dict[float, int]:
        """Sampling rate → number of records available at it, from metadata only."""
        return {}

    # -- shared ---------------------------------------------------------------------------------
    def _ensure(self) -> None:
        if self._table is None:
            table, problems = self._load()
            if table["record_id"].duplicated().any():
                dup = table.loc[table["record_id"].duplicated(), "record_id"].iloc[0]
                raise DataError(f"{self.root}: record id {dup!r} appears more than once in the metadata")
            self._table = table.reset_index(drop=True)
            self._problems = problems.reset_index(drop=True)
        if self._rows is None:
            self._rows = {row["record_id"]: row for row in self._table.to_dict("records")}

    def metadata(self) -> pd.DataFrame:
        """One row per usable record: ``record_id, patient_id, age, sex, statements`` (``;``-joined
        raw statements), ``fold`` and format-specific columns. Reads no signal file."""
        self._ensure()
        return self._table.copy()

    def problems(self) -> pd.DataFrame:
        """Records left out of ``metadata()``: ``record_id, file, reason``."""
        self._ensure()
        return self._problems.copy()

    def record_ids(self) -> list[str]:
        self._ensure()
        return list(self._rows)

    def __len__(self) -> int:
        self._ensure()
        return len(self._rows)

    def read(self, record_id: str, fs: float | None = None) -> ECGRecord:
        """Read one record (opening its file now), resampled to ``fs`` Hz when given.

        Raises ``FileNotFoundError`` for a missing signal file and ``ValueError`` for a record
        that is unknown, listed in ``problems()``, or whose file is truncated/corrupt/malformed.
        """
        self._ensure()
        row = self._rows.get(str(record_id))
        if row is None:
            known = self._problems["record_id"] == str(record_id)
            if known.any():
                raise DataError(self._problems.loc[known, "reason"].iloc[0])
            raise DataError(f"record {record_id!r} is not listed in the metadata of {self.root}")
        return self._read(row, fs)

    def problem_row(self, record_id: str, file: str | os.PathLike, reason: str) -> dict[str, str]:
        return {"record_id": str(record_id), "file": self.relative(file), "reason": reason}

    def relative(self, path: str | os.PathLike) -> str:
        try:
            return str(Path(path).relative_to(self.root))
        except ValueError:
            return str(path)


def optional_float(value: Any) -> float | None:
    """A float, or ``None`` for empty/NaN/infinite/unparseable values.

    Infinity is treated like a missing value: an age of ``inf`` is a broken cell, and keeping
    it would make every mean and histogram of the column meaningless.
    """
    try:
        out = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return out if np.isfinite(out) else None


def problems_frame(rows: list[dict[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(PROBLEM_COLUMNS)).astype(str)


def finish_metadata(rows: list[dict[str, Any]], extra_columns: list[str]) -> pd.DataFrame:
    """Build the metadata table with the common columns first and a nullable-int ``fold``."""
    table = pd.DataFrame(rows, columns=list(COMMON_COLUMNS) + extra_columns)
    table["record_id"] = table["record_id"].astype(str)
    table["fold"] = pd.array(table["fold"], dtype="Int64")
    table["age"] = pd.to_numeric(table["age"], errors="coerce").astype(float)
    return table


def make_record(
    signal: np.ndarray, fs_native: float, fs: float | None, where: str, **fields: Any
) -> ECGRecord:
    """Check a canonical (12, n) mV signal for NaN/inf, resample it to ``fs`` and wrap it.

    ``extra`` gains ``fs_source`` and ``n_samples_source`` (the file's rate and length).
    """
    from ecgtriage.io.leads import check_finite
    from ecgtriage.signal.resample import resample

    signal = np.asarray(signal, dtype=np.float32)
    check_finite(signal, where)
    # What the file held, before any resampling: caches record it per record.
    fields["extra"] = {
        **dict(fields.get("extra") or {}),
        "fs_source": float(fs_native),
        "n_samples_source": int(signal.shape[-1]),
    }
    if fs is not None and float(fs) != float(fs_native):
        n_out = signal.shape[-1] * float(fs) / float(fs_native)
        if not n_out <= _MAX_RESAMPLED:
            # A header rate such as 1e-300 Hz would ask for an array larger than memory; that
            # is a bad file, not a reason for a MemoryError or a traceback.
            raise DataError(
                f"{where}: resampling {signal.shape[-1]} samples from {float(fs_native):g} Hz to "
                f"{float(fs):g} Hz would make {n_out:.3g} samples per lead; the file's sampling "
                "rate is implausible"
            )
        signal = resample(signal, fs_native, fs)
    return ECGRecord(signal=signal, fs=float(fs or fs_native), **fields)


def optional_str(value: Any) -> str | None:
    """A stripped string, or ``None`` for empty/NaN/NA values."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None
