"""A tiny learnable ECG-shaped task for smoke tests and benchmarks (no data files needed).

Test-only code, so it lives beside the tests rather than in the library; the training
benchmark imports it from here too.

Each class owns a sinusoidal burst at its own frequency on its own lead; a record carries the
bursts of its classes on top of Gaussian background noise. Multi-label: classes independent.
Ordered single-label: class ``k`` carries the burst of amplitude proportional to ``k`` on every
lead, so the classes are ordered by amplitude.
"""

from __future__ import annotations

import numpy as np


def make_toy_task(n: int, n_classes: int, *, fs: float = 100.0, n_samples: int = 250,
                  multilabel: bool, seed: int, prevalence: float = 0.3,
                  noise_mv: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Signals (n, 12, n_samples) float32 mV and targets ((n, C) float32 or (n,) int64)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / fs
    x = rng.normal(0.0, noise_mv, size=(n, 12, n_samples))
    freqs = fs * (np.arange(n_classes) + 1) / (3.0 * (n_classes + 1))
    phase = rng.uniform(0, 2 * np.pi, size=n)
    if multilabel:
        y = (rng.random((n, n_classes)) < prevalence).astype(np.float32)
        for c in range(n_classes):
            wave = 0.6 * np.sin(2 * np.pi * freqs[c] * t[None, :] + phase[:, None])
            x[:, c % 12, :] += y[:, c, None] * wave
        return x.astype(np.float32), y
    y = rng.integers(0, n_classes, size=n)
    wave = np.sin(2 * np.pi * freqs[0] * t[None, :] + phase[:, None])
    x += (0.4 * y[:, None, None]) * wave[:, None, :]
    return x.astype(np.float32), y.astype(np.int64)
