"""Ground-truth wave boundaries of simulated beats, and the ``fiducials.csv`` written with a corpus.

The simulator places every wave itself (:mod:`.rhythm` says when, :mod:`.beats` how long), so the
boundaries of each P wave, QRS complex and T wave are known exactly rather than measured. They are
the reference against which a delineator (``ecgtriage.explain.anatomy.delineate``) is scored and
the anatomy that attribution maps are scored against on synthetic records.

Definitions (times from the simulator's event times, rounded to the nearest sample):

* ``p_on``/``p_off``: P-wave event time and event time + the P template's duration (the atrial
  lobes are designed to fit that duration; less than 5 % of the P peak lies outside it);
* ``qrs_on``/``qrs_off``: ventricular event time and + the QRS template's duration;
* paced P waves and complexes begin at their pacing stimulus (4 ms before the event);
* ``t_off``: J point + JT, where the tangent to the T wave's down-slope meets the baseline (the
  tangent method, see ``beats._stt_rows``);
* ``t_on`` is not defined by the simulator (T rises smoothly out of the ST segment): always -1.

One row per ventricular complex, with the P wave that conducted it (the latest sinus, ectopic
atrial or atrially paced P starting after the previous QRS onset and at most
:data:`MAX_PR_S` before this one), plus one row per P wave that conducts no complex (blocked,
dissociated or retrograde P waves) with ``qrs_*`` and ``t_off`` at -1. A wave that does not lie
wholly inside the record is marked absent (-1) and rows left with no wave are dropped, so every
listed index is a valid sample of the record.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

#: File name of a corpus's fiducial table (next to ``metadata.csv`` / ``ptbxl_database.csv``).
FIDUCIALS_FILE = "fiducials.csv"
#: Columns of :data:`FIDUCIALS_FILE`, in order.
FIDUCIAL_COLUMNS = ("record_id", "beat", "fs", "p_on", "p_off", "qrs_on", "qrs_off", "t_off",
                    "p_kind", "qrs_kind")
#: Longest PR interval (s) at which a P wave is paired with the complex that follows it.
MAX_PR_S = 0.6
#: P-wave kinds that conduct (sinus, ectopic atrial, atrially paced); retrograde P never does.
_CONDUCTING_P = ("S", "X", "AP")
_WAVES = ("p_on", "p_off", "qrs_on", "qrs_off", "t_on", "t_off")
#: Paced waves start at their stimulus, drawn 2 ms before the event (``rhythm._paced``); 4 ms
#: keeps the spike's anti-alias smear inside the wave.
_STIMULUS_S = {"AP": 0.004, "PV": 0.004}


@dataclass(frozen=True, eq=False)
class Fiducials:
    """Per-beat wave boundaries of one record, as sample indices at ``fs``.

    Parallel int64 arrays, one entry per beat; -1 where a wave is absent (no P wave in atrial
    fibrillation, a blocked P wave without QRS, a wave cut by the record's edge, or a boundary
    the delineator could not find). ``t_on`` is -1 throughout for simulated records.
    ``reason`` is empty for a usable result and says why when a delineator found nothing.
    Compared by identity (``eq=False``): element-wise array equality has no single truth value.
    """

    p_on: np.ndarray
    p_off: np.ndarray
    qrs_on: np.ndarray
    qrs_off: np.ndarray
    t_on: np.ndarray
    t_off: np.ndarray
    fs: float
    p_kind: tuple[str, ...] = field(default=())
    qrs_kind: tuple[str, ...] = field(default=())
    reason: str = ""
    #: R-peak (or main QRS deflection) sample per beat where the source knows it (a
    #: delineator's detection); -1 otherwise, as for the simulator.
    r_peak: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = None
        for name in _WAVES:
            arr = np.asarray(getattr(self, name), dtype=np.int64).reshape(-1)
            if n is None:
                n = arr.size
            elif arr.size != n:
                raise ValueError(f"Fiducials.{name}: expected {n} beats like p_on, found {arr.size}")
            object.__setattr__(self, name, arr)
        r = np.full(n, -1, np.int64) if self.r_peak is None else np.asarray(self.r_peak, np.int64)
        if r.size != n:
            raise ValueError(f"Fiducials.r_peak: expected {n} beats like p_on, found {r.size}")
        object.__setattr__(self, "r_peak", r.reshape(-1))
        if not np.isfinite(self.fs) or self.fs <= 0:
            raise ValueError(f"Fiducials.fs: expected a positive sampling rate, found {self.fs!r}")

    def __len__(self) -> int:
        return int(self.qrs_on.size)

    @classmethod
    def empty(cls, fs: float, reason: str = "") -> "Fiducials":
        """No beats (``reason`` says why, e.g. the delineator found no R peaks)."""
        z = np.zeros(0, np.int64)
        return cls(z, z, z, z, z, z, float(fs), reason=reason)


def beat_fiducials(p_t: Sequence[float], p_kind: Sequence[str], p_dur: dict[str, float],
                   v_t: Sequence[float], v_kind: Sequence[str], qrs_dur: np.ndarray,
                   t_end: np.ndarray, fs: float, n: int) -> Fiducials:
    """Pair P waves with complexes and convert event times (s) to samples (see module doc).

    Parameters
    ----------
    p_t, p_kind : P-wave onsets (s) and kinds (``S``, ``X``, ``R``, ``AP``).
    p_dur : P duration (s) per kind.
    v_t, v_kind : QRS onsets (s, sorted) and template kinds.
    qrs_dur, t_end : per complex, QRS duration (s) and T end relative to QRS onset (s).
    fs, n : sampling rate and record length in samples.
    """
    p_t = np.asarray(p_t, float)
    v_t = np.asarray(v_t, float)
    order = np.argsort(p_t, kind="stable")
    p_t = p_t[order]
    p_kind = [p_kind[i] for i in order]
    # The intervals (previous QRS, this QRS) are disjoint, so each P wave can pair with at
    # most one complex: the latest conducting P before each QRS, if it is inside the interval.
    conducting = np.flatnonzero([k in _CONDUCTING_P for k in p_kind])
    paired = np.full(v_t.size, -1)
    if conducting.size and v_t.size:
        pos = np.searchsorted(p_t[conducting], v_t, side="left") - 1
        cand = conducting[np.maximum(pos, 0)]
        prev = np.concatenate([[-np.inf], v_t[:-1]])
        ok = (pos >= 0) & (p_t[cand] > prev) & (v_t - p_t[cand] <= MAX_PR_S)
        paired = np.where(ok, cand, -1)
    used = np.zeros(p_t.size, bool)
    used[paired[paired >= 0]] = True
    rows: list[tuple[float, ...]] = []
    kinds: list[tuple[str, str]] = []
    nan = np.nan
    for i, tq in enumerate(v_t):
        j = paired[i]
        p = (p_t[j] - _STIMULUS_S.get(p_kind[j], 0.0), p_t[j] + p_dur[p_kind[j]]) if j >= 0 \
            else (nan, nan)
        rows.append((*p, tq - _STIMULUS_S.get(str(v_kind[i]), 0.0), tq + qrs_dur[i],
                     tq + t_end[i]))
        kinds.append((p_kind[j] if j >= 0 else "", str(v_kind[i])))
    for j in np.flatnonzero(~used):
        rows.append((p_t[j] - _STIMULUS_S.get(p_kind[j], 0.0), p_t[j] + p_dur[p_kind[j]],
                     nan, nan, nan))
        kinds.append((p_kind[j], ""))
    arr = np.array(rows, float).reshape(-1, 5)
    with np.errstate(invalid="ignore"):
        idx = np.where(np.isfinite(arr), np.round(arr * fs), -1).astype(np.int64)
    inside = (idx >= 0) & (idx <= n - 1)
    # A wave counts only when all of it is in the record (the T end needs its QRS end).
    p_ok = inside[:, 0] & inside[:, 1]
    q_ok = inside[:, 2] & inside[:, 3]
    t_ok = q_ok & inside[:, 4]
    idx[~p_ok, 0:2] = -1
    idx[~q_ok, 2:4] = -1
    idx[~t_ok, 4] = -1
    keep = (idx >= 0).any(axis=1)
    first = np.where(idx[:, 0] >= 0, idx[:, 0], idx[:, 2])
    order = np.flatnonzero(keep)[np.argsort(first[keep], kind="stable")]
    idx = idx[order]
    minus = np.full(idx.shape[0], -1, np.int64)
    return Fiducials(idx[:, 0], idx[:, 1], idx[:, 2], idx[:, 3], minus, idx[:, 4], float(fs),
                     p_kind=tuple(kinds[k][0] for k in order),
                     qrs_kind=tuple(kinds[k][1] for k in order))


def fiducial_rows(record_id: str, fid: Fiducials) -> list[dict]:
    """Rows of :data:`FIDUCIALS_FILE` for one record."""
    out = []
    for b in range(len(fid)):
        out.append({"record_id": str(record_id), "beat": b, "fs": fid.fs,
                    "p_on": int(fid.p_on[b]), "p_off": int(fid.p_off[b]),
                    "qrs_on": int(fid.qrs_on[b]), "qrs_off": int(fid.qrs_off[b]),
                    "t_off": int(fid.t_off[b]),
                    "p_kind": fid.p_kind[b] if fid.p_kind else "",
                    "qrs_kind": fid.qrs_kind[b] if fid.qrs_kind else ""})
    return out


def write_fiducials(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    """Write :data:`FIDUCIALS_FILE` rows as CSV (plain text: no pickle, readable anywhere)."""
    import pandas as pd

    frame = pd.DataFrame(list(rows), columns=list(FIDUCIAL_COLUMNS))
    frame.to_csv(Path(path), index=False)


def read_fiducials(path: str | os.PathLike, record_id: str) -> Fiducials:
    """The fiducials of ``record_id`` from a corpus's :data:`FIDUCIALS_FILE`.

    Raises
    ------
    FileNotFoundError
        When the file is missing (a corpus written before fiducials, or with a custom simulator).
    KeyError
        When the record has no row (ids are compared as strings, as the io sources give them).
    ValueError
        When a column is missing.
    """
    import pandas as pd

    frame = pd.read_csv(Path(path), dtype={"record_id": str, "p_kind": str, "qrs_kind": str},
                        keep_default_na=False)
    missing = [c for c in FIDUCIAL_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; expected "
                         f"{', '.join(FIDUCIAL_COLUMNS)}")
    sel = frame[frame.record_id == str(record_id)].sort_values("beat")
    if sel.empty:
        raise KeyError(f"{path}: no beats for record {record_id!r}")
    minus = np.full(len(sel), -1, np.int64)
    return Fiducials(sel.p_on.to_numpy(), sel.p_off.to_numpy(), sel.qrs_on.to_numpy(),
                     sel.qrs_off.to_numpy(), minus, sel.t_off.to_numpy(), float(sel.fs.iloc[0]),
                     p_kind=tuple(sel.p_kind), qrs_kind=tuple(sel.qrs_kind))
