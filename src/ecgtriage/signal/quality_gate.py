"""Signal-quality gate: is one incoming ECG readable, or must it be recorded again?

A triage model shown a disconnected electrode, a saturated amplifier or a lead buried in
muscle noise still outputs a confident-looking class; the only safe answer is "repeat the
recording". :func:`assess_quality` measures a few features per present lead and for the whole
record and compares them with :class:`GateLimits`. The limits are data, not code: they live in
``signal/data/quality_gate.json``, written by ``scripts/measure_quality_gate.py`` from the
quality annotations of PTB-XL (thresholds chosen so that few records without a quality
annotation are rejected; docs/quality_gate.md has the numbers).

Features (per lead, on the signal as read, in mV)
-------------------------------------------------
``nonfinite``     count of NaN/inf samples.
``std_mv``        standard deviation: a disconnected or flat lead hardly moves.
``flat_run_s``    longest run of exactly repeated samples, seconds: a lead that stops.
``rail_share``    share of samples in flat-topped runs (at least ``RAIL_MIN_RUN_S``) within
                  ``RAIL_TOLERANCE`` x range of the lead's maximum or minimum, where that extreme
                  lies far from the median (the rule of ``data.quality.railed_fraction``): an
                  amplifier at its rails.
``ptp_mv``        peak-to-peak amplitude: beyond any heart's.
``noise_mv``      beat-to-beat noise: QRS complexes are found on all present leads together
                  (:func:`beat_positions`); per lead, the median over beats of the rms
                  difference of each beat from the median beat (after a 0.5 Hz high-pass).
                  Noise, not the heart, differs from beat to beat.
``wander_share``  share of power below 0.7 Hz among 0-40 Hz: baseline wander that buries the
                  waveform.

Whole record: sampling rate, duration, and ``limb_lead_error`` (the present limb leads must
obey Einthoven's and Goldberger's laws, :func:`limb_lead_error`; a file with mislabelled or
swapped limb leads does not).

Missing leads are not the gate's business (the triage layer decides which lead sets it
accepts), but a record with no usable lead is unreadable.
"""

from __future__ import annotations

from functools import lru_cache

import dataclasses
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any, Mapping, Sequence

import numpy as np

from ecgtriage.errors import ConfigError
from ecgtriage.leads import CANONICAL_LEADS

__all__ = ["GateFlag", "GateLimits", "GateResult", "assess_quality", "default_gate_limits",
           "beat_positions", "lead_features", "limb_lead_error", "rail_mask", "LIMITS_FILE"]

#: Packaged limits (``ecgtriage.signal/data``), written by ``scripts/measure_quality_gate.py``.
LIMITS_FILE = "quality_gate.json"
QRS_BAND_HZ = (5.0, 15.0)
#: Beat window around a detected QRS for the template SNR: 0.25 s before, 0.45 s after.
BEAT_WINDOW_S = (0.25, 0.45)
WANDER_CUTOFF_HZ = 0.7
WANDER_TOTAL_HZ = 40.0
RAIL_TOLERANCE = 0.01
RAIL_MIN_RUN_S = 0.03
#: Welch segment length: 4 s resolves 0.25 Hz, enough to separate wander from the ECG.
WELCH_SEGMENT_S = 4.0


@dataclass(frozen=True)
class GateLimits:
    """Thresholds of the gate; a value beyond one makes the record unreadable.

    Parameters
    ----------
    min_fs, max_fs : plausible sampling rates, Hz. Below 50 Hz a QRS is not resolved; above
        10 kHz the rate is almost certainly wrong.
    min_duration_s : shortest record judged; a few beats are needed for any rhythm statement.
    min_std_mv : a lead with a smaller standard deviation is flat (disconnected).
    max_flat_run_s : a lead repeating one value for longer has stopped.
    max_rail_share : a lead with a larger share of samples in flat tops at its extremes is
        clipped.
    max_ptp_mv : a lead spanning more is an artefact (no heart gives tens of mV at the skin).
    max_noise_mv : a lead with more beat-to-beat noise (mV rms) is noise.
    max_wander_share : a lead with a larger share of its power below 0.7 Hz is baseline wander.
    max_limb_error : largest relative rms departure of the present limb leads from Einthoven's
        and Goldberger's laws (:func:`limb_lead_error`); beyond it leads are mislabelled or
        swapped, and every lead-specific finding would be wrong.
    """

    min_fs: float = 50.0
    max_fs: float = 10_000.0
    min_duration_s: float = 5.0
    min_std_mv: float = 0.01
    max_flat_run_s: float = 1.0
    max_rail_share: float = 0.05
    max_ptp_mv: float = 20.0
    max_noise_mv: float = 0.5
    max_wander_share: float = 0.95
    max_limb_error: float = 0.3

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise ConfigError(f"quality gate: {f.name}: expected a finite number, found {value!r}")
            object.__setattr__(self, f.name, float(value))
        if not 0 < self.min_fs < self.max_fs:
            raise ConfigError(f"quality gate: expected 0 < min_fs < max_fs, found {self.min_fs}, {self.max_fs}")
        for name in ("max_rail_share", "max_wander_share", "max_limb_error"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"quality gate: {name}: expected 0..1, found {getattr(self, name)}")
        for name in ("min_duration_s", "min_std_mv", "max_flat_run_s", "max_ptp_mv", "max_noise_mv"):
            if getattr(self, name) < 0:
                raise ConfigError(f"quality gate: {name}: expected >= 0, found {getattr(self, name)}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "quality gate") -> "GateLimits":
        """Build from a mapping; unknown keys and non-numbers raise ``ConfigError``."""
        from ecgtriage.config import from_dict

        return from_dict(cls, dict(data), where)

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class GateFlag:
    """One reason a record is unreadable: the lead (``None`` for the whole record), a short
    reason (``"flat line"``) and the measured value it was judged on."""

    lead: str | None
    reason: str
    value: float | None

    def describe(self) -> str:
        where = f"{self.lead}: " if self.lead else ""
        return f"{where}{self.reason}"


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict: readable, or the flags that make the record unreadable."""

    readable: bool
    flags: tuple[GateFlag, ...] = ()

    def message(self) -> str:
        """One line for the user: ``"readable"`` or ``"unreadable: repeat the recording (V3:
        flat line, std 0.001 mV; ...)"``."""
        if self.readable:
            return "readable"
        return "unreadable: repeat the recording (" + "; ".join(f.describe() for f in self.flags) + ")"

    @property
    def flagged_leads(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.lead for f in self.flags if f.lead))


def default_gate_limits() -> GateLimits:
    """The packaged limits measured on PTB-XL (``signal/data/quality_gate.json``)."""
    path = resources.files("ecgtriage.signal") / "data" / LIMITS_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "limits" not in data:
        raise ConfigError(f"{LIMITS_FILE}: expected an object with a 'limits' table")
    return GateLimits.from_dict(data["limits"], where=f"{LIMITS_FILE}: limits")


# ----------------------------------------------------------------------------- features
def _longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of ``True`` in a 1-D boolean array."""
    if not mask.any():
        return 0
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max())


def _runs_at_least(mask: np.ndarray, k: int) -> np.ndarray:
    """``mask`` keeping only runs of ``True`` at least ``k`` long."""
    if k <= 1 or not mask.any():
        return mask
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    out = np.zeros_like(mask)
    for start, stop in zip(edges[::2], edges[1::2]):
        if stop - start >= k:
            out[start:stop] = True
    return out


def rail_mask(x: np.ndarray, tolerance: float = 0.02, min_run: int = 1) -> np.ndarray:
    """Samples of ``x`` (leads, n) sitting at a rail: within ``tolerance`` x the lead's range of
    its maximum or minimum, where that extreme lies far (over a quarter of the range) from the
    lead's median, in runs of at least ``min_run`` samples.

    A recorder that saturates holds the rail value for long stretches, so the count near the
    extremes measures clipping regardless of the recorder's range; an extreme near the median
    is the isoelectric baseline of a lead with only positive waves, not a rail. ``min_run``
    > 1 keeps only flat tops, so the one or two samples at the tip of each clean R wave do not
    count. The rule is shared with ``data.quality.railed_fraction`` (``prepare``'s exclusion).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] == 0 or not np.isfinite(x).all():
        return np.zeros(x.shape if x.ndim == 2 else (0, 0), dtype=bool)
    hi = x.max(axis=1, keepdims=True)
    lo = x.min(axis=1, keepdims=True)
    med = np.median(x, axis=1, keepdims=True)
    span = hi - lo
    band = tolerance * span
    at_hi = (x >= hi - band) & ((hi - med) > 0.25 * span) & (span > 0)
    at_lo = (x <= lo + band) & ((med - lo) > 0.25 * span) & (span > 0)
    if min_run > 1:
        at_hi = np.stack([_runs_at_least(row, min_run) for row in at_hi])
        at_lo = np.stack([_runs_at_least(row, min_run) for row in at_lo])
    return at_hi | at_lo


def _rail_share(x: np.ndarray, fs: float) -> float:
    k = max(2, int(round(RAIL_MIN_RUN_S * fs)))
    return float(rail_mask(x[None, :], RAIL_TOLERANCE, k).mean())


def _wander_share(x: np.ndarray, fs: float) -> np.ndarray:
    """Share of each row's power (Welch PSD) below ``WANDER_CUTOFF_HZ`` among 0-40 Hz."""
    from scipy.signal import welch

    nperseg = int(min(x.shape[-1], max(8, round(WELCH_SEGMENT_S * fs))))
    freqs, psd = welch(x, fs=fs, nperseg=nperseg, axis=-1)
    total = psd[..., freqs <= WANDER_TOTAL_HZ].sum(axis=-1)
    low = psd[..., freqs < WANDER_CUTOFF_HZ].sum(axis=-1)
    return np.divide(low, total, out=np.zeros_like(total), where=total > 0)


@lru_cache(maxsize=16)
def _sos(order: int, cutoff: tuple[float, ...] | float, btype: str, fs: float) -> np.ndarray:
    """A Butterworth design, made once per (cutoff, rate): the gate runs on every record."""
    from scipy.signal import butter

    return butter(order, cutoff, btype=btype, fs=fs, output="sos")


def beat_positions(x: np.ndarray, fs: float) -> np.ndarray:
    """QRS positions (sample indices) found on all rows of ``x`` (leads, n) together.

    Each lead is band-passed to the QRS band (5-15 Hz, scipy Butterworth, zero phase), scaled
    by its own median absolute value, and the median over leads of the rectified result is the
    detection envelope: a few noisy or flat leads cannot hide or invent beats. Peaks at least
    0.3 s apart and above 40 % of the envelope's 98th percentile are beats.
    """
    from scipy.signal import find_peaks, sosfiltfilt

    if x.shape[1] < int(fs):
        return np.zeros(0, dtype=int)
    sos = _sos(2, (QRS_BAND_HZ[0], min(QRS_BAND_HZ[1], 0.45 * fs)), "band", float(fs))
    y = np.abs(sosfiltfilt(sos, x, axis=-1))
    scale = np.median(y, axis=-1, keepdims=True)
    y = y / np.where(scale > 0, scale, 1.0)
    env = np.median(y, axis=0)
    k = max(1, int(round(0.05 * fs)))
    env = np.convolve(env, np.ones(k) / k, mode="same")
    peaks, _ = find_peaks(env, distance=max(1, int(0.3 * fs)), height=0.4 * np.percentile(env, 98))
    return peaks


def _template_noise(hp: np.ndarray, fs: float, beats: np.ndarray) -> float:
    """Beat-to-beat noise of one lead, mV rms: the median (over beats) rms difference of each
    beat from the median beat; NaN with fewer than 3 whole beats.

    ``hp`` is the lead high-passed at 0.5 Hz: wander is judged separately, and here it would
    count as beat-to-beat difference. The ECG repeats beat after beat and noise does not, so
    what the beats share is signal and what differs is noise. Medians keep a minority of
    ectopic beats from counting as noise. An absolute measure, not a ratio: a low-voltage lead
    (aVL, often) is not noisy for being small, and a ratio over its small template rejects
    clean records (measured on PTB-XL).
    """
    pre, post = int(round(BEAT_WINDOW_S[0] * fs)), int(round(BEAT_WINDOW_S[1] * fs))
    beats = beats[(beats - pre >= 0) & (beats + post <= hp.size)]
    if beats.size < 3:
        return float("nan")
    segs = hp[beats[:, None] + np.arange(-pre, post)[None, :]]
    template = np.median(segs, axis=0)
    noise = float(np.median(((segs - template) ** 2).mean(axis=1)))
    return float(np.sqrt(noise))


def lead_features(signal: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    """The gate's per-lead features (module docstring) of ``signal`` (leads, n) in mV.

    Returns a mapping feature name → float array (leads,). Features of a lead with NaN/inf
    samples other than ``nonfinite`` are NaN; the measurement script calls this too, so that
    the thresholds are measured on exactly what the gate computes.
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"signal: expected (leads, n_samples), found shape {x.shape}")
    n_leads, n = x.shape
    names = ("nonfinite", "std_mv", "flat_run_s", "rail_share", "ptp_mv", "noise_mv", "wander_share")
    out = {name: np.full(n_leads, np.nan) for name in names}
    for i in range(n_leads):
        row = x[i]
        bad = int((~np.isfinite(row)).sum())
        out["nonfinite"][i] = bad
        if bad or n == 0:
            continue
        out["std_mv"][i] = row.std()
        out["flat_run_s"][i] = (_longest_run(np.diff(row) == 0) + 1) / fs if n > 1 else 0.0
        out["rail_share"][i] = _rail_share(row, fs)
        out["ptp_mv"][i] = row.max() - row.min()
    finite = np.isfinite(x).all(axis=1)
    if finite.any() and n:
        from scipy.signal import sosfiltfilt

        rows = np.flatnonzero(finite)
        out["wander_share"][rows] = _wander_share(x[rows], fs)
        beats = beat_positions(x[rows], fs)
        hp = sosfiltfilt(_sos(2, 0.5, "high", float(fs)), x[rows], axis=-1)
        for k, i in enumerate(rows):
            out["noise_mv"][i] = _template_noise(hp[k], fs, beats)
    return out


#: The six limb leads as combinations of I and II (Einthoven: III = II - I; Goldberger:
#: aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2); rows in ``CANONICAL_LEADS`` order.
LIMB_BASIS = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0], [-0.5, -0.5], [1.0, -0.5], [-0.5, 1.0]])


def limb_lead_error(signal: np.ndarray, present: Sequence[bool] | None = None) -> float:
    """Relative rms departure of the present limb leads from Einthoven's and Goldberger's laws.

    Three electrodes make six limb leads with two degrees of freedom, so any two limb leads
    determine the other four. The present limb leads of a (12, n) ``signal`` are fitted by
    least squares with two (I, II) components; the error is the rms residual over the rms of
    those leads. A recording obeys the laws up to noise (PTB-XL: below 1 %); a file whose
    limb leads are mislabelled or swapped does not. NaN with fewer than three present limb
    leads (nothing to check) or a non-12-lead signal.
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != len(CANONICAL_LEADS):
        return float("nan")
    keep = [True] * 6 if present is None else [bool(p) for p in list(present)[:6]]
    rows = [i for i in range(6) if keep[i]]
    if len(rows) < 3:
        return float("nan")
    a = LIMB_BASIS[rows]
    y = x[rows]
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    scale = float(np.sqrt(np.mean(y ** 2)))
    if not np.isfinite(scale) or scale == 0:
        return float("nan")
    return float(np.sqrt(np.mean((y - a @ coef) ** 2)) / scale)


# ----------------------------------------------------------------------------- the gate
def assess_quality(signal: np.ndarray, fs: float, present: Sequence[bool] | None = None,
                   limits: GateLimits | None = None) -> GateResult:
    """Judge whether a record is readable.

    Parameters
    ----------
    signal : (leads, n) mV; 12 rows are named by ``CANONICAL_LEADS``, other counts by index.
    fs : sampling rate, Hz.
    present : which rows the file really had (``InputECG.present``); absent rows are not
        judged. All rows when ``None``.
    limits : thresholds; :func:`default_gate_limits` when ``None``.

    Returns
    -------
    GateResult
        ``readable`` False with one flag per problem (lead, reason, value) when any present
        lead fails a check, the record is too short or its rate implausible, or no lead is
        present.
    """
    limits = limits or default_gate_limits()
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"signal: expected (leads, n_samples), found shape {x.shape}")
    n_leads, n = x.shape
    names = CANONICAL_LEADS if n_leads == len(CANONICAL_LEADS) else tuple(str(i) for i in range(n_leads))
    keep = [True] * n_leads if present is None else [bool(p) for p in present]
    if len(keep) != n_leads:
        raise ValueError(f"present: {len(keep)} flags for {n_leads} leads")
    fs = float(fs)
    flags: list[GateFlag] = []
    if not (limits.min_fs <= fs <= limits.max_fs):
        flags.append(GateFlag(None, f"implausible sampling rate {fs:g} Hz (expected "
                              f"{limits.min_fs:g}-{limits.max_fs:g} Hz)", fs))
        return GateResult(False, tuple(flags))
    duration = n / fs
    if duration < limits.min_duration_s:
        flags.append(GateFlag(None, f"too short, {duration:.2f} s (at least "
                              f"{limits.min_duration_s:g} s needed)", duration))
        return GateResult(False, tuple(flags))
    if not any(keep):
        return GateResult(False, (GateFlag(None, "no lead present", None),))
    rows = [i for i in range(n_leads) if keep[i]]
    feats = lead_features(x[rows], fs)
    for j, i in enumerate(rows):
        flags.extend(_judge(names[i], {k: float(v[j]) for k, v in feats.items()}, limits))
    if n_leads == len(CANONICAL_LEADS):
        judged = {f.lead for f in flags}
        usable = [keep[i] and CANONICAL_LEADS[i] not in judged for i in range(n_leads)]
        error = limb_lead_error(x, usable)
        if np.isfinite(error) and error > limits.max_limb_error:
            limb = ", ".join(lead for lead, ok in zip(CANONICAL_LEADS[:6], usable) if ok)
            flags.append(GateFlag(None, f"limb leads {limb} break Einthoven's law by {error:.0%} "
                                  "(leads mislabelled or swapped?)", error))
    return GateResult(not flags, tuple(flags))


def _judge(lead: str, f: Mapping[str, float], limits: GateLimits) -> list[GateFlag]:
    if f["nonfinite"] > 0:
        return [GateFlag(lead, f"{int(f['nonfinite'])} NaN/inf sample(s)", f["nonfinite"])]
    if f["std_mv"] < limits.min_std_mv:
        return [GateFlag(lead, f"flat line, std {f['std_mv']:.3g} mV", f["std_mv"])]
    out = []
    if f["flat_run_s"] > limits.max_flat_run_s:
        out.append(GateFlag(lead, f"flat line, constant for {f['flat_run_s']:.2f} s", f["flat_run_s"]))
    if f["rail_share"] > limits.max_rail_share:
        out.append(GateFlag(lead, f"clipped, {f['rail_share']:.0%} of samples at the rails",
                            f["rail_share"]))
    if f["ptp_mv"] > limits.max_ptp_mv:
        out.append(GateFlag(lead, f"implausible amplitude, {f['ptp_mv']:.3g} mV peak to peak",
                            f["ptp_mv"]))
    if np.isfinite(f["noise_mv"]) and f["noise_mv"] > limits.max_noise_mv:
        out.append(GateFlag(lead, f"noise, {f['noise_mv']:.2g} mV rms beat to beat", f["noise_mv"]))
    if f["wander_share"] > limits.max_wander_share:
        out.append(GateFlag(lead, f"baseline wander, {f['wander_share']:.0%} of power below "
                            f"{WANDER_CUTOFF_HZ:g} Hz", f["wander_share"]))
    return out
