"""Statements → training/evaluation targets for a scheme; aha44 predictions → tiers.

Public: :class:`Targets`, :func:`encode_targets`, :func:`targets_for_cache`,
:func:`collapse_to_tier`, :func:`coarsen`, :func:`statement_table`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd
from tqdm import tqdm

from ecgtriage.errors import ConfigError, DataError
from ecgtriage.labels import tables
from ecgtriage.labels.conditions import RecordContext
from ecgtriage.labels.record_statements import (
    TaggedStatement,
    record_context,
    record_statements,
    vocabularies,
)
from ecgtriage.labels.schemes import IGNORE, UNKNOWN, Scheme, load_scheme
from ecgtriage.signal.rate import LEAD_II, RateError, ventricular_rate

#: Status of the measured ventricular rate in ``Targets.details['rate_status']``.
RATE_NOT_NEEDED = ""
RATE_MEASURED = "measured"
RATE_NO_SIGNAL = "no_signal: rate rules fell back to the code tier (Moderate for AF/AFL)"


@dataclass(frozen=True)
class Targets:
    """Encoded targets of one scheme for one table of records (row order of the index).

    ``y``: (N, C) float32 multi-hot (multi-label) or (N,) int64 class index, -1 where the class
    cannot be determined. ``known``: (N,) bool. ``class_observable``: (C,) bool, whether the class
    can occur in this source at all (a statement of the source's vocabulary maps to it).
    ``details``: per record ``record_id, rules`` (rule ids that fired), ``ventricular_rate``,
    ``rate_status`` (see ``RATE_*``; ``failed: ...`` names the reason), ``unmapped`` (raw
    statements that gave no class).
    """

    y: np.ndarray
    known: np.ndarray
    class_observable: np.ndarray
    record_ids: np.ndarray
    scheme_name: str
    scheme_version: str
    classes: tuple[str, ...]
    details: pd.DataFrame


def _class_index(scheme: Scheme) -> dict[str, int]:
    return {c: i for i, c in enumerate(scheme.row_classes)}


def aggregate(scheme: Scheme, results: Iterable[tuple[str, ...] | None]) -> tuple[Any, bool]:
    """Combine per-statement row classes (``None`` = no row matched) into one record target.

    Multi-label: union of classes. Single-label ordered: the highest class (most severe wins);
    an undeterminable statement makes the record undeterminable unless the top class is reached.
    Single-label unordered: the one class all statements agree on, else undeterminable.
    Returns ``(target, known)``; the target is a (C,) float32 vector or an int (-1 when unknown).
    """
    index = _class_index(scheme)
    uncertain = False
    found: list[int] = []
    for classes in results:
        if classes is None and scheme.multilabel:
            continue  # a statement outside a multi-label scheme is simply not one of its classes
        if classes is None or classes == (UNKNOWN,):
            uncertain = True
            continue
        if classes == (IGNORE,):
            continue
        found.extend(index[c] for c in classes)
    if scheme.multilabel:
        y = np.zeros(len(scheme.classes), dtype=np.float32)
        y[found] = 1.0
        known = not uncertain and (bool(found) or scheme.empty == "negative")
        return y, known
    if scheme.ordered:
        best = max(found) if found else -1
        top = len(scheme.row_classes) - 1
        if uncertain and best < top:
            return -1, False
    else:
        distinct = set(found)
        if uncertain or len(distinct) > 1:
            return -1, False
        best = distinct.pop() if distinct else -1
    if best < 0:
        if scheme.default_class is None:
            return -1, False
        return scheme.classes.index(scheme.default_class), True
    name = scheme.row_classes[best]
    if scheme.coarsen_map is not None:
        name = scheme.coarsen_map[name]
    return scheme.classes.index(name), True


def check_scheme_source(scheme: Scheme, source_format: str) -> tuple[str, ...]:
    """Raise ``ValueError`` unless ``scheme`` has rows for the statements of ``source_format``."""
    vocabs = vocabularies(source_format)
    if not scheme.vocabularies.intersection(vocabs):
        raise ConfigError(
            f"scheme {scheme.name!r} has no rows for {source_format} statements (vocabulary "
            f"{'/'.join(vocabs)}); its rows use {sorted(scheme.vocabularies)}"
        )
    return vocabs


def class_observable(scheme: Scheme, source_format: str) -> np.ndarray:
    """(C,) bool: which classes a statement of this source format can produce."""
    vocabs = vocabularies(source_format)
    reachable: set[str] = set()
    for row in scheme.rows:
        if row.vocabulary in vocabs:
            reachable.update(c for c in row.classes if c not in tables.NON_CLASS)
    if scheme.coarsen_map is not None:
        reachable = {scheme.coarsen_map[c] for c in reachable}
    if scheme.default_class is not None:
        reachable.add(scheme.default_class)
    return np.array([c in reachable for c in scheme.classes], dtype=bool)


class _RateProvider:
    """Lazily measures a record's ventricular rate from lead II of its cached signal."""

    def __init__(self, signals: np.ndarray | None, fs: float | None):
        self.signals, self.fs = signals, fs
        self.status: dict[int, tuple[float, str]] = {}

    def attr(self, position: int, signal_row: int):
        def compute() -> float | None:
            if self.signals is None:
                self.status[position] = (float("nan"), RATE_NO_SIGNAL)
                return None
            try:
                rate = ventricular_rate(np.asarray(self.signals[signal_row, LEAD_II]), self.fs)
            except RateError as exc:
                self.status[position] = (float("nan"), f"failed: {exc}; fell back to the code tier")
                return None
            self.status[position] = (rate, RATE_MEASURED)
            return rate

        return compute


def _signal_rows(index_df: pd.DataFrame, signals: np.ndarray | None) -> np.ndarray:
    if signals is None:
        return np.arange(len(index_df))
    rows = index_df["row"].to_numpy(dtype=np.int64) if "row" in index_df.columns else np.arange(len(index_df))
    if len(rows) and (rows.min() < 0 or rows.max() >= len(signals)):
        raise DataError(
            f"index column 'row': values {rows.min()}..{rows.max()} outside the signals array "
            f"of {len(signals)} rows"
        )
    return rows


def _classified(scheme: Scheme, statements: list[TaggedStatement], ctx: RecordContext):
    for s in statements:
        classes, rule = scheme.classify(s.vocabulary, s.code, s.modifier, ctx)
        yield s, classes, rule


def encode_targets(
    index_df: pd.DataFrame,
    source_format: str,
    scheme: "Scheme | str",
    signals: np.ndarray | None = None,
    fs: float | None = None,
) -> Targets:
    """Encode the ``statements`` of every row of ``index_df`` under ``scheme``.

    Parameters
    ----------
    index_df : DataFrame with ``record_id`` and ``statements`` (``;``-joined raw statements);
        PTB-XL also ``heart_axis``, ``infarction_stadium1/2``; with ``signals`` a ``row``
        column gives each record's row in ``signals`` (else the row position).
    source_format : ``"sph"``, ``"ptbxl"`` or ``"challenge"``.
    scheme : a :class:`Scheme` or a name/path for :func:`load_scheme`.
    signals, fs : (N, 12, T) signals (canonical lead order) and their sampling rate, needed for
        rules on the measured ventricular rate (AF/AFL > 110/min → Serious). Without them
        those rules cannot fire: AF/AFL keep their code tier (Moderate) and
        ``details.rate_status`` says so.
    """
    scheme = load_scheme(scheme)
    check_scheme_source(scheme, source_format)
    if signals is not None and not fs:
        raise ValueError("encode_targets: fs is required when signals are given")
    if "statements" not in index_df.columns or "record_id" not in index_df.columns:
        raise DataError(f"index table: expected columns record_id and statements, found {list(index_df.columns)}")
    signal_rows = _signal_rows(index_df, signals)
    provider = _RateProvider(signals, fs)
    n, n_classes = len(index_df), len(scheme.classes)
    y = np.zeros((n, n_classes), np.float32) if scheme.multilabel else np.full(n, -1, np.int64)
    known = np.zeros(n, dtype=bool)
    rules_col, unmapped_col = [], []
    records = index_df.to_dict("records")
    for i, row in enumerate(tqdm(records, desc=f"labels {scheme.name}", unit="rec", disable=None, leave=False)):
        where = f"record {row.get('record_id')}: statements"
        statements = record_statements(row, source_format, where=where)
        ctx = record_context(row, statements, source_format)
        ctx.attrs["ventricular_rate"] = provider.attr(i, int(signal_rows[i]))
        results, fired, unmapped = [], [], []
        for s, classes, rule in _classified(scheme, statements, ctx):
            results.append(classes)
            if rule:
                fired.append(rule)
            if classes is None or classes == (IGNORE,):
                unmapped.append(s.raw)
        target, ok = aggregate(scheme, results)
        y[i] = target
        known[i] = ok
        rules_col.append(";".join(fired))
        unmapped_col.append(";".join(unmapped))
    rates = [provider.status.get(i, (float("nan"), RATE_NOT_NEEDED)) for i in range(n)]
    details = pd.DataFrame({
        "record_id": index_df["record_id"].astype(str).to_numpy(),
        "rules": rules_col,
        "ventricular_rate": [r[0] for r in rates],
        "rate_status": [r[1] for r in rates],
        "unmapped": unmapped_col,
    })
    return Targets(
        y=y, known=known, class_observable=class_observable(scheme, source_format),
        record_ids=index_df["record_id"].astype(str).to_numpy(), scheme_name=scheme.name,
        scheme_version=scheme.version, classes=scheme.classes, details=details,
    )


def targets_for_cache(cache: Any, scheme: "Scheme | str") -> Targets:
    """:func:`encode_targets` on a cache from ``ecgtriage.data.cache.open_cache`` (its index,
    format, signals and fs: the AF/AFL rate rule is measured on the cached lead II)."""
    return encode_targets(cache.index, cache.format, scheme, signals=cache.signals, fs=cache.fs)


def collapse_to_tier(code_multi_hot: np.ndarray, tier_scheme: "Scheme | str" = "tier4") -> np.ndarray:
    """aha44 predictions → tier class index through the tier scheme's rules.

    ``code_multi_hot`` is (N, 44) bool in ``aha44`` class order (ascending AHA code). A 44-class
    prediction carries no modifiers, so every code is a modifier-free statement (MI → Moderate,
    AF → Moderate, ST deviation → Moderate, VPC → Mild, T-wave abnormality → Mild; context
    rules C1-C2 still apply). An all-zero row gets the scheme's default class (Normal).
    Returns (N,) int64.
    """
    scheme = load_scheme(tier_scheme)
    if scheme.multilabel:
        raise ValueError(f"collapse_to_tier: {scheme.name!r} is multi-label; expected a tier scheme")
    codes = tables.aha_primary_codes()
    x = np.asarray(code_multi_hot).astype(bool)
    if x.ndim != 2 or x.shape[1] != len(codes):
        raise ValueError(f"collapse_to_tier: expected shape (N, {len(codes)}), found {x.shape}")
    patterns, inverse = np.unique(x, axis=0, return_inverse=True)
    out = np.empty(len(patterns), dtype=np.int64)
    for p, pattern in enumerate(patterns):
        present = [codes[j] for j in np.flatnonzero(pattern)]
        ctx = RecordContext(codes=frozenset(present), modifiers=frozenset())
        results = [scheme.classify("aha", c, None, ctx)[0] for c in present]
        out[p] = aggregate(scheme, results)[0]
    return out[np.asarray(inverse).reshape(-1)]


def coarsen(tier_idx: np.ndarray, target: "Scheme | str" = "tier3") -> np.ndarray:
    """Map class indices of the scheme that ``target`` extends (tier4) to ``target``'s classes
    (tier3: Normal / Monitor = Mild + Moderate / Serious). -1 stays -1."""
    scheme = load_scheme(target)
    if scheme.coarsen_map is None:
        raise ValueError(f"coarsen: scheme {scheme.name!r} is not a coarsening (no 'coarsen' header)")
    idx = np.asarray(tier_idx, dtype=np.int64)
    lut = np.array([scheme.classes.index(scheme.coarsen_map[c]) for c in scheme.row_classes], dtype=np.int64)
    if idx.size and (idx.max() >= len(lut) or idx.min() < -1):
        raise ValueError(f"coarsen: indices must be in -1..{len(lut) - 1}, found {idx.min()}..{idx.max()}")
    return np.where(idx < 0, -1, lut[np.clip(idx, 0, None)])


def statement_table(cache_or_index: Any, source_format: str | None = None) -> pd.DataFrame:
    """Long table, one row per (record, statement): ``record_id, statement`` (raw), ``aha_code``
    (Int64, NA unless a direct/same match), ``match_type``, ``tier4``, ``tier3`` (the statement's
    own tier after the rules, in its record's context; ``ignore``/``unknown``/empty where it has
    none), ``name``. Accepts a cache (its format is used and its signals feed the AF/AFL rate
    rule) or an index DataFrame with ``source_format``."""
    signals = fs = None
    if isinstance(cache_or_index, pd.DataFrame):
        index_df = cache_or_index
        if source_format is None:
            raise ValueError("statement_table: source_format is required with a DataFrame")
    else:
        index_df, signals, fs = cache_or_index.index, cache_or_index.signals, cache_or_index.fs
        source_format = source_format or cache_or_index.format
    tier4 = load_scheme("tier4")
    lookup = tables.mapping_lookup()
    signal_rows = _signal_rows(index_df, signals)
    provider = _RateProvider(signals, fs)
    out: dict[str, list] = {k: [] for k in ("record_id", "statement", "aha_code", "match_type", "tier4", "tier3", "name")}
    for i, row in enumerate(index_df.to_dict("records")):
        statements = record_statements(row, source_format, where=f"record {row.get('record_id')}: statements")
        ctx = record_context(row, statements, source_format)
        ctx.attrs["ventricular_rate"] = provider.attr(i, int(signal_rows[i]))
        for s, classes, _ in _classified(tier4, statements, ctx):
            info = lookup.get((s.vocabulary, s.code), {})
            tier = "" if classes is None else classes[0]
            out["record_id"].append(str(row["record_id"]))
            out["statement"].append(s.raw)
            code = info.get("aha_code", "")
            out["aha_code"].append(int(code) if code else pd.NA)
            out["match_type"].append(info.get("match_type", "unmapped"))
            out["tier4"].append(tier)
            out["tier3"].append(tables.TIER4_TO_TIER3.get(tier, tier))
            out["name"].append(info.get("name", ""))
    frame = pd.DataFrame(out)
    frame["aha_code"] = frame["aha_code"].astype("Int64")
    return frame
