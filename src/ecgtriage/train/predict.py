"""Batch prediction of class probabilities from a trained model."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ecgtriage.errors import DataError
from ecgtriage.train.augment import crop
from ecgtriage.train.objectives import to_probabilities


def predict_proba(model: torch.nn.Module, signals, batch_size: int = 256,
                  device: str | torch.device | None = None, activation: str | None = None,
                  progress: bool = True) -> np.ndarray:
    """(N, C) float32 class probabilities for (N, leads, T) signals.

    Parameters
    ----------
    model : a network with ``signal_contract`` (e.g. from ``load_checkpoint``).
    signals : array, memmap or tensor (N, leads, T) in mV, at the model's ``fs``; windows longer
        than the model's ``n_samples`` are centre-cropped (as in validation), shorter raise.
    batch_size : records per forward pass (converted to float32 one batch at a time).
    device : where to run (default: the model's current device).
    activation : override ``model.output_activation`` (``"sigmoid"``, ``"softmax"``, ``"corn"``).

    Raises
    ------
    DataError
        When a probability is NaN or inf (naming the rows).

    Returns
    -------
    Sigmoid probabilities for multi-label models, softmax for single-label, and class
    probabilities (summing to 1) for ordinal CORN models.
    """
    activation = activation or getattr(model, "output_activation", None)
    if activation is None:
        raise ValueError("model.output_activation is not set; pass activation= or load the model "
                         "with load_checkpoint")
    contract = model.signal_contract
    if signals.ndim != 3 or signals.shape[1] != len(contract.leads):
        raise DataError(f"signals: expected shape (N, {len(contract.leads)}, {contract.n_samples}), "
                         f"found {tuple(signals.shape)}")
    if signals.shape[2] < contract.n_samples:
        raise DataError(f"signals: expected at least {contract.n_samples} samples per lead "
                         f"({contract.seconds:g} s at {contract.fs:g} Hz), found {signals.shape[2]}")
    if device is None:
        device = next(model.parameters()).device
    model = model.to(device).eval()
    out = []
    n = signals.shape[0]
    with torch.no_grad():
        for start in tqdm(range(0, n, batch_size), desc="predicting", unit="batch", leave=False,
                          disable=None if progress else True):
            block = signals[start:start + batch_size]
            x = block.float() if isinstance(block, torch.Tensor) else torch.from_numpy(
                np.asarray(block, dtype=np.float32))
            x = crop(x.to(device), contract.n_samples)
            out.append(to_probabilities(model(x), activation).cpu())
    if not out:
        n_classes = contract.n_outputs + (1 if activation == "corn" else 0)
        return np.zeros((0, n_classes), np.float32)
    proba = torch.cat(out).numpy().astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(proba).all(axis=1))
    if len(bad):
        # A NaN probability scores as neither right nor wrong downstream; refuse it here, where
        # the rows are still known.
        raise DataError(f"signals: the model's output is non-finite for {len(bad)} of {n} "
                        f"record(s), rows {bad[:5].tolist()} (NaN or inf samples, or NaN weights)")
    return proba
