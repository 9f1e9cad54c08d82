"""Physiological properties of the simulator, measured on the written signal.

The measurement helpers below know nothing of the generator's parameters: they find QRS
complexes from the spatial velocity (sum of absolute slopes over the 12 leads), P waves, J
points and T ends from the waveforms, the way a reader with calipers would.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.signal import find_peaks

from ecgtriage.synth.simulator import (
    EXTRA_PATHOLOGIES,
    MODIFIERS,
    SPH_STATEMENTS,
    sample_patient,
    simulate_ecg,
)

FS = 500
I, II, III, AVR, AVL, AVF, V1, V2, V3, V4, V5, V6 = range(12)


# ----------------------------------------------------------------------------- measurement
def qrs_complexes(x: np.ndarray, fs: float) -> list[tuple[int, int]]:
    """(onset, offset) sample indices of every QRS: spatial velocity above a fraction of its typical
    QRS peak (12 %), with gaps shorter than 30 ms bridged (notched complexes)."""
    vel = np.abs(np.diff(x, axis=1)).sum(axis=0) * fs
    k = max(1, int(0.01 * fs))
    vel = np.convolve(vel, np.ones(k) / k, mode="same")
    peaks, _ = find_peaks(vel, height=0.3 * np.percentile(vel, 99.5), distance=int(0.25 * fs))
    # A P wave between two wide, slow complexes can pass the first cut; QRS peaks are the
    # majority, so drop peaks far below their median.
    peaks = peaks[vel[peaks] >= 0.35 * np.median(vel[peaks])]
    thr = 0.12 * np.median(vel[peaks])
    gap = int(0.03 * fs)
    out = []
    for p in peaks:
        on = p
        while on > 0 and (vel[max(on - gap, 0):on] > thr).any():
            on -= 1
        off = p
        while off < vel.size - 1 and (vel[off + 1:off + 1 + gap] > thr).any():
            off += 1
        if on > 0 and off < vel.size - 1:
            out.append((on, off))
    merged: list[tuple[int, int]] = []
    for on, off in out:
        if merged and on <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(off, merged[-1][1]))
        else:
            merged.append((on, off))
    return merged


def qrs_ms(x, fs=FS) -> np.ndarray:
    return np.array([(off - on) / fs * 1000 for on, off in qrs_complexes(x, fs)])


def rr_s(x, fs=FS) -> np.ndarray:
    return np.diff([on for on, _ in qrs_complexes(x, fs)]) / fs


def pr_baseline(lead: np.ndarray, on: int, fs=FS) -> float:
    return float(np.median(lead[on - int(0.02 * fs): on - int(0.005 * fs)]))


def st_levels(x, fs=FS) -> np.ndarray:
    """Median over beats of (J + 60 ms) minus the PR-segment level, per lead (mV)."""
    vals = []
    for on, off in qrs_complexes(x, fs):
        j60 = off + int(0.06 * fs)
        if on < int(0.03 * fs) or j60 >= x.shape[1]:
            continue
        vals.append([x[i, j60] - pr_baseline(x[i], on, fs) for i in range(12)])
    return np.median(np.array(vals), axis=0)


def pr_ms(x, fs=FS, lead=II) -> np.ndarray:
    """P onset to QRS onset: the largest deflection (> 0.03 mV) in diastole within 360 ms before
    the QRS, traced back to 10 % of its height (one value per beat after the first)."""
    out = []
    cx = qrs_complexes(x, fs)
    for (prev, _), (on, _) in zip(cx[:-1], cx[1:]):
        # Search the last 360 ms, but not the previous beat's T wave (first 60 % of the RR).
        lo = max(on - int(0.36 * fs), prev + int(0.6 * (on - prev)))
        seg = x[lead, lo:on - int(0.03 * fs)] - pr_baseline(x[lead], on, fs)
        dev = np.abs(seg)
        if dev.max() < 0.03:
            out.append(np.nan)
            continue
        peak = int(np.argmax(dev))
        below = np.flatnonzero(dev[:peak] < 0.1 * dev[peak])
        start = below[-1] if below.size else 0
        out.append((seg.size + int(0.03 * fs) - start) / fs * 1000)
    return np.array(out)


def qtc_ms(x, fs=FS) -> float:
    """Bazett QTc with the T end by the tangent method in the lead with the largest T."""
    cx = qrs_complexes(x, fs)
    values = []
    for (on, off), (nxt, _) in zip(cx[:-1], cx[1:]):
        rr = (nxt - on) / fs
        if not cx or on < int(0.05 * fs):
            continue
        lo, hi = off + int(0.04 * fs), on + int(0.7 * rr * fs)
        seg = x[:, lo:hi] - np.array([pr_baseline(x[i], on, fs) for i in range(12)])[:, None]
        lead = int(np.argmax(np.abs(seg).max(axis=1)))
        s = seg[lead] * np.sign(seg[lead][np.argmax(np.abs(seg[lead]))])
        peak = int(np.argmax(s))
        slope = np.diff(s[peak:]) * fs
        k = int(np.argmin(slope))
        t_end = peak + k + s[peak + k] / -slope[k] * fs
        values.append((lo + t_end - on) / fs / np.sqrt(rr) * 1000)
    return float(np.median(values))


def frontal_axis(x, fs=FS) -> float:
    areas = []
    for on, off in qrs_complexes(x, fs):
        if on < int(0.03 * fs):
            continue
        a_i = np.sum(x[I, on:off] - pr_baseline(x[I], on, fs))
        a_f = np.sum(x[AVF, on:off] - pr_baseline(x[AVF], on, fs))
        areas.append((a_i, a_f))
    a_i, a_f = np.median(np.array(areas), axis=0)
    return float(np.degrees(np.arctan2(a_f, a_i)))


def sim(statements, seed=0, fs=FS, duration=10.0, patient=None):
    return simulate_ecg(statements, fs, duration, np.random.default_rng(seed), patient=patient)


def slow_patient(seed=0, rate=60.0):
    return dataclasses.replace(sample_patient(np.random.default_rng(seed)), heart_rate=rate)


SEEDS = range(4)


# ----------------------------------------------------------------------------- lead algebra
def test_einthoven_and_goldberger_hold_to_float_precision():
    x = sim(["50+346", "106", "161+330"], seed=3).astype(np.float64)
    tol = 1e-6
    assert np.abs(x[III] - (x[II] - x[I])).max() < tol
    assert np.abs(x[AVR] + (x[I] + x[II]) / 2).max() < tol
    assert np.abs(x[AVL] - (x[I] - x[II] / 2)).max() < tol
    assert np.abs(x[AVF] - (x[II] - x[I] / 2)).max() < tol


def test_output_contract_and_determinism():
    a = sim(["1"], seed=11)
    b = sim(["1"], seed=11)
    c = sim(["1"], seed=12)
    assert a.dtype == np.float32 and a.shape == (12, 5000)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.05


def test_unknown_statements_are_named():
    with pytest.raises(ValueError, match=r"'999'.*'FOO'"):
        sim(["1", "999", "FOO"])
    with pytest.raises(ValueError, match=r"'50\+999'"):
        sim(["50+999"])


@pytest.mark.parametrize("fs", [100, 250, 500])
def test_every_statement_simulates(fs):
    statements = [str(c) for c in SPH_STATEMENTS]
    statements += [f"{c}+{m}" for c, m in [
        (30, 308), (30, 310), (30, 340), (30, 341), (30, 349), (60, 308), (60, 310), (60, 340),
        (60, 341), (60, 342), (60, 350), (50, 346), (50, 347), (160, 330), (161, 331),
        (165, 332), (166, 332), (145, 362), (145, 363), (147, 367)]]
    statements += list(EXTRA_PATHOLOGIES)
    assert {int(s.split("+")[1]) for s in statements if "+" in s} == set(MODIFIERS)
    for k, statement in enumerate(statements):
        x = sim([statement], seed=k, fs=fs, duration=10.0)
        assert x.shape == (12, 10 * fs), statement
        assert np.isfinite(x).all(), statement
        assert 0.2 < np.abs(x).max() < 10.0, statement


def test_any_duration_and_long_record():
    x = sim("50+346;106;147", seed=2, duration=60.0)
    assert x.shape == (12, 60 * FS)
    assert len(qrs_complexes(x, FS)) > 100


# ----------------------------------------------------------------------------- normal ECG
@pytest.mark.parametrize("seed", SEEDS)
def test_normal_ecg_is_normal(seed):
    x = sim(["1"], seed=seed)
    widths = qrs_ms(x)
    assert np.median(widths) < 110
    rate = 60 / np.mean(rr_s(x))
    assert 58 <= rate <= 102
    assert -30 <= frontal_axis(x) <= 90
    assert 120 <= np.nanmedian(pr_ms(x)) <= 210
    assert 330 <= qtc_ms(x) <= 470
    # T upright in I, II, V3-V6 and inverted in aVR; R grows from V1 to V5.
    cx = qrs_complexes(x, FS)
    on, off = cx[len(cx) // 2]
    nxt = cx[len(cx) // 2 + 1][0]
    t_seg = x[:, off + int(0.06 * FS): nxt - int(0.25 * FS)]
    base = np.array([pr_baseline(x[i], on) for i in range(12)])
    t_peak = np.take_along_axis(t_seg - base[:, None], np.argmax(np.abs(t_seg - base[:, None]),
                                                                 axis=1)[:, None], 1)[:, 0]
    assert (t_peak[[I, II, V3, V4, V5, V6]] > 0).all()
    assert t_peak[AVR] < 0
    r = (x[:, on:off] - base[:, None]).max(axis=1)
    s = -(x[:, on:off] - base[:, None]).min(axis=1)
    assert r[V1] < s[V1] and r[V5] > s[V5] and r[V5] > r[V1]
    # Sokolow-Lyon below the LVH threshold, limb voltage above low voltage.
    assert s[V1] + max(r[V5], r[V6]) < 3.5
    assert (r + s)[:6].max() > 0.5


# ----------------------------------------------------------------------------- conduction
@pytest.mark.parametrize("statement", ["104", "106"])
@pytest.mark.parametrize("seed", SEEDS)
def test_complete_bundle_branch_block_is_wide(statement, seed):
    assert np.median(qrs_ms(sim([statement], seed=seed))) >= 120


@pytest.mark.parametrize("seed", SEEDS)
def test_rbbb_terminal_forces(seed):
    x = sim(["106"], seed=seed)
    on, off = qrs_complexes(x, FS)[3]
    mid = (on + off) // 2
    base = lambda i: pr_baseline(x[i], on)  # noqa: E731
    # Late QRS positive in V1 (R'), negative in I and V6 (wide S).
    assert x[V1, mid:off].max() - base(V1) > 0.2
    assert x[I, mid:off].min() - base(I) < -0.05
    assert x[V6, mid:off].min() - base(V6) < -0.05


@pytest.mark.parametrize("seed", SEEDS)
def test_lbbb_shape(seed):
    x = sim(["104"], seed=seed)
    on, off = qrs_complexes(x, FS)[3]
    q = x[:, on:off] - np.array([pr_baseline(x[i], on) for i in range(12)])[:, None]
    # No septal q in I and V6, dominant R there; deep S / QS in V1; discordant ST-T.
    first = int(0.03 * FS)
    assert q[I, :first].min() > -0.05 and q[V6, :first].min() > -0.05
    assert q[V6].max() > -q[V6].min() and -q[V1].min() > q[V1].max()
    st = st_levels(x)
    assert st[V1] > 0 and st[V6] < 0


@pytest.mark.parametrize("seed", SEEDS)
def test_wpw_short_pr_and_wide_qrs(seed):
    x = sim(["108"], seed=seed, patient=slow_patient(seed))
    assert np.nanmedian(pr_ms(x)) < 125
    assert np.median(qrs_ms(x)) > 110


@pytest.mark.parametrize("seed", SEEDS)
def test_axis_deviation(seed):
    for statement in ("121", "101"):
        assert frontal_axis(sim([statement], seed=seed)) < -30, statement
    for statement in ("120", "102"):
        assert frontal_axis(sim([statement], seed=seed)) > 90, statement


@pytest.mark.parametrize("seed", SEEDS)
def test_low_voltage_and_lvh_voltage(seed):
    x = sim(["125"], seed=seed)
    for on, off in qrs_complexes(x, FS)[1:-1]:
        assert np.ptp(x[:6, on:off], axis=1).max() < 0.5
    y = sim(["142"], seed=seed)
    on, off = qrs_complexes(y, FS)[3]
    q = y[:, on:off] - np.array([pr_baseline(y[i], on) for i in range(12)])[:, None]
    assert -q[V1].min() + max(q[V5].max(), q[V6].max()) >= 3.5


@pytest.mark.parametrize("seed", SEEDS)
def test_rvh_dominant_r_in_v1(seed):
    x = sim(["143"], seed=seed)
    on, off = qrs_complexes(x, FS)[3]
    v1 = x[V1, on:off] - pr_baseline(x[V1], on)
    assert v1.max() > -v1.min()


# ----------------------------------------------------------------------------- rhythm
def rr_cv(x):
    rr = rr_s(x)
    return float(np.std(rr) / np.mean(rr))


def p_locked_fraction(x, lead=II, min_rr=0.6):
    """Share of the pre-QRS energy (240 to 40 ms before each QRS) that is time-locked to the
    QRS: energy of the beat-averaged segment over the mean energy of single segments.  A P wave
    that precedes every QRS gives about 1; fibrillatory waves average out (about 1/beats).
    Only beats after an RR of at least ``min_rr`` s, so that the previous T wave has ended."""
    cx = qrs_complexes(x, FS)
    segs = np.array([
        x[lead, on - int(0.24 * FS): on - int(0.04 * FS)]
        for (on, _), rr in zip(cx[1:], rr_s(x)) if rr > min_rr and on > int(0.3 * FS)])
    assert len(segs) >= 8, "too few beats to average"
    segs = segs - segs.mean(axis=1, keepdims=True)
    return float((segs.mean(axis=0) ** 2).sum() / (segs**2).sum(axis=1).mean())


@pytest.mark.parametrize("seed", SEEDS)
def test_atrial_fibrillation_irregular_without_p(seed):
    af = sim(["50"], seed=seed, duration=60.0)
    sinus = sim(["1"], seed=seed, duration=60.0)
    assert rr_cv(af) > 0.1 and rr_cv(af) > 2.5 * rr_cv(sinus)
    assert p_locked_fraction(af) < 0.5 < 0.9 < p_locked_fraction(sinus)


@pytest.mark.parametrize("seed", SEEDS)
def test_af_ventricular_response(seed):
    assert 60 / np.mean(rr_s(sim(["50+346"], seed=seed))) > 110
    assert 60 / np.mean(rr_s(sim(["50+347"], seed=seed, duration=20.0))) < 60


@pytest.mark.parametrize("seed", SEEDS)
def test_sinus_rates_and_arrhythmia(seed):
    assert 60 / np.mean(rr_s(sim(["21"], seed=seed))) > 100
    assert 60 / np.mean(rr_s(sim(["22"], seed=seed))) < 60
    rr = rr_s(sim(["23"], seed=seed, duration=20.0))
    assert rr.max() - rr.min() > 0.12
    normal = rr_s(sim(["1"], seed=seed, duration=20.0))
    assert normal.max() - normal.min() < rr.max() - rr.min()


@pytest.mark.parametrize("seed", SEEDS)
def test_svt_and_junctional_tachycardia_rates(seed):
    svt = sim(["SVTAC"], seed=seed)
    assert 145 < 60 / np.mean(rr_s(svt)) < 225 and rr_cv(svt) < 0.03
    assert np.median(qrs_ms(svt)) < 110
    assert 95 < 60 / np.mean(rr_s(sim(["54"], seed=seed))) < 145


@pytest.mark.parametrize("seed", SEEDS)
def test_prolonged_and_short_pr(seed):
    assert np.nanmedian(pr_ms(sim(["82"], seed=seed, patient=slow_patient(seed)))) > 200
    short = sim(["80"], seed=seed, patient=slow_patient(seed))
    assert np.nanmedian(pr_ms(short)) < 120
    assert np.median(qrs_ms(short)) < 110


def blocked_p_in_pauses(x):
    """For every pause (RR > 1.5 x the shortest), whether lead II shows a P wave (> 0.05 mV)
    in the diastole between the T wave and the next P."""
    cx = qrs_complexes(x, FS)
    found = []
    rr = rr_s(x)
    for (on, _), (nxt, _), r in zip(cx[:-1], cx[1:], rr):
        if r > 1.5 * rr.min():
            seg = x[II, on + int(0.55 * FS): nxt - int(0.33 * FS)] - pr_baseline(x[II], nxt)
            found.append(np.abs(seg).max() > 0.05)
    return found


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("statement", ["83", "84"])
def test_second_degree_block_drops_qrs_after_p(seed, statement):
    x = sim([statement], seed=seed, duration=20.0, patient=slow_patient(seed))
    found = blocked_p_in_pauses(x)
    assert found and all(found)
    normal = sim(["1"], seed=seed, duration=20.0, patient=slow_patient(seed))
    assert blocked_p_in_pauses(normal) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_wenckebach_pr_lengthens_before_the_drop(seed):
    x = sim(["83"], seed=seed, duration=20.0, patient=slow_patient(seed))
    pr = pr_ms(x)
    rr = rr_s(x)
    cx = qrs_complexes(x, FS)
    offset = len(cx) - len(pr)  # beats too early for a PR measurement
    before, after = [], []
    for k, r in enumerate(rr):
        if r > 1.5 * rr.min() and k - offset >= 0 and k + 1 - offset < len(pr):
            before.append(pr[k - offset])
            after.append(pr[k + 1 - offset])
    assert before
    assert np.nanmin(np.array(before) - np.array(after)) > 30


@pytest.mark.parametrize("seed", SEEDS)
def test_complete_block_slow_escape(seed):
    x = sim(["88"], seed=seed, duration=20.0)
    rr = rr_s(x)
    assert 60 / np.median(rr) < 60
    # Regular escape: most intervals within 5 % of the median (a P wave landing between two
    # wide escape complexes may be mistaken for one by the slope detector).
    assert np.mean(np.abs(rr / np.median(rr) - 1) < 0.05) >= 0.7


@pytest.mark.parametrize("seed", SEEDS)
def test_ventricular_bigeminy_wide_premature_with_compensatory_pause(seed):
    x = sim(["60+341"], seed=seed, duration=20.0)
    widths = qrs_ms(x)
    rr = rr_s(x)
    short = rr < np.median(rr)
    # Premature beats (after a short RR) are wide; sinus beats (after the pause) narrow.
    assert np.median(widths[1:][short]) >= 120
    assert np.median(widths[1:][~short]) < 110
    # Compensatory: coupling + pause = two sinus cycles (no sinus reset).
    pairs = rr[:-1][short[:-1]] + rr[1:][short[:-1]]
    assert np.allclose(pairs, np.median(pairs), rtol=0.12)


@pytest.mark.parametrize("seed", SEEDS)
def test_occasional_vpc_pause_is_compensatory(seed):
    x = sim(["60+308"], seed=seed, duration=30.0)
    widths = qrs_ms(x)
    rr = rr_s(x)
    checked = 0
    for k in range(1, len(rr) - 1):
        if widths[k + 1] >= 120 and widths[k] < 110 and widths[k + 2] < 110:
            # N-V coupling + V-N pause equals two of the surrounding sinus cycles.
            sinus = np.median(np.delete(rr, [k, k + 1]))
            assert abs(rr[k] + rr[k + 1] - 2 * sinus) < 0.15 * sinus
            assert rr[k] < 0.8 * sinus
            checked += 1
    assert checked >= 1


# ----------------------------------------------------------------------------- ST-T
@pytest.mark.parametrize("seed", SEEDS)
def test_st_depression_and_elevation(seed):
    dep = st_levels(sim(["145+362"], seed=seed))
    assert (dep < -0.05).sum() >= 2
    ele = st_levels(sim(["145+363"], seed=seed))
    assert (ele > 0.1).sum() >= 2
    normal = st_levels(sim(["1"], seed=seed))
    assert np.abs(normal[:6]).max() < 0.1


@pytest.mark.parametrize("seed", SEEDS)
def test_acute_mi_st_elevation_in_territory(seed):
    inf = st_levels(sim(["161+330"], seed=seed))
    assert (inf[[II, III, AVF]] > 0.1).all() and inf[AVL] < 0
    ant = st_levels(sim(["165+330"], seed=seed))
    assert (ant[[V2, V3]] > 0.1).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_old_mi_q_waves_without_st_elevation(seed):
    x = sim(["161+332"], seed=seed)
    on, off = qrs_complexes(x, FS)[3]
    q = x[[II, III, AVF], on: on + int(0.04 * FS)] - np.array(
        [pr_baseline(x[i], on) for i in (II, III, AVF)])[:, None]
    assert (q.min(axis=1) < -0.1).sum() >= 2
    assert (st_levels(x)[[II, III, AVF]] < 0.1).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_subendocardial_injury_depresses_st(seed):
    st = st_levels(sim(["INJIN"], seed=seed))
    assert (st[[II, III, AVF]] < -0.05).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_long_qt(seed):
    assert qtc_ms(sim(["148"], seed=seed)) > 470


# ----------------------------------------------------------------------------- more signatures
@pytest.mark.parametrize("seed", SEEDS)
def test_incomplete_rbbb_and_ivcd_widths(seed):
    irbbb = sim(["105"], seed=seed)
    assert 105 <= np.median(qrs_ms(irbbb)) < 120
    on, off = qrs_complexes(irbbb, FS)[3]
    v1 = irbbb[V1, on:off] - pr_baseline(irbbb[V1], on)
    late = v1[(off - on) // 2:]
    assert late.max() > 0.05  # terminal r' in V1
    assert 110 <= np.median(qrs_ms(sim(["IVCD"], seed=seed))) <= 132


@pytest.mark.parametrize("seed", SEEDS)
def test_left_atrial_enlargement_p_wave(seed):
    x = sim(["140"], seed=seed, patient=slow_patient(seed))
    on, _ = qrs_complexes(x, FS)[3]
    window = slice(on - int(0.3 * FS), on - int(0.02 * FS))
    dev = x[:, window] - np.array([pr_baseline(x[i], on) for i in range(12)])[:, None]
    # P duration: earliest to latest deflection above 20 uV in any lead.
    active = np.flatnonzero((np.abs(dev) > 0.02).any(axis=0))
    assert (active[-1] - active[0]) / FS >= 0.12
    peaks, _ = find_peaks(dev[II], prominence=0.005)
    assert len(peaks) >= 2  # notched (bifid) P in II
    assert dev[V1].min() < -0.05  # deep terminal negative P in V1


@pytest.mark.parametrize("seed", SEEDS)
def test_paced_rhythm_has_spikes_and_wide_qrs(seed):
    x = sim(["PACE"], seed=seed)
    slope = np.abs(np.diff(x, axis=1)).max(axis=0) * FS
    qrs_onsets = [on for on, _ in qrs_complexes(x, FS)]
    # A stimulus (slope > 200 mV/s) within 20 ms before every paced QRS.
    for on in qrs_onsets[1:-1]:
        assert slope[on - int(0.02 * FS): on + int(0.01 * FS)].max() > 200
    narrow = sim(["1"], seed=seed)
    assert (np.abs(np.diff(narrow, axis=1)).max(axis=0) * FS).max() < 200


@pytest.mark.parametrize("seed", SEEDS)
def test_flutter_wave_rate(seed):
    # With complete block the F waves are not locked to the QRS: subtracting the QRS-aligned
    # median complex leaves the F waves, whose spectral peak is the flutter rate.
    x = sim(["51", "88"], seed=seed, duration=20.0)
    lead = x[III].astype(float).copy()
    onsets = [on for on, _ in qrs_complexes(x, FS)]
    lo, hi = int(0.1 * FS), int(0.6 * FS)
    windows = [lead[on - lo:on + hi] for on in onsets if lo <= on <= lead.size - hi]
    template = np.median(windows, axis=0)
    for on in onsets:
        if lo <= on <= lead.size - hi:
            lead[on - lo:on + hi] -= template
    # The slope spectrum favours the F waves over what remains of the slow QRS-T residue.
    slope = np.diff(lead)
    spectrum = np.abs(np.fft.rfft((slope - slope.mean()) * np.hanning(slope.size)))
    freqs = np.fft.rfftfreq(slope.size, 1 / FS)
    band = (freqs > 3) & (freqs < 8)
    f_peak = freqs[band][np.argmax(spectrum[band])]
    assert 250 / 60 - 0.1 <= f_peak <= 350 / 60 + 0.1


@pytest.mark.parametrize("seed", SEEDS)
def test_polymorphic_vpcs_differ(seed):
    x = sim(["60+350;60+310"], seed=seed, duration=30.0)
    cx = qrs_complexes(x, FS)
    wide = [(on, off) for on, off in cx if (off - on) / FS >= 0.12]
    assert len(wide) >= 3
    shapes = np.array([x[:, on:on + int(0.1 * FS)].ravel() for on, _ in wide])
    spread = max(np.abs(a - b).max() for a in shapes for b in shapes)
    assert spread > 0.5


def test_age_and_sex_shift_patients():
    rng = np.random.default_rng(0)
    men = [sample_patient(rng, age=40, sex="M") for _ in range(300)]
    women = [sample_patient(rng, age=40, sex="F") for _ in range(300)]
    old = [sample_patient(rng, age=85, sex="M") for _ in range(300)]
    mean = lambda ps, f: np.mean([getattr(p, f) for p in ps])  # noqa: E731
    assert mean(women, "qtc_ms") > mean(men, "qtc_ms") + 5
    assert mean(women, "qrs_ms") < mean(men, "qrs_ms")
    assert mean(old, "pr_ms") > mean(men, "pr_ms")
    assert mean(old, "axis_deg") < mean(men, "axis_deg")
    with pytest.raises(ValueError, match="sex: expected 'M' or 'F'"):
        sample_patient(rng, sex="X")
    assert sample_patient(rng, age=300).age == 100  # PTB-XL's code for > 89 years


def test_statement_forms_are_equivalent():
    from ecgtriage.io.aha_code import parse_aha_code

    a = sim("50+346;106", seed=5)
    b = sim(["50+346", "106"], seed=5)
    c = sim(parse_aha_code("50+346;106"), seed=5)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    with pytest.raises(ValueError, match="fs: expected"):
        sim(["1"], fs=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_vpc_t_wave_is_discordant(seed):
    x = sim(["60+341"], seed=seed, duration=20.0)
    cx = qrs_complexes(x, FS)
    checked = 0
    for (prev, _), (on, off) in zip(cx[:-2], cx[1:-1]):
        if (off - on) / FS < 0.12:
            continue
        # A premature complex starts on the previous T wave: take the isoelectric level from
        # the preceding sinus beat's PR segment.
        base = np.array([pr_baseline(x[i], prev) for i in range(12)])
        q = x[:, on:off] - base[:, None]
        lead = int(np.argmax(np.abs(q.sum(axis=1))))
        t_seg = x[lead, off + int(0.08 * FS): off + int(0.3 * FS)] - base[lead]
        t_peak = t_seg[np.argmax(np.abs(t_seg))]
        assert np.sign(t_peak) == -np.sign(q[lead].sum())
        checked += 1
    assert checked >= 3


@pytest.mark.parametrize("seed", SEEDS)
def test_fibrillatory_waves_largest_in_v1(seed):
    x = sim(["50+347"], seed=seed, duration=30.0)  # slow response: long diastoles
    cx = qrs_complexes(x, FS)
    power = np.zeros(12)
    for (on, _), (nxt, _) in zip(cx[:-1], cx[1:]):
        seg = x[:, on + int(0.5 * FS): nxt - int(0.05 * FS)]
        if seg.shape[1] > int(0.2 * FS):
            power += ((seg - seg.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    assert power[V1] > power[I] and power[V1] > power[V6]


def test_random_statement_combinations_stay_physiological():
    rng = np.random.default_rng(123)
    codes = [str(c) for c in SPH_STATEMENTS]
    pool = codes + [f"{c}+{m}" for c in codes[::3] for m in MODIFIERS] + list(EXTRA_PATHOLOGIES)
    pool += ["142", "143", "104", "142"]  # contradictory hypertrophy/conduction mixes
    for k in range(40):
        statements = list(rng.choice(pool, size=int(rng.integers(1, 5)), replace=False))
        fs = int(rng.choice([100, 250, 500]))
        x = sim(statements, seed=k, fs=fs, duration=float(rng.choice([10.0, 15.0])))
        assert np.isfinite(x).all(), statements
        assert np.abs(x).max() < 8.0, statements
