"""Batch augmentation driven by an explicit ``torch.Generator`` (no global RNG)."""

from __future__ import annotations

import torch


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
