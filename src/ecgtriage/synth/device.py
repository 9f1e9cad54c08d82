"""Acquisition-device models: turn a clean simulated ECG into what a recorder would store.

Every noise source is added where it physically arises, at the nine electrodes
(:mod:`.electrodes`), and the 12 leads are then derived from the electrode potentials as the
recorder's differential amplifiers derive them. That keeps III = II - I and
aVR + aVL + aVF = 0 true to the storage format's rounding with noise included (as in real
recordings, where the residual is 0.2-0.6 % of lead II's standard deviation on PTB-XL), and
makes an artifact at one electrode appear in exactly the leads that use it.

* :func:`sph_device` - like the SPH recorders: mild noise, then the machine's own filters
  (power-line notch, baseline-wander high-pass, muscle low-pass), stored as float16 mV. The
  filters are linear and identical per lead, so they keep the lead identities.
* :func:`ptbxl_device` - like PTB-XL: no filtering, more baseline drift, static and burst
  noise and occasional electrode problems, at roughly the rates PTB-XL's annotators recorded
  them (``ptbxl_quality.csv``), quantised to 16 bit at 1 uV; the artifacts it adds are reported
  in PTB-XL's own quality-column spelling, naming the leads that use the affected electrodes
  (``" , I,III-V6,  "`` for LA, ``"alles"``, ``"V6"``).

Background sources (every record):

* electrode-skin interface and amplifier input noise: white, independent per electrode (there
  is no per-lead noise: the only per-lead effect is the storage rounding);
* baseline wander: respiration moves the thorax and changes each electrode's half-cell
  potential differently, so shared respiratory sources with electrode-specific gains;
* muscle (EMG) noise: mostly at the limb electrodes (arm and leg muscles), little on the chest;
* mains and slow body-potential drift: common-mode (the whole body floats at the mains field),
  cancelled by the differential derivation except for the share that electrode-impedance
  mismatch converts into an electrode-specific (differential) component.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import signal as sps

from ecgtriage.signal import noise
from ecgtriage.synth.electrodes import (
    CHEST_ELECTRODES,
    ELECTRODES,
    LIMB_ELECTRODES,
    PTBXL_LEADS,
    electrode_index,
    from_leads,
    group_of_leads,
    leads_using,
    to_leads,
)
from ecgtriage.synth.labelsets import table

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


#: Where each annotated artifact sits: probability that it involves all electrodes (a cable or
#: ground problem, PTB-XL's "alles", about a quarter of its annotations), one limb electrode
#: (about half: limb leads are the most often named, and limb muscles make EMG) or one chest
#: electrode. Loose electrodes are mostly precordial (suction cups), so ``electrodes_problems``
#: favours the chest and is always a single electrode.
_SITE_P: dict[str, tuple[float, float, float]] = {
    "baseline_drift": (0.3, 0.5, 0.2),
    "static_noise": (0.3, 0.5, 0.2),
    "burst_noise": (0.2, 0.6, 0.2),
    "electrodes_problems": (0.0, 0.3, 0.7),
}


def _pick_electrodes(rng: np.random.Generator, column: str) -> tuple[str, ...]:
    """Electrodes an annotated artifact of kind ``column`` affects (see :data:`_SITE_P`)."""
    site = int(rng.choice(3, p=np.array(_SITE_P[column])))
    if site == 0:
        return ELECTRODES
    pool = LIMB_ELECTRODES if site == 1 else CHEST_ELECTRODES
    return (pool[int(rng.integers(len(pool)))],)


def quality_group(electrodes) -> str:
    """PTB-XL quality-column group for an artifact at ``electrodes``: the leads that use them."""
    return group_of_leads(leads_using(list(electrodes)))


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


@dataclass(frozen=True)
class ElectrodeNoise:
    """Ranges (uniform draws per record) of the background noise at the electrodes.

    Amplitudes are per electrode; a limb lead is the difference of two electrodes, so its
    independent noise is about sqrt(2) times larger, a precordial lead's sqrt(4/3) times.
    """

    thermal_mv: tuple[float, float] = (0.004, 0.01)
    wander_mv: tuple[float, float] = (0.05, 0.25)
    limb_emg_mv: tuple[float, float] = (0.002, 0.015)
    chest_emg_mv: tuple[float, float] = (0.001, 0.005)
    mains_cm_mv: tuple[float, float] = (0.1, 1.5)
    drift_cm_mv: tuple[float, float] = (0.2, 2.0)
    #: Standard deviation of the relative electrode-impedance mismatch that turns a
    #: common-mode potential into a differential one (a few per cent without a driven leg).
    imbalance: tuple[float, float] = (0.003, 0.015)


#: PTB-XL's unfiltered recorders (drawn so per-lead levels match the earlier per-lead model).
PTBXL_NOISE = ElectrodeNoise()
#: SPH recorders: similar sources, slightly more wander and EMG (filtered away afterwards).
SPH_NOISE = ElectrodeNoise(wander_mv=(0.05, 0.3), limb_emg_mv=(0.005, 0.03),
                           chest_emg_mv=(0.002, 0.01), thermal_mv=(0.0035, 0.0035))


def electrode_background(
    electrodes: np.ndarray, fs: float, rng: np.random.Generator, levels: ElectrodeNoise,
    mains_hz: float = 50.0,
) -> np.ndarray:
    """Add every record's background noise to electrode potentials (9, n); returns a new array.

    The draw order is fixed (thermal, wander, limb EMG, chest EMG, common mode), so two calls
    with equal ``rng`` states produce the same background whatever artifacts follow.
    """
    e = np.array(electrodes, dtype=np.float64)
    n_el, n = e.shape
    u = lambda r: rng.uniform(*r)  # noqa: E731 - one draw from a (low, high) range
    e += noise.gaussian_noise(n, fs, rng, n_el, std_mv=u(levels.thermal_mv))
    e += noise.baseline_wander(n, fs, rng, n_el, amplitude_mv=u(levels.wander_mv))
    e[:3] += noise.muscle_noise(n, fs, rng, 3, amplitude_mv=u(levels.limb_emg_mv))
    e[3:] += noise.muscle_noise(n, fs, rng, n_el - 3, amplitude_mv=u(levels.chest_emg_mv))
    common = (noise.powerline(n, fs, rng, 1, mains_hz=mains_hz, amplitude_mv=u(levels.mains_cm_mv))
              + noise.baseline_wander(n, fs, rng, 1, amplitude_mv=u(levels.drift_cm_mv)))
    mismatch = 1.0 + rng.normal(0.0, u(levels.imbalance), size=(n_el, 1))
    return e + mismatch * common


def add_artifact(
    electrodes: np.ndarray, column: str, sites, fs: float, rng: np.random.Generator
) -> None:
    """Add one PTB-XL-annotated artifact kind at the electrodes ``sites``, in place.

    ``column`` is the quality column it is annotated in: ``baseline_drift`` (large slow
    half-cell drift), ``static_noise`` (continuous contact noise), ``burst_noise`` (muscle
    bursts) or ``electrodes_problems`` (electrode-motion steps, one electrode).
    """
    rows = [electrode_index(s) for s in sites]
    n = electrodes.shape[1]
    k = len(rows)
    if column == "baseline_drift":
        art = noise.baseline_wander(n, fs, rng, k, amplitude_mv=rng.uniform(0.5, 1.2))
    elif column == "static_noise":
        art = noise.muscle_noise(n, fs, rng, k, amplitude_mv=rng.uniform(0.03, 0.08),
                                 continuous_fraction=1.0, burst_rate_hz=0.0)
    elif column == "burst_noise":
        art = noise.muscle_noise(n, fs, rng, k, amplitude_mv=rng.uniform(0.1, 0.3),
                                 continuous_fraction=0.0, burst_rate_hz=0.2)
    elif column == "electrodes_problems":
        if k != 1:
            raise ValueError(f"electrodes_problems: one electrode moves at a time, found {list(sites)}")
        art = noise.electrode_motion(n, fs, rng, 1, amplitude_mv=rng.uniform(1.0, 3.0),
                                     event_rate_hz=0.3)
    else:
        raise ValueError(f"artifact column {column!r}: expected one of {', '.join(QUALITY_COLUMNS)}")
    electrodes[rows] += art


def _format_quality(column: str, group: str) -> str:
    """The padding PTB-XL's annotators' export used per column (``" , I-AVF,  "``)."""
    return {"baseline_drift": f" , {group}", "static_noise": f" , {group},  "}.get(column, group)


def sph_device(
    clean: np.ndarray, fs: float, rng: np.random.Generator, filt: SphFilter = SphFilter()
) -> np.ndarray:
    """SPH-like recording of ``clean`` (12, n) mV: electrode noise, device filters, float16 mV.

    Only I, II and V1-V6 of ``clean`` are used (the cardiac source at the electrodes); the
    stored leads are derived from the noisy electrodes, then filtered per lead.
    """
    e = electrode_background(from_leads(clean), fs, rng, SPH_NOISE, mains_hz=filt.mains_hz)
    return filt.apply(to_leads(e), fs).astype(np.float16)


def ptbxl_device(
    clean: np.ndarray, fs: float, rng: np.random.Generator, mains_hz: float = 50.0,
    artifacts=None, quantised: bool = True,
) -> tuple[np.ndarray, dict[str, str]]:
    """PTB-XL-like recording of ``clean`` (12, n) mV, unfiltered, quantised to 1 uV.

    Parameters
    ----------
    artifacts : ``None`` draws the annotated artifacts at PTB-XL's rates; otherwise a sequence
        of ``(column, electrodes)`` pairs, e.g. ``[("electrodes_problems", ("LA",))]``, to
        inject exactly those (tests and robustness experiments). The background noise is
        drawn first, so the same ``rng`` state gives the same background either way.
    quantised : ``False`` returns the float64 leads before the 1-uV rounding, so a writer can
        derive a downsampled copy from them and round once (rounding, then filtering, then
        rounding again would let the lead identities drift by more than one step).

    Returns
    -------
    The signal (float64 mV, a multiple of 0.001) and the PTB-XL quality columns (``""`` where
    the record has no such annotation), each naming the leads that use the affected electrodes.
    """
    e = electrode_background(from_leads(clean), fs, rng, PTBXL_NOISE, mains_hz=mains_hz)
    if artifacts is None:
        rates = _quality_rates()
        artifacts = [(c, _pick_electrodes(rng, c)) for c in QUALITY_COLUMNS
                     if rng.random() < rates[c]]
    quality = {c: "" for c in QUALITY_COLUMNS}
    for column, sites in artifacts:
        add_artifact(e, column, sites, fs, rng)
        quality[column] = _format_quality(column, quality_group(sites))
    leads = to_leads(e)
    return (noise.quantise(leads, 0.001, bits=16) if quantised else leads), quality


def downsample(signal: np.ndarray, fs_in: int, fs_out: int) -> np.ndarray:
    """Anti-aliased integer-ratio downsampling (500 -> 100 Hz as PTB-XL's ``records100``)."""
    if fs_in % fs_out:
        raise ValueError(f"downsample: {fs_in} Hz is not an integer multiple of {fs_out} Hz")
    return sps.resample_poly(np.asarray(signal, dtype=np.float64), 1, fs_in // fs_out, axis=-1)
