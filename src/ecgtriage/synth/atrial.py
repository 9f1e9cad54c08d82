"""Continuous atrial activity: fibrillatory waves and flutter (F) waves, as lead-space signals."""

from __future__ import annotations

import numpy as np

# Lead weights over (I, II, V1..V6): fibrillation is largest in V1, flutter in the inferior
# leads (negative sawtooth) with opposite-polarity discrete waves in V1.
_AF_RIGHT = np.array([0.15, 0.3, 1.0, 0.6, 0.35, 0.25, 0.2, 0.15])
_AF_INFERIOR = np.array([0.2, 0.6, 0.5, 0.3, 0.2, 0.15, 0.1, 0.1])
_FLUTTER = np.array([0.1, 1.0, -0.5, -0.3, 0.1, 0.1, 0.15, 0.15])


def _smooth_noise(n: int, fs: float, knot_s: float, rng) -> np.ndarray:
    """Unit-variance noise interpolated between knots ``knot_s`` apart (a slow random drift)."""
    n_knots = int(n / fs / knot_s) + 3
    knots = rng.normal(size=n_knots)
    return np.interp(np.arange(n) / fs / knot_s, np.arange(n_knots), knots)


def fibrillation(n: int, fs: float, rng, scale: float = 1.0) -> np.ndarray:
    """Fibrillatory waves (8, n) mV: two wandering 4-9 Hz components of varying amplitude."""
    out = np.zeros((8, n))
    amp_v1 = rng.uniform(0.04, 0.2) * scale
    for weights, rel in ((_AF_RIGHT, 1.0), (_AF_INFERIOR, rng.uniform(0.3, 0.7))):
        f0 = rng.uniform(4.5, 8.5)
        freq = np.clip(f0 + 0.6 * _smooth_noise(n, fs, 0.5, rng), 4.0, 9.0)
        phase = 2 * np.pi * np.cumsum(freq) / fs + rng.uniform(0, 2 * np.pi)
        envelope = np.clip(1 + 0.35 * _smooth_noise(n, fs, 1.0, rng), 0.2, None)
        wave = envelope * (np.sin(phase) + 0.3 * np.sin(2 * phase + rng.uniform(0, 2 * np.pi)))
        w = weights * (1 + rng.normal(0, 0.2, 8)) * amp_v1 * rel
        out += w[:, None] * wave[None, :]
    return out


def flutter(n: int, fs: float, freq_hz: float, phase: float, rng,
            scale: float = 1.0) -> np.ndarray:
    """Flutter waves (8, n) mV: a sawtooth (slow descent, fast return) at ``freq_hz``.

    Each F wave starts (returns upward) at times ``(k + phase) / freq_hz``.
    """
    t = np.arange(n) / fs
    x = 2 * np.pi * (freq_hz * t - phase)
    k = np.arange(1, 7)
    # Band-limited sawtooth; Lanczos factors tame the Gibbs ripple.
    sigma = np.sinc(k / 7.0)
    saw = (np.sin(np.outer(x, k)) * (sigma / k)).sum(axis=1)
    saw /= np.ptp(saw)
    amp = rng.uniform(0.12, 0.3) * scale
    w = _FLUTTER * (1 + rng.normal(0, 0.1, 8)) * amp
    return w[:, None] * saw[None, :]
