"""The preprocessing every cached record goes through, with every parameter in one config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ecgtriage.errors import ConfigError, DataError
from ecgtriage.signal.amplitude import AmplitudePolicy, limit_amplitude
from ecgtriage.signal.filters import bandpass, effective_band
from ecgtriage.signal.resample import resample
from ecgtriage.signal.window import CropPolicy, PadPolicy, PadSide, fix_length


@dataclass(frozen=True)
class PreprocessConfig:
    """Preprocessing settings; recorded verbatim in a cache's ``manifest.json``.

    Order of operations: resample to ``fs`` (polyphase) → zero-phase Butterworth band-pass
    (``band_low_hz``-``band_high_hz``, high edge clamped below Nyquist) → crop/pad to
    ``seconds`` → amplitude policy (``clip`` to ±``amplitude_limit_mv`` and count, or
    ``exclude``) → float16 in the cache. Filtering happens before cropping so that the filter's
    edge transients fall outside a centre crop.
    """

    fs: float = 100.0
    seconds: float = 10.0
    band_low_hz: float | None = 0.5
    band_high_hz: float | None = 40.0
    filter_order: int = 3
    crop: CropPolicy = "centre"
    pad: PadPolicy = "zeros"
    pad_side: PadSide = "end"
    #: Records shorter than this are excluded rather than mostly padded.
    min_seconds: float = 5.0
    amplitude_policy: AmplitudePolicy = "clip"
    #: ±10 mV: beyond any physiological 12-lead amplitude after baseline removal, and the range
    #: of common recorders; SPH has leads railed beyond it.
    amplitude_limit_mv: float = 10.0

    def __post_init__(self) -> None:
        if self.fs <= 0 or self.seconds <= 0:
            raise ConfigError(f"fs and seconds must be positive, got fs={self.fs}, seconds={self.seconds}")
        if self.min_seconds > self.seconds:
            raise ConfigError(
                f"min_seconds ({self.min_seconds}) must not exceed the window length seconds ({self.seconds})"
            )
        if self.amplitude_limit_mv <= 0:
            raise ConfigError(f"amplitude_limit_mv must be positive, got {self.amplitude_limit_mv}")
        n = self.fs * self.seconds
        if abs(n - round(n)) > 1e-6:
            raise ConfigError(
                f"fs × seconds must be a whole number of samples, got {self.fs} × {self.seconds} = {n}"
            )
        effective_band(self.fs, self.band_low_hz, self.band_high_hz)

    @property
    def n_samples(self) -> int:
        return int(round(self.fs * self.seconds))


@dataclass(frozen=True)
class Preprocessed:
    """A preprocessed record: ``signal`` float32 (12, n_samples) mV and what was done to it."""

    signal: np.ndarray
    n_clipped: int
    n_samples_source: int
    fs_source: float


def preprocess(signal: np.ndarray, fs: float, config: PreprocessConfig) -> Preprocessed:
    """Bring a (12, n) mV signal sampled at ``fs`` Hz to the config's rate and window.

    Raises ``ValueError`` (with the reason used in ``excluded.csv``) when the record is shorter
    than ``min_seconds``, contains NaN/inf, or breaks the ``exclude`` amplitude policy.

    Examples
    --------
    A 15 s record at 500 Hz becomes the default 10 s window at 100 Hz:

    >>> import numpy as np
    >>> rec = preprocess(np.zeros((12, 7500), np.float32), 500.0, PreprocessConfig())
    >>> rec.signal.shape, rec.signal.dtype, rec.n_samples_source, rec.n_clipped
    ((12, 1000), dtype('float32'), 7500, 0)
    """
    (result,) = preprocess_many([signal], [fs], config)
    if isinstance(result, Exception):
        raise result
    return result


def preprocess_many(
    signals: Sequence[np.ndarray], fs: Sequence[float], config: PreprocessConfig
) -> list[Preprocessed | ValueError]:
    """:func:`preprocess` for many records at once; each item is the result or its ``ValueError``.

    Records of equal length after resampling are band-passed as one stacked array, which is the
    same computation (the filter runs along time, independently per lead) at a fraction of the
    per-call overhead of ``sosfiltfilt``.
    """
    staged: list[np.ndarray | ValueError] = []
    for x, rate in zip(signals, fs):
        try:
            staged.append(_resampled(x, rate, config))
        except ValueError as exc:
            staged.append(exc)
    by_length: dict[int, list[int]] = {}
    for i, x in enumerate(staged):
        if not isinstance(x, ValueError):
            by_length.setdefault(x.shape[-1], []).append(i)
    filtered: dict[int, np.ndarray] = {}
    for members in by_length.values():
        stack = bandpass(
            np.stack([staged[i] for i in members]), config.fs,
            config.band_low_hz, config.band_high_hz, config.filter_order,
        )
        filtered.update(zip(members, stack))
    out: list[Preprocessed | ValueError] = []
    for i, (x, rate) in enumerate(zip(signals, fs)):
        if isinstance(staged[i], ValueError):
            out.append(staged[i])
            continue
        y = fix_length(filtered[i], config.n_samples, config.crop, config.pad, config.pad_side)
        try:
            y, n_clipped = limit_amplitude(y, config.amplitude_limit_mv, config.amplitude_policy)
        except ValueError as exc:
            out.append(exc)
            continue
        out.append(Preprocessed(np.ascontiguousarray(y, dtype=np.float32), n_clipped, np.shape(x)[-1], float(rate)))
    return out


def _resampled(signal: np.ndarray, fs: float, config: PreprocessConfig) -> np.ndarray:
    x = np.asarray(signal, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != 12:
        raise DataError(f"signal must have shape (12, n_samples), got {x.shape}")
    bad = ~np.isfinite(x)
    if bad.any():
        raise DataError(f"signal contains {int(bad.sum())} NaN/inf samples")
    duration = x.shape[-1] / float(fs)
    if duration < config.min_seconds:
        raise DataError(
            f"record is {duration:.2f} s long; records shorter than {config.min_seconds:g} s are excluded"
        )
    return resample(x, fs, config.fs)
