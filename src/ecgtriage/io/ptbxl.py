"""PTB-XL (Wagner et al. 2020): ``ptbxl_database.csv`` + WFDB records at 100 and/or 500 Hz."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from ecgtriage.errors import DataError
from ecgtriage.io.base import Source, finish_metadata, make_record, optional_float, optional_str, problems_frame
from ecgtriage.io.leads import to_canonical
from ecgtriage.io.record import ECGRecord
from ecgtriage.io.wfdb_read import read_signals

DATABASE_FILE = "ptbxl_database.csv"
STATEMENTS_FILE = "scp_statements.csv"
REQUIRED_COLUMNS = ("ecg_id", "patient_id", "scp_codes")
#: PTB-XL's signal quality annotations (free text such as ``" , I-V1,  "``; empty = none noted).
QUALITY_COLUMNS = (
    "baseline_drift", "static_noise", "burst_noise", "electrodes_problems", "extra_beats", "pacemaker",
)
TEXT_COLUMNS = ("heart_axis", "infarction_stadium1", "infarction_stadium2") + QUALITY_COLUMNS
#: Rate of the files listed in each filename column.
FILENAME_RATES = {"filename_lr": 100.0, "filename_hr": 500.0}
#: PTB-XL writes ages above 89 as 300 (de-identification).
CENSORED_AGE = 300
CENSORED_AGE_VALUE = 90.0


class PtbxlSource(Source):
    """A PTB-XL folder. ``read(id, fs)`` picks the file whose rate is the lowest at or above
    ``fs`` that exists (else the highest below it) and resamples it; ``fs=None`` reads the
    highest-rate file present. ``scp_codes`` is a dict literal parsed with ``ast.literal_eval``;
    all its keys are statements (a likelihood of 0 means present, likelihood not stated)."""

    format = "ptbxl"
    index_columns = ("heart_axis", "infarction_stadium1", "infarction_stadium2", "scp_likelihoods") + QUALITY_COLUMNS + ("validated_by_human",)

    def statement_table(self) -> pd.DataFrame | None:
        """``scp_statements.csv`` indexed by statement code, or ``None`` if absent."""
        path = self.root / STATEMENTS_FILE
        if not path.is_file():
            return None
        try:
            table = pd.read_csv(path, index_col=0)
        except pd.errors.EmptyDataError:
            raise DataError(f"{path}: file is empty; expected one row per SCP statement") from None
        except pd.errors.ParserError as exc:
            raise DataError(f"{path}: malformed CSV: {exc}") from None
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
        table.index = table.index.astype(str).str.strip()
        return table

    def _load(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        from ecgtriage.io.sph import read_csv_checked

        path = self.root / DATABASE_FILE
        table = read_csv_checked(path, REQUIRED_COLUMNS, REQUIRED_COLUMNS + ("age", "sex", "strat_fold", "filename_lr", "filename_hr"))
        rate_columns = [c for c in FILENAME_RATES if c in table.columns]
        if not rate_columns:
            raise DataError(
                f"{path}: missing column(s) filename_lr, filename_hr; at least one is needed to "
                f"find the signal files, found {', '.join(table.columns)}"
            )
        statements_table = self.statement_table()
        known = set(statements_table.index) if statements_table is not None else None
        rows: list[dict[str, Any]] = []
        problems: list[dict[str, str]] = []
        for i, rec in enumerate(table.to_dict("records")):
            raw_id = rec["ecg_id"].strip()
            where = f"{DATABASE_FILE} row {i + 2} (ecg_id {raw_id})"
            try:
                rid = str(int(float(raw_id)))
                likelihoods = _parse_scp_codes(rec["scp_codes"], where)
                if known is not None:
                    unknown = [c for c in likelihoods if c not in known]
                    if unknown:
                        raise DataError(
                            f"{where} scp_codes: unknown statement(s) {', '.join(unknown)} "
                            f"(not in {STATEMENTS_FILE})"
                        )
                fold = rec.get("strat_fold", "").strip()
                fold = int(float(fold)) if fold else None
                if fold is not None and not 0 <= fold < 2**31:
                    # Stored as Int64 and used as a split key; an absurd fold is a typo.
                    raise DataError(f"{where} strat_fold: expected a fold number such as 1-10, "
                                    f"found {rec.get('strat_fold', '').strip()!r}")
            except OverflowError:
                # int(float("inf")): an id or fold that is not a finite number.
                problems.append(self.problem_row(
                    raw_id or f"<row {i + 2}>", path,
                    f"{where}: ecg_id and strat_fold must be finite integers, found "
                    f"{raw_id!r} and {rec.get('strat_fold', '')!r}"))
                continue
            except ValueError as exc:
                problems.append(self.problem_row(raw_id or f"<row {i + 2}>", path, str(exc)))
                continue
            age = optional_float(rec.get("age"))
            sex = {"0": "M", "1": "F", "0.0": "M", "1.0": "F"}.get(rec.get("sex", "").strip())
            pid = rec["patient_id"].strip()
            row = {
                "record_id": rid,
                "patient_id": str(int(float(pid))) if _is_number(pid) else (pid or None),
                "age": CENSORED_AGE_VALUE if age == CENSORED_AGE else age,
                "sex": sex,
                "statements": ";".join(likelihoods),
                "fold": fold,
                "age_censored": age == CENSORED_AGE,
                "scp_likelihoods": json.dumps(likelihoods),
                "validated_by_human": rec.get("validated_by_human", "").strip(),
            }
            for column in TEXT_COLUMNS:
                row[column] = rec.get(column, "").strip()
            for column in rate_columns:
                row[column] = rec[column].strip()
            rows.append(row)
        extra = ["age_censored", "scp_likelihoods", "validated_by_human", *TEXT_COLUMNS, *rate_columns]
        return finish_metadata(rows, extra), problems_frame(problems)

    def _candidates(self, row: dict[str, Any]) -> list[tuple[float, Path]]:
        out = []
        for column, rate in FILENAME_RATES.items():
            name = optional_str(row.get(column))
            if name:
                out.append((rate, self.root / f"{name}.hea"))
        return out

    def _choose(self, row: dict[str, Any], fs: float | None) -> tuple[float, Path]:
        candidates = self._candidates(row)
        if fs is None:
            order = sorted(candidates, key=lambda c: -c[0])
        else:
            order = sorted([c for c in candidates if c[0] >= fs], key=lambda c: c[0])
            order += sorted([c for c in candidates if c[0] < fs], key=lambda c: -c[0])
        for rate, path in order:
            if path.is_file():
                return rate, path
        if not order:
            raise DataError(f"PTB-XL record {row['record_id']}: no file name in {DATABASE_FILE}")
        names = " or ".join(str(p) for _, p in order)
        raise FileNotFoundError(f"PTB-XL record {row['record_id']}: header file {names} does not exist")

    def record_file(self, record_id: str, fs: float | None = None) -> Path:
        self._ensure()
        row = self._rows[str(record_id)]
        try:
            return self._choose(row, fs)[1]
        except (FileNotFoundError, ValueError):
            candidates = self._candidates(row)
            return candidates[0][1] if candidates else self.root / DATABASE_FILE

    def native_rates(self) -> dict[float, int]:
        self._ensure()
        counts: dict[float, int] = {}
        for row in self._rows.values():
            for rate, path in self._candidates(row):
                if path.is_file():
                    counts[rate] = counts.get(rate, 0) + 1
        return counts

    def _read(self, row: dict[str, Any], fs: float | None) -> ECGRecord:
        rate, hea = self._choose(row, fs)
        signal, names, header = read_signals(hea)
        if abs(header.fs - rate) > 1e-6:
            raise DataError(f"header file {hea}: sampling rate {header.fs:g} Hz; expected {rate:g} Hz for its folder")
        signal = to_canonical(signal, names, str(hea))
        extra = {
            "strat_fold": None if pd.isna(row["fold"]) else int(row["fold"]),
            "scp_likelihoods": json.loads(row["scp_likelihoods"]),
            "age_censored": bool(row["age_censored"]),
            "file": self.relative(hea.with_suffix("")),
        }
        for column in TEXT_COLUMNS + ("validated_by_human",):
            extra[column] = optional_str(row.get(column)) or ""
        return make_record(
            signal, header.fs, fs, str(hea),
            record_id=row["record_id"],
            patient_id=optional_str(row["patient_id"]),
            age=optional_float(row["age"]),
            sex=optional_str(row["sex"]),
            statements=tuple(s for s in (optional_str(row["statements"]) or "").split(";") if s),
            source_format=self.format,
            extra=extra,
        )


def _is_number(text: str) -> bool:
    """A finite number (``inf`` and ``nan`` are kept as text ids, not converted to int)."""
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _parse_scp_codes(text: str, where: str) -> dict[str, float]:
    """``"{'NORM': 100.0, 'SR': 0.0}"`` → ordered dict; ``DataError`` naming ``where`` otherwise.

    ``ast.literal_eval`` evaluates literals only (no code), but a hostile cell can still make
    it raise ``TypeError`` (``{[]: 1}``), ``RecursionError`` (deep nesting) or produce an
    integer too large for a float; all of these are the same user-facing problem. Keys are
    joined with ``;`` downstream, so a key that is empty, holds ``;`` or repeats another after
    stripping would silently change the record's statements and is refused.
    """
    expected = (f"{where} scp_codes: expected a dict literal of statement -> likelihood such as "
                f"\"{{'NORM': 100.0, 'SR': 0.0}}\", found {text!r}")
    try:
        value = ast.literal_eval(text.strip()) if text and text.strip() else None
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError, OverflowError):
        value = None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) for k, v in value.items()
    ):
        raise DataError(expected)
    out: dict[str, float] = {}
    for key, raw in value.items():
        code = key.strip()
        try:
            likelihood = float(raw)
        except OverflowError:
            likelihood = math.inf
        if not code or ";" in code or code in out:
            raise DataError(f"{where} scp_codes: statement {key!r} is empty, holds ';' or repeats "
                            f"another; found {text!r}")
        if not math.isfinite(likelihood):
            raise DataError(f"{where} scp_codes: likelihood of {code} must be a finite number, "
                            f"found {raw!r}")
        out[code] = likelihood
    return out
