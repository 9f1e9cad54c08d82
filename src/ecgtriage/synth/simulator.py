"""Physiological 12-lead ECG simulator (clean signals, no noise, no device filter).

``simulate_ecg`` turns a record's statements into a signal: a cardiac-vector beat model
(:mod:`.beats`) placed on a rhythm timeline (:mod:`.rhythm`), projected with the Dower matrix
(:mod:`.leads`) and rendered by :mod:`.render`.  What each statement draws is documented in
``docs/simulator_signatures.md``.
"""

from __future__ import annotations

from typing import Iterable, cast

import numpy as np

from .atrial import fibrillation, flutter
from .beats import design_atria, design_ventricles
from .fiducials import Fiducials, beat_fiducials
from .leads import expand_to_12, unit
from .patient import Patient, sample_patient
from .render import GAUSS, Lobes, render
from .rhythm import make_timeline
from .signatures import EXTRA_PATHOLOGIES, MODIFIERS, SPH_STATEMENTS, parse_statements

__all__ = [
    "EXTRA_PATHOLOGIES",
    "MODIFIERS",
    "SPH_STATEMENTS",
    "Patient",
    "sample_patient",
    "simulate_ecg",
    "simulate_ecg_with_fiducials",
]

_ECTOPIC = ("V0", "V1", "V2", "E")


def _qt_rr(v_t: np.ndarray, kinds: list[str]) -> np.ndarray:
    """RR (s) that sets each beat's QT: the preceding interval, or the median for ectopics."""
    if v_t.size == 0:
        return v_t
    rr = np.diff(v_t, prepend=np.nan)
    med = float(np.nanmedian(rr)) if v_t.size > 1 else 0.8
    rr[0] = med
    ectopic = np.array([k in _ECTOPIC for k in kinds])
    rr[ectopic] = med
    return np.clip(rr, 0.3, 2.0)


def simulate_ecg(
    statements: str | Iterable[str],
    fs: float,
    duration_s: float,
    rng: np.random.Generator,
    patient: Patient | None = None,
) -> np.ndarray:
    """Simulate a clean 12-lead ECG showing the given statements.

    The signal of :func:`simulate_ecg_with_fiducials` (same random stream, same output).

    Parameters
    ----------
    statements : SPH statements (``"1"``, ``"50+346"``, ``"165+332"``) and/or keys of
        :data:`EXTRA_PATHOLOGIES` (``"PACE"``); a sequence, or one ``";"``-joined string.
        Several statements combine in one record.
    fs : sampling rate, Hz (e.g. 100, 250, 500).
    duration_s : record length, seconds.
    rng : numpy Generator; the output is a deterministic function of its state.
    patient : baseline physiology; drawn with :func:`sample_patient` when ``None``.

    Returns
    -------
    float32 array (12, round(duration_s * fs)), millivolts, leads I, II, III, aVR, aVL, aVF,
    V1-V6.

    Raises
    ------
    ValueError
        For unknown statements (named in the message) or a non-positive ``fs``/``duration_s``.
    """
    return _simulate(statements, fs, duration_s, rng, patient, fiducials=False)[0]


def simulate_ecg_with_fiducials(
    statements: str | Iterable[str],
    fs: float,
    duration_s: float,
    rng: np.random.Generator,
    patient: Patient | None = None,
) -> tuple[np.ndarray, Fiducials]:
    """:func:`simulate_ecg` plus the ground-truth boundaries of every wave it drew.

    The fiducials are read off the rhythm timeline and the templates, without drawing from
    ``rng``, so the signal is the same as :func:`simulate_ecg`'s for the same generator state.

    Returns
    -------
    (signal, fiducials): the (12, n) float32 signal and its :class:`.fiducials.Fiducials`
    (samples at ``fs``; definitions in :mod:`.fiducials`).
    """
    signal, fid = _simulate(statements, fs, duration_s, rng, patient, fiducials=True)
    return signal, cast(Fiducials, fid)


def _simulate(statements, fs: float, duration_s: float, rng: np.random.Generator,
              patient: Patient | None, fiducials: bool) -> tuple[np.ndarray, Fiducials | None]:
    """The simulator; the fiducials (read off the timeline, no random draws) only on request."""
    if not np.isfinite(fs) or fs < 50:
        raise ValueError(f"fs: expected a sampling rate >= 50 Hz, found {fs!r}")
    if not np.isfinite(duration_s) or duration_s <= 0:
        raise ValueError(f"duration_s: expected a positive duration, found {duration_s!r}")
    findings = parse_statements(statements)
    if patient is None:
        patient = sample_patient(rng)
    n = int(round(duration_s * fs))
    atria = design_atria(findings, patient, rng)
    tl = make_timeline(findings, patient, duration_s, rng, p_duration_s=atria["S"].duration_s)
    ventricles = design_ventricles(findings, patient, rng, needed=set(tl.v_kind))

    phase = rng.uniform(0, 2 * np.pi)
    parts: list[Lobes] = []

    def beat_scale(t: np.ndarray) -> np.ndarray:
        # Respiration swings the electrical axis and amplitude a little, beat by beat.
        return (1 + 0.04 * np.sin(2 * np.pi * patient.resp_hz * t + phase)
                + patient.beat_jitter * rng.normal(size=t.size))

    p_t = np.asarray(tl.p_t)
    p_kind = np.asarray(tl.p_kind)
    for kind in sorted(set(tl.p_kind)):
        onsets = p_t[p_kind == kind]
        parts.append(atria[kind].instantiate(onsets, np.zeros(onsets.size),
                                             beat_scale(onsets) * ventricles.voltage_scale))
    v_t = np.asarray(tl.v_t)
    v_kind = np.asarray(tl.v_kind)
    rr = _qt_rr(v_t, tl.v_kind)
    qrs_dur = np.zeros(v_t.size)
    t_end = np.zeros(v_t.size)
    for kind in sorted(set(tl.v_kind)):
        sel = v_kind == kind
        tpl = ventricles.templates[kind]
        qt = ventricles.qtc_s * np.sqrt(rr[sel]) + max(tpl.duration_s - 0.1, 0.0)
        if kind in _ECTOPIC:
            qt = qt + 0.04
        jt = np.maximum(qt - tpl.duration_s, 0.12)
        qrs_dur[sel] = tpl.duration_s
        t_end[sel] = tpl.duration_s + jt
        parts.append(tpl.instantiate(v_t[sel], jt, beat_scale(v_t[sel])))
    if tl.spikes:
        parts.append(_spikes(tl.spikes, rng))
    eight = render(Lobes.concat(parts), n, fs)
    if tl.atrial == "af":
        eight += fibrillation(n, fs, rng, ventricles.voltage_scale)
    elif tl.atrial == "flutter":
        eight += flutter(n, fs, tl.flutter_hz, tl.flutter_phase, rng, ventricles.voltage_scale)
    fid = None
    if fiducials:
        fid = beat_fiducials(tl.p_t, tl.p_kind, {k: tpl.duration_s for k, tpl in atria.items()},
                             tl.v_t, tl.v_kind, qrs_dur, t_end, fs, n)
    return expand_to_12(eight), fid


def _spikes(spikes: list[tuple[float, str]], rng) -> Lobes:
    """Pacing stimuli: sub-millisecond spikes, a fixed lead pattern per pacing channel."""
    weights = {}
    for channel in ("A", "V"):
        vec = unit(rng.normal(size=8)) * rng.uniform(5.0, 10.0)
        weights[channel] = vec
    t = np.array([s[0] for s in spikes])
    w = np.vstack([weights[s[1]] for s in spikes])
    width = np.full(t.size, 0.00025)
    return Lobes(np.full(t.size, GAUSS), t, width, width, np.zeros(t.size), w)
