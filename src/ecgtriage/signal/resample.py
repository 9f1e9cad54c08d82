"""The project's one resampling function (polyphase, rational ratio for any pair of rates)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from ecgtriage.errors import ConfigError, DataError

#: Largest denominator accepted when turning ``fs_out / fs_in`` into a ratio ``up / down``.
MAX_DENOMINATOR = 1000


def resample_ratio(fs_in: float, fs_out: float) -> tuple[int, int]:
    """``(up, down)`` with ``fs_in * up / down == fs_out`` (reduced, denominator <= 1000).

    Raises ``ValueError`` when a rate is not positive or the ratio cannot be represented exactly
    enough (relative error above 1e-6).

    Examples
    --------
    >>> resample_ratio(360.0, 100.0)  # MIT-BIH rate to the cache rate
    (5, 18)
    """
    if not fs_in or fs_in <= 0 or not fs_out or fs_out <= 0:
        raise DataError(f"sampling rates must be positive, got fs_in={fs_in}, fs_out={fs_out}")
    ratio = Fraction(float(fs_out) / float(fs_in)).limit_denominator(MAX_DENOMINATOR)
    if abs(float(ratio) * fs_in - fs_out) > 1e-6 * fs_out:
        raise ConfigError(
            f"cannot resample {fs_in} Hz to {fs_out} Hz with a rational ratio of denominator "
            f"<= {MAX_DENOMINATOR}"
        )
    return ratio.numerator, ratio.denominator


def resample(signal: np.ndarray, fs_in: float, fs_out: float, axis: int = -1) -> np.ndarray:
    """Resample ``signal`` from ``fs_in`` to ``fs_out`` Hz along ``axis``.

    Uses ``scipy.signal.resample_poly`` (zero-phase FIR anti-aliasing filter), so a record keeps
    its timing and its length becomes ``ceil(n * up / down)``. Returns the input unchanged (same
    object) when the rates are equal. The dtype is float32 for float32 input, float64 otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> ten_seconds = np.zeros((12, 5000), dtype=np.float32)  # 500 Hz
    >>> out = resample(ten_seconds, 500.0, 100.0)
    >>> out.shape, out.dtype
    ((12, 1000), dtype('float32'))
    """
    up, down = resample_ratio(fs_in, fs_out)
    if up == down:
        return signal
    x = np.asarray(signal)
    out = resample_poly(x, up, down, axis=axis)
    return out.astype(np.float32 if x.dtype == np.float32 else np.float64, copy=False)
