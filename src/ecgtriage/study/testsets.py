"""The study's test sets: the internal test split, external and added data sets, noisy copies.

A test set is a list of record ids of one prepared data set, maybe with a corruption and its
severity; its prediction tables are keyed by :func:`key_of` (the data set's content hash,
corruption, severity and noise seed), so a changed data set or corruption never reuses a table.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ecgtriage import config as cfgmod
from ecgtriage.data.ids import patient_ids
from ecgtriage.evaluate.robustness import CORRUPTIONS
from ecgtriage.study.cells import prediction_key
from ecgtriage.study.config import EvaluationConfig
from ecgtriage.data.identity import find_overlap
from ecgtriage.errors import ConfigError
from ecgtriage.study.data import DataPlan, Dataset


@dataclass(frozen=True)
class TestSet:
    """One set of records to predict: a data set (or its internal-test part), maybe corrupted."""

    __test__ = False  # not a pytest test class despite its name

    name: str  #: base name ("internal", an external data set's name...)
    kind: str  #: "internal", "external" or "added"
    dataset: Dataset
    record_ids: tuple[str, ...]
    corruption: str | None = None
    severity: float | None = None  #: in the corruption's unit (dB SNR, leads, seconds...)
    rank: int = 0  #: 0 = clean, 1.. = mildest..most severe level of the corruption
    #: Records of the full set when ``record_ids`` is a robustness sample of it (else ``None``).
    sampled_from: int | None = None

    @property
    def clean(self) -> bool:
        return self.corruption is None

    def with_corruption(self, corruption: str, severity: float, rank: int) -> TestSet:
        return TestSet(self.name, self.kind, self.dataset, self.record_ids, corruption,
                       float(severity), rank, self.sampled_from)


@dataclass
class FoldSelection(Dataset):
    """An added data set of which only some PTB-XL ``strat_fold`` values are tested
    (``ecgtriage evaluate --folds``)."""

    folds: tuple[int, ...] = ()


def key_of(ts: TestSet, noise_seed: int) -> str:
    """File-name key of a test set's prediction tables (the noise seed counts only when
    the set is corrupted)."""
    content = ts.dataset.content_hash
    if ts.sampled_from is not None:  # a sample's tables never stand in for the full set's
        content = f"{content}/sample-{cfgmod.config_hash(list(ts.record_ids), length=12)}"
    return prediction_key(ts.name, content, ts.corruption, ts.severity,
                          noise_seed if ts.corruption else None)


def clean_test_sets(plan: DataPlan, added: Sequence[Dataset]
                    ) -> tuple[list[TestSet], list[dict[str, Any]]]:
    """Internal test split, every external data set and every added one (uncorrupted).

    No model may be tested on what it saw: every external and added set leaves out the
    records that share an ECG or a patient with the training or validation split, whatever
    their source (:func:`ecgtriage.data.identity.find_overlap`: a known alias such as the
    Challenge's ``HR#####`` copies of PTB-XL, a signal fingerprint, or a patient, by
    same-source patient id or through such a copy; patient ids of two sources never match by
    text). An added set may also be limited to some PTB-XL ``strat_fold`` values (``evaluate
    --folds``). The internal split is patient-split already. Returns the test sets and the
    exclusions, one entry per data set and reason, listing its records and what they matched.
    """
    splits = plan.splits
    test_ids = splits.loc[splits["split"] == "test", "record_id"].astype(str)
    out = [TestSet("internal", "internal", plan.train, tuple(test_ids))]
    seen_ids = set(splits.loc[splits["split"] != "test", "record_id"].astype(str))
    excluded: list[dict[str, Any]] = []
    for kind, datasets in (("external", plan.externals), ("added", added)):
        for ds in datasets:
            ids = ds.cache.index["record_id"].astype(str)
            keep = np.ones(len(ids), bool)
            folds = getattr(ds, "folds", None)
            if folds:
                keep = fold_mask(ds, folds)
                excluded.append({"dataset": ds.name, "n": int((~keep).sum()),
                                 "reason": f"outside the selected strat_fold "
                                           f"{', '.join(str(f) for f in folds)}"})
            overlap = find_overlap(plan.train.cache, ds.cache, seen=[seen_ids],
                                   names=[plan.train.name], test_records=ids[keep])
            excluded += overlap_exclusions(ds.name, plan.train.name, overlap)
            keep &= ~ids.isin(set(overlap["test_record"])).to_numpy()
            out.append(TestSet(ds.name, kind, ds, tuple(ids[keep])))
    return out, excluded


def fold_mask(ds: Dataset, folds: Sequence[int]) -> np.ndarray:
    """Which records of ``ds`` lie in ``folds`` (its cache's ``fold`` column, PTB-XL's
    ``strat_fold``); a ``ConfigError`` when the data set has no folds."""
    index = ds.cache.index
    if "fold" not in index or not index["fold"].notna().any():
        raise ConfigError(f"--folds {' '.join(str(f) for f in folds)}: data set {ds.name} "
                          f"({ds.source}, format {ds.format}) has no folds; folds exist only "
                          "in PTB-XL (strat_fold)")
    return index["fold"].isin([int(f) for f in folds]).fillna(False).to_numpy(dtype=bool)


#: Why a record was dropped, by what it matched; the first that applies names the record's
#: group (an ECG renamed from another source first, as the strongest statement).
_REASONS = (
    (("alias", "renaming"), "same ECG as a training or validation record of {train} "
                            "(a known alias, e.g. Challenge HR##### = PTB-XL ecg_id)"),
    (("patient", "patient id"), "patient also in the training or validation split of {train}"),
    (("alias", "record id"), "patient also in the training or validation split of {train}"),
    (("fingerprint", "signal"), "same ECG as a training or validation record of {train} "
                                "(signal fingerprint: correlation ≥ 0.99 after z-scoring "
                                "each lead)"),
    (("patient", "alias"), "patient also in the training or validation split of {train}, "
                           "found through an alias"),
    (("patient", "fingerprint"), "patient also in the training or validation split of "
                                 "{train}, found through a signal fingerprint"),
)


def overlap_exclusions(dataset: str, train: str, overlap: pd.DataFrame
                       ) -> list[dict[str, Any]]:
    """Exclusion entries (one per reason) for the records in a :func:`find_overlap` table.

    Each record is counted once, under the first reason of :data:`_REASONS` that applies; its
    entry keeps the training record it matched and every way it matched.
    """
    groups: dict[str, list[dict[str, str]]] = {}
    for record, rows in overlap.groupby("test_record", sort=True):
        how = set(zip(rows["kind"], rows["via"]))
        reason = next(text for key, text in _REASONS if key in how).format(train=train)
        first = rows.iloc[0]
        groups.setdefault(reason, []).append({
            "record_id": str(record), "matched_record": str(first["train_record"]),
            "reason": "; ".join(dict.fromkeys(rows["detail"]))})
    return [{"dataset": dataset, "n": len(records), "reason": reason, "records": records}
            for reason, records in groups.items()]


def robustness_sample(ts: TestSet, n: int | None, seed: int) -> TestSet:
    """``ts`` reduced to a fixed, seeded sample of about ``n`` records drawn by whole patients.

    Patients are taken in a random order (seeded by ``seed`` and the set's name, so every
    corruption, level and model sees the same records, run after run) until ``n`` records are
    reached; a patient's records are never split, so patient-bootstrap intervals computed on
    the sample stay valid and simply widen with the smaller n. Records keep the set's order.
    ``n`` of ``None``/0, or not smaller than the set, returns ``ts`` unchanged.
    """
    ids = list(ts.record_ids)
    if not n or n >= len(ids):
        return ts
    index = ts.dataset.cache.index.astype({"record_id": str}).set_index("record_id")
    pids = patient_ids(ids, index.loc[ids, "patient_id"])
    patients, counts = np.unique(pids, return_counts=True)  # sorted: order-independent
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(ts.name.encode())]))
    order = rng.permutation(len(patients))
    # Whole patients until the running record count reaches n.
    taken = order[: int(np.searchsorted(np.cumsum(counts[order]), n)) + 1]
    keep = np.isin(pids, patients[taken])
    return TestSet(ts.name, ts.kind, ts.dataset, tuple(np.asarray(ids)[keep].tolist()),
                   ts.corruption, ts.severity, ts.rank, sampled_from=len(ids))


def corrupted_test_sets(clean: Sequence[TestSet], evaluation: EvaluationConfig
                        ) -> tuple[list[TestSet], list[dict[str, Any]]]:
    """Every corruption × level of the internal set (and of external ones if configured).

    The copies are made of :func:`robustness_sample` of each set
    (``evaluation.robustness_sample`` records; the test set's ``sampled_from`` says so).
    Returns the test sets and the corruptions skipped as not applicable at a set's rate.
    """
    out, skipped = [], []
    for ts in clean:
        if ts.kind != "internal" and not evaluation.corrupt_external:
            continue
        ts = robustness_sample(ts, evaluation.robustness_sample, evaluation.seed)
        for corruption in evaluation.corruptions:
            reason = CORRUPTIONS[corruption].applicable(ts.dataset.cache.fs)
            if reason is not None:
                skipped.append({"test_set": ts.name, "corruption": corruption,
                                "status": f"not applicable: {reason}"})
                continue
            for rank, severity in enumerate(evaluation.levels(corruption), start=1):
                out.append(ts.with_corruption(corruption, severity, rank))
    return out, skipped
