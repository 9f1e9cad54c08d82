"""Rhythm: when atria and ventricles depolarise, and with which complex.

The output is a :class:`Timeline` of P-wave onsets, QRS onsets (each naming a ventricular
template of :mod:`.beats`), pacing spikes and the kind of continuous atrial activity
(fibrillation or flutter).  Loops run over beats (tens per record), never over samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.signal import lfilter

from .patient import Patient
from .signatures import Findings

#: Shortest interval (s) after a QRS in which the ventricles cannot be activated again.
REFRACTORY_S = 0.26


@dataclass
class Timeline:
    """Event times in seconds from the start of the record (events before 0 shape its start)."""

    p_t: list[float] = field(default_factory=list)
    p_kind: list[str] = field(default_factory=list)  # S sinus, X ectopic, R retrograde, AP paced
    v_t: list[float] = field(default_factory=list)
    v_kind: list[str] = field(default_factory=list)  # N, A, V0-V2, E, PV
    spikes: list[tuple[float, str]] = field(default_factory=list)  # (time, "A" | "V")
    atrial: str | None = None  # "af" | "flutter"
    flutter_hz: float = 0.0
    flutter_phase: float = 0.0

    def add_p(self, t: float, kind: str) -> None:
        self.p_t.append(float(t))
        self.p_kind.append(kind)

    def add_v(self, t: float, kind: str) -> None:
        self.v_t.append(float(t))
        self.v_kind.append(kind)

    def sort(self) -> None:
        order = np.argsort(self.v_t, kind="stable")
        self.v_t = [self.v_t[i] for i in order]
        self.v_kind = [self.v_kind[i] for i in order]


def sinus_rate(findings: Findings, patient: Patient, rng) -> float:
    """Sinus rate (beats/min) consistent with the rate statements."""
    if findings.has(21):
        return rng.uniform(108, 150)
    if findings.has(22):
        return rng.uniform(42, 56)
    if findings.has(85, 86, 87, 81):
        return rng.uniform(72, 105)
    return float(np.clip(patient.heart_rate, 62, 98))


def rr_series(rr0: float, n: int, patient: Patient, rsa: float, rng) -> np.ndarray:
    """Sinus RR intervals: respiratory sinus arrhythmia + slow (Mayer) drift + jitter."""
    k = np.arange(n)
    resp = rsa * np.sin(2 * np.pi * patient.resp_hz * k * rr0 + rng.uniform(0, 2 * np.pi))
    slow = lfilter([1.0], [1.0, -0.9], rng.normal(size=n))
    slow = patient.lf * slow / max(np.std(slow), 1e-9)
    return rr0 * (1 + resp + slow + rng.normal(0, 0.004, n))


def _pattern(n: int, lo: int, hi: int, mods: set, duration_s: float, rng) -> np.ndarray:
    """Which beat slots carry a premature complex, for the pattern modifiers."""
    slots = np.zeros(n, bool)
    lo, hi = max(lo, 1), max(min(hi, n - 2), max(lo, 1))
    if 341 in mods or 342 in mods:
        step = 2 if 341 in mods else 3
        slots[lo + int(rng.integers(0, step)):: step] = True
        slots[: max(lo - 1, 1)] = False
        return slots
    if 340 in mods:
        for _ in range(int(rng.integers(1, 3)) if duration_s >= 10 else 1):
            j = int(rng.integers(lo, max(hi, lo + 1)))
            slots[j: j + 2] = True
        return slots
    cand = np.arange(lo, hi + 1)
    if 310 in mods:
        count = max(3, int(round(rng.uniform(0.15, 0.3) * cand.size)))
    else:
        count = max(1, int(round(duration_s / 10 * rng.uniform(0.5, 1.6))))
    # Spread isolated complexes: at most one per pair of slots so they are not couplets.
    pairs = cand[::2]
    chosen = rng.choice(pairs, size=min(count, pairs.size), replace=False)
    slots[chosen] = True
    return slots


def _premature_mods(findings: Findings, code: int) -> set:
    return {m for m in findings.mods(code) if m is not None}


def make_timeline(findings: Findings, patient: Patient, duration_s: float, rng,
                  p_duration_s: float = 0.1) -> Timeline:
    """Draw the sequence of atrial and ventricular events for one record.

    ``p_duration_s`` (the sinus P-wave duration) bounds the PR interval from below so that a
    PR segment remains (except with short PR and pre-excitation, where P runs into the QRS).
    """
    tl = Timeline()
    t0, t1 = -1.6, duration_s + 0.3
    if "PACE" in findings.extras:
        _paced(tl, patient, t0, t1, rng)
    elif findings.has(50):
        _fibrillation(tl, findings, t0, t1, rng)
    elif findings.has(51):
        _flutter(tl, findings, t0, t1, rng)
    elif findings.extras & {"SVTAC", "PSVT"}:
        _regular_narrow(tl, rng.uniform(150, 220), t0, t1, rng, retro_before=0.0, retro_after=0.5)
    elif findings.has(54):
        _regular_narrow(tl, rng.uniform(100, 140), t0, t1, rng, retro_before=0.4,
                        retro_after=0.3)
    else:
        _sinus(tl, findings, patient, duration_s, t0, t1, rng, p_duration_s)
    if findings.has(88):
        _complete_block(tl, rng, t0, t1)
    if findings.has(60):
        _ventricular_ectopy(tl, findings, 60, duration_s, rng)
    if findings.has(36):
        _ventricular_ectopy(tl, findings, 36, duration_s, rng)
    tl.sort()
    return tl


def _sinus(tl: Timeline, findings: Findings, patient: Patient, duration_s: float, t0: float,
           t1: float, rng, p_duration_s: float) -> None:
    rate = sinus_rate(findings, patient, rng)
    rr0 = 60.0 / rate
    rsa = rng.uniform(0.09, 0.16) if findings.has(23) else patient.rsa
    n = int((t1 - t0) / (0.45 * rr0)) + 8
    rr = rr_series(rr0, n, patient, rsa, rng)
    first = t0 + rng.uniform(0, rr0)
    lo = int(np.ceil((0.6 - first) / rr0))
    hi = int(np.floor((duration_s - 0.8 - first) / rr0))
    apc = np.zeros(n, bool)
    aberrant = np.zeros(n, bool)
    if findings.has(30):
        mods = _premature_mods(findings, 30)
        apc = _pattern(n, lo, hi, mods, duration_s, rng)
        if 349 in mods:
            aberrant = apc & (rng.random(n) < 0.8)
            aberrant[np.flatnonzero(apc)[:1]] = True
    blocked_apc = np.zeros(n, bool)
    if findings.has(31):
        blocked_apc = _pattern(n, lo, hi, set(), duration_s, rng) & ~apc
    pause = np.zeros(n, bool)
    escape_s = rng.uniform(1.15, 1.5)
    if findings.has(37):
        free = np.flatnonzero(~apc & ~blocked_apc)
        free = free[(free >= max(lo, 1)) & (free <= hi)]
        if free.size:
            pause[rng.choice(free, size=min(free.size, 1 + int(duration_s > 20)),
                             replace=False)] = True

    p_t, p_kind, p_ok, p_ab = [], [], [], []
    t = first
    for k in range(n):
        if k > 0:
            if apc[k]:
                t += rng.uniform(0.55, 0.75) * rr[k]
            elif blocked_apc[k]:
                t += rng.uniform(0.4, 0.55) * rr[k]
            elif pause[k]:
                t += escape_s + rng.uniform(0.45, 0.7)
            else:
                t += rr[k]
        if t > t1:
            break
        p_t.append(t)
        p_kind.append("X" if (apc[k] or blocked_apc[k]) else "S")
        p_ok.append(not blocked_apc[k])
        p_ab.append(bool(aberrant[k]))
    p_t = np.asarray(p_t)
    for tp, kind in zip(p_t, p_kind):
        tl.add_p(tp, kind)
    if findings.has(88):
        return  # the ventricles follow their own escape rhythm
    pr, conducted = _av_conduction(findings, patient, len(p_t), p_t, duration_s, rng,
                                   p_duration_s)
    last = -np.inf
    for i in range(len(p_t)):
        if not (conducted[i] and p_ok[i]):
            continue
        extra = rng.uniform(0.0, 0.04) if p_kind[i] == "X" else 0.0
        tq = p_t[i] + pr[i] + extra
        if tq - last < REFRACTORY_S:
            continue
        tl.add_v(tq, "A" if p_ab[i] else "N")
        last = tq
    if findings.has(37):
        _escape_beats(tl, escape_s, rng)


def _av_conduction(findings: Findings, patient: Patient, n: int, p_t: np.ndarray,
                   duration_s: float, rng, p_duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """PR interval of every P and whether it conducts, for the AV statements."""
    base = max(patient.pr_ms / 1000, p_duration_s + 0.035)
    if findings.has(80):
        base = rng.uniform(0.095, 0.115)
    if findings.has(108):
        base = rng.uniform(0.09, 0.115)
    if findings.has(82):
        base = rng.uniform(0.215, 0.32)
    pr = np.full(n, base)
    ok = np.ones(n, bool)
    visible = np.flatnonzero((p_t > 0.5) & (p_t < duration_s - 1.0))
    if findings.has(87):
        ratio = int(rng.choice([3, 4]))
        ok[:] = False
        ok[int(rng.integers(0, ratio)):: ratio] = True
    elif findings.has(85):
        ok[int(rng.integers(0, 2)):: 2] = False
    elif findings.has(86):
        ok[:] = False
        i = 0
        while i < n:
            n_p, n_c = [(2, 1), (3, 2), (3, 1), (4, 3)][int(rng.integers(0, 4))]
            ok[i: i + n_c] = True
            i += n_p
    elif findings.has(83):
        pr0 = max(rng.uniform(0.16, 0.24), p_duration_s + 0.035)
        i = -int(rng.integers(0, 4))
        while i < n:
            cycle = int(rng.choice([3, 4, 5]))
            step = rng.uniform(0.06, 0.12)
            value = pr0
            for j in range(cycle):
                if 0 <= i + j < n:
                    if j == cycle - 1:
                        ok[i + j] = False
                    pr[i + j] = value
                value += step
                step *= rng.uniform(0.4, 0.6)
            i += cycle
    elif findings.has(84):
        drops = rng.random(n) < rng.uniform(0.12, 0.25)
        drops[1:] &= ~drops[:-1]
        if visible.size and not drops[visible].any():
            drops[visible[visible.size // 2]] = True
        ok[drops] = False
    elif findings.has(81):
        ratio = int(rng.choice([3, 4]))
        ok[int(rng.integers(0, ratio)):: ratio] = False
    return pr, ok


def _escape_beats(tl: Timeline, escape_s: float, rng) -> None:
    """A junctional escape complex ends every pause longer than the escape interval."""
    v = list(zip(tl.v_t, tl.v_kind))
    out: list[tuple[float, str]] = []
    for i, (t, kind) in enumerate(v):
        if out and t - out[-1][0] > escape_s + 0.05:
            out.append((out[-1][0] + escape_s * rng.uniform(0.98, 1.02), "N"))
        if out and t - out[-1][0] < REFRACTORY_S:
            continue
        out.append((t, kind))
    tl.v_t = [t for t, _ in out]
    tl.v_kind = [k for _, k in out]


def _complete_block(tl: Timeline, rng, t0: float, t1: float) -> None:
    """Atria and ventricles dissociated: a junctional (narrow) or ventricular (wide) escape."""
    junctional = rng.random() < 0.6
    rate = rng.uniform(40, 58) if junctional else rng.uniform(25, 40)
    rr = 60.0 / rate
    tl.v_t, tl.v_kind = [], []
    t = t0 + rng.uniform(0, rr)
    while t < t1:
        tl.add_v(t, "N" if junctional else "E")
        t += rr * (1 + rng.normal(0, 0.01))


def _ventricular_ectopy(tl: Timeline, findings: Findings, code: int, duration_s: float,
                        rng) -> None:
    """Premature ventricular (60) or junctional (36) complexes: no sinus reset, so the pause
    after them is compensatory."""
    mods = _premature_mods(findings, code)
    v = np.asarray(tl.v_t)
    n = v.size
    if n < 4:
        return
    inside = np.flatnonzero((v > 0.6) & (v < duration_s - 0.8))
    lo, hi = (int(inside[0]), int(inside[-1])) if inside.size else (1, n - 2)
    slots = _pattern(n, lo, hi, mods, duration_s, rng)
    polymorphic = 350 in mods
    focus = 0
    kinds = list(tl.v_kind)
    times = list(tl.v_t)
    out_t, out_k = [], []
    skip_until = -np.inf
    for j in range(n):
        if times[j] < skip_until:
            continue
        if slots[j] and j > 0 and out_t:
            rr = times[j] - times[j - 1]
            te = out_t[-1] + rng.uniform(0.55, 0.72) * rr
            if code == 60:
                kind = f"V{focus}" if not polymorphic else f"V{int(rng.integers(0, 3))}"
                if polymorphic and out_k and out_k[-1] == kind:
                    kind = f"V{(int(kind[1]) + 1) % 3}"
            else:
                kind = "N"
                if rng.random() < 0.5:
                    tl.add_p(te + rng.uniform(0.05, 0.1), "R")
            out_t.append(te)
            out_k.append(kind)
            # The normal beat due next falls in the ectopic beat's refractory period.
            skip_until = te + max(0.5 * rr, REFRACTORY_S)
            continue
        out_t.append(times[j])
        out_k.append(kinds[j])
    tl.v_t, tl.v_kind = out_t, out_k


def _fibrillation(tl: Timeline, findings: Findings, t0: float, t1: float, rng) -> None:
    tl.atrial = "af"
    if findings.has_mod(50, 346):
        rate = rng.uniform(118, 165)
    elif findings.has_mod(50, 347):
        rate = rng.uniform(38, 54)
    else:
        rate = rng.uniform(65, 105)
    mean_rr = 60.0 / rate
    sigma = rng.uniform(0.14, 0.25)
    n = int((t1 - t0) / (0.4 * mean_rr)) + 8
    rr = mean_rr * np.exp(rng.normal(0, sigma, n) - sigma**2 / 2)
    rr = np.maximum(rr, 0.3 if rate < 110 else 0.27)
    times = t0 + rng.uniform(0, mean_rr) + np.cumsum(rr)
    for t in times[times < t1]:
        tl.add_v(t, "N")


def _flutter(tl: Timeline, findings: Findings, t0: float, t1: float, rng) -> None:
    tl.atrial = "flutter"
    f = rng.uniform(250, 350) / 60.0
    tl.flutter_hz = f
    tl.flutter_phase = rng.uniform(0, 1)
    if findings.has(86):
        mode = "varying"
    elif findings.has(81):
        mode = int(rng.choice([2, 3, 4]))
    elif findings.has_mod(51, 346):
        mode = 2
    elif findings.has_mod(51, 347):
        mode = 4
    else:
        mode = rng.choice(np.array(["2", "4", "3", "varying"], dtype=object),
                          p=[0.45, 0.35, 0.05, 0.15])
        mode = mode if mode == "varying" else int(mode)
    av = rng.uniform(0.2, 0.3)
    k = int(np.ceil((t0 - tl.flutter_phase / f) * f))
    t = (k + tl.flutter_phase) / f
    while t < t1:
        tl.add_v(t + av + rng.normal(0, 0.003), "N")
        step = int(rng.choice([2, 2, 3, 4])) if mode == "varying" else int(mode)
        k += step
        t = (k + tl.flutter_phase) / f


def _regular_narrow(tl: Timeline, rate: float, t0: float, t1: float, rng, retro_before: float,
                    retro_after: float) -> None:
    rr = 60.0 / rate
    u = rng.random()
    where = "before" if u < retro_before else ("after" if u < retro_before + retro_after
                                               else None)
    rp = rng.uniform(0.06, 0.1)
    pr = rng.uniform(0.03, 0.07)
    t = t0 + rng.uniform(0, rr)
    while t < t1:
        tl.add_v(t, "N")
        if where == "after":
            tl.add_p(t + rp, "R")
        elif where == "before":
            tl.add_p(t - pr, "R")
        t += rr * (1 + rng.normal(0, 0.004))


def _paced(tl: Timeline, patient: Patient, t0: float, t1: float, rng) -> None:
    rr = 60.0 / rng.uniform(60, 80)
    dual = rng.random() < 0.6
    av = rng.uniform(0.13, 0.2)
    t = t0 + rng.uniform(0, rr)
    while t < t1:
        if dual:
            tl.spikes.append((t, "A"))
            tl.add_p(t + 0.002, "AP")
            tl.spikes.append((t + av, "V"))
            tl.add_v(t + av + 0.002, "PV")
        else:
            tl.spikes.append((t, "V"))
            tl.add_v(t + 0.002, "PV")
        t += rr
    if not dual and rng.random() < 0.5:
        # Ventricular pacing with independent (dissociated) sinus P waves.
        srr = 60.0 / np.clip(patient.heart_rate, 62, 95)
        t = t0 + rng.uniform(0, srr)
        while t < t1:
            tl.add_p(t, "S")
            t += srr * (1 + rng.normal(0, 0.01))
