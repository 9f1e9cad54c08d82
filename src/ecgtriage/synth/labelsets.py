"""Sample label sets, demographics and record lengths from the real SPH / PTB-XL distributions.

The tables in ``ecgtriage/synth/data`` are aggregate counts made by
``scripts/make_synth_stats.py``. Every sampler takes an ``np.random.Generator`` and is
deterministic given it.

SPH: statement sets are drawn with their real frequencies (modifiers included), the record
length from the length distribution of the set's rarest code (length is confounded with the
label in SPH, and the rarest code carries the most atypical lengths, e.g. codes 84 and 87 have
no 10-s record), age/sex from the normal/abnormal group of the patient's first record, and
records per patient from the real patient multiplicity.

PTB-XL: SCP statement sets are drawn with fold-9 frequencies (a complete, representative fold)
and mapped to simulator statements: the SCP key itself where the simulator draws it
(``simulator.EXTRA_PATHOLOGIES``), else the SPH statement in ``scp_statement_map.csv``; SCP
statements the simulator cannot show are dropped from the written labels, so labels never claim
what the signal lacks.
MI statements take their age modifier from ``infarction_stadium1`` (Stadium I/I-II -> acute
+330, II -> recent +331, II-III/III -> old +332); ``heart_axis`` adds the axis statements 120/121
(always for the abnormal ALAD/ARAD/AXL/AXR, for LAD/RAD unless the record is NORM, because
PTB-XL's "Linkstyp" is common in normal ECGs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from typing import Collection

import numpy as np
import pandas as pd

from ecgtriage.io.aha_code import parse_aha_code

#: Mean records per patient in PTB-XL v1.0.1 (21,837 records of 18,885 patients, Wagner 2020).
PTBXL_RECORDS_PER_PATIENT = 21837 / 18885
PTBXL_MI_SCP = frozenset({"IMI", "ASMI", "ILMI", "AMI", "ALMI", "LMI", "IPLMI", "IPMI", "PMI"})
_STADIUM_MODIFIER = {"Stadium I": 330, "Stadium I-II": 330, "Stadium II": 331,
                     "Stadium II-III": 332, "Stadium III": 332}
_SPH_MI_CODES = frozenset({160, 161, 165, 166})


def _read_csv(name: str) -> pd.DataFrame:
    with resources.files("ecgtriage.synth").joinpath("data", name).open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, keep_default_na=False, na_values=[])


def data_bytes(name: str) -> bytes:
    """Raw bytes of a file in ``ecgtriage/synth/data`` (tables copied verbatim into corpora)."""
    return resources.files("ecgtriage.synth").joinpath("data", name).read_bytes()


@lru_cache(maxsize=None)
def table(name: str) -> pd.DataFrame:
    """One statistics table from ``ecgtriage/synth/data`` (cached, treat as read-only)."""
    return _read_csv(name)


@lru_cache(maxsize=None)
def sph_summary() -> dict:
    text = resources.files("ecgtriage.synth").joinpath("data", "sph_summary.json").read_text()
    return json.loads(text)


@lru_cache(maxsize=None)
def _categorical(name: str, weight: str, group: tuple[str, ...] = ()) -> dict[tuple, tuple]:
    """Per group of ``name``'s rows: (row positions, cumulative probabilities) for sampling."""
    frame = table(name)
    keys = list(zip(*(frame[g].astype(str) for g in group))) if group else [()] * len(frame)
    weights = frame[weight].to_numpy(dtype=np.float64)
    positions: dict[tuple, list[int]] = {}
    for i, key in enumerate(keys):
        positions.setdefault(key, []).append(i)
    out: dict[tuple, tuple] = {}
    for key, rows in positions.items():
        cdf = np.cumsum(weights[rows])
        out[key] = (np.asarray(rows), cdf / cdf[-1])
    return out


@lru_cache(maxsize=None)
def _column(name: str, column: str) -> tuple:
    """One column of a statistics table as a tuple (fast scalar access while sampling)."""
    return tuple(table(name)[column].tolist())


def _draw(rng: np.random.Generator, name: str, weight: str, group: tuple[str, ...] = (),
          key: tuple = ()) -> int | None:
    """Row position in table ``name`` drawn with probability proportional to ``weight`` among
    the rows whose ``group`` columns equal ``key`` (``None`` when no row matches)."""
    groups = _categorical(name, weight, group)
    if key not in groups:
        return None
    rows, cdf = groups[key]
    return int(rows[min(int(np.searchsorted(cdf, rng.random(), side="right")), len(rows) - 1)])


# --------------------------------------------------------------------------------------- SPH
@dataclass(frozen=True)
class SphPlanRow:
    """Everything about one SPH record that is decided before its signal is simulated."""

    ecg_id: str
    aha_code: str
    patient_id: str
    age: int
    sex: str
    n_samples: int
    date: str

    @property
    def statements(self) -> tuple[str, ...]:
        return tuple(str(s) for s in parse_aha_code(self.aha_code))


def sample_sph_label_set(rng: np.random.Generator) -> str:
    """One ``AHA_Code`` string (sorted statements) drawn with its real SPH frequency."""
    return str(_column("sph_label_sets.csv", "aha_code")[_draw(rng, "sph_label_sets.csv", "n")])


def sample_sph_length(aha_code: str, rng: np.random.Generator) -> int:
    """Record length in samples at 500 Hz from the length distribution of the rarest code."""
    totals = _code_totals()
    codes = {s.code for s in parse_aha_code(aha_code)}
    missing = codes - set(totals)
    if missing:
        raise ValueError(f"AHA_Code {aha_code!r}: codes {sorted(missing)} have no length statistics")
    rarest = min(codes, key=lambda c: (totals[c], c))
    return int(_column("sph_lengths.csv", "n_samples")[
        _draw(rng, "sph_lengths.csv", "n", ("code",), (str(rarest),))])


@lru_cache(maxsize=None)
def _code_totals() -> dict[int, int]:
    lengths = table("sph_lengths.csv")
    return {int(k): int(v) for k, v in lengths.groupby("code").n.sum().items()}


def sample_sph_demographics(aha_code: str, rng: np.random.Generator) -> tuple[int, str]:
    """(age, sex) from the real distribution of normal (code 1) or abnormal records."""
    group = "normal" if aha_code == "1" else "abnormal"
    i = _draw(rng, "sph_demographics.csv", "n", ("group",), (group,))
    return int(_column("sph_demographics.csv", "age")[i]), str(_column("sph_demographics.csv", "sex")[i])


def sample_sph_plan(n: int, rng: np.random.Generator) -> list[SphPlanRow]:
    """Plan ``n`` SPH records: ids, labels, patients (some with several records), lengths."""
    if n < 1:
        raise ValueError(f"n: expected at least 1 record, found {n}")
    summary = sph_summary()
    first = date.fromisoformat(summary["date_min"])
    span = (date.fromisoformat(summary["date_max"]) - first).days
    rows: list[SphPlanRow] = []
    patient = 0
    while len(rows) < n:
        patient += 1
        k = int(_column("sph_records_per_patient.csv", "records")[
            _draw(rng, "sph_records_per_patient.csv", "n_patients")])
        k = min(k, n - len(rows))
        codes = [sample_sph_label_set(rng) for _ in range(k)]
        age, sex = sample_sph_demographics(codes[0], rng)
        days = sorted(int(d) for d in rng.integers(0, span + 1, size=k))
        for code, day in zip(codes, days):
            rows.append(
                SphPlanRow(
                    ecg_id=f"A{len(rows) + 1:05d}",
                    aha_code=code,
                    patient_id=f"S{patient:05d}",
                    age=age,
                    sex=sex,
                    n_samples=sample_sph_length(code, rng),
                    date=(first + timedelta(days=day)).isoformat(),
                )
            )
    return rows


# ------------------------------------------------------------------------------------ PTB-XL
@dataclass(frozen=True)
class PtbxlPlanRow:
    """One PTB-XL record's labels and metadata, decided before simulation."""

    ecg_id: int
    patient_id: int
    age: int
    sex: int
    scp_codes: dict = field(hash=False)
    statements: tuple[str, ...]
    heart_axis: str
    infarction_stadium1: str
    infarction_stadium2: str
    strat_fold: int


@lru_cache(maxsize=None)
def scp_statement_map() -> dict[str, str]:
    """SCP statement -> simulator statement (``'-'``: kept, no statement; ``''``: not simulated)."""
    frame = table("scp_statement_map.csv")
    return dict(zip(frame.scp, frame.statement))


def _likelihood(code: str, rng: np.random.Generator) -> float:
    i = _draw(rng, "ptbxl_likelihoods.csv", "n", ("scp",), (code,))
    return 100.0 if i is None else float(_column("ptbxl_likelihoods.csv", "likelihood")[i])


def _stadium(column: str, mi: bool, rng: np.random.Generator) -> str:
    i = _draw(rng, "ptbxl_stadium.csv", "n", ("column", "context"), (column, "mi" if mi else "no_mi"))
    return str(_column("ptbxl_stadium.csv", "value")[i])


def _heart_axis(scp: Collection[str], rng: np.random.Generator) -> str:
    context = "LAFB" if "LAFB" in scp else "LPFB" if "LPFB" in scp else "other"
    i = _draw(rng, "ptbxl_heart_axis.csv", "n", ("context",), (context,))
    return str(_column("ptbxl_heart_axis.csv", "heart_axis")[i])


def ptbxl_statements(
    scp: Collection[str], heart_axis: str, stadium1: str, supported: Collection[str] | None = None
) -> tuple[str, ...]:
    """Simulator statements for an SCP set (see the module notes for the rules)."""
    modifier = _STADIUM_MODIFIER.get(stadium1)
    out: list[str] = []
    for code in scp:
        stmt = simulator_statement(code, supported)
        if stmt in ("", "-"):
            continue
        if modifier is not None and stmt.isdigit() and int(stmt) in _SPH_MI_CODES:
            stmt = f"{stmt}+{modifier}"
        if stmt not in out:
            out.append(stmt)
    normal_only = set(scp) <= {"NORM", "SR"}
    if heart_axis in ("ALAD", "AXL") or (heart_axis == "LAD" and not normal_only):
        if "101" not in out and "121" not in out:
            out.append("121")
    if heart_axis in ("ARAD", "AXR") or (heart_axis == "RAD" and not normal_only):
        if "102" not in out and "120" not in out:
            out.append("120")
    if len(out) > 1 and "1" in out:
        out.remove("1")
    return tuple(out) if out else ("1",)


def simulator_statement(code: str, supported: Collection[str] | None = None) -> str:
    """The simulator statement for one SCP code: the SCP key itself when the simulator lists it
    in ``supported`` (its PTB-XL-only keys), else the SPH statement of ``scp_statement_map.csv``
    (``'-'``: kept without a statement, ``''``: cannot be simulated)."""
    if supported is not None and code in supported:
        return code
    stmt = scp_statement_map().get(code, "")
    if stmt and stmt != "-" and not stmt[0].isdigit() and supported is not None and stmt not in supported:
        return ""
    return stmt


def sample_ptbxl_labels(
    rng: np.random.Generator, supported: Collection[str] | None = None
) -> tuple[dict, tuple[str, ...], str, str, str]:
    """One PTB-XL label draw: (scp_codes with likelihoods, simulator statements, heart_axis,
    infarction_stadium1, infarction_stadium2).

    ``supported`` lists the simulator's PTB-XL-only keys (``simulator.EXTRA_PATHOLOGIES``);
    SCP statements needing an unsupported key are dropped. Sets left empty are redrawn.
    """
    while True:
        raw = str(_column("ptbxl_label_sets.csv", "scp_codes")[_draw(rng, "ptbxl_label_sets.csv", "n")]).split(";")
        kept = [c for c in raw if simulator_statement(c, supported) != ""]
        if any(c != "SR" for c in kept) or kept == raw:
            break
    kept = sorted(kept, key=lambda c: (c == "SR", c))
    scp_codes = {c: _likelihood(c, rng) for c in kept}
    mi = bool(PTBXL_MI_SCP & set(kept))
    stadium1 = _stadium("infarction_stadium1", mi, rng)
    stadium2 = _stadium("infarction_stadium2", mi, rng) if stadium1 else ""
    axis = _heart_axis(kept, rng)
    return scp_codes, ptbxl_statements(kept, axis, stadium1, supported), axis, stadium1, stadium2


def sample_ptbxl_plan(
    n: int, rng: np.random.Generator, supported: Collection[str] | None = None
) -> list[PtbxlPlanRow]:
    """Plan ``n`` PTB-XL records; patients (about 1.16 records each) share age, sex and fold."""
    if n < 1:
        raise ValueError(f"n: expected at least 1 record, found {n}")
    rows: list[PtbxlPlanRow] = []
    patient = 0
    while len(rows) < n:
        patient += 1
        k = min(1 + int(rng.poisson(PTBXL_RECORDS_PER_PATIENT - 1)), n - len(rows))
        i = _draw(rng, "ptbxl_demographics.csv", "n")
        age = int(_column("ptbxl_demographics.csv", "age")[i])
        sex = int(_column("ptbxl_demographics.csv", "sex")[i])
        fold = int(rng.integers(1, 11))
        for _ in range(k):
            scp, stmts, axis, st1, st2 = sample_ptbxl_labels(rng, supported)
            rows.append(PtbxlPlanRow(len(rows) + 1, patient, age, sex, scp, stmts, axis, st1, st2, fold))
    return rows
