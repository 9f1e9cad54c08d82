"""Acquisition-device models: turn a clean simulated ECG into what a recorder would store.

* :func:`sph_device` - like the SPH recorders: mild noise, then the machine's own filters
  (power-line notch, baseline-wander high-pass, muscle low-pass), stored as float16 mV.
* :func:`ptbxl_device` - like PTB-XL: no filtering, more baseline drift, static and burst
  noise and occasional electrode problems, at roughly the rates PTB-XL's annotators recorded
  them (``ptbxl_quality.csv``), quantised to 16 bit at 1 uV; the artifacts it adds are reported
  in PTB-XL's own quality-column spelling (``" , I-AVF,  "``, ``"alles"``, ``"V6"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import signal as sps

from ecgtriage.signal import noise
from ecgtriage.synth.labelsets import table

#: PTB-XL lead spelling, in canonical order.
PTBXL_LEADS = ("I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6")

#: Lead groups as PTB-XL's annotators wrote them, with the real relative frequency of each
#: (counted from the shared database's quality columns) and the leads they cover.
_GROUPS: tuple[tuple[str, float], ...] = (
    ("alles", 0.25), ("I-AVR", 0.25), ("I-AVF", 0.22), ("I-V1", 0.05), ("I-V2", 0.05),
    ("II-AVF", 0.04), ("V1", 0.05), ("V2", 0.03), ("V5,V6", 0.03), ("V6", 0.03),
)
QUALITY_COLUMNS = ("baseline_drift", "static_noise", "burst_noise", "electrodes_problems")


def leads_of_group(group: str) -> list[int]:
    """Lead indices of a PTB-XL quality annotation such as ``"I-AVF"``, ``"V5,V6"``, ``"alles"``."""
    if group == "alles":
        return list(range(12))
    out: list[int] = []
    for part in group.split(","):
        ends = part.strip().upper().split("-")
        try:
            idx = [PTBXL_LEADS.index(e) for e in ends]
        except ValueError as exc:
            raise ValueError(f"lead group {group!r}: unknown lead in {part!r}") from exc
        out.extend(range(idx[0], idx[-1] + 1))
    return sorted(set(out))


@lru_cache(maxsize=None)
def _quality_rates() -> dict[str, float]:
    frame = table("ptbxl_quality.csv")
    return {str(c): float(f) for c, f in zip(frame.column, frame.fraction)}


def _pick_group(rng: np.random.Generator) -> str:
    names = [g for g, _ in _GROUPS]
    p = np.array([w for _, w in _GROUPS])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


@dataclass(frozen=True)
class SphFilter:
    """The SPH machine's filters (cut-offs of a typical resting-ECG recorder)."""

    mains_hz: float = 50.0
    highpass_hz: float = 0.5
    lowpass_hz: float = 40.0

    def apply(self, x: np.ndarray, fs: float) -> np.ndarray:
        """Filter (..., n) mV signals at ``fs`` Hz; zero-phase, as a linear-phase recorder
        leaves ST segments undistorted."""
        sos = _sph_sos(self.mains_hz, self.highpass_hz, self.lowpass_hz, float(fs))
        # A 2-s mirror extension keeps the high-pass from ringing at the edges (an odd
        # extension would step when a record starts inside a QRS).
        pad = min(x.shape[-1] - 1, int(2 * fs))
        return sps.sosfiltfilt(sos, x, axis=-1, padlen=pad, padtype="even")


@lru_cache(maxsize=None)
def _sph_sos(mains_hz: float, highpass_hz: float, lowpass_hz: float, fs: float) -> np.ndarray:
    """Notch, high-pass and low-pass as one cascade of second-order sections (one pass)."""
    parts = [sps.butter(2, highpass_hz, btype="highpass", fs=fs, output="sos")]
    if mains_hz < fs / 2:
        b, a = sps.iirnotch(mains_hz, Q=30.0, fs=fs)
        parts.append(sps.tf2sos(b, a))
    if lowpass_hz < fs / 2:
        parts.append(sps.butter(4, lowpass_hz, btype="lowpass", fs=fs, output="sos"))
    return np.vstack(parts)


def sph_device(
    clean: np.ndarray, fs: float, rng: np.random.Generator, filt: SphFilter = SphFilter()
) -> np.ndarray:
    """SPH-like recording of ``clean`` (12, n) mV: mild noise, device filters, float16 mV."""
    x = np.asarray(clean, dtype=np.float64)
    n_leads, n = x.shape
    x = (
        x
        + noise.baseline_wander(n, fs, rng, n_leads, amplitude_mv=rng.uniform(0.05, 0.3))
        + noise.muscle_noise(n, fs, rng, n_leads, amplitude_mv=rng.uniform(0.005, 0.03))
        + noise.powerline(n, fs, rng, n_leads, mains_hz=filt.mains_hz,
                          amplitude_mv=rng.uniform(0.0, 0.05))
        + noise.gaussian_noise(n, fs, rng, n_leads, std_mv=0.005)
    )
    return filt.apply(x, fs).astype(np.float16)


def ptbxl_device(
    clean: np.ndarray, fs: float, rng: np.random.Generator, mains_hz: float = 50.0
) -> tuple[np.ndarray, dict[str, str]]:
    """PTB-XL-like recording of ``clean`` (12, n) mV, unfiltered, quantised to 1 uV.

    Returns the signal (float64 mV, a multiple of 0.001) and the PTB-XL quality columns
    (``""`` where the record has no such annotation).
    """
    x = np.asarray(clean, dtype=np.float64).copy()
    n_leads, n = x.shape
    rates = _quality_rates()
    quality = {c: "" for c in QUALITY_COLUMNS}
    x += noise.baseline_wander(n, fs, rng, n_leads, amplitude_mv=rng.uniform(0.05, 0.25))
    x += noise.gaussian_noise(n, fs, rng, n_leads, std_mv=rng.uniform(0.005, 0.015))
    x += noise.powerline(n, fs, rng, n_leads, mains_hz=mains_hz, amplitude_mv=rng.uniform(0.0, 0.02))
    if rng.random() < rates["baseline_drift"]:
        group = _pick_group(rng)
        leads = leads_of_group(group)
        drift = noise.baseline_wander(n, fs, rng, len(leads), amplitude_mv=rng.uniform(0.5, 1.2))
        x[leads] += drift
        quality["baseline_drift"] = f" , {group}"
    if rng.random() < rates["static_noise"]:
        group = _pick_group(rng)
        leads = leads_of_group(group)
        x[leads] += noise.muscle_noise(n, fs, rng, len(leads), amplitude_mv=rng.uniform(0.03, 0.08),
                                       continuous_fraction=1.0, burst_rate_hz=0.0)
        quality["static_noise"] = f" , {group},  "
    if rng.random() < rates["burst_noise"]:
        group = _pick_group(rng)
        leads = leads_of_group(group)
        x[leads] += noise.muscle_noise(n, fs, rng, len(leads), amplitude_mv=rng.uniform(0.1, 0.3),
                                       continuous_fraction=0.0, burst_rate_hz=0.2)
        quality["burst_noise"] = group
    if rng.random() < rates["electrodes_problems"]:
        lead = int(rng.integers(6, 12))  # precordial electrodes are the ones that come loose
        x[lead] += noise.electrode_motion(n, fs, rng, 1, amplitude_mv=rng.uniform(1.0, 3.0),
                                          event_rate_hz=0.3)[0]
        quality["electrodes_problems"] = PTBXL_LEADS[lead]
    return noise.quantise(x, 0.001, bits=16), quality


def downsample(signal: np.ndarray, fs_in: int, fs_out: int) -> np.ndarray:
    """Anti-aliased integer-ratio downsampling (500 -> 100 Hz as PTB-XL's ``records100``)."""
    if fs_in % fs_out:
        raise ValueError(f"downsample: {fs_in} Hz is not an integer multiple of {fs_out} Hz")
    return sps.resample_poly(np.asarray(signal, dtype=np.float64), 1, fs_in // fs_out, axis=-1)
