"""PhysioNet/CinC Challenge 2020/2021: WFDB records whose header comments carry ``#Age``,
``#Sex`` and ``#Dx`` (comma-separated SNOMED CT codes)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from ecgtriage.errors import DataError
from ecgtriage.io.base import Source, finish_metadata, make_record, optional_float, optional_str, problems_frame
from ecgtriage.io.leads import to_canonical
from ecgtriage.io.record import ECGRecord
from ecgtriage.io.wfdb_read import Header, read_header, read_signals

MAPPING_FILES = ("dx_mapping_scored.csv", "dx_mapping_unscored.csv")
_COMMENT = re.compile(r"^\s*(?P<key>[A-Za-z]+)\s*:\s*(?P<value>.*)$")
_SNOMED = re.compile(r"^\d+$")


def find_headers(root: Path) -> dict[str, Path]:
    """Record id (file stem) → ``.hea`` path, searching sub-folders; hidden folders skipped.

    Raises ``ValueError`` when two headers share a record id (ids must be unique to join on).
    """
    found: dict[str, Path] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".hea") and not name.startswith("."):
                path = Path(folder) / name
                rid = name[: -len(".hea")]
                if rid in found:
                    raise DataError(f"{root}: record id {rid!r} appears twice: {found[rid]} and {path}")
                found[rid] = path
    return found


def header_fields(header: Header) -> dict[str, str]:
    """The ``Key: value`` comment lines of a header (``Age``, ``Sex``, ``Dx``, ...)."""
    out = {}
    for comment in header.comments:
        match = _COMMENT.match(comment)
        if match:
            out[match.group("key").lower()] = match.group("value").strip()
    return out


class ChallengeSource(Source):
    """A folder (searched recursively) of Challenge WFDB records. With the Challenge's
    ``dx_mapping_scored.csv``/``dx_mapping_unscored.csv`` beside them, a ``#Dx`` code in neither
    is a problem; without them any numeric code is accepted."""

    format = "challenge"
    index_columns = ("file",)

    def known_codes(self) -> set[str] | None:
        paths = [self.root / name for name in MAPPING_FILES if (self.root / name).is_file()]
        if not paths:
            return None
        codes: set[str] = set()
        for path in paths:
            try:
                table = pd.read_csv(path, dtype=str, keep_default_na=False)
            except pd.errors.EmptyDataError:
                raise DataError(f"{path}: file is empty; expected a SNOMEDCTCode column") from None
            except (pd.errors.ParserError, UnicodeDecodeError) as exc:
                raise DataError(f"{path}: not a readable UTF-8 CSV ({exc})") from None
            if "SNOMEDCTCode" not in table.columns:
                raise DataError(
                    f"{path}: missing column SNOMEDCTCode; found {', '.join(table.columns)}"
                )
            codes.update(table["SNOMEDCTCode"].str.strip())
        return codes

    def _load(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        headers = find_headers(self.root)
        if not headers:
            raise DataError(f"{self.root}: no .hea files found")
        known = self.known_codes()
        mapping_names = " or ".join(MAPPING_FILES)
        rows: list[dict[str, Any]] = []
        problems: list[dict[str, str]] = []
        for rid, path in headers.items():
            try:
                header = read_header(path)
                fields = header_fields(header)
                if "dx" not in fields:
                    raise DataError(f"header file {path}: no '#Dx:' line; expected comma-separated SNOMED CT codes")
                codes = [c.strip() for c in fields["dx"].split(",") if c.strip()]
                if not codes:
                    raise DataError(f"header file {path}: empty '#Dx:' line")
                malformed = [c for c in codes if not _SNOMED.match(c)]
                if malformed:
                    raise DataError(f"header file {path}: #Dx: malformed SNOMED CT code(s) {', '.join(malformed)}; expected digits")
                if known is not None:
                    unknown = [c for c in codes if c not in known]
                    if unknown:
                        raise DataError(f"header file {path}: #Dx: unknown SNOMED CT code(s) {', '.join(unknown)} (not in {mapping_names})")
            except ValueError as exc:
                problems.append(self.problem_row(rid, path, str(exc)))
                continue
            sex = (fields.get("sex") or "").strip().lower()
            rows.append({
                "record_id": rid,
                "patient_id": None,
                "age": optional_float(fields.get("age")),
                "sex": {"male": "M", "m": "M", "female": "F", "f": "F"}.get(sex),
                "statements": ";".join(dict.fromkeys(codes)),
                "fold": None,
                "fs": header.fs,
                "n_samples": header.sig_len,
                "file": self.relative(path),
            })
        return finish_metadata(rows, ["fs", "n_samples", "file"]), problems_frame(problems)

    def native_rates(self) -> dict[float, int]:
        counts = self.metadata()["fs"].value_counts()
        return {float(k): int(v) for k, v in counts.items()}

    def record_file(self, record_id: str, fs: float | None = None) -> Path:
        self._ensure()
        return self.root / self._rows[str(record_id)]["file"]

    def _read(self, row: dict[str, Any], fs: float | None) -> ECGRecord:
        hea = self.root / row["file"]
        signal, names, header = read_signals(hea)
        signal = to_canonical(signal, names, str(hea))
        return make_record(
            signal, header.fs, fs, str(hea),
            record_id=row["record_id"],
            patient_id=None,
            age=optional_float(row["age"]),
            sex=optional_str(row["sex"]),
            statements=tuple(s for s in (optional_str(row["statements"]) or "").split(";") if s),
            source_format=self.format,
            extra={"file": row["file"]},
        )
