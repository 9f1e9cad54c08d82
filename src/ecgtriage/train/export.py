"""ONNX export of a trained model (probabilities out), validated against onnxruntime."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import torch

from ecgtriage import atomic
from ecgtriage.errors import DataError, UserError
from ecgtriage.train.objectives import to_probabilities


class ProbabilityModel(torch.nn.Module):
    """A network followed by its logits → class-probabilities conversion."""

    def __init__(self, model: torch.nn.Module, activation: str) -> None:
        super().__init__()
        self.model, self.activation = model, activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return to_probabilities(self.model(x), self.activation)


def card_path(onnx_path: str | Path) -> Path:
    """Where the model card of an exported ``.onnx`` file lives: ``NAME.card.json`` beside it.

    The ONNX graph carries no classes, thresholds or input contract; triage needs them, so
    an export is a pair of files.
    """
    onnx_path = Path(onnx_path)
    return onnx_path.with_name(onnx_path.stem + ".card.json")


def check_card_matches(model: torch.nn.Module, card, where: str | Path) -> None:
    """Refuse a card that does not describe ``model``: output width, leads, window, rate.

    Raises
    ------
    DataError
        Naming the card field and both values; an ONNX file exported with a card of another
        model would mislabel every probability column.
    """
    contract = model.signal_contract
    checks = [("model.n_outputs", card.model.n_outputs, int(contract.n_outputs)),
              ("leads", len(card.leads), len(contract.leads)),
              ("n_samples", card.n_samples, int(contract.n_samples)),
              ("fs", float(card.fs), float(contract.fs))]
    for name, in_card, in_model in checks:
        if in_card != in_model:
            raise DataError(f"{where}: model card {name} is {in_card!r} but the weights' model "
                            f"has {in_model!r}; the card does not describe these weights")


def export_onnx(model: torch.nn.Module, path: str | Path, activation: str | None = None,
                atol: float = 1e-4, seed: int = 0, dynamo: bool = False,
                overwrite: bool = True, card=None) -> float:
    """Export ``model`` to ONNX (input ``ecg`` (batch, leads, n_samples), output ``proba``) and
    check onnxruntime against PyTorch on random input of two batch sizes.

    ``dynamo=False`` uses the TorchScript exporter (about 1 s for the default model);
    ``dynamo=True`` the ``torch.export``-based one (slower, and the one PyTorch keeps long-term).

    Returns
    -------
    The largest absolute difference found; raises ``ValueError`` when it exceeds ``atol``,
    ``DataError`` when either runtime produces a non-finite probability (NaN weights: a NaN
    would otherwise compare as "no difference"), and ``UserError`` when the ``onnx`` extra
    (onnx, onnxruntime; onnxscript for ``dynamo``) is missing. Nothing is written then.

    ``overwrite=False`` refuses an existing file at ``path`` (``FileExistsError``); a folder
    there is never replaced (``IsADirectoryError``).

    ``card`` (the run's ``ModelCard``): checked against the model before anything is written
    (``DataError`` on a mismatch of classes, leads, window or rate, and when the exported
    graph's output width differs from the card's class count), then written beside the ONNX
    file (:func:`card_path`) so that ``ecgtriage triage`` can use the file without torch.
    """
    needed = ("onnx", "onnxruntime") + (("onnxscript",) if dynamo else ())
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"ONNX export needs {', '.join(missing)} (not installed): "
                        "pip install 'ecgtriage[onnx]'")
    import onnxruntime as ort

    if card is not None:
        check_card_matches(model, card, path)
        activation = activation or card.activation
    activation = activation or getattr(model, "output_activation", None)
    contract = model.signal_contract
    wrapped = ProbabilityModel(model.cpu().eval(), activation).eval() if activation else model.cpu().eval()
    gen = torch.Generator().manual_seed(seed)
    example = torch.randn(2, len(contract.leads), contract.n_samples, generator=gen)
    path = Path(path)
    with atomic.atomic_path(path, replace=overwrite) as tmp:
        with warnings.catch_warnings():
            # The TorchScript exporter reports slices it cannot constant-fold; harmless here.
            warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=FutureWarning)
            if dynamo:
                torch.onnx.export(wrapped, (example,), str(tmp), input_names=["ecg"],
                                  output_names=["proba"], dynamo=True, external_data=False,
                                  dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False)
            else:
                torch.onnx.export(wrapped, (example,), str(tmp), input_names=["ecg"],
                                  output_names=["proba"], dynamo=False, opset_version=17,
                                  dynamic_axes={"ecg": {0: "batch"}, "proba": {0: "batch"}})
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        worst = 0.0
        for batch in (1, 3):
            x = torch.randn(batch, len(contract.leads), contract.n_samples, generator=gen)
            with torch.no_grad():
                ref = wrapped(x).numpy()
            got = session.run(["proba"], {"ecg": x.numpy()})[0]
            if got.shape != ref.shape:
                raise ValueError(f"{path}: onnxruntime output shape {got.shape}, PyTorch {ref.shape}")
            if not (np.isfinite(ref).all() and np.isfinite(got).all()):
                raise DataError(f"{path}: the model outputs non-finite probabilities (NaN or inf "
                                "weights?); not exported")
            if card is not None and got.shape[1] != len(card.classes):
                raise DataError(f"{path}: the exported model outputs {got.shape[1]} "
                                f"probabilities; its card lists {len(card.classes)} classes")
            worst = max(worst, float(np.abs(got - ref).max()))
        # Written so that a NaN difference fails too (NaN > atol is False).
        if not worst <= atol:
            raise ValueError(f"{path}: onnxruntime differs from PyTorch by {worst:.3g} (> atol {atol})")
    if card is not None:
        from ecgtriage.train.card import ModelCard

        data = card.to_dict()
        ModelCard.from_dict(data, where=f"{card_path(path)} (about to be written)")
        atomic.write_json(card_path(path), data, replace=overwrite)
    return worst
