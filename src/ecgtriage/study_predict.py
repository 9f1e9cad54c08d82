"""Prediction tables: one CSV per (model, test set), keyed by record id.

A table has ``record_id``, ``patient_id`` and one ``prob:<class>`` column per class of the
model's scheme. Scoring joins it to the labels on ``record_id``, never on row order. Tables are
written atomically and an existing table is never recomputed (its file name carries the hash
of the test set's content and corruption), which is what makes an interrupted study resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgtriage import atomic

PROB_PREFIX = "prob:"
#: Records predicted per chunk: bounds the float32 copy of corrupted signals held in memory.
_CHUNK = 1024


@dataclass(frozen=True)
class TestSet:
    """One set of records to predict: a data set (or its internal-test part), maybe corrupted."""

    __test__ = False  # not a pytest test class despite its name

    name: str  #: base name ("internal", an external data set's name...)
    kind: str  #: "internal", "external" or "added"
    dataset: Any  #: ``ecgtriage.study_data.Dataset``
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


def patient_ids(record_ids: Any, patients: Any) -> np.ndarray:
    """Patient id per record as text; a record without one is its own patient.

    Challenge records carry no patient id: treating all of them as one patient would make
    every bootstrap resample identical and the confidence interval collapse to a point.
    """
    ids = pd.Series(list(record_ids), dtype=str)
    pid = pd.Series(list(patients), dtype=object).fillna("").astype(str).str.strip()
    pid = pid.str.replace(r"\.0$", "", regex=True)  # PTB-XL stores patient ids as floats
    missing = pid.isin(["", "nan", "None", "<NA>"])
    return np.where(missing, "record:" + ids, pid).astype(str)


def prob_columns(classes: list[str]) -> list[str]:
    return [f"{PROB_PREFIX}{c}" for c in classes]


def probabilities(table: pd.DataFrame, classes: list[str]) -> np.ndarray:
    """(N, C) probabilities of a predictions table, in ``classes`` order."""
    cols = prob_columns(classes)
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise ValueError(f"predictions table: missing column(s) {', '.join(missing[:3])}; "
                         f"expected one per class of the model")
    return table[cols].to_numpy(dtype=np.float32)


def load_signals(test_set: TestSet, ids: list[str], rng: np.random.Generator | None = None
                 ) -> np.ndarray:
    """float32 (n, 12, T) signals of ``ids`` in that order, corrupted when the set says so.

    ``rng`` is the corruption's generator (``evaluate.robustness.corruption_rng``), consumed
    chunk after chunk in record order so the result equals corrupting the whole set at once.
    """
    cache = test_set.dataset.cache
    rows = cache.rows_for(ids)
    # Reading a memmap with sorted rows is sequential; then restore the requested order.
    x = np.asarray(cache.signals[np.sort(rows)], dtype=np.float32)[np.argsort(np.argsort(rows))]
    if test_set.corruption is not None:
        from ecgtriage.evaluate.robustness import CORRUPTIONS

        x = CORRUPTIONS[test_set.corruption].fn(x, cache.fs, test_set.severity, rng)
    return x


def predict_signals(models: list[tuple[Any, list[str]]], test_set: TestSet, *, device: str,
                    batch_size: int, noise_seed: int = 0) -> list[pd.DataFrame]:
    """Predict every record of ``test_set`` with each ``(model, classes)``.

    The (possibly corrupted) signals are built once, chunk by chunk, and shared by all
    models. Returns one table per model, keyed by ``record_id``.
    """
    from ecgtriage.train.predict import predict_proba

    rng = None
    if test_set.corruption is not None:
        from ecgtriage.evaluate.robustness import corruption_rng

        rng = corruption_rng(noise_seed, test_set.corruption, test_set.severity)
    ids = list(test_set.record_ids)
    parts: list[list[np.ndarray]] = [[] for _ in models]
    for start in range(0, len(ids), _CHUNK):
        x = load_signals(test_set, ids[start:start + _CHUNK], rng)
        for i, (model, _) in enumerate(models):
            parts[i].append(predict_proba(model, x, batch_size=batch_size, device=device,
                                          progress=False))
    index = test_set.dataset.cache.index.set_index("record_id")
    patients = patient_ids(ids, index.loc[ids, "patient_id"])
    tables = []
    for (_, classes), chunks in zip(models, parts):
        proba = np.concatenate(chunks) if chunks else np.zeros((0, len(classes)), np.float32)
        if proba.shape[1] != len(classes):
            raise ValueError(f"model returned {proba.shape[1]} outputs; its card lists "
                             f"{len(classes)} classes")
        table = pd.DataFrame({"record_id": ids, "patient_id": patients})
        table[prob_columns(classes)] = proba
        tables.append(table)
    return tables


def read_predictions(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path, dtype={"record_id": str, "patient_id": str}, keep_default_na=False)
    table["patient_id"] = patient_ids(table["record_id"], table["patient_id"])
    return table


def write_predictions(path: Path, table: pd.DataFrame) -> None:
    atomic.write_csv(path, table, float_format="%.6g")
