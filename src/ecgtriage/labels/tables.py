"""The package's versioned label data tables (``labels/data/*.csv``), loaded and checked once.

* ``aha_statements.csv``: the 44 SPH primary statements and 15 modifiers with code-level tiers.
* ``tier_rules.csv``: context and modifier rules (C1-C2, R1-R5 and their PTB-XL/Challenge
  analogues), applied before the code-level tiers (first matching rule wins).
* ``scp_to_aha.csv``: PTB-XL SCP statements and ``heart_axis`` values → AHA code, match type, tier.
* ``snomed_to_aha.csv``: the Challenge 2021 scored and unscored SNOMED CT codes → AHA code, tier.
* ``infarction_stadia.csv``: PTB-XL ``infarction_stadium`` value → ``mi_age`` (``acute`` /
  ``not_acute``), the one place that decides how an MI of unknown or missing stadium is
  treated; rules read the record attribute ``mi_age``, never the stadium text.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd

#: Version of the label data (tables + rules); every built-in tier scheme reports it.
DATA_VERSION = "aha-tiers-2026.12-1"

TIER4 = ("Normal", "Mild", "Moderate", "Serious")
TIER3 = ("Normal", "Monitor", "Serious")
#: Nested coarsening A (labels.md decision 3).
TIER4_TO_TIER3 = {"Normal": "Normal", "Mild": "Monitor", "Moderate": "Monitor", "Serious": "Serious"}
#: Tier cells that are not a class: ``ignore`` sets no tier, ``unknown`` makes it undeterminable.
NON_CLASS = ("ignore", "unknown")
MATCH_TYPES = ("direct", "same", "partial", "none")
VOCABULARIES = ("aha", "scp", "heart_axis", "snomed")
#: Values of the ``mi_age`` record attribute (``infarction_stadia.csv``).
MI_AGES = ("acute", "not_acute")
#: Statement vocabularies of each source format.
SOURCE_VOCABULARIES = {"sph": ("aha",), "ptbxl": ("scp", "heart_axis"), "challenge": ("snomed",)}


def data_path(name: str):
    return resources.files("ecgtriage.labels") / "data" / name


def _read(name: str, required: tuple[str, ...]) -> pd.DataFrame:
    with data_path(name).open("r", encoding="utf-8") as fh:
        frame = pd.read_csv(fh, dtype=str, keep_default_na=False)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"labels/data/{name}: missing columns {missing}; found {list(frame.columns)}")
    return frame


def _check_tiers(frame: pd.DataFrame, name: str, allowed: tuple[str, ...]) -> None:
    for i, row in frame.iterrows():
        tier4 = row["tier4"]
        if tier4 not in allowed:
            raise ValueError(
                f"labels/data/{name} row {i + 2} ({row.get('statement', row.get('code'))}): "
                f"tier4 {tier4!r} not in {allowed}"
            )
        if "tier3" in frame.columns:
            expected = TIER4_TO_TIER3.get(tier4, tier4)
            if row["tier3"] != expected:
                raise ValueError(
                    f"labels/data/{name} row {i + 2}: tier3 {row['tier3']!r} is not the nested "
                    f"coarsening of tier4 {tier4!r} (expected {expected!r})"
                )


@lru_cache(maxsize=None)
def aha_statements() -> pd.DataFrame:
    """The 59-row AHA statement table (44 primary, 15 modifier), ``code`` as str."""
    frame = _read(
        "aha_statements.csv",
        ("code", "name", "category", "kind", "tier4", "tier3", "rationale", "source"),
    )
    if frame["code"].duplicated().any():
        raise ValueError(f"labels/data/aha_statements.csv: duplicate codes {frame['code'][frame['code'].duplicated()].tolist()}")
    primary = frame[frame["kind"] == "primary"]
    _check_tiers(primary, "aha_statements.csv", TIER4)
    return frame


@lru_cache(maxsize=None)
def tier_rules() -> pd.DataFrame:
    frame = _read(
        "tier_rules.csv",
        ("rule_id", "vocabulary", "statement", "modifier", "when", "tier4", "rationale", "source"),
    )
    if frame["rule_id"].duplicated().any():
        raise ValueError("labels/data/tier_rules.csv: duplicate rule_id")
    return frame


@lru_cache(maxsize=None)
def mi_age_of_stadium() -> dict[str, str]:
    """PTB-XL infarction stadium text → ``mi_age`` (``""`` = no stadium given).

    Every rule that depends on the age of an infarction reads this one mapping (through the
    ``mi_age`` record attribute), so an MI of unknown or missing stadium is treated the same
    way everywhere: as not acute, like an SPH MI without an age modifier (rule R1b).
    """
    frame = _read("infarction_stadia.csv", ("stadium", "mi_age", "rationale", "source"))
    bad = frame.loc[~frame["mi_age"].isin(MI_AGES), "mi_age"].tolist()
    if bad:
        raise ValueError(f"labels/data/infarction_stadia.csv: mi_age {bad} not in {MI_AGES}")
    if frame["stadium"].duplicated().any():
        raise ValueError("labels/data/infarction_stadia.csv: duplicate stadium")
    return dict(zip(frame["stadium"].str.strip(), frame["mi_age"]))


@lru_cache(maxsize=None)
def scp_table() -> pd.DataFrame:
    """PTB-XL SCP statements (and ``heart_axis`` values) → AHA code, match type, tier."""
    frame = _read(
        "scp_to_aha.csv",
        ("vocabulary", "statement", "name", "aha_column", "aha_code", "match_type",
         "aha_candidates", "tier4", "tier3", "rationale", "source"),
    )
    _check_mapping(frame, "scp_to_aha.csv")
    return frame


@lru_cache(maxsize=None)
def snomed_table() -> pd.DataFrame:
    """Challenge 2021 SNOMED CT codes → AHA code, match type, tier."""
    frame = _read(
        "snomed_to_aha.csv",
        ("vocabulary", "statement", "abbreviation", "name", "scored", "aha_code", "match_type",
         "aha_candidates", "tier4", "tier3", "rationale", "source"),
    )
    _check_mapping(frame, "snomed_to_aha.csv")
    return frame


def _check_mapping(frame: pd.DataFrame, name: str) -> None:
    key = frame["vocabulary"] + ":" + frame["statement"]
    if key.duplicated().any():
        raise ValueError(f"labels/data/{name}: duplicate statements {key[key.duplicated()].tolist()}")
    primary = set(aha_primary_codes())
    for i, row in frame.iterrows():
        where = f"labels/data/{name} row {i + 2} ({row['statement']})"
        if row["match_type"] not in MATCH_TYPES:
            raise ValueError(f"{where}: match_type {row['match_type']!r} not in {MATCH_TYPES}")
        has_code = bool(row["aha_code"])
        if has_code != (row["match_type"] in ("direct", "same")):
            raise ValueError(f"{where}: aha_code must be given exactly for direct/same matches")
        codes = ([row["aha_code"]] if has_code else []) + [c for c in row["aha_candidates"].split("|") if c]
        for code in codes:
            if code not in primary:
                raise ValueError(f"{where}: AHA code {code} is not one of the 44 SPH primary statements")
    _check_tiers(frame, name, TIER4 + NON_CLASS)


@lru_cache(maxsize=None)
def aha_primary_codes() -> tuple[str, ...]:
    """The 44 primary statement codes in ascending numeric order (the ``aha44`` class order)."""
    frame = aha_statements()
    codes = frame.loc[frame["kind"] == "primary", "code"]
    return tuple(sorted(codes, key=int))


@lru_cache(maxsize=None)
def aha_modifier_codes() -> tuple[str, ...]:
    frame = aha_statements()
    return tuple(sorted(frame.loc[frame["kind"] == "modifier", "code"], key=int))


@lru_cache(maxsize=None)
def known_statements(vocabulary: str) -> frozenset[str]:
    """Every statement code a scheme row may name in ``vocabulary``."""
    if vocabulary == "aha":
        return frozenset(aha_primary_codes())
    if vocabulary in ("scp", "heart_axis"):
        frame = scp_table()
        return frozenset(frame.loc[frame["vocabulary"] == vocabulary, "statement"])
    if vocabulary == "snomed":
        return frozenset(snomed_table()["statement"])
    raise ValueError(f"unknown vocabulary {vocabulary!r}; expected one of {VOCABULARIES}")


@lru_cache(maxsize=None)
def mapping_lookup() -> dict[tuple[str, str], dict[str, str]]:
    """``(vocabulary, statement) → row`` over all mapping tables (AHA rows map to themselves)."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for _, row in aha_statements().iterrows():
        if row["kind"] == "primary":
            out[("aha", row["code"])] = {
                "name": row["name"], "aha_code": row["code"], "match_type": "direct",
                "aha_candidates": "", "tier4": row["tier4"], "tier3": row["tier3"],
            }
    for frame in (scp_table(), snomed_table()):
        for record in frame.to_dict("records"):
            out[(record["vocabulary"], record["statement"])] = record
    return out
