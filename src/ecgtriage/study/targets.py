"""Labels of the study's data sets, computed once per (data set, scheme) and looked up by id.

Targets are derived from each cache's statements through the label rules
(``ecgtriage.labels``); deriving them costs seconds per scheme (AF/AFL rates are measured from
the signal), and scoring and every section look them up many times.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ecgtriage.errors import DataError
from ecgtriage.labels import Targets, load_scheme, statement_table, targets_for_cache
from ecgtriage.study.data import Dataset
from ecgtriage.study.testsets import TestSet


def _cache_targets(dataset: Dataset, scheme_name: str) -> Targets:
    return targets_for_cache(dataset.cache, load_scheme(scheme_name))


def _cache_statements(dataset: Dataset) -> pd.DataFrame:
    return statement_table(dataset.cache)


class StudyTargets:
    """Targets of every (data set, scheme), computed on first use.

    ``compute(dataset, scheme_name)`` derives them (default: the label rules over the data
    set's cache); tests pass hand-made targets through it.
    """

    def __init__(self, compute: Callable[[Dataset, str], Targets] = _cache_targets) -> None:
        self._compute = compute
        self._cache: dict[tuple[str, str], tuple[Targets, pd.Series]] = {}

    def get(self, dataset: Dataset, scheme_name: str) -> tuple[Targets, pd.Series]:
        """The data set's targets and a record id → row position lookup."""
        key = (dataset.name, scheme_name)
        if key not in self._cache:
            targets = self._compute(dataset, scheme_name)
            pos = pd.Series(np.arange(len(targets.record_ids)),
                            index=[str(r) for r in targets.record_ids])
            self._cache[key] = (targets, pos)
        return self._cache[key]

    def rows(self, dataset: Dataset, scheme_name: str, ids: Sequence[str]
             ) -> tuple[Targets, np.ndarray]:
        """Targets and the row of each of ``ids`` (an id without a target is an error)."""
        targets, pos = self.get(dataset, scheme_name)
        missing = [r for r in ids if r not in pos.index]
        if missing:
            raise DataError(f"data set {dataset.name}: record {missing[0]!r} has no target for "
                             f"scheme {scheme_name}")
        return targets, pos.loc[list(ids)].to_numpy()

    def y(self, dataset: Dataset, scheme_name: str, ids: Sequence[str]) -> np.ndarray:
        """Targets of ``ids`` in that order (class index, or multi-hot rows)."""
        targets, rows = self.rows(dataset, scheme_name, ids)
        return np.asarray(targets.y)[rows]

    def known_y(self, dataset: Dataset, scheme_name: str, ids: Sequence[str]) -> np.ndarray:
        """Targets of those of ``ids`` whose label is determinable, in ``ids`` order."""
        targets, rows = self.rows(dataset, scheme_name, ids)
        return np.asarray(targets.y)[rows][np.asarray(targets.known, bool)[rows]]

    def known(self, dataset: Dataset, scheme_name: str, ids: Sequence[str]) -> np.ndarray:
        """Whether each of ``ids`` has a determinable label in the scheme."""
        targets, rows = self.rows(dataset, scheme_name, ids)
        return np.asarray(targets.known, bool)[rows]


class StudyStatements:
    """``statement_table`` of every data set (record_id as text), computed on first use."""

    def __init__(self, compute: Callable[[Dataset], pd.DataFrame] = _cache_statements) -> None:
        self._compute = compute
        self._cache: dict[str, pd.DataFrame] = {}

    def get(self, dataset: Dataset, record_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """The data set's statements, restricted to ``record_ids`` when given."""
        if dataset.name not in self._cache:
            table = self._compute(dataset).copy()
            table["record_id"] = table["record_id"].astype(str)
            self._cache[dataset.name] = table
        table = self._cache[dataset.name]
        if record_ids is None:
            return table
        return table[table["record_id"].isin(set(map(str, record_ids)))]


def label_exclusions(clean: Sequence[TestSet], schemes: Sequence[str], targets: StudyTargets
                     ) -> list[dict[str, object]]:
    """Test records left out of a scheme's scores because their label is undeterminable."""
    rows: list[dict[str, object]] = []
    for ts in clean:
        for scheme in dict.fromkeys([*schemes, "tier3", "tier4"]):
            ids = list(ts.record_ids)
            unknown = ~targets.known(ts.dataset, scheme, ids)
            if unknown.any():
                rows.append({"dataset": ts.name, "reason": f"no {scheme} label (undeterminable)",
                             "n": int(unknown.sum()),
                             "records": [{"record_id": r}
                                         for r in np.asarray(ids)[unknown].tolist()]})
    return rows
