"""Label summaries for a source or cache: class counts per split, AHA-code coverage, unmapped
statements, AF/AFL rate status. Used by ``ecgtriage labels``; each returns a DataFrame."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ecgtriage.labels import tables
from ecgtriage.labels.schemes import Scheme
from ecgtriage.labels.targets import Targets, collapse_to_tier


def class_counts(targets: Targets, scheme: Scheme, split: pd.Series) -> pd.DataFrame:
    """One row per (split, class): ``count``, ``n_known`` (labelled records in the split) and
    ``prevalence`` = count / n_known; ``observable`` says whether the source can show the class."""
    split = split.reset_index(drop=True)
    rows = []
    for part in ["all", *sorted(split.unique(), key=["train", "val", "test"].index)]:
        mask = np.ones(len(split), bool) if part == "all" else (split == part).to_numpy()
        known = mask & targets.known
        n_known = int(known.sum())
        if scheme.multilabel:
            counts = targets.y[known].sum(axis=0).astype(int)
        else:
            counts = np.bincount(targets.y[known], minlength=len(scheme.classes))
        for c, name in enumerate(scheme.classes):
            rows.append({
                "scheme": scheme.name, "version": scheme.version, "split": part, "class": name,
                "count": int(counts[c]), "n_records": int(mask.sum()), "n_known": n_known,
                "prevalence": (counts[c] / n_known) if n_known else float("nan"),
                "observable": bool(targets.class_observable[c]),
            })
    return pd.DataFrame(rows)


def aha_coverage(statements: pd.DataFrame, split_of: pd.Series) -> pd.DataFrame:
    """Coverage of the 44 AHA codes: records carrying each code (direct/same matches), in all
    and per split, and the raw statements that produced it."""
    frame = statements.dropna(subset=["aha_code"]).copy()
    frame["split"] = frame["record_id"].map(split_of)
    names = tables.aha_statements().set_index("code")["name"]
    rows = []
    for code in tables.aha_primary_codes():
        sub = frame[frame["aha_code"] == int(code)]
        per_record = sub.drop_duplicates("record_id")
        row = {"aha_code": int(code), "name": names[code], "records": len(per_record)}
        for part in ("train", "val", "test"):
            row[part] = int((per_record["split"] == part).sum())
        row["from_statements"] = ";".join(sorted(sub["statement"].str.split("+").str[0].unique()))
        rows.append(row)
    out = pd.DataFrame(rows)
    out["occurs"] = out["records"] > 0
    return out


def unmapped_statements(targets: Targets, scheme: Scheme, statements: pd.DataFrame) -> pd.DataFrame:
    """Raw statements that gave no class under ``scheme`` (no row, or a row marked ignore),
    with the number of records carrying them and their AHA match type."""
    exploded = targets.details[["record_id", "unmapped"]].assign(
        statement=targets.details["unmapped"].str.split(";")
    ).explode("statement")
    exploded = exploded[exploded["statement"].fillna("") != ""]
    counts = exploded.groupby("statement")["record_id"].nunique().rename("records").reset_index()
    match = statements.drop_duplicates("statement").set_index("statement")["match_type"]
    counts["match_type"] = counts["statement"].map(match).fillna("unmapped")
    counts.insert(0, "scheme", scheme.name)
    return counts.sort_values(["records", "statement"], ascending=[False, True]).reset_index(drop=True)


def rate_summary(targets: Targets) -> pd.Series:
    """How the AF/AFL ventricular-rate rule was decided: counts per status."""
    status = targets.details["rate_status"]
    status = status[status != ""]
    return status.str.split(":").str[0].value_counts()


def modifier_free_counts(aha_targets: Targets, split: pd.Series, tier_scheme: Scheme | str = "tier4") -> pd.DataFrame:
    """Tier counts of the **modifier-free collapse**: each record's aha44 codes collapsed to a
    tier through the tier rules without modifiers (labels.md decision 4), i.e. what a perfect
    aha44 model can express at best. Same columns as :func:`class_counts`, ``scheme`` named
    ``"<tier> (aha44 collapsed)"``.

    On the real SPH metadata: 13,905 / 7,421 / 4,392 / 52 against 13,905 / 7,031 / 4,542 / 292
    with modifiers; most Serious records are Serious because of a modifier.
    """
    from ecgtriage.labels.schemes import load_scheme

    tier = load_scheme(tier_scheme)
    if aha_targets.scheme_name != "aha44":
        raise ValueError(f"modifier_free_counts: expected aha44 targets, found {aha_targets.scheme_name!r}")
    y = np.full(len(aha_targets.y), -1, dtype=np.int64)
    known = aha_targets.known
    if known.any():
        y[known] = collapse_to_tier(aha_targets.y[known].astype(bool), tier)
    collapsed = Targets(
        y=y, known=known, class_observable=np.ones(len(tier.classes), bool),
        record_ids=aha_targets.record_ids, scheme_name=f"{tier.name} (aha44 collapsed)",
        scheme_version=tier.version, classes=tier.classes, details=aha_targets.details,
    )
    frame = class_counts(collapsed, tier, split)
    frame["scheme"] = collapsed.scheme_name
    return frame
