"""SPH (Shandong Provincial Hospital, Liu et al. 2022): ``metadata.csv`` + one HDF5 per record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgtriage.errors import DataError
from ecgtriage.io.base import (
    Source,
    finish_metadata,
    make_record,
    optional_float,
    optional_str,
    problems_frame,
)
from ecgtriage.io.record import ECGRecord
from ecgtriage.io.aha_code import parse_aha_code
from ecgtriage.leads import CANONICAL_LEADS

METADATA_FILE = "metadata.csv"
CODE_FILE = "code.csv"
METADATA_COLUMNS = ("ECG_ID", "AHA_Code", "Patient_ID", "Age", "Sex", "N", "Date")
REQUIRED_METADATA = ("ECG_ID", "AHA_Code", "Patient_ID", "Age", "Sex")
CODE_COLUMNS = ("Category", "Code", "Description")
DATASET = "ecg"
#: The SPH release's rate (every record).
SPH_FS = 500.0


def read_csv_checked(path: Path, required: tuple[str, ...], expected: tuple[str, ...]) -> pd.DataFrame:
    """Read a metadata CSV as strings; ``ValueError`` naming the file for empty input or a
    missing column (listing what was expected and what was found)."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"metadata file {path} does not exist") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty; expected a header row {','.join(expected)}") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: malformed CSV: {exc}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(expected)}, "
            f"found {', '.join(table.columns)}"
        )
    if table.empty:
        raise DataError(f"{path}: no records (header only)")
    return table


class SphSource(Source):
    """An SPH folder: ``metadata.csv``, optional ``code.csv``, ``records/<ECG_ID>.h5`` (or flat
    ``<ECG_ID>.h5``) each holding dataset ``ecg`` of shape (12, N), float16, mV, 500 Hz.

    Statements are parsed with :func:`ecgtriage.io.aha_code.parse_aha_code` (exact
    duplicates dropped); with ``code.csv`` present an unknown code or modifier is a problem.
    A folder with metadata but no signal files still gives ``metadata()``.
    """

    format = "sph"
    index_columns = ("date",)

    def codes(self) -> pd.DataFrame | None:
        """``code.csv`` as a table (``Category, Code, Description``), or ``None`` if absent."""
        path = self.root / CODE_FILE
        if not path.is_file():
            return None
        table = read_csv_checked(path, CODE_COLUMNS, CODE_COLUMNS)
        bad = table.loc[~table["Code"].str.strip().str.fullmatch(r"\d+"), "Code"]
        if len(bad):
            raise DataError(f"{path}: column Code must hold integers, found {bad.iloc[0]!r}")
        return table

    def _load(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        meta_path = self.root / METADATA_FILE
        table = read_csv_checked(meta_path, REQUIRED_METADATA, METADATA_COLUMNS)
        codes = self.codes()
        known_codes = known_modifiers = None
        if codes is not None:
            is_mod = codes["Category"].str.strip().str.lower() == "modifier"
            known_codes = set(codes.loc[~is_mod, "Code"].astype(int))
            known_modifiers = set(codes.loc[is_mod, "Code"].astype(int))
        rows: list[dict[str, Any]] = []
        problems: list[dict[str, str]] = []
        has_n = "N" in table.columns
        has_date = "Date" in table.columns
        for i, rec in enumerate(table.to_dict("records")):
            rid = rec["ECG_ID"].strip()
            where = f"{METADATA_FILE} row {i + 2} (ECG_ID {rid}) AHA_Code"
            if not rid:
                problems.append(self.problem_row(f"<row {i + 2}>", meta_path, f"{METADATA_FILE} row {i + 2}: empty ECG_ID"))
                continue
            try:
                statements = parse_aha_code(rec["AHA_Code"], known_codes, known_modifiers, where=where)
                n = int(rec["N"]) if has_n and rec["N"].strip() else None
                if n is not None and not 0 <= n < 2**31:
                    # The column is stored as Int64 and compared with the file's length; an
                    # absurd count is a typo, reported here rather than overflowing later.
                    raise ValueError(f"N out of range: {n}")
            except ValueError as exc:
                reason = str(exc) if "AHA_Code" in str(exc) else f"{METADATA_FILE} row {i + 2} (ECG_ID {rid}) N: expected an integer, found {rec['N']!r}"
                problems.append(self.problem_row(rid, meta_path, reason))
                continue
            sex = rec["Sex"].strip().upper()
            rows.append({
                "record_id": rid,
                "patient_id": rec["Patient_ID"].strip() or None,
                "age": optional_float(rec["Age"]),
                "sex": sex if sex in ("M", "F") else None,
                "statements": ";".join(str(s) for s in statements),
                "fold": None,
                "n_samples": n,
                "date": rec["Date"].strip() if has_date else "",
            })
        meta = finish_metadata(rows, ["n_samples", "date"])
        meta["n_samples"] = pd.array(meta["n_samples"], dtype="Int64")
        return meta, problems_frame(problems)

    def native_rates(self) -> dict[float, int]:
        return {SPH_FS: len(self)}

    def record_file(self, record_id: str, fs: float | None = None) -> Path:
        nested = self.root / "records" / f"{record_id}.h5"
        flat = self.root / f"{record_id}.h5"
        if not nested.is_file() and flat.is_file():
            return flat
        return nested

    def _read(self, row: dict[str, Any], fs: float | None) -> ECGRecord:
        import h5py

        rid = row["record_id"]
        path = self.record_file(rid)
        if not path.is_file():
            raise FileNotFoundError(
                f"SPH record {rid}: signal file {path} does not exist "
                f"(nor {self.root / (rid + '.h5')}); this folder may hold metadata only"
            )
        try:
            with h5py.File(path, "r") as handle:
                if DATASET not in handle:
                    raise DataError(
                        f"signal file {path}: no dataset {DATASET!r}; found {', '.join(handle.keys()) or 'none'}"
                    )
                dataset = handle[DATASET]
                if not isinstance(dataset, h5py.Dataset):
                    # A group of that name has no shape: it would fail as AttributeError.
                    raise DataError(f"signal file {path}: {DATASET!r} is a {type(dataset).__name__}, "
                                    "expected a (12, n_samples) dataset")
                shape = dataset.shape
                if len(shape) != 2 or shape[0] != len(CANONICAL_LEADS):
                    raise DataError(
                        f"signal file {path}: dataset {DATASET!r} has shape {shape}; "
                        f"expected (12, n_samples) with leads {', '.join(CANONICAL_LEADS)}"
                    )
                signal = dataset[()]
        except OSError as exc:
            raise DataError(f"signal file {path}: not a readable HDF5 file (corrupt or truncated: {exc})") from None
        expected_n = row.get("n_samples")
        if not pd.isna(expected_n) and int(expected_n) != signal.shape[1]:
            raise DataError(
                f"signal file {path}: dataset {DATASET!r} has {signal.shape[1]} samples but "
                f"{METADATA_FILE} gives N = {int(expected_n)}"
            )
        if not np.issubdtype(signal.dtype, np.floating):
            raise DataError(f"signal file {path}: dataset {DATASET!r} has dtype {signal.dtype}; expected float16 mV")
        return make_record(
            signal, SPH_FS, fs, str(path),
            record_id=rid,
            patient_id=optional_str(row["patient_id"]),
            age=optional_float(row["age"]),
            sex=optional_str(row["sex"]),
            statements=tuple(s for s in (optional_str(row["statements"]) or "").split(";") if s),
            source_format=self.format,
            extra={
                "date": optional_str(row["date"]) or "",
                "n_samples_metadata": None if pd.isna(expected_n) else int(expected_n),
            },
        )
