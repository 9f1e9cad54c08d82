"""The study's test sets: the internal test split, external and added data sets, noisy copies.

A test set is a list of record ids of one prepared data set, maybe with a corruption and its
severity; its prediction tables are keyed by :func:`key_of` (the data set's content hash,
corruption, severity and noise seed), so a changed data set or corruption never reuses a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ecgtriage.evaluate.robustness import CORRUPTIONS
from ecgtriage.study.cells import prediction_key
from ecgtriage.study.config import EvaluationConfig
from ecgtriage.data.ids import patient_ids
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

    @property
    def clean(self) -> bool:
        return self.corruption is None

    def with_corruption(self, corruption: str, severity: float, rank: int) -> TestSet:
        return TestSet(self.name, self.kind, self.dataset, self.record_ids, corruption,
                       float(severity), rank)


def key_of(ts: TestSet, noise_seed: int) -> str:
    """File-name key of a test set's prediction tables (the noise seed counts only when
    the set is corrupted)."""
    return prediction_key(ts.name, ts.dataset.content_hash, ts.corruption, ts.severity,
                          noise_seed if ts.corruption else None)


def clean_test_sets(plan: DataPlan, added: Sequence[Dataset]
                    ) -> tuple[list[TestSet], list[dict[str, Any]]]:
    """Internal test split, every external data set and every added one (uncorrupted).

    A test set in the training data's format may share patients with it (e.g. the full
    PTB-XL folder given later to score fold 10): records of patients who were in the training
    or validation split are left out and counted, so no model is tested on what it saw.
    Returns the test sets and those exclusions.
    """
    splits = plan.splits
    test_ids = splits.loc[splits["split"] == "test", "record_id"].astype(str)
    out = [TestSet("internal", "internal", plan.train, tuple(test_ids))]
    index = plan.train.cache.index.astype({"record_id": str})
    index = index.assign(patient_id=patient_ids(index["record_id"], index["patient_id"]))
    seen_ids = set(splits.loc[splits["split"] != "test", "record_id"].astype(str))
    seen_patients = set(index.loc[index["record_id"].isin(seen_ids), "patient_id"])
    excluded = []
    for kind, datasets in (("external", plan.externals), ("added", added)):
        for ds in datasets:
            idx = ds.cache.index
            ids = idx["record_id"].astype(str)
            keep = np.ones(len(idx), bool)
            if ds.format == plan.train.format:
                pids = pd.Series(patient_ids(ids, idx["patient_id"]), index=idx.index)
                keep = ~(ids.isin(seen_ids) | pids.isin(seen_patients)).to_numpy()
                if (~keep).any():
                    excluded.append({"dataset": ds.name, "n": int((~keep).sum()),
                                     "reason": f"patient also in the training or validation "
                                               f"split of {plan.train.name}",
                                     "records": [{"record_id": r} for r in ids[~keep]]})
            out.append(TestSet(ds.name, kind, ds, tuple(ids[keep])))
    return out, excluded


def corrupted_test_sets(clean: Sequence[TestSet], evaluation: EvaluationConfig
                        ) -> tuple[list[TestSet], list[dict[str, Any]]]:
    """Every corruption × level of the internal set (and of external ones if configured).

    Returns the test sets and the corruptions skipped as not applicable at a set's rate.
    """
    out, skipped = [], []
    for ts in clean:
        if ts.kind != "internal" and not evaluation.corrupt_external:
            continue
        for corruption in evaluation.corruptions:
            reason = CORRUPTIONS[corruption].applicable(ts.dataset.cache.fs)
            if reason is not None:
                skipped.append({"test_set": ts.name, "corruption": corruption,
                                "status": f"not applicable: {reason}"})
                continue
            for rank, severity in enumerate(evaluation.levels(corruption), start=1):
                out.append(ts.with_corruption(corruption, severity, rank))
    return out, skipped
