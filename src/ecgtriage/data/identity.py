"""Which records of one data set are ECGs or patients already present in another.

A model must never be tested on an ECG it was trained on, nor on another ECG of a patient it
was trained on. Record and patient ids cannot decide that alone once several sources are
involved: the PhysioNet/CinC Challenge 2021 redistributes PTB-XL ECGs under new names
(``HR09739`` is PTB-XL ``ecg_id`` 9739) without patient ids, and patient ids of two
institutions are unrelated numbers (SPH ``Patient_ID`` 17 is not PTB-XL patient 17). So
identities here are namespaced by source format, and only two things cross sources:

* **aliases** — known renamings (:data:`ALIASES`), mapping a record to the canonical ECG id of
  its original release (``challenge HR09739`` → ``ptbxl:9739``); through the original's
  metadata the alias also gives the patient (PTB-XL ``patient_id``);
* **content fingerprints** — a coarse, per-lead z-scored sketch of the prepared signal, which
  survives re-encoding (WFDB ↔ MATLAB), a different gain (1000 vs 200 units/mV, i.e. a global
  scale), a baseline offset and resampling to the cache rate. Candidates are found by
  nearest-neighbour search on the sketch (one matrix product) and confirmed by the correlation
  of the z-scored signals at :data:`VERIFY_HZ` (≥ :data:`MIN_CORRELATION`); the sketch is
  stored next to the cache (:data:`SKETCH_FILE`), so each cache is sketched once.

:func:`find_overlap` lists, for a test data set, every record that shares an ECG (``alias``,
``fingerprint``) or a patient (``patient``: same-source patient id, or the patient of an ECG
found by alias or fingerprint) with the records a model saw.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.signal import butter, resample_poly, sosfiltfilt

from ecgtriage import atomic
from ecgtriage.data.cache import Cache
from ecgtriage.data.ids import normalise_patient_id

#: Known renamings: (format of the copy, pattern of its record id, format of the original).
#: The pattern's first group is the original's record id (as an integer for numeric ids).
ALIASES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    # Challenge 2021 "HR#####" records are PTB-XL ECGs: HR09739 = PTB-XL ecg_id 9739.
    ("challenge", re.compile(r"^HR(\d{5})$"), "ptbxl"),
)

#: Rate of the sketch used for the candidate search (per lead); low enough that a search over
#: thousands × thousands of records is one cheap matrix product, high enough to keep each
#: record's beat pattern.
SKETCH_HZ = 5.0
#: Rate at which candidates are confirmed (after the band-pass :data:`VERIFY_BAND_HZ`).
VERIFY_HZ = 50.0
#: Band (Hz) of the signals compared when confirming a candidate.
VERIFY_BAND_HZ = (3.0, 20.0)
#: Correlation (z-scored leads, all leads together) from which two signals are one ECG.
MIN_CORRELATION = 0.99
#: Sketch similarity below which a pair is not even checked.
MIN_SKETCH_SIMILARITY = 0.9
#: Candidates checked per test record.
N_CANDIDATES = 5
#: A lead whose standard deviation is below this (mV) is flat and carries no identity.
FLAT_MV = 1e-3
#: Records with fewer informative leads than this get no fingerprint (a flat or near-empty
#: record would "match" every other flat record).
MIN_LEADS = 6
#: File in the cache folder holding the sketches; bumped suffix when the sketch changes.
SKETCH_FILE = "identity_sketch_v1.npz"

OVERLAP_COLUMNS = ("test_record", "train_dataset", "train_record", "kind", "via", "detail")
#: Kinds of overlap, strongest first.
KINDS = ("patient", "alias", "fingerprint")


def ecg_identity(fmt: str, record_id: object) -> str:
    """The canonical id of an ECG: ``<format of its original release>:<id there>``.

    Examples
    --------
    >>> ecg_identity("challenge", "HR09739"), ecg_identity("ptbxl", "9739")
    ('ptbxl:9739', 'ptbxl:9739')
    >>> ecg_identity("challenge", "A0689"), ecg_identity("sph", "A00017")
    ('challenge:A0689', 'sph:A00017')
    """
    rid = str(record_id).strip()
    for copy_format, pattern, original in ALIASES:
        if fmt == copy_format:
            match = pattern.match(rid)
            if match:
                return f"{original}:{_plain(match.group(1))}"
    return f"{fmt}:{_plain(rid) if fmt == 'ptbxl' else rid}"


def _plain(text: str) -> str:
    """``00017`` → ``17`` (numeric ids are compared as numbers)."""
    return str(int(text)) if text.isdigit() else text


def patient_identity(fmt: str, record_id: object, patient: object) -> str:
    """A patient id namespaced by its source, so two institutions' ids never compare equal.

    A record without a patient id is its own patient (``<format>:record:<id>``).

    Examples
    --------
    >>> patient_identity("sph", "A1", 17), patient_identity("ptbxl", "5", "17.0")
    ('sph:17', 'ptbxl:17')
    >>> patient_identity("challenge", "HR00001", None)
    'challenge:record:HR00001'
    """
    pid = normalise_patient_id(patient)
    return f"{fmt}:record:{record_id}" if pid is None else f"{fmt}:{pid}"


def identities(cache: Cache) -> pd.DataFrame:
    """``record_id, ecg, patient`` per record of ``cache`` (canonical, namespaced ids)."""
    idx = cache.index
    fmt = cache.format
    rids = idx["record_id"].astype(str).tolist()
    pats = idx["patient_id"].tolist() if "patient_id" in idx else [None] * len(rids)
    return pd.DataFrame({
        "record_id": rids,
        "ecg": [ecg_identity(fmt, r) for r in rids],
        "patient": [patient_identity(fmt, r, p) for r, p in zip(rids, pats)],
    })


# -- fingerprints ---------------------------------------------------------------------------------
def _zscored(x: np.ndarray, fs: float, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """``x`` (n, leads, T) mV at ``fs`` resampled to ``rate``, each lead z-scored; flat leads
    become zeros. Returns the array and the per-lead "informative" mask."""
    live = x.std(axis=-1) >= FLAT_MV
    ratio = Fraction(rate / fs).limit_denominator(1000)
    y = resample_poly(x, ratio.numerator, ratio.denominator, axis=-1) if ratio != 1 else x
    y = y - y.mean(axis=-1, keepdims=True)
    sd = y.std(axis=-1, keepdims=True)
    live &= sd[..., 0] > 0
    y = np.where(live[..., None], y / np.where(sd > 0, sd, 1.0), 0.0)
    return y.astype(np.float32), live


def signal_sketch(x: np.ndarray, fs: float, rate: float = SKETCH_HZ
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm sketches (n, leads × samples at ``rate``) of signals ``x`` (n, leads, T) and
    whether each record has enough informative leads (:data:`MIN_LEADS`) to be matched.

    The dot product of two sketches is the correlation of the two z-scored, low-passed
    signals over all leads, blind to a lead's gain and offset.
    """
    y, live = _zscored(np.asarray(x, dtype=np.float32), fs, rate)
    flat = y.reshape(len(y), -1)
    norm = np.linalg.norm(flat, axis=1, keepdims=True)
    valid = (live.sum(axis=1) >= MIN_LEADS) & (norm[:, 0] > 0)
    return (flat / np.where(norm > 0, norm, 1.0)).astype(np.float32), valid


def cache_sketches(cache: Cache, chunk: int = 512, store: bool = True
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Sketches of every record of ``cache`` (rows in cache order) and their validity.

    Read from :data:`SKETCH_FILE` in the cache folder when it was written for this very cache
    (same ``content_hash``, rate and window), else computed chunk by chunk from the memmap and
    stored there (``store``) so later studies and ``evaluate`` calls skip the work; a
    read-only cache folder is simply not written to.
    """
    path = cache.path / SKETCH_FILE
    key = np.array([str(cache.manifest.get("content_hash", "")), f"{cache.fs:g}",
                    str(cache.n_samples), str(len(cache)), f"{SKETCH_HZ:g}"])
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as stored:
                if np.array_equal(stored["key"], key):
                    return stored["sketch"].astype(np.float32), stored["valid"].astype(bool)
        except (OSError, ValueError, KeyError):
            pass  # damaged or foreign: recompute below
    parts, valid = [], []
    for start in range(0, len(cache), chunk):
        block = np.asarray(cache.signals[start:start + chunk], dtype=np.float32)
        s, v = signal_sketch(block, cache.fs)
        parts.append(s)
        valid.append(v)
    n_dim = 12 * int(round(cache.n_samples * SKETCH_HZ / cache.fs))
    sketch = np.concatenate(parts) if parts else np.zeros((0, n_dim), np.float32)
    ok = np.concatenate(valid) if valid else np.zeros(0, bool)
    if store:
        buffer = io.BytesIO()
        np.savez(buffer, key=key, sketch=sketch.astype(np.float16), valid=ok)
        try:
            atomic.write_bytes(path, buffer.getvalue())
        except OSError:
            pass  # a read-only cache: the sketch is recomputed next time
    # Round trip through float16 so a stored and a fresh sketch give the same answers.
    return sketch.astype(np.float16).astype(np.float32), ok


@dataclass(frozen=True)
class SignalMatch:
    """A test record whose signal is a copy of a reference record."""

    test_row: int
    ref_row: int
    correlation: float


def match_signals(test: Cache, ref: Cache, *, min_correlation: float = MIN_CORRELATION,
                  test_rows: Sequence[int] | None = None,
                  known: tuple[Sequence[str], Sequence[str]] | None = None,
                  block: int = 1024) -> list[SignalMatch]:
    """Pairs (test row, reference row) whose signals are one ECG (correlation ≥ threshold).

    The sketch search keeps :data:`N_CANDIDATES` neighbours per test record above
    :data:`MIN_SKETCH_SIMILARITY`; each is confirmed on the z-scored signals at
    :data:`VERIFY_HZ`, read from the caches only for those candidates.

    Parameters
    ----------
    test_rows : only these rows of ``test`` are searched (default: all).
    known : ECG ids of the rows of ``test`` and of ``ref``; pairs with the same id are one
        ECG already (an alias or the same record) and are not confirmed again, which keeps a
        data set given against itself (a later, fuller release) cheap.
    """
    if abs(test.n_samples / test.fs - ref.n_samples / ref.fs) > 1e-6:
        raise ValueError(f"caches {test.path} and {ref.path} hold windows of different length "
                         f"({test.n_samples / test.fs:g} s vs {ref.n_samples / ref.fs:g} s); "
                         "prepare both with the same preprocess.seconds")
    st, vt = cache_sketches(test)
    sr, vr = cache_sketches(ref)
    rows_t = np.arange(len(st)) if test_rows is None else np.asarray(test_rows, dtype=np.int64)
    if not len(rows_t) or not len(sr):
        return []
    st, vt = st[rows_t], vt[rows_t]
    sr_valid = np.where(vr[:, None], sr, 0.0).astype(np.float32)
    k = min(N_CANDIDATES, len(sr))
    pairs: list[tuple[int, int]] = []
    for start in range(0, len(st), block):
        sim = st[start:start + block] @ sr_valid.T
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        rows = np.arange(len(sim))[:, None]
        good = (sim[rows, top] >= MIN_SKETCH_SIMILARITY) & vt[start:start + block, None]
        for i, j in zip(*np.nonzero(good)):
            pair = (int(rows_t[start + int(i)]), int(top[i, j]))
            if known is None or known[0][pair[0]] != known[1][pair[1]]:
                pairs.append(pair)
    out = []
    for start in range(0, len(pairs), block):  # bounded memory: candidates read per block
        part = pairs[start:start + block]
        t_rows = sorted({p[0] for p in part})
        r_rows = sorted({p[1] for p in part})
        t_rep = _verify_rep(test, t_rows)
        r_rep = _verify_rep(ref, r_rows)
        t_pos = {r: i for i, r in enumerate(t_rows)}
        r_pos = {r: i for i, r in enumerate(r_rows)}
        for ti, ri in part:
            a, b = t_rep[t_pos[ti]], r_rep[r_pos[ri]]
            na, nb = np.linalg.norm(a), np.linalg.norm(b)
            corr = float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0
            if corr >= min_correlation:
                out.append(SignalMatch(ti, ri, corr))
    return out


def _verify_rep(cache: Cache, rows: Sequence[int]) -> np.ndarray:
    """Rows of ``cache`` band-passed to :data:`VERIFY_BAND_HZ`, at :data:`VERIFY_HZ`, z-scored.

    The band keeps the QRS complexes and drops what two releases of one ECG differ in most:
    baseline wander (below 3 Hz) and the high-frequency residue of their own down-sampling
    (on PTB-XL 9739 vs Challenge HR09739, the correlation rises from 0.992 to 0.995).
    """
    x = np.asarray(cache.signals[np.asarray(rows, dtype=np.int64)], dtype=np.float32)
    low, high = VERIFY_BAND_HZ
    sos = butter(4, [low, min(high, 0.45 * cache.fs)], btype="bandpass", fs=cache.fs,
                 output="sos")
    y, _ = _zscored(sosfiltfilt(sos, x, axis=-1), cache.fs, VERIFY_HZ)
    return y.reshape(len(y), -1)


# -- overlap --------------------------------------------------------------------------------------
def find_overlap(train: Cache | Sequence[Cache], test: Cache, *,
                 seen: Sequence[Iterable[str] | None] | None = None,
                 names: Sequence[str] | None = None,
                 test_records: Iterable[str] | None = None,
                 min_correlation: float = MIN_CORRELATION) -> pd.DataFrame:
    """Every test record that shares an ECG or a patient with records a model saw.

    Parameters
    ----------
    train : the reference caches (the training data set; several are allowed).
    test : the cache of the data set to be tested on.
    seen : per reference cache, the record ids the model saw (training and validation
        splits); ``None`` (default) means all of them. Unseen reference records still count
        as a bridge: a test record that is a copy of an internal-test record whose patient
        was trained on shares that patient.
    names : per reference cache, the name used in the table (default: its folder name).
    test_records : only these records of ``test`` are checked (default: all).
    min_correlation : correlation from which two signals are one ECG.

    Returns
    -------
    DataFrame with columns :data:`OVERLAP_COLUMNS`: ``test_record``, ``train_dataset``,
    ``train_record`` (a seen record it overlaps with), ``kind`` (``"alias"``: the same ECG by
    a known renaming or the same record id of the same source; ``"fingerprint"``: the same
    signal; ``"patient"``: the same patient, by same-source patient id or through an ECG found
    by alias or fingerprint), ``via`` (how: ``"renaming"`` or ``"record id"`` for an alias,
    ``"signal"`` for a fingerprint, ``"patient id"``, ``"alias"`` or ``"fingerprint"`` for a
    patient) and ``detail`` (a sentence for the report). A record overlapping in several ways has one
    row per kind (per reference cache).
    """
    refs = list(train) if isinstance(train, (list, tuple)) else [train]
    seen_list = list(seen) if seen is not None else [None] * len(refs)
    name_list = list(names) if names is not None else [c.path.name for c in refs]
    if len(seen_list) != len(refs) or len(name_list) != len(refs):
        raise ValueError(f"find_overlap: {len(refs)} reference caches but {len(seen_list)} "
                         f"'seen' and {len(name_list)} 'names' entries; expected one each")
    tid = identities(test)
    wanted = (np.ones(len(tid), bool) if test_records is None
              else tid["record_id"].isin({str(r) for r in test_records}).to_numpy())
    rows: list[dict[str, str]] = []
    for ref, seen_ids, name in zip(refs, seen_list, name_list):
        rid = identities(ref)
        is_seen = (np.ones(len(rid), bool) if seen_ids is None
                   else rid["record_id"].isin({str(s) for s in seen_ids}).to_numpy())
        seen_patients = (rid[is_seen].drop_duplicates("patient")
                         .set_index("patient")["record_id"].to_dict())
        by_ecg = rid.drop_duplicates("ecg").set_index("ecg")
        seen_by_ecg = rid[is_seen].drop_duplicates("ecg").set_index("ecg")["record_id"].to_dict()
        # Each test record's patients: its own, and those of its copies in this reference.
        bridges: list[list[tuple[str, str, str]]] = [[(p, "patient id", "same patient id")]
                                                     for p in tid["patient"]]
        for i, (t_rec, ecg) in enumerate(zip(tid["record_id"], tid["ecg"])):
            if not wanted[i] or ecg not in by_ecg.index:
                continue
            j = int(by_ecg.index.get_loc(ecg))
            r_rec = str(by_ecg["record_id"].iloc[j])
            via = "record id" if t_rec == r_rec else "renaming"
            how = (f"same record id in both {test.format} sources" if t_rec == r_rec
                   else f"{t_rec} is {ecg} ({r_rec} in {name})")
            if ecg in seen_by_ecg:
                rows.append(_row(t_rec, name, seen_by_ecg[ecg], "alias", via, how))
            bridges[i].append((str(by_ecg["patient"].iloc[j]), "alias", f"through alias: {how}"))
        for m in match_signals(test, ref, min_correlation=min_correlation,
                               test_rows=np.flatnonzero(wanted),
                               known=(tid["ecg"].to_numpy(), rid["ecg"].to_numpy())):
            t_rec, r_rec = tid["record_id"].iloc[m.test_row], rid["record_id"].iloc[m.ref_row]
            how = f"signal correlation {m.correlation:.4f} with {r_rec} in {name}"
            if is_seen[m.ref_row]:
                rows.append(_row(t_rec, name, r_rec, "fingerprint", "signal", how))
            bridges[m.test_row].append((str(rid["patient"].iloc[m.ref_row]), "fingerprint",
                                        f"through fingerprint: {how}"))
        for i, links in enumerate(bridges):
            if not wanted[i]:
                continue
            for patient, via, how in links:
                if patient in seen_patients:
                    rows.append(_row(tid["record_id"].iloc[i], name, seen_patients[patient],
                                     "patient", via, f"patient {patient} ({how})"))
                    break
    table = pd.DataFrame(rows, columns=list(OVERLAP_COLUMNS))
    return table.drop_duplicates(["test_record", "train_dataset", "kind"]).reset_index(drop=True)


def _row(test_record: str, name: str, train_record: str, kind: str, via: str, detail: str
         ) -> dict[str, str]:
    return {"test_record": str(test_record), "train_dataset": name,
            "train_record": str(train_record), "kind": kind, "via": via, "detail": detail}
