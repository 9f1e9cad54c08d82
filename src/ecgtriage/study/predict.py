"""Prediction tables: one CSV per (model, test set), keyed by record id, and their loading.

A table has ``record_id``, ``patient_id`` and one ``prob:<class>`` column per class of the
model's scheme. Scoring joins it to the labels on ``record_id``, never on row order. Tables are
written atomically and an existing table is never recomputed (its file name carries the hash
of the test set's content and corruption), which is what makes an interrupted study resume.
:class:`Predictions` reads each table and each model card once and hands the same
:class:`Prediction` to scoring and to every report section.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ecgtriage import atomic
from ecgtriage.data.ids import patient_ids
from ecgtriage.errors import DataError
from ecgtriage.evaluate.robustness import CORRUPTIONS, corruption_rng
from ecgtriage.study.cells import Cell
from ecgtriage.study.config import StudyConfig
from ecgtriage.study.testsets import TestSet, key_of
from ecgtriage.train.card import ModelCard
from ecgtriage.train.checkpoint import load_checkpoint
from ecgtriage.train.predict import predict_proba

PROB_PREFIX = "prob:"
#: Records predicted per chunk: bounds the float32 copy of corrupted signals held in memory.
_CHUNK = 1024


def prob_columns(classes: Sequence[str]) -> list[str]:
    return [f"{PROB_PREFIX}{c}" for c in classes]


def probabilities(table: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
    """(N, C) probabilities of a predictions table, in ``classes`` order."""
    cols = prob_columns(classes)
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise DataError(f"predictions table: missing column(s) {', '.join(missing[:3])}; "
                         f"expected one per class of the model")
    return table[cols].to_numpy(dtype=np.float32)


def load_signals(test_set: TestSet, ids: Sequence[str], rng: np.random.Generator | None = None
                 ) -> np.ndarray:
    """float32 (n, 12, T) signals of ``ids`` in that order, corrupted when the set says so.

    ``rng`` is the corruption's generator (``evaluate.robustness.corruption_rng``), consumed
    chunk after chunk in record order so the result equals corrupting the whole set at once.
    """
    cache = test_set.dataset.cache
    rows = cache.rows_for(list(ids))
    # Reading a memmap with sorted rows is sequential; then restore the requested order.
    x = np.asarray(cache.signals[np.sort(rows)], dtype=np.float32)[np.argsort(np.argsort(rows))]
    if test_set.corruption is not None:
        x = CORRUPTIONS[test_set.corruption].fn(x, cache.fs, test_set.severity, rng)
    return x


def predict_signals(models: Sequence[tuple[torch.nn.Module, list[str]]], test_set: TestSet, *,
                    device: str, batch_size: int, noise_seed: int = 0) -> list[pd.DataFrame]:
    """Predict every record of ``test_set`` with each ``(model, classes)``.

    The (possibly corrupted) signals are built once, chunk by chunk, and shared by all
    models. Returns one table per model, keyed by ``record_id``.
    """
    rng = None
    if test_set.corruption is not None:
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


def resolve_device(name: str) -> str:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def ensure_predictions(cells: Sequence[Cell], test_sets: Sequence[TestSet],
                       cfg: StudyConfig) -> int:
    """Predict every (cell, test set) whose table is missing; returns how many were made.

    Test-set-major: each (possibly corrupted) set of signals is built once and passed to
    every model that still lacks its predictions, since corrupting costs more than predicting.
    """
    seed = cfg.evaluation.seed
    todo = [(ts, [c for c in cells if not c.predictions_path(key_of(ts, seed)).is_file()])
            for ts in test_sets]
    todo = [(ts, missing) for ts, missing in todo if missing]
    models: dict[str, tuple[torch.nn.Module, list[str]]] = {}
    device = resolve_device(cfg.train.device)
    made = 0
    with tqdm(total=sum(len(m) for _, m in todo), desc="predicting", unit="set",
              disable=None) as bar:
        for ts, missing in todo:
            for cell in missing:
                if cell.id not in models:
                    model, card = load_checkpoint(cell.run_dir, device=device)
                    models[cell.id] = (model, card.classes)
            tables = predict_signals([models[c.id] for c in missing], ts, device=device,
                                     batch_size=cfg.evaluation.batch_size, noise_seed=seed)
            for cell, table in zip(missing, tables):
                write_predictions(cell.predictions_path(key_of(ts, seed)), table)
                made += 1
                bar.update(1)
    return made


@dataclass(frozen=True)
class Prediction:
    """One model's probabilities on one test set, with the card that decides on them."""

    cell: Cell
    card: ModelCard
    test_set: TestSet
    path: Path  #: the table on disk (EM-adjusted copies are written beside it)
    table: pd.DataFrame  #: record_id, patient_id, prob:<class>...
    proba: np.ndarray  #: (N, C) in ``card.classes`` order, rows as ``record_ids``

    @property
    def record_ids(self) -> list[str]:
        return self.table["record_id"].astype(str).tolist()

    @property
    def patient_ids(self) -> list[str]:
        return self.table["patient_id"].astype(str).tolist()

    @property
    def classes(self) -> list[str]:
        return self.card.classes

    @cached_property
    def decisions(self) -> np.ndarray:
        """The card's decisions on ``proba`` (computed once; scoring and sections share them)."""
        return self.card.decide(self.proba)


class Predictions:
    """Every (cell, test set) prediction of a study, each table and card read once.

    Scoring and the report sections all ask this object, so they see the same numbers and
    nothing is re-read from disk.
    """

    def __init__(self, noise_seed: int) -> None:
        self.noise_seed = noise_seed
        self._cards: dict[str, ModelCard] = {}
        self._tables: dict[tuple[str, str], Prediction] = {}

    def card(self, cell: Cell) -> ModelCard:
        if cell.id not in self._cards:
            self._cards[cell.id] = ModelCard.read(cell.run_dir)
        return self._cards[cell.id]

    def get(self, cell: Cell, ts: TestSet) -> Prediction:
        key = (cell.id, key_of(ts, self.noise_seed))
        if key not in self._tables:
            path = cell.predictions_path(key[1])
            card = self.card(cell)
            table = read_predictions(path)
            self._tables[key] = Prediction(cell, card, ts, path, table,
                                           probabilities(table, card.classes))
        return self._tables[key]
