"""Batch prediction of class probabilities from a trained model."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ecgtriage.errors import DataError
from ecgtriage.train.augment import aggregate_windows, crop, sliding_windows
from ecgtriage.train.objectives import to_probabilities


def predict_proba(model: torch.nn.Module, signals, batch_size: int = 256,
                  device: str | torch.device | None = None, activation: str | None = None,
                  progress: bool = True, protocol: dict | None = None) -> np.ndarray:
    """(N, C) float32 class probabilities for (N, leads, T) signals.

    Parameters
    ----------
    model : a network with ``signal_contract`` (e.g. from ``load_checkpoint``).
    signals : array, memmap or tensor (N, leads, T) in mV, at the model's ``fs``; windows longer
        than the model's ``n_samples`` are centre-cropped (as in validation), shorter raise.
    batch_size : records per forward pass (converted to float32 one batch at a time).
    device : where to run (default: the model's current device).
    activation : override ``model.output_activation`` (``"sigmoid"``, ``"softmax"``, ``"corn"``).
    protocol : ``{"stride_s": s, "aggregate": "max" | "mean"}`` to cover records longer than
        the model window with sliding windows and aggregate their probabilities (the PTB-XL
        benchmark's protocol); default ``model.window_protocol``, which training and
        ``load_checkpoint`` set from the run's configuration, so prediction applies what
        validation applied. ``None`` there: one centre window.

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
    if protocol is None:
        protocol = getattr(model, "window_protocol", None)
    stride = None
    if protocol is not None and signals.shape[2] > contract.n_samples:
        stride = max(1, round(float(protocol["stride_s"]) * contract.fs))
    out = []
    n = signals.shape[0]
    with torch.no_grad():
        for start in tqdm(range(0, n, batch_size), desc="predicting", unit="batch", leave=False,
                          disable=None if progress else True):
            block = signals[start:start + batch_size]
            x = block.float() if isinstance(block, torch.Tensor) else torch.from_numpy(
                np.asarray(block, dtype=np.float32))
            x = x.to(device)
            if stride is None:
                out.append(to_probabilities(model(crop(x, contract.n_samples)), activation).cpu())
                continue
            windows, n_windows = sliding_windows(x, contract.n_samples, stride)
            proba = to_probabilities(model(windows), activation)
            out.append(aggregate_windows(proba, n_windows, protocol.get("aggregate", "max"),
                                         normalise=activation != "sigmoid").cpu())
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


def predict_ensemble(models, signals, *, tta_scales: tuple[float, ...] = (1.0,), batch_size: int = 256,
                     device: str | torch.device | None = None,
                     progress: bool = False) -> tuple[np.ndarray, dict]:
    """Mean probabilities of several models (e.g. seeds) over test-time augmentations, and what
    that cost.

    Parameters
    ----------
    models : trained models of one scheme and one input contract (e.g. ``load_checkpoint`` of
        each seed's run); each applies its own ``window_protocol``.
    signals : (N, leads, T) as for :func:`predict_proba`.
    tta_scales : amplitude scalings averaged over (``(1.0,)``: no TTA); amplitude varies between
        devices and patients, and the training augmentation draws from the same range.

    Returns
    -------
    (N, C) float32 probabilities and ``{"n_models", "n_tta", "forward_passes", "seconds",
    "seconds_per_record"}``: an ensemble of k models with t augmentations costs k × t single
    predictions, which is the price to weigh against its gain.
    """
    import time

    models = list(models)
    if not models:
        raise ValueError("models: expected at least one model")
    if not tta_scales or any(s <= 0 for s in tta_scales):
        raise ValueError(f"tta_scales: expected positive scalings, found {tta_scales!r}")
    t0 = time.perf_counter()
    total = None
    for model in models:
        for scale in tta_scales:
            x = signals if scale == 1.0 else np.asarray(signals, dtype=np.float32) * np.float32(scale)
            p = predict_proba(model, x, batch_size=batch_size, device=device, progress=progress)
            total = p.astype(np.float64) if total is None else total + p
    n_runs = len(models) * len(tta_scales)
    seconds = time.perf_counter() - t0
    cost = {"n_models": len(models), "n_tta": len(tta_scales), "forward_passes": n_runs,
            "seconds": seconds, "seconds_per_record": seconds / max(signals.shape[0], 1)}
    return (total / n_runs).astype(np.float32), cost


def windowed_predictor(predict_window, model: torch.nn.Module):
    """Wrap a one-window predictor (``f(x) -> proba`` on (n, leads, n_samples) float32, such
    as the study's eager or ONNX Runtime predictors) so that it applies ``model.window_protocol``
    to longer records: sliding windows, then the max or mean of their probabilities, exactly as
    :func:`predict_proba` and validation do. Without a protocol ``predict_window`` is returned
    unchanged (it centre-crops, as before).
    """
    protocol = getattr(model, "window_protocol", None)
    if protocol is None:
        return predict_window
    contract = model.signal_contract
    stride = max(1, round(float(protocol["stride_s"]) * contract.fs))
    normalise = getattr(model, "output_activation", None) != "sigmoid"

    def predict(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 3 or x.shape[-1] <= contract.n_samples or len(x) == 0:
            return predict_window(x)
        windows, n_windows = sliding_windows(torch.from_numpy(x), contract.n_samples, stride)
        proba = torch.from_numpy(np.asarray(predict_window(np.ascontiguousarray(windows.numpy()))))
        return aggregate_windows(proba, n_windows, protocol.get("aggregate", "max"),
                                 normalise=normalise).numpy().astype(np.float32)

    return predict
