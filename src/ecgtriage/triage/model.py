"""Loading the model triage runs: a training run, a study's cell, or an exported ONNX file.

Every form ends up as a :class:`TriageModel`: its :class:`~ecgtriage.train.card.ModelCard`
(input contract, classes, decision rule, uncertainty threshold) and ``predict_proba``. Two
implementations exist because they serve different users: :class:`TorchTriageModel` runs the
training code's own network (eager, ``inference_mode``), :class:`OnnxTriageModel` runs an
exported graph with onnxruntime and never imports torch, so a triage station needs neither
PyTorch nor its start-up time.

A study folder is resolved to one cell's run folder through the study's own ``results.json``
(``cells``: scheme, seed, directory), and carries the study's measured robustness so that
triage can decide whether a record with missing leads may get a tier at all.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ecgtriage.errors import ConfigError, DataError
from ecgtriage.train.card import CARD, ModelCard
from ecgtriage.triage.windows import apply_protocol

__all__ = ["MISSING_LEAD_MARGIN", "OnnxTriageModel", "TorchTriageModel", "TriageModel",
           "load_triage_model", "missing_lead_support", "onnx_card_path"]

#: Largest drop of the study's robustness metric (3-tier macro-F1 on the internal test set)
#: under the ``missing_leads`` corruption at which triage still gives a tier to a record with
#: that many leads missing. Beyond it the model's answers on such records are not what its
#: clean scores promise.
MISSING_LEAD_MARGIN = 0.05


@runtime_checkable
class TriageModel(Protocol):
    """What triage needs of a model: its card, probabilities, and where it came from."""

    card: ModelCard
    #: The model's identity in triage output: scheme and architecture.
    name: str
    #: Short sha256 of the weights (or ONNX) file: which exact model decided.
    version: str
    #: Study robustness rows (``missing_leads`` curve points), empty unless loaded from a study.
    robustness: dict[str, Any]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(n, C) float32 probabilities of (n, 12, samples) float32 mV records; records longer
        than ``card.n_samples`` are read by the card's window protocol (sliding windows and
        their max/mean when the model was validated so, else the centre window)."""
        ...


def _short_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def _name(card: ModelCard) -> str:
    return f"{card.scheme_name}/{card.model.name}" + (f"/seed{card.seed}" if card.seed is not None else "")


def _check_input(x: np.ndarray, card: ModelCard) -> np.ndarray:
    """(n, leads, T) float32 with ``T >= card.n_samples``: longer records are read as the card's
    window protocol says (``triage.windows.apply_protocol``)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 3 or x.shape[1] != len(card.leads) or x.shape[2] < card.n_samples:
        raise DataError(f"input: expected shape (n, {len(card.leads)}, T) with T >= "
                        f"{card.n_samples}, found {x.shape}")
    return x


def _check_output(p: np.ndarray, card: ModelCard, where: str) -> np.ndarray:
    p = np.asarray(p, dtype=np.float32)
    if p.ndim != 2 or p.shape[1] != len(card.classes):
        raise DataError(f"{where}: the model returned shape {p.shape}; its card lists "
                        f"{len(card.classes)} classes")
    return p


@dataclass
class TorchTriageModel:
    """A run folder's network in PyTorch eager mode (``torch.inference_mode``).

    ``threads`` sets ``torch.set_num_threads`` for the process (PyTorch has no per-model
    setting); ``None`` leaves PyTorch's default.
    """

    run_dir: Path
    threads: int | None = None
    robustness: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import torch

        from ecgtriage.train.checkpoint import WEIGHTS, load_checkpoint

        if self.threads is not None:
            torch.set_num_threads(int(self.threads))
        self._model, self.card = load_checkpoint(self.run_dir)
        self.name = _name(self.card)
        self.version = _short_hash(Path(self.run_dir) / WEIGHTS)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(n, C) probabilities; records longer than the model input get the card's sliding
        windows and aggregation (or the centre window), as validation scored them."""
        x = _check_input(x, self.card)
        return _check_output(apply_protocol(self._predict_windows, x, self.card), self.card,
                             str(self.run_dir))

    def _predict_windows(self, x: np.ndarray) -> np.ndarray:
        import torch

        from ecgtriage.train.objectives import to_probabilities

        with torch.inference_mode():
            p = to_probabilities(self._model(torch.from_numpy(x)), self.card.activation)
        return p.numpy()


@dataclass
class OnnxTriageModel:
    """An exported ``.onnx`` file run by onnxruntime (no torch import anywhere on this path).

    The card is read from :func:`onnx_card_path` (``NAME.card.json``, written by
    ``ecgtriage export``) or, failing that, ``model_card.json`` in the same folder (an export
    into its own run folder). ``threads`` is onnxruntime's ``intra_op_num_threads``.
    """

    path: Path
    threads: int | None = None
    robustness: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            import onnxruntime as ort
        except ImportError:  # pragma: no cover - the onnx extra is part of `test`
            raise ConfigError("an .onnx model needs onnxruntime: pip install 'ecgtriage[onnx]'") from None
        self.path = Path(self.path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path} does not exist")
        card_file = onnx_card_path(self.path)
        self.card = ModelCard.read(card_file)
        options = ort.SessionOptions()
        if self.threads is not None:
            options.intra_op_num_threads = int(self.threads)
            options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(self.path), options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise DataError(f"{self.path}: onnxruntime cannot load it: {exc}") from None
        inputs = self._session.get_inputs()
        shape = list(inputs[0].shape)
        if len(shape) != 3 or shape[1:] != [len(self.card.leads), self.card.n_samples]:
            raise DataError(f"{self.path}: input shape {shape} disagrees with its card {card_file} "
                            f"(batch, {len(self.card.leads)}, {self.card.n_samples})")
        self._input = inputs[0].name
        self.name = _name(self.card)
        self.version = _short_hash(self.path)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(n, C) probabilities; the card's window protocol in NumPy (``triage.windows``), so
        an ONNX model reads a long record exactly as its torch original does."""
        x = _check_input(x, self.card)
        return _check_output(apply_protocol(self._predict_windows, x, self.card), self.card,
                             str(self.path))

    def _predict_windows(self, x: np.ndarray) -> np.ndarray:
        (p,) = self._session.run(None, {self._input: np.ascontiguousarray(x)})[:1]
        return p


def onnx_card_path(onnx_path: str | Path) -> Path:
    """The card of an exported ONNX file: ``NAME.card.json`` beside it, else the folder's
    ``model_card.json``.

    Kept equal to ``ecgtriage.train.export.card_path`` (which imports torch, so it is not
    imported here); a test checks the two agree.
    """
    onnx_path = Path(onnx_path)
    beside = onnx_path.with_name(onnx_path.stem + ".card.json")
    if beside.is_file():
        return beside
    folder = onnx_path.parent / CARD
    if folder.is_file():
        return folder
    raise FileNotFoundError(f"{beside} does not exist: an .onnx model needs its model card beside "
                            "it (written by `ecgtriage export`)")


# ---- studies ---------------------------------------------------------------------------------


def _study_cell(study_dir: Path, scheme: str | None, seed: int) -> tuple[Path, dict[str, Any]]:
    """The run folder of a study's (scheme, seed) cell and the study's results."""
    results_path = study_dir / "results.json"
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{results_path}: cannot parse JSON: {exc}") from None
    cells = results.get("cells") or []
    scheme = scheme or ("tier3" if any(c.get("scheme") == "tier3" for c in cells) else None)
    if scheme is None:
        raise ConfigError(f"{results_path}: the study has no tier3 model; pass --scheme "
                          f"(one of {sorted({c.get('scheme') for c in cells})})")
    match = [c for c in cells if c.get("scheme") == scheme and int(c.get("seed", -1)) == seed]
    if not match:
        raise ConfigError(f"--scheme {scheme}: {results_path} has no {scheme} model of seed {seed}; "
                          f"its cells: {', '.join(str(c.get('id')) for c in cells) or 'none'}")
    run_dir = study_dir / "cells" / str(match[0]["dir"]) / "run"
    if not (run_dir / CARD).is_file():
        raise FileNotFoundError(f"{run_dir / CARD} does not exist: the study's cell "
                                f"{match[0].get('id')} has no trained model")
    return run_dir, results


def missing_lead_support(results: dict[str, Any], scheme: str, seed: int,
                         test_set: str = "internal") -> dict[str, Any]:
    """What a study measured about its (scheme, seed) model with leads missing.

    Returns
    -------
    ``{"clean": metric, "points": {k: metric with k leads zeroed}, "metric": ...,
    "test_set": ...}`` from ``results.json`` robustness curves (3-tier macro-F1).
    """
    curves = (results.get("robustness") or {}).get("curves") or []
    mine = [c for c in curves if c.get("scheme") == scheme and int(c.get("seed", -1)) == seed
            and c.get("test_set") == test_set]
    clean = next((c.get("value") for c in mine if c.get("corruption") is None), None)
    points = {int(round(float(c["severity"]))): c.get("value") for c in mine
              if c.get("corruption") == "missing_leads" and c.get("severity") is not None}
    return {"clean": clean, "points": points, "test_set": test_set,
            "metric": (results.get("robustness") or {}).get("metric_label", "3-tier macro-F1")}


def load_triage_model(path: str | Path, *, scheme: str | None = None, seed: int = 0,
                      threads: int | None = None, runtime: str | None = None) -> TriageModel:
    """Open MODEL for triage.

    Parameters
    ----------
    path : a run folder (``model_card.json`` + ``model.safetensors``), a study folder
        (``results.json``; its ``scheme`` model of ``seed``, tier3 by default), or an
        exported ``.onnx`` file with its card beside it.
    scheme : a study's scheme (``tier3``, ``tier4``, ``aha44``); refused for other forms.
    threads : intra-op threads of the runtime (``None``: its default).
    runtime : ``"torch"`` or ``"onnx"`` to insist on one; ``None`` follows the path
        (``.onnx`` → onnxruntime, anything else → torch).

    Raises
    ------
    ConfigError
        When the path is none of these, or ``scheme``/``runtime`` do not fit it.
    """
    path = Path(path)
    if runtime not in (None, "torch", "onnx"):
        raise ConfigError(f"runtime: expected torch or onnx, found {runtime!r}")
    if path.suffix == ".onnx":
        if scheme is not None:
            raise ConfigError(f"--scheme {scheme}: only for a study folder; {path} is one model")
        if runtime == "torch":
            raise ConfigError(f"{path}: an .onnx file runs on onnxruntime, not torch")
        return OnnxTriageModel(path, threads=threads)
    if runtime == "onnx":
        raise ConfigError(f"{path}: runtime onnx needs an .onnx file (ecgtriage export)")
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if (path / "results.json").is_file() and (path / "cells").is_dir():
        run_dir, results = _study_cell(path, scheme, seed)
        card = ModelCard.read(run_dir)
        robust = missing_lead_support(results, card.scheme_name, seed)
        return TorchTriageModel(run_dir, threads=threads, robustness=robust)
    if (path / CARD).is_file():
        if scheme is not None:
            raise ConfigError(f"--scheme {scheme}: only for a study folder; {path} is a run folder")
        return TorchTriageModel(path, threads=threads)
    raise ConfigError(f"--model {path}: expected a run folder (model_card.json), a study folder "
                      "(results.json and cells/) or an exported .onnx file")
