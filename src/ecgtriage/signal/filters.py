"""Zero-phase band-pass filtering, identical for every source."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.signal import butter, sosfiltfilt

from ecgtriage.errors import ConfigError

#: The high cut-off is clamped to this fraction of the Nyquist rate so that a default such as
#: 40 Hz still gives a valid (and not edge-of-band) design at low sampling rates.
MAX_NYQUIST_FRACTION = 0.9


def effective_band(fs: float, low_hz: float | None, high_hz: float | None) -> tuple[float | None, float | None]:
    """The band actually applied at ``fs``: ``high_hz`` clamped below Nyquist, ``None`` = no edge.

    Raises ``ValueError`` when the band is empty or a cut-off is not positive.

    Examples
    --------
    >>> effective_band(100.0, 0.5, 150.0)  # 150 Hz does not exist at 100 Hz: 0.9 x Nyquist
    (0.5, 45.0)
    >>> effective_band(500.0, None, 40)  # no low edge: a low-pass
    (None, 40.0)
    """
    nyquist = fs / 2.0
    if low_hz is not None and low_hz <= 0:
        raise ConfigError(f"band-pass low cut-off must be positive, got {low_hz} Hz")
    if high_hz is not None:
        if high_hz <= 0:
            raise ConfigError(f"band-pass high cut-off must be positive, got {high_hz} Hz")
        high_hz = min(float(high_hz), MAX_NYQUIST_FRACTION * nyquist)
    if low_hz is not None and high_hz is not None and low_hz >= high_hz:
        raise ConfigError(
            f"band-pass low cut-off {low_hz} Hz must be below the high cut-off {high_hz} Hz "
            f"(after clamping to {MAX_NYQUIST_FRACTION} x Nyquist at fs = {fs} Hz)"
        )
    return (None if low_hz is None else float(low_hz)), high_hz


@lru_cache(maxsize=64)
def _design(fs: float, low: float | None, high: float | None, order: int) -> np.ndarray | None:
    if low is None and high is None:
        return None
    if low is not None and high is not None:
        return butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    if low is not None:
        return butter(order, low, btype="highpass", fs=fs, output="sos")
    return butter(order, high, btype="lowpass", fs=fs, output="sos")


def bandpass(
    signal: np.ndarray,
    fs: float,
    low_hz: float | None = 0.5,
    high_hz: float | None = 40.0,
    order: int = 3,
    axis: int = -1,
) -> np.ndarray:
    """Zero-phase Butterworth band-pass of ``signal`` sampled at ``fs`` Hz.

    ``sosfiltfilt`` runs the order-``order`` filter forward and backward, so the magnitude
    response is squared (effective order ``2 * order``) and there is no phase shift: wave onsets
    stay where they are. ``low_hz=None`` gives a low-pass, ``high_hz=None`` a high-pass, both
    ``None`` returns the input. ``high_hz`` is clamped below Nyquist (see :func:`effective_band`).

    Examples
    --------
    Slow baseline drift is removed and a 10 Hz component passes, in phase:

    >>> import numpy as np
    >>> fs = 500.0
    >>> t = np.arange(5000) / fs
    >>> drift, ten_hz = np.sin(2 * np.pi * 0.05 * t), np.sin(2 * np.pi * 10 * t)
    >>> out = bandpass(np.stack([drift + ten_hz]), fs, low_hz=0.5, high_hz=40.0)
    >>> out.shape
    (1, 5000)
    >>> bool(np.abs(out - ten_hz)[:, 500:-500].max() < 0.1)  # away from the edges
    True
    """
    low, high = effective_band(fs, low_hz, high_hz)
    sos = _design(float(fs), low, high, int(order))
    if sos is None:
        return signal
    x = np.asarray(signal)
    out = sosfiltfilt(sos, x, axis=axis)
    return out.astype(np.float32 if x.dtype == np.float32 else np.float64, copy=False)
