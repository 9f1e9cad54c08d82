"""The anatomy of every beat: P, QRS, ST-T and isoelectric-baseline masks per lead.

Attribution scores (``ecgtriage.explain.scores``) ask how much of a model's attention lies on the
segments that define a statement (QRS in V1/V6 for bundle-branch blocks, ST-T in the territory
leads for ischaemia) versus the isoelectric baseline. That needs, for every record, boolean masks
of those segments on the *model's* time axis:

* synthetic records: the simulator's ground truth (``fiducials.csv`` written with the corpus,
  :mod:`ecgtriage.synth.fiducials`) via :func:`load_corpus_anatomy` / :func:`synthetic_anatomy`;
* real records: NeuroKit2 delineation (``nk.ecg_peaks`` + ``nk.ecg_delineate(method="dwt")``)
  via :func:`delineate`, whose agreement with the ground truth is measured by
  ``scripts/delineation_agreement.py`` and recorded in ``docs/anatomy.md``.

Segments (:data:`SEGMENTS`), per beat: ``P`` = p_on..p_off, ``QRS`` = qrs_on..qrs_off, ``STT`` =
qrs_off..t_off, ``baseline`` = the TP segment from a beat's t_off to the next wave onset (the next
P onset, or the next QRS onset when there is no P). Bounds are inclusive. P, QRS and STT may
overlap where the physiology overlaps (a dissociated P wave on a T wave); ``baseline`` never
overlaps the others. Everything else (PR segment, the record's edges, beats a delineator missed)
is unassigned.

Time axis of the study: the cache resamples a record to ``PreprocessConfig.fs`` and crops (centre)
or pads it to ``PreprocessConfig.seconds`` (``signal.preprocess``, ``data.prepare``); the model
then takes the centre ``n_samples`` of that window (``train.augment.crop`` without a generator,
``train.predict``). :func:`study_offset` returns the total offset and :func:`map_fiducials` moves
fiducials through the rate change and that offset.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from ecgtriage.leads import CANONICAL_LEADS
from ecgtriage.signal.preprocess import PreprocessConfig
from ecgtriage.synth.fiducials import FIDUCIALS_FILE, Fiducials, read_fiducials

__all__ = [
    "SEGMENTS",
    "Anatomy",
    "Fiducials",
    "delineate",
    "delineate_fiducials",
    "load_corpus_anatomy",
    "map_fiducials",
    "segment_masks",
    "study_offset",
    "synthetic_anatomy",
]

SEGMENTS = ("P", "QRS", "STT", "baseline")
#: Lead II in the canonical order (I, II, III, aVR, aVL, aVF, V1-V6): the reference timing lead.
LEAD_II = 1
#: Reference leads tried in turn when lead II yields no beats (a QRS axis perpendicular to it,
#: a paced rhythm, an electrode problem): II, I, V5, V6, aVF.
REFERENCE_LEADS = (1, 0, 10, 11, 5)
#: A lead keeps its own delineation when it finds QRS and T boundaries in this share of the
#: reference lead's beats; otherwise it takes lead II's timing.
MIN_LEAD_COVERAGE = 0.8
_MAX_QRS_S = 0.25
_MAX_P_S = 0.25
_MAX_ST_T_S = 0.7
_MAX_PR_S = 0.6


class Anatomy(dict):
    """Segment masks (``SEGMENTS`` → bool array (12, n)) with how they were obtained.

    A plain ``dict`` for callers that only need the masks; ``reason`` is empty for a usable
    result and says why otherwise (all masks are then empty), ``timing`` names, per lead, whose
    fiducials made the masks (``"own"``, ``"lead II"``, ``"simulator"`` or ``"none"``).
    """

    def __init__(self, masks: dict[str, np.ndarray], reason: str = "",
                 timing: tuple[str, ...] = ()) -> None:
        super().__init__(masks)
        self.reason = reason
        self.timing = timing


# --------------------------------------------------------------------------- masks
def segment_masks(fiducials: Fiducials, n_samples: int) -> dict[str, np.ndarray]:
    """One-lead masks (``SEGMENTS`` → bool (n_samples,)) from per-beat fiducials.

    Fiducials must already be on the target time axis (see :func:`map_fiducials`); indices
    outside ``[0, n_samples)`` are ignored wave by wave.
    """
    n = int(n_samples)
    out = {name: np.zeros(n, bool) for name in SEGMENTS}

    def fill(name: str, a: int, b: int) -> None:
        if 0 <= a <= b < n:
            out[name][a: b + 1] = True

    f = fiducials
    for k in range(len(f)):
        if f.p_on[k] >= 0 and f.p_off[k] >= 0:
            fill("P", int(f.p_on[k]), int(f.p_off[k]))
        if f.qrs_on[k] >= 0 and f.qrs_off[k] >= 0:
            fill("QRS", int(f.qrs_on[k]), int(f.qrs_off[k]))
            if f.t_off[k] >= 0:
                fill("STT", int(f.qrs_off[k]) + 1, int(f.t_off[k]))
    # Baseline: from each T end to the next wave onset after it (P or QRS of any later beat).
    onsets = np.concatenate([f.p_on[f.p_on >= 0], f.qrs_on[f.qrs_on >= 0]])
    onsets = np.sort(onsets)
    for t_end in f.t_off[(f.t_off >= 0) & (f.qrs_on >= 0)]:
        nxt = onsets[onsets > t_end]
        if nxt.size:
            fill("baseline", int(t_end) + 1, int(nxt[0]) - 1)
    out["baseline"] &= ~(out["P"] | out["QRS"] | out["STT"])
    return out


def _stack(one: dict[str, np.ndarray], leads: int = 12) -> dict[str, np.ndarray]:
    return {k: np.repeat(v[None, :], leads, axis=0) for k, v in one.items()}


def synthetic_anatomy(fiducials: Fiducials, n_samples: int, fs: float) -> dict[str, np.ndarray]:
    """Masks (``SEGMENTS`` → bool (12, n_samples)) from the simulator's ground truth.

    The simulator draws every lead from the same cardiac events, so all leads share the
    boundaries. ``fiducials`` at another rate than ``fs`` are mapped first (no crop; use
    :func:`map_fiducials` for the study's window).
    """
    if not math.isclose(float(fiducials.fs), float(fs)):
        fiducials = map_fiducials(fiducials, fs)
    return Anatomy(_stack(segment_masks(fiducials, n_samples)), "", ("simulator",) * 12)


def map_fiducials(fiducials: Fiducials, fs: float, offset: int = 0,
                  n_samples: int | None = None) -> Fiducials:
    """Move fiducials to rate ``fs`` and a window starting ``offset`` samples (at ``fs``) in.

    ``index_out = round(index_in * fs / fiducials.fs) - offset``: ``scipy.signal.resample_poly``
    (used by ``signal.resample``) is zero-phase, so sample k at any rate is time k / fs. A
    negative offset means padding before the signal (``pad_side="both"``). With ``n_samples``,
    a wave no longer wholly inside ``[0, n_samples)`` becomes absent (-1), as the simulator
    marks waves cut by the record's edge.
    """
    ratio = float(fs) / float(fiducials.fs)
    names = ("p_on", "p_off", "qrs_on", "qrs_off", "t_on", "t_off", "r_peak")
    moved = {}
    for name in names:
        v = getattr(fiducials, name)
        moved[name] = np.where(v >= 0, np.round(v * ratio).astype(np.int64) - int(offset), -1)
    if n_samples is not None:
        n = int(n_samples)

        def ok(*arrs):
            return np.logical_and.reduce([(a >= 0) & (a < n) for a in arrs])
        p = ok(moved["p_on"], moved["p_off"])
        q = ok(moved["qrs_on"], moved["qrs_off"])
        t = q & ok(moved["t_off"])
        for name, keep in (("p_on", p), ("p_off", p), ("qrs_on", q), ("qrs_off", q),
                           ("t_off", t), ("t_on", ok(moved["t_on"])),
                           ("r_peak", ok(moved["r_peak"]))):
            moved[name] = np.where(keep, moved[name], -1)
    else:
        for name in names:
            moved[name] = np.where(moved[name] >= 0, moved[name], -1)
    return replace(fiducials, fs=float(fs), **moved)


def study_offset(n_source: int, fs_source: float, config: PreprocessConfig | None = None,
                 model_n_samples: int | None = None) -> int:
    """Offset (samples at ``config.fs``) of the model's window in the resampled record.

    The cache takes the resampled record (``ceil(n_source * up / down)`` samples, the length
    ``resample_poly`` returns), crops its centre (``crop="centre"``: start ``(n - N) // 2``;
    ``"start"``: 0) or pads it (``pad_side="end"``: offset 0; ``"both"``: ``-(missing // 2)``)
    to ``N = config.n_samples``; the model then takes the centre ``model_n_samples`` of those
    (``train.augment.crop`` at evaluation: start ``(N - n) // 2``). Use with
    ``map_fiducials(f, config.fs, study_offset(...), model_n_samples)``.
    """
    from ecgtriage.signal.resample import resample_ratio

    config = config or PreprocessConfig()
    up, down = resample_ratio(fs_source, config.fs)
    n_res = -(-int(n_source) * up // down)
    n_cache = config.n_samples
    if n_res > n_cache:
        offset = (n_res - n_cache) // 2 if config.crop == "centre" else 0
    elif n_res < n_cache and config.pad_side == "both":
        offset = -((n_cache - n_res) // 2)
    else:
        offset = 0
    if model_n_samples is not None and model_n_samples < n_cache:
        offset += (n_cache - int(model_n_samples)) // 2
    return int(offset)


def load_corpus_anatomy(source_dir: str | os.PathLike, record_id: str, n_samples: int,
                        fs: float, offset: int = 0) -> dict[str, np.ndarray]:
    """Ground-truth masks of one record of a synthetic corpus, on a window at rate ``fs``.

    Reads ``fiducials.csv`` in ``source_dir`` (written by ``ecgtriage synth``; samples at the
    corpus rate), maps it to ``fs`` and ``offset`` (see :func:`study_offset`) and builds
    (12, ``n_samples``) masks.

    Raises
    ------
    ecgtriage.errors.DataError
        When the corpus has no ``fiducials.csv`` (written before fiducials existed, or with a
        custom simulator), the record has no row in it, or a column is missing.
    """
    from ecgtriage.errors import DataError

    path = Path(source_dir) / FIDUCIALS_FILE
    if not path.is_file():
        raise DataError(f"{path}: no ground-truth fiducials in this corpus; expected the "
                        f"{FIDUCIALS_FILE} that `ecgtriage synth` writes (re-create the corpus)")
    try:
        fid = read_fiducials(path, record_id)
    except (KeyError, ValueError) as exc:
        raise DataError(str(exc.args[0]) if exc.args else str(exc)) from exc
    fid = map_fiducials(fid, fs, offset, n_samples)
    return Anatomy(_stack(segment_masks(fid, n_samples)), "", ("simulator",) * 12)


# --------------------------------------------------------------------- delineation
def _nk_waves(x: np.ndarray, fs: float, rpeaks: np.ndarray | None = None):
    """(rpeaks, waves) from NeuroKit2 on one lead; raises whatever NeuroKit2 raises."""
    import neurokit2 as nk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = nk.ecg_clean(x, sampling_rate=fs)
        if rpeaks is None:
            _, info = nk.ecg_peaks(clean, sampling_rate=fs)
            rpeaks = np.asarray(info["ECG_R_Peaks"], dtype=np.int64)
        if rpeaks.size < 2:
            return rpeaks, None
        _, waves = nk.ecg_delineate(clean, rpeaks, sampling_rate=fs, method="dwt")
    return rpeaks, waves


def _as_index(values, n_beats: int, n: int) -> np.ndarray:
    a = np.full(n_beats, -1, np.int64)
    v = np.asarray(values if values is not None else [], dtype=float)[:n_beats]
    ok = np.isfinite(v)
    a[: v.size][ok] = v[ok].astype(np.int64)
    a[(a < 0) | (a >= n)] = -1
    return a


def _fiducials_from_waves(rpeaks: np.ndarray, waves: dict, fs: float, n: int) -> Fiducials:
    """NeuroKit2's per-beat points as :class:`Fiducials`, physiologically ordered.

    A point that breaks the order P on < P off <= QRS on < R < QRS off < T off, or a wave longer
    than plausible, is dropped (-1). NeuroKit2's DWT QRS onset often lands on the P wave
    (NeuroKit issue #1042): when it precedes the same beat's P offset it is moved to that offset.
    """
    m = rpeaks.size
    get = {k: _as_index(waves.get(f"ECG_{k}"), m, n) for k in
           ("P_Onsets", "P_Offsets", "R_Onsets", "R_Offsets", "T_Onsets", "T_Offsets")}
    p_on, p_off = get["P_Onsets"], get["P_Offsets"]
    q_on, q_off = get["R_Onsets"], get["R_Offsets"]
    t_on, t_off = get["T_Onsets"], get["T_Offsets"]
    r = rpeaks.astype(np.int64)
    late = (p_off >= 0) & (q_on >= 0) & (q_on < p_off) & (p_off < r)
    q_on = np.where(late, p_off, q_on)
    bad_q_on = (q_on >= 0) & ((q_on >= r) | (r - q_on > _MAX_QRS_S * fs))
    q_on[bad_q_on] = -1
    bad_q_off = (q_off >= 0) & ((q_off <= r) | (q_off - r > _MAX_QRS_S * fs))
    q_off[bad_q_off] = -1
    bad_qrs = (q_on >= 0) & (q_off >= 0) & (q_off - q_on > _MAX_QRS_S * fs)
    q_on[bad_qrs] = -1
    q_off[bad_qrs] = -1
    bad_p = ((p_on < 0) | (p_off < 0) | (p_off <= p_on) | (p_off - p_on > _MAX_P_S * fs)
             | (p_off >= r) | (r - p_on > _MAX_PR_S * fs + _MAX_QRS_S * fs))
    bad_p |= (q_on >= 0) & (p_off > q_on)
    p_on = np.where(bad_p, -1, p_on)
    p_off = np.where(bad_p, -1, p_off)
    ref = np.where(q_off >= 0, q_off, r)
    bad_t = (t_off >= 0) & ((t_off <= ref) | (t_off - ref > _MAX_ST_T_S * fs))
    t_off[bad_t] = -1
    bad_t_on = (t_on >= 0) & ((t_on <= ref) | ((t_off >= 0) & (t_on >= t_off)))
    t_on[bad_t_on] = -1
    return Fiducials(p_on, p_off, q_on, q_off, t_on, t_off, float(fs), r_peak=r)


def delineate_fiducials(signal: np.ndarray, fs: float, lead: int = LEAD_II) -> Fiducials:
    """Per-beat fiducials of one lead by NeuroKit2 (R peaks, then DWT delineation).

    Never raises for a bad signal: when NeuroKit2 finds fewer than two R peaks, or raises, the
    result is :meth:`Fiducials.empty` with ``reason`` saying why (the caller decides whether an
    unscorable record is skipped or counted).

    Parameters
    ----------
    signal : (12, n) or (n,) mV.
    fs : sampling rate, Hz.
    lead : row of a 12-lead ``signal`` (default lead II).
    """
    x = np.asarray(signal, dtype=float)
    x = x[lead] if x.ndim == 2 else x.reshape(-1)
    return _delineate_lead(x, fs, None)[0]


def _delineate_lead(x: np.ndarray, fs: float, rpeaks: np.ndarray | None
                    ) -> tuple[Fiducials, np.ndarray | None]:
    n = x.size
    if n == 0 or not np.isfinite(x).all():
        return Fiducials.empty(fs, "signal is empty or holds non-finite values"), None
    if np.ptp(x) < 1e-6:
        return Fiducials.empty(fs, "flat signal: no QRS complexes to delineate"), None
    try:
        peaks, waves = _nk_waves(x, fs, rpeaks)
    except Exception as exc:  # NeuroKit2 raises IndexError/ValueError/ZeroDivisionError ...
        return Fiducials.empty(fs, f"NeuroKit2 failed: {type(exc).__name__}: {exc}"), None
    if waves is None:
        return Fiducials.empty(fs, f"NeuroKit2 found {peaks.size} R peak(s); need at least 2"), None
    try:
        return _fiducials_from_waves(np.asarray(peaks, np.int64), waves, fs, n), peaks
    except Exception as exc:  # malformed output (lengths, types) is a failure, not a crash
        return Fiducials.empty(fs, f"NeuroKit2 output unusable: {type(exc).__name__}: {exc}"), None


def _coverage(f: Fiducials) -> float:
    if len(f) == 0:
        return 0.0
    return float(np.mean((f.qrs_on >= 0) & (f.qrs_off >= 0) & (f.t_off >= 0)))


def delineate(signal: np.ndarray, fs: float, per_lead: bool = True) -> dict[str, np.ndarray]:
    """Segment masks (``SEGMENTS`` → bool (12, n)) of a real record by NeuroKit2.

    R peaks come from the reference lead: lead II, or the first of :data:`REFERENCE_LEADS`
    that yields beats when lead II does not. With ``per_lead``, every lead is delineated at
    those R peaks (inverted first when its QRS points down there, as NeuroKit2 expects upright
    R waves) and keeps its own boundaries when they cover at least :data:`MIN_LEAD_COVERAGE` of
    the reference lead's share of complete beats; otherwise, and for every lead without
    ``per_lead``, the reference lead's timing is used. The returned :class:`Anatomy` says which
    in ``timing`` (``"own"`` or ``"lead II"``, ``"lead I"``, ...) and, when no reference lead
    can be delineated, holds empty masks with ``reason`` (never an exception).

    To score a model, delineate the signal the model sees (the cached, band-passed window):
    the masks are then on the model's time axis without mapping.
    """
    x = np.asarray(signal, dtype=float)
    if x.ndim != 2 or x.shape[0] != 12:
        raise ValueError(f"signal: expected (12, n) leads I..V6, found shape {x.shape}")
    n = x.shape[1]
    reasons = []
    ref, peaks, ref_lead = Fiducials.empty(fs), None, LEAD_II
    for lead in REFERENCE_LEADS:
        ref, peaks = _delineate_lead(x[lead], fs, None)
        if not ref.reason and len(ref):
            ref_lead = lead
            break
        reasons.append(f"lead {CANONICAL_LEADS[lead]}: {ref.reason or 'no beats'}")
    else:
        empty = {k: np.zeros((12, n), bool) for k in SEGMENTS}
        return Anatomy(empty, "; ".join(reasons), ("none",) * 12)
    ref_masks = segment_masks(ref, n)
    ref_name = f"lead {CANONICAL_LEADS[ref_lead]}"
    masks = {k: np.zeros((12, n), bool) for k in SEGMENTS}
    timing = []
    need = MIN_LEAD_COVERAGE * _coverage(ref)
    for lead in range(12):
        use, src = ref_masks, ref_name
        if lead == ref_lead:
            src = "own"
        elif per_lead:
            y = x[lead]
            sign = -1.0 if np.median(y[peaks]) - np.median(y) < 0 else 1.0
            own, _ = _delineate_lead(sign * y, fs, peaks)
            if not own.reason and _coverage(own) >= need and _coverage(own) > 0:
                use, src = segment_masks(own, n), "own"
        for k in SEGMENTS:
            masks[k][lead] = use[k]
        timing.append(src)
    return Anatomy(masks, "", tuple(timing))
