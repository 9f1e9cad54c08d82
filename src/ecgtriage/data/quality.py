"""Signal-quality limits: which records are not usable ECGs and must not be cached as valid.

A record that is all zeros, flat, mostly clipped at the recorder's rails, or sampled at a rate
no diagnostic 12-lead ECG uses would otherwise be cached (and trained on, and scored) like any
other; its label describes a heart the signal does not show. ``prepare`` excludes such records
with the reason in ``excluded.csv``. The limits live here, in one small config, so that the
future triage quality gate applies the same rules to a single incoming record.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecgtriage.errors import ConfigError
# The rail rule lives a floor down so the single-record triage gate applies it too.
from ecgtriage.signal.quality_gate import rail_mask

__all__ = ["DEFAULT_QUALITY", "QualityLimits", "quality_problem", "rate_problem"]


@dataclass(frozen=True)
class QualityLimits:
    """Thresholds for an unusable record.

    Parameters
    ----------
    min_fs, max_fs : plausible source sampling rates (Hz). Diagnostic 12-lead recorders sample
        at 100 Hz (PTB-XL's low-rate copy) to a few kHz; below 100 Hz the QRS complex is not
        resolved, and above 10 kHz the header is almost certainly wrong.
    min_peak_to_peak_mv : a record whose every lead spans less than this (1st to 99th
        percentile, as read or after preprocessing) is flat (all zeros, a constant, or leads
        off): a real QRS spans about 1 mV.
    max_clipped_fraction : a record with more than this fraction of its samples clipped (at
        the recorder's rails in the source, or at the amplitude limit of preprocessing) shows
        the rails rather than the heart.
    """

    min_fs: float = 100.0
    max_fs: float = 10_000.0
    min_peak_to_peak_mv: float = 0.05
    max_clipped_fraction: float = 0.5

    def __post_init__(self) -> None:
        if not (0 < self.min_fs < self.max_fs):
            raise ConfigError(f"quality: expected 0 < min_fs < max_fs, found {self.min_fs}, {self.max_fs}")
        if not (0 <= self.max_clipped_fraction <= 1):
            raise ConfigError(f"quality: max_clipped_fraction: expected 0..1, found {self.max_clipped_fraction}")
        if not self.min_peak_to_peak_mv >= 0:
            raise ConfigError(f"quality: min_peak_to_peak_mv: expected >= 0, found {self.min_peak_to_peak_mv}")


DEFAULT_QUALITY = QualityLimits()


def rate_problem(fs_source: float, limits: QualityLimits = DEFAULT_QUALITY) -> str | None:
    """The exclusion reason for an implausible source rate, or ``None``.

    Examples
    --------
    >>> rate_problem(500.0) is None, rate_problem(50.0)
    (True, 'implausible sampling rate 50 Hz (expected 100-10000 Hz for a diagnostic ECG)')
    """
    fs = float(fs_source)
    # Written so that a NaN rate is implausible too.
    if not (limits.min_fs <= fs <= limits.max_fs):
        return (f"implausible sampling rate {fs:g} Hz (expected {limits.min_fs:g}-{limits.max_fs:g} "
                "Hz for a diagnostic ECG)")
    return None


def railed_fraction(raw: np.ndarray, tolerance: float = 0.02) -> float:
    """Fraction of all samples sitting at a rail: within ``tolerance`` × the lead's range of
    its maximum or minimum, where that extreme lies far from the lead's median.

    A recorder that saturates holds the rail value for long stretches, so the count near the
    extremes measures clipping regardless of the recorder's range, and survives the small
    ringing that resampling adds to a plateau. An extreme near the median is the isoelectric
    baseline of a clean lead (e.g. a lead with only positive waves), not a rail, and is not
    counted.
    """
    x = np.asarray(raw, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] == 0 or not np.isfinite(x).all():
        return 0.0
    return float(rail_mask(x, tolerance).sum()) / float(x.size)


def _robust_span(x: np.ndarray) -> float:
    """The largest 1st-to-99th-percentile range over the leads of ``x`` (0 for no samples)."""
    if x.size == 0:
        return 0.0
    lo, hi = np.nanpercentile(x, [1, 99], axis=-1)
    return float(np.nanmax(hi - lo))


def quality_problem(raw: np.ndarray, processed: np.ndarray, n_clipped: int,
                    limits: QualityLimits = DEFAULT_QUALITY) -> str | None:
    """The exclusion reason for a record that is not a usable ECG, or ``None``.

    Parameters
    ----------
    raw : (leads, n) the record as read from the source.
    processed : (leads, T) after preprocessing (resampled, band-passed, windowed, limited).
    n_clipped : samples of ``processed`` clipped by the amplitude policy.

    Examples
    --------
    >>> quality_problem(np.zeros((12, 1000)), np.zeros((12, 1000)), 0)
    'flat record: every lead spans < 0.05 mV (all zeros, constant or leads off)'
    """
    proc = np.asarray(processed, dtype=np.float64)
    if not np.isfinite(proc).all():
        return "non-finite samples (NaN or inf) after preprocessing"
    # A robust span (1st to 99th percentile): resampling and band-pass add edge transients to
    # a constant record, which a plain peak-to-peak would count as signal. Both the record as
    # read and as preprocessed must move: a record flat only after filtering (pure drift) is
    # as unusable as one flat in the source.
    span = min(_robust_span(proc), _robust_span(np.asarray(raw, dtype=np.float64)))
    if span < limits.min_peak_to_peak_mv:
        return (f"flat record: every lead spans < {limits.min_peak_to_peak_mv:g} mV (all zeros, "
                "constant or leads off)")
    fraction = max(railed_fraction(raw), n_clipped / max(proc.size, 1))
    if fraction > limits.max_clipped_fraction:
        return (f"{fraction:.0%} of samples clipped (more than "
                f"{limits.max_clipped_fraction:.0%}): the signal shows the rails, not the heart")
    return None
