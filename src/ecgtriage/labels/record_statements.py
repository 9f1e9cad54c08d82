"""A record's raw statements (one index row) → vocabulary-tagged statements and rule context.

* SPH (``sph``): the ``AHA_Code`` grammar (``60+310;147``), vocabulary ``aha``.
* PTB-XL (``ptbxl``): ``;``-joined SCP codes, vocabulary ``scp``; the ``heart_axis`` column as a
  ``heart_axis`` statement; ``infarction_stadium1/2`` as the attribute ``infarction_stadium``
  and, through ``labels/data/infarction_stadia.csv``, as ``mi_age`` (``acute`` /
  ``not_acute``: an unknown or missing stadium is not acute), which the MI rules use.
  Likelihood threshold: **every listed statement counts** (the PTB-XL benchmark convention;
  a likelihood of 0 means "present, likelihood not stated").
* Challenge (``challenge``): ``;``- or ``,``-joined SNOMED CT codes, vocabulary ``snomed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from ecgtriage.errors import ConfigError, DataError
from ecgtriage.labels import tables
from ecgtriage.labels.conditions import RecordContext
from ecgtriage.io.aha_code import parse_aha_code


@dataclass(frozen=True)
class TaggedStatement:
    vocabulary: str
    code: str
    modifier: str | None
    raw: str


def _cell(row: Mapping[str, Any], column: str) -> str:
    value = row.get(column)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def record_statements(row: Mapping[str, Any], source_format: str, where: str = "statements") -> list[TaggedStatement]:
    """Statements of one index row; raises ``ValueError`` naming ``where`` for malformed text."""
    text = _cell(row, "statements")
    if source_format == "sph":
        known, modifiers = _aha_int_codes()
        return [
            TaggedStatement("aha", str(s.code), None if s.modifier is None else str(s.modifier), str(s))
            for s in parse_aha_code(text, known, modifiers, where=where)
        ]
    if source_format == "ptbxl":
        out = [TaggedStatement("scp", code, None, code) for code in _split_codes(text, ";")]
        axis = _cell(row, "heart_axis")
        if axis:
            out.append(TaggedStatement("heart_axis", axis, None, f"heart_axis:{axis}"))
        return out
    if source_format == "challenge":
        return [TaggedStatement("snomed", code, None, code) for code in _split_codes(text.replace(",", ";"), ";")]
    raise ConfigError(f"{where}: unknown source format {source_format!r}; expected sph, ptbxl or challenge")


@lru_cache(maxsize=None)
def _aha_int_codes() -> tuple[frozenset[int], frozenset[int]]:
    return (frozenset(int(c) for c in tables.aha_primary_codes()),
            frozenset(int(c) for c in tables.aha_modifier_codes()))


def _split_codes(text: str, sep: str) -> list[str]:
    seen: list[str] = []
    for part in text.split(sep):
        code = part.strip()
        if code and code not in seen:
            seen.append(code)
    return seen


def record_context(row: Mapping[str, Any], statements: list[TaggedStatement], source_format: str) -> RecordContext:
    """Rule context: codes and modifiers present, plus the format's record attributes."""
    attrs: dict[str, Any] = {}
    if source_format == "ptbxl":
        stadia = {_cell(row, c) for c in ("infarction_stadium1", "infarction_stadium2")}
        attrs["infarction_stadium"] = frozenset(s for s in stadia if s)
        attrs["mi_age"] = mi_age(attrs["infarction_stadium"], where=f"record {row.get('record_id')}")
    return RecordContext(
        codes=frozenset(s.code for s in statements),
        modifiers=frozenset(s.modifier for s in statements if s.modifier is not None),
        attrs=attrs,
    )


def mi_age(stadia: frozenset[str], where: str = "record") -> frozenset[str]:
    """``mi_age`` values of a record's infarction stadia (``{"not_acute"}`` when none is given).

    Raises ``DataError`` for a stadium text that ``infarction_stadia.csv`` does not list, rather
    than silently calling it acute or not.
    """
    table = tables.mi_age_of_stadium()
    if not stadia:
        return frozenset([table[""]])
    unknown = sorted(s for s in stadia if s not in table)
    if unknown:
        raise DataError(
            f"{where}: infarction_stadium {unknown[0]!r} is not one of "
            f"{', '.join(repr(k) for k in table if k)} (labels/data/infarction_stadia.csv)"
        )
    return frozenset(table[s] for s in stadia)


def vocabularies(source_format: str) -> tuple[str, ...]:
    try:
        return tables.SOURCE_VOCABULARIES[source_format]
    except KeyError:
        raise ConfigError(
            f"unknown source format {source_format!r}; expected one of {sorted(tables.SOURCE_VOCABULARIES)}"
        ) from None
