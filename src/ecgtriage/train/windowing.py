"""Where sliding windows start: the one torch-free piece of the window protocol, shared by
training/validation (``train.augment``, torch) and triage's NumPy path (``triage.windows``,
which must not import torch)."""

from __future__ import annotations

__all__ = ["window_starts"]


def window_starts(total: int, n_samples: int, stride: int) -> list[int]:
    """Start samples of sliding windows of ``n_samples`` every ``stride`` samples over ``total``;
    a last window ending at ``total`` is added when the stride leaves a tail uncovered, so every
    sample of the record is seen. ``total == n_samples`` gives the single window ``[0]``."""
    if total < n_samples:
        raise ValueError(f"signal: expected at least {n_samples} samples per lead, found {total}")
    if stride < 1:
        raise ValueError(f"stride: expected at least 1 sample, found {stride}")
    starts = list(range(0, total - n_samples + 1, stride))
    if starts[-1] != total - n_samples:
        starts.append(total - n_samples)
    return starts
