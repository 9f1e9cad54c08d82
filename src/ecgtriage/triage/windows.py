"""The sliding-window prediction protocol in NumPy, for triage without torch.

A model trained on short crops (``TrainConfig.window_s``) with ``predict_stride_s`` set was
validated on sliding windows over the whole cached record, their probabilities aggregated by
max or mean (``ecgtriage.train.augment``). Triage must apply the same protocol or its numbers
are not the validated ones; the ONNX triage path imports no torch, so the protocol is written
here once more in NumPy (window starts are shared: ``train.windowing``).
``tests/test_windowed_prediction.py`` checks it equals
``train.augment.window_starts`` / ``sliding_windows`` / ``aggregate_windows`` and
``window_protocol`` on random input.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from ecgtriage.train.windowing import window_starts

__all__ = ["aggregate_windows", "apply_protocol", "card_protocol", "sliding_windows",
           "window_starts"]


def card_protocol(card: Any) -> dict | None:
    """``{"stride_s", "aggregate"}`` of a model card's training config, or ``None`` (one
    centre window); the same answer as ``train.augment.window_protocol(card.config)``."""
    config: Mapping[str, Any] = getattr(card, "config", None) or {}
    stride = config.get("predict_stride_s")
    if stride is None:
        return None
    return {"stride_s": float(stride), "aggregate": str(config.get("aggregate") or "max")}


def sliding_windows(x: np.ndarray, n_samples: int, stride: int) -> tuple[np.ndarray, int]:
    """(B × W, L, n_samples) windows of (B, L, T) ``x``, record-major, and W per record."""
    starts = window_starts(x.shape[-1], n_samples, stride)
    windows = np.stack([x[..., s:s + n_samples] for s in starts], axis=1)
    return np.ascontiguousarray(windows.reshape(-1, x.shape[1], n_samples)), len(starts)


def aggregate_windows(proba: np.ndarray, n_windows: int, how: str, normalise: bool) -> np.ndarray:
    """(B, C) record probabilities from (B × W, C) window probabilities by ``"max"`` or
    ``"mean"``; ``normalise`` rescales rows to sum 1 (single-label after ``"max"``)."""
    p = np.asarray(proba, dtype=np.float32).reshape(-1, n_windows, proba.shape[-1])
    if how == "max":
        out = p.max(axis=1)
    elif how == "mean":
        out = p.mean(axis=1, dtype=np.float32)
    else:
        raise ValueError(f"aggregate: expected 'max' or 'mean', found {how!r}")
    if normalise:
        out = out / np.maximum(out.sum(axis=-1, keepdims=True), np.float32(1e-12))
    return out.astype(np.float32, copy=False)


def apply_protocol(predict_window: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                   card: Any) -> np.ndarray:
    """(n, C) probabilities of (n, leads, T ≥ card.n_samples) records as validation scored
    them: the card's sliding windows and aggregation when it has a protocol and ``T`` is longer
    than the model input, else the centre ``card.n_samples`` (``train.augment.crop``).

    ``predict_window`` maps (m, leads, card.n_samples) float32 to (m, C) probabilities.
    """
    n = int(card.n_samples)
    total = x.shape[-1]
    if total == n:
        return predict_window(x)
    protocol = card_protocol(card)
    if protocol is None:
        start = (total - n) // 2
        return predict_window(np.ascontiguousarray(x[..., start:start + n]))
    stride = max(1, round(protocol["stride_s"] * float(card.fs)))
    windows, n_windows = sliding_windows(x, n, stride)
    return aggregate_windows(predict_window(windows), n_windows, protocol["aggregate"],
                             normalise=card.activation != "sigmoid")


def protocol_note(card: Any, total: int) -> str | None:
    """What the model reads of a ``total``-sample record, in words (``None``: all of it)."""
    n, fs = int(card.n_samples), float(card.fs)
    if total <= n:
        return None
    protocol = card_protocol(card)
    if protocol is None:
        return f"model reads the centre {n / fs:.4g} s of the {total / fs:.4g} s window"
    stride = max(1, round(protocol["stride_s"] * fs))
    w = len(window_starts(total, n, stride))
    return (f"model reads {w} sliding windows of {n / fs:.4g} s every {stride / fs:.4g} s over "
            f"the {total / fs:.4g} s window, {protocol['aggregate']} of their probabilities "
            "(as validated)")
