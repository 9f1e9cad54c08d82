"""Batch augmentation driven by an explicit ``torch.Generator`` (no global RNG)."""

from __future__ import annotations

import torch

from ecgtriage.train.windowing import window_starts


def crop(x: torch.Tensor, n_samples: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Windows of ``n_samples`` from (B, L, T) ``x``: random per record with ``generator``,
    centred without. Raises when ``T < n_samples``."""
    total = x.shape[-1]
    if total < n_samples:
        raise ValueError(f"signal: expected at least {n_samples} samples per lead, found {total}")
    if total == n_samples:
        return x
    if generator is None:
        start = (total - n_samples) // 2
        return x[..., start:start + n_samples]
    offsets = torch.randint(0, total - n_samples + 1, (x.shape[0],), generator=generator,
                            device=generator.device)
    idx = offsets.to(x.device)[:, None] + torch.arange(n_samples, device=x.device)
    return torch.gather(x, 2, idx[:, None, :].expand(-1, x.shape[1], -1))


def augment(
    x: torch.Tensor,
    generator: torch.Generator,
    scale_range: tuple[float, float] = (1.0, 1.0),
    noise_std: float = 0.0,
) -> torch.Tensor:
    """Per-record amplitude scaling (uniform in ``scale_range``) plus Gaussian noise (mV)."""
    lo, hi = scale_range
    if hi > lo or lo != 1.0:
        u = torch.rand((x.shape[0], 1, 1), generator=generator, device=generator.device)
        x = x * (lo + (hi - lo) * u).to(x.device, x.dtype)
    if noise_std > 0:
        noise = torch.randn(x.shape, generator=generator, device=generator.device)
        x = x + noise_std * noise.to(x.device, x.dtype)
    return x


def sliding_windows(x: torch.Tensor, n_samples: int, stride: int) -> tuple[torch.Tensor, int]:
    """(B × W, L, n_samples) windows of (B, L, T) ``x`` (record-major: the W windows of record 0
    first) and W, the windows per record (see :func:`window_starts`)."""
    starts = window_starts(x.shape[-1], n_samples, stride)
    windows = torch.stack([x[..., s:s + n_samples] for s in starts], dim=1)
    return windows.reshape(-1, x.shape[1], n_samples), len(starts)


def aggregate_windows(proba: torch.Tensor, n_windows: int, how: str, normalise: bool) -> torch.Tensor:
    """(B, C) record probabilities from (B × W, C) window probabilities: ``"max"`` (the PTB-XL
    benchmark's: a finding seen in any window counts) or ``"mean"``. ``normalise`` rescales
    rows to sum 1 (single-label probabilities after ``"max"``)."""
    p = proba.reshape(-1, n_windows, proba.shape[-1])
    if how == "max":
        out = p.amax(dim=1)
    elif how == "mean":
        out = p.mean(dim=1)
    else:
        raise ValueError(f"aggregate: expected 'max' or 'mean', found {how!r}")
    if normalise:
        out = out / out.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    return out


def window_protocol(config) -> dict | None:
    """The prediction protocol of a training config (``TrainConfig`` or the card's ``config``
    mapping): ``{"stride_s": ..., "aggregate": ...}`` when sliding windows are on, else ``None``
    (centre crop). Set on trained and loaded models as ``model.window_protocol`` so that every
    prediction applies what validation applied."""
    get = config.get if isinstance(config, dict) else (lambda k, d=None: getattr(config, k, d))
    stride = get("predict_stride_s", None)
    if stride is None:
        return None
    return {"stride_s": float(stride), "aggregate": str(get("aggregate", "max") or "max")}


def window_note(config) -> str:
    """How a record longer than the model window is predicted, in words, for the model card."""
    protocol = window_protocol(config)
    if protocol is None:
        return "centre crop to n_samples when longer"
    return (f"sliding windows of n_samples every {protocol['stride_s']:g} s when longer (a last "
            f"window ends at the record's end), {protocol['aggregate']} of the window probabilities")
