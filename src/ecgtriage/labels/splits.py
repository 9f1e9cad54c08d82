"""Patient-level train/val/test splits, stratified by tier and keeping rare statements in every part.

* SPH / Challenge: patients are assigned as wholes (no patient in two parts); first every
  statement held by at least 3 patients gets one patient in each part that lacks it (rarest
  first), then the remaining patients are split per tier4 stratum (a patient's tier is its most
  severe record's) to reach ``val_fraction``/``test_fraction`` of the patients.
* PTB-XL: the official ``strat_fold`` (already patient-level): 1-8 train, 9 val, 10 test. When
  fold 10 is absent (the shared subset), test = fold 9 and val = a patient-level, stratified
  part of folds 1-8; no fold ever plays two roles. ``Split.roles`` says which folds did what.

The result is a table keyed by record id (join on it, never on row order).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ecgtriage.data.ids import patient_ids
from ecgtriage.errors import ConfigError, DataError
from ecgtriage.labels.record_statements import record_statements
from ecgtriage.labels.targets import encode_targets

PARTS = ("train", "val", "test")
#: A statement needs at least this many patients to be placed in every part.
MIN_PATIENTS_PER_STATEMENT = 3


class Split(pd.DataFrame):
    """``DataFrame[record_id, split]`` with ``roles``: split → what it was made of."""

    _metadata = ["roles"]

    @property
    def _constructor(self):
        return Split


def make_splits(
    index_df: pd.DataFrame,
    source_format: str,
    seed: int,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> Split:
    """Split records into train/val/test at patient level, deterministically for ``seed``.

    Parameters
    ----------
    index_df : a source's metadata or a cache index: ``record_id``, ``patient_id``,
        ``statements`` and, for PTB-XL, ``fold`` (or ``strat_fold``).
    source_format : ``"sph"``, ``"ptbxl"`` or ``"challenge"``.
    seed : seed of the patient shuffle; the same seed and table give the same split.
    val_fraction, test_fraction : shares of patients (ignored where PTB-XL folds decide).

    Returns
    -------
    Split : DataFrame with ``record_id`` (str) and ``split`` in {"train", "val", "test"}, in
        the order of ``index_df``; ``.roles`` maps each part to a description (PTB-XL: which
        ``strat_fold`` values), and ``.attrs["roles"]`` holds the same.
    """
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ConfigError(
            f"patient split: val_fraction {val_fraction} and test_fraction {test_fraction} must be "
            "in [0, 1) with a sum below 1"
        )
    if "record_id" not in index_df.columns:
        raise DataError(f"patient split: the index table lacks 'record_id'; found {list(index_df.columns)}")
    records = index_df.reset_index(drop=True)
    record_ids = records["record_id"].astype(str)
    if record_ids.duplicated().any():
        raise DataError(f"patient split: duplicate record_id {record_ids[record_ids.duplicated()].iloc[0]!r}")
    patients = _patient_ids(records)
    rng = np.random.default_rng(seed)

    fold = _folds(records) if source_format == "ptbxl" else None
    if fold is not None:
        split, roles = _ptbxl_split(records, patients, fold, source_format, rng, val_fraction)
    else:
        split = _stratified_patient_split(records, patients, source_format, rng, val_fraction, test_fraction)
        roles = {
            "train": f"patient-level remainder ({1 - val_fraction - test_fraction:.0%} of patients)",
            "val": f"patient-level, stratified by tier4, {val_fraction:.0%} of patients (seed {seed})",
            "test": f"patient-level, stratified by tier4, {test_fraction:.0%} of patients (seed {seed})",
        }
    out = Split({"record_id": record_ids.to_numpy(), "split": split})
    out.roles = roles
    out.attrs["roles"] = dict(roles)
    return out


def _patient_ids(records: pd.DataFrame) -> pd.Series:
    """Patient id per record (see :func:`ecgtriage.data.ids.patient_ids`)."""
    patients = records["patient_id"] if "patient_id" in records.columns else None
    return pd.Series(patient_ids(records["record_id"], patients), index=records.index)


def _folds(records: pd.DataFrame) -> pd.Series | None:
    for column in ("fold", "strat_fold"):
        if column in records.columns:
            values = pd.to_numeric(records[column], errors="coerce")
            if values.notna().all():
                return values.astype(int)
            if values.notna().any():
                bad = records.loc[values.isna(), "record_id"].iloc[0]
                raise DataError(f"patient split: record {bad}: column {column!r} is not a fold number")
    raise DataError("patient split: a PTB-XL index needs a 'fold' (strat_fold) column")


def _ptbxl_split(records, patients, fold, source_format, rng, val_fraction):
    split = np.full(len(records), "train", dtype=object)
    present = sorted(fold.unique())
    bad = [f for f in present if f not in range(1, 11)]
    if bad:
        raise DataError(f"patient split: strat_fold values must be 1-10, found {bad}")
    if 10 in present:
        split[(fold == 9).to_numpy()] = "val"
        split[(fold == 10).to_numpy()] = "test"
        roles = {"train": "strat_fold 1-8", "val": "strat_fold 9", "test": "strat_fold 10"}
        folds = {"train": [1, 2, 3, 4, 5, 6, 7, 8], "val": [9], "test": [10]}
    else:
        test_mask = (fold == 9).to_numpy()
        split[test_mask] = "test"
        shared = set(patients[test_mask]) & set(patients[~test_mask])
        if shared:
            raise DataError(f"patient split: patient {sorted(shared)[0]} is in strat_fold 9 and in folds 1-8")
        rest = ~test_mask
        sub = _stratified_patient_split(
            records[rest].reset_index(drop=True), patients[rest].reset_index(drop=True),
            source_format, rng, val_fraction, 0.0,
        )
        split[np.flatnonzero(rest)] = sub
        roles = {
            "train": "strat_fold 1-8 (patients not drawn for val)",
            "val": f"patient-level, stratified {val_fraction:.0%} of strat_fold 1-8 patients",
            "test": "strat_fold 9 (fold 10 absent)",
        }
        folds = {"train": [1, 2, 3, 4, 5, 6, 7, 8], "val": [1, 2, 3, 4, 5, 6, 7, 8], "test": [9]}
    roles["folds"] = folds
    return split, roles


def _stratified_patient_split(records, patients, source_format, rng, val_fraction, test_fraction):
    tiers = encode_targets(records, source_format, "tier4").y
    by_patient = pd.DataFrame({"patient": patients.to_numpy(), "tier": tiers})
    keys_per_record = [
        _statement_keys(row, source_format) for row in records.to_dict("records")
    ]
    patient_keys: dict[str, set[str]] = {}
    for pid, keys in zip(by_patient["patient"], keys_per_record):
        patient_keys.setdefault(pid, set()).update(keys)
    patient_tier = by_patient.groupby("patient")["tier"].max()
    order = sorted(patient_tier.index)  # sorted first: input row order must not matter
    rng.shuffle(order)
    fractions = {"val": val_fraction, "test": test_fraction}
    wanted_parts = [p for p in ("val", "test") if fractions[p] > 0]
    assigned: dict[str, str] = {}

    # rare statements first: one patient in every part, where there are enough patients
    holders: dict[str, list[str]] = {}
    for pid in order:
        for key in patient_keys[pid]:
            holders.setdefault(key, []).append(pid)
    parts_needed = ["train"] + wanted_parts
    for key in sorted(holders, key=lambda k: (len(holders[k]), k)):
        pids = holders[key]
        if len(pids) < max(MIN_PATIENTS_PER_STATEMENT, len(parts_needed)):
            continue
        have = {assigned[p] for p in pids if p in assigned}
        free = [p for p in pids if p not in assigned]
        for part in parts_needed:
            if part not in have and free:
                assigned[free.pop(0)] = part
                have.add(part)

    # then fill each tier stratum to its share
    for tier in sorted(patient_tier.unique()):
        members = [p for p in order if patient_tier[p] == tier]
        total = len(members)
        counts = {part: sum(1 for p in members if assigned.get(p) == part) for part in PARTS}
        for part in wanted_parts:
            target = int(math.floor(fractions[part] * total + 0.5))
            for pid in members:
                if counts[part] >= target:
                    break
                if pid not in assigned:
                    assigned[pid] = part
                    counts[part] += 1
        for pid in members:
            assigned.setdefault(pid, "train")
    return np.array([assigned[p] for p in patients], dtype=object)


def _statement_keys(row, source_format) -> set[str]:
    """Codes and exact statements a record holds, for the rare-statement rule."""
    keys = set()
    for s in record_statements(row, source_format, where=f"record {row.get('record_id')}: statements"):
        # the primary code and the exact statement (a bare MI code differs from "MI, old")
        keys.add(f"code:{s.vocabulary}:{s.code}")
        keys.add(f"statement:{s.vocabulary}:{s.raw}")
    return keys
