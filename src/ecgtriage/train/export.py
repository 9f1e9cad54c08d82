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


def export_onnx(model: torch.nn.Module, path: str | Path, activation: str | None = None,
                atol: float = 1e-4, seed: int = 0, dynamo: bool = False,
                overwrite: bool = True) -> float:
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
    """
    needed = ("onnx", "onnxruntime") + (("onnxscript",) if dynamo else ())
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"ONNX export needs {', '.join(missing)} (not installed): "
                        "pip install 'ecgtriage[onnx]'")
    import onnxruntime as ort

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
            worst = max(worst, float(np.abs(got - ref).max()))
        # Written so that a NaN difference fails too (NaN > atol is False).
        if not worst <= atol:
            raise ValueError(f"{path}: onnxruntime differs from PyTorch by {worst:.3g} (> atol {atol})")
    return worst
