"""Prediction tables: one CSV per (model, test set), keyed by record id, and their loading.

A table has ``record_id``, ``patient_id`` and one ``prob:<class>`` column per class of the
model's scheme. Scoring joins it to the labels on ``record_id``, never on row order. Tables are
written atomically and an existing table is never recomputed (its file name carries the hash
of the test set's content and corruption), which is what makes an interrupted study resume.
:class:`Predictions` reads each table and each model card once and hands the same
:class:`Prediction` to scoring and to every report section.
"""

from __future__ import annotations

import importlib.util
import io
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Sequence

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
from ecgtriage.train.augment import crop
from ecgtriage.train.objectives import to_probabilities
from ecgtriage.train.predict import windowed_predictor

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


#: ``predict(x)`` → (n, C) float32 probabilities of a float32 (n, leads, T) batch.
Predictor = Callable[[np.ndarray], np.ndarray]
#: Largest |ONNX Runtime − PyTorch| probability accepted before falling back to PyTorch.
ONNX_ATOL = 1e-5


def onnx_available() -> bool:
    """Whether ONNX Runtime and the ONNX package (core dependencies) can be imported."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def torch_predictor(model: torch.nn.Module, *, device: str = "cpu", batch_size: int = 256
                    ) -> Predictor:
    """Eager PyTorch under ``torch.inference_mode`` (no autograd bookkeeping at all), with the
    same windows and activation as ``train.predict.predict_proba``: the model's
    ``window_protocol`` (sliding windows + max/mean, as validation scored it) on records longer
    than its input, else the centre crop. A study must score the model as it was validated, or
    a model trained on 2.5 s crops is judged on one 2.5 s centre crop of a 10 s record."""
    return _by_records(windowed_predictor(
        _torch_window_predictor(model, device=device, batch_size=batch_size), model), batch_size)


def _by_records(predict: Predictor, batch_size: int) -> Predictor:
    """``predict`` applied ``batch_size`` records at a time, so the sliding windows of a chunk
    (records × windows per record) are never all held in memory at once."""

    def run(x: np.ndarray) -> np.ndarray:
        if len(x) <= batch_size:
            return predict(x)
        return np.concatenate([predict(x[s:s + batch_size]) for s in range(0, len(x), batch_size)])

    return run


def _torch_window_predictor(model: torch.nn.Module, *, device: str, batch_size: int) -> Predictor:
    """One centre window per record, eager PyTorch (what :func:`torch_predictor` wraps)."""
    contract, activation = model.signal_contract, model.output_activation
    model = model.to(device).eval()

    def predict(x: np.ndarray) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for start in range(0, len(x), batch_size):
                block = torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size],
                                                              dtype=np.float32))
                block = crop(block.to(device), contract.n_samples)
                out.append(to_probabilities(model(block), activation).cpu().numpy())
        return (np.concatenate(out).astype(np.float32, copy=False) if out
                else np.zeros((0, contract.n_outputs), np.float32))

    return predict


def onnx_predictor(model: torch.nn.Module, *, batch_size: int = 256,
                   threads: int | None = None) -> Predictor:
    """The model (with its activation) exported in memory and run by ONNX Runtime on CPU.

    For the small 1-D convnets of this package ONNX Runtime is several times faster than eager
    PyTorch on CPU (measured by ``benchmarks/bench_study.py``). Callers check its output
    against :func:`torch_predictor` (:func:`make_predictor` does) before trusting it. The graph
    takes one window; the model's ``window_protocol`` is applied around it
    (``train.predict.windowed_predictor``), exactly as :func:`torch_predictor` does.
    """
    return _by_records(windowed_predictor(
        _onnx_window_predictor(model, batch_size=batch_size, threads=threads), model), batch_size)


def _onnx_window_predictor(model: torch.nn.Module, *, batch_size: int,
                           threads: int | None) -> Predictor:
    """One centre window per record, ONNX Runtime (what :func:`onnx_predictor` wraps)."""
    import onnxruntime as ort

    from ecgtriage.train.export import ProbabilityModel

    contract = model.signal_contract
    wrapped = ProbabilityModel(model.cpu().eval(), model.output_activation).eval()
    example = torch.zeros(2, len(contract.leads), contract.n_samples)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporter chatter about shape inference
        torch.onnx.export(wrapped, (example,), buffer, input_names=["ecg"],
                          output_names=["proba"], dynamo=False, opset_version=17,
                          dynamic_axes={"ecg": {0: "batch"}, "proba": {0: "batch"}})
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(buffer.getvalue(), options,
                                   providers=["CPUExecutionProvider"])

    def predict(x: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(x), batch_size):
            block = np.asarray(x[start:start + batch_size], dtype=np.float32)
            if block.shape[-1] > contract.n_samples:
                block = crop(torch.from_numpy(block), contract.n_samples).numpy()
            out.append(session.run(None, {"ecg": np.ascontiguousarray(block)})[0])
        return (np.concatenate(out).astype(np.float32, copy=False) if out
                else np.zeros((0, contract.n_outputs), np.float32))

    return predict


def make_predictor(model: torch.nn.Module, *, device: str, batch_size: int,
                   runtime: str = "auto", probe: np.ndarray | None = None) -> Predictor:
    """The fastest trustworthy predictor of ``model``.

    Both runtimes apply the model's ``window_protocol`` (sliding windows and their max/mean on
    records longer than the model input, as ``predict_proba`` and validation do).
    ``runtime="auto"`` uses ONNX Runtime on CPU when onnx and onnxruntime import and its
    windowed probabilities on ``probe`` (a few real, full-length records) equal windowed eager
    PyTorch's within :data:`ONNX_ATOL`; otherwise (GPU, extra missing, export failure, disagreement) eager
    PyTorch under ``inference_mode``. ``runtime="onnx"`` insists (``UserError`` when the extra
    is missing, ``ValueError`` on disagreement); ``"torch"`` never tries ONNX.
    """
    from ecgtriage.errors import UserError

    eager = torch_predictor(model, device=device, batch_size=batch_size)
    if runtime == "torch" or (runtime == "auto" and (device != "cpu" or not onnx_available())):
        return eager
    if runtime == "onnx" and not onnx_available():
        raise UserError("evaluation.runtime = onnx needs onnx and onnxruntime (not installed): "
                        "pip install 'ecgtriage[onnx]'")
    try:
        fast = onnx_predictor(model, batch_size=batch_size)
        contract = model.signal_contract
        if probe is None or len(probe) == 0:
            # A windowed model is probed on records four windows long, so the windows and their
            # aggregation are part of what is compared.
            length = contract.n_samples * (4 if getattr(model, "window_protocol", None) else 1)
            probe = np.random.default_rng(0).normal(
                0, 0.5, (4, len(contract.leads), length)).astype(np.float32)
        probe = np.asarray(probe[:16], dtype=np.float32)
        ref, got = eager(probe), fast(probe)
        worst = float(np.max(np.abs(ref - got))) if ref.size else 0.0
        if not np.isfinite(worst) or worst > ONNX_ATOL:
            raise ValueError(f"ONNX Runtime differs from PyTorch by {worst:.2e} "
                             f"(> {ONNX_ATOL:g})")
    except Exception as exc:  # export or runtime trouble: eager is always right
        if runtime == "onnx":
            raise
        warnings.warn(f"predicting with PyTorch instead of ONNX Runtime: {exc}", stacklevel=2)
        return eager
    finally:
        model.to(device)
    return fast


def _check_finite(proba: np.ndarray, n: int) -> None:
    bad = np.flatnonzero(~np.isfinite(proba).all(axis=1))
    if len(bad):
        # A NaN probability scores as neither right nor wrong downstream; refuse it here, where
        # the rows are still known.
        raise DataError(f"signals: the model's output is non-finite for {len(bad)} of {n} "
                        f"record(s), rows {bad[:5].tolist()} (NaN or inf samples, or NaN weights)")


def predict_signals(models: Sequence[tuple[torch.nn.Module | Predictor, list[str]]],
                    test_set: TestSet, *, device: str, batch_size: int, noise_seed: int = 0,
                    runtime: str = "torch") -> list[pd.DataFrame]:
    """Predict every record of ``test_set`` with each ``(model, classes)``.

    The (possibly corrupted) signals are built once, chunk by chunk, and every chunk is fed to
    all models before the next is built. A model is a ``torch.nn.Module`` (wrapped by
    :func:`make_predictor` with ``runtime``) or a ready :data:`Predictor` (what
    :func:`ensure_predictions` passes, so each model is exported once per study, not once per
    test set). Returns one table per model, keyed by ``record_id``.
    """
    rng = None
    if test_set.corruption is not None:
        rng = corruption_rng(noise_seed, test_set.corruption, test_set.severity)
    ids = list(test_set.record_ids)
    parts: list[list[np.ndarray]] = [[] for _ in models]
    predictors: list[Predictor | None] = [
        None if isinstance(m, torch.nn.Module) else m for m, _ in models]
    for start in range(0, len(ids), _CHUNK):
        x = load_signals(test_set, ids[start:start + _CHUNK], rng)
        for i, (model, _) in enumerate(models):
            if predictors[i] is None:
                predictors[i] = make_predictor(model, device=device, batch_size=batch_size,
                                               runtime=runtime, probe=x)
            proba = predictors[i](x)
            _check_finite(proba, len(x))
            parts[i].append(proba)
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
    models: dict[str, tuple[Predictor, list[str]]] = {}
    device = resolve_device(cfg.train.device)
    made = 0
    with tqdm(total=sum(len(m) for _, m in todo), desc="predicting", unit="set",
              disable=None) as bar:
        for ts, missing in todo:
            for cell in missing:
                if cell.id not in models:
                    model, card = load_checkpoint(cell.run_dir, device=device)
                    probe = load_signals(ts, list(ts.record_ids[:16])) if ts.clean else None
                    models[cell.id] = (make_predictor(
                        model, device=device, batch_size=cfg.evaluation.batch_size,
                        runtime=cfg.evaluation.runtime, probe=probe), card.classes)
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
