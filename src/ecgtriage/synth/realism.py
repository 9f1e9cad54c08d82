"""Realism report: the same measurements on real PTB-XL and on a synthetic PTB-XL-format corpus.

One measurement pipeline (NeuroKit2 R-peak detection and DWT delineation on lead II, plus
fixed windows around the R peaks in the other leads) runs on both corpora, so a difference in
a feature is a difference between the corpora, not between two measuring tools. Per PTB-XL
statement group (NORM, AF, LBBB, RBBB, LVH, MI) it compares heart rate, PR, QRS duration, QT
and QTc (Bazett), the frontal QRS axis (net QRS area in I and aVF), R and S amplitudes in
V1-V6 and the P and T amplitudes in II, as side-by-side distributions (figures) and as a
distance per feature (Wasserstein, in the feature's unit and relative to the real spread, and
the two-sample Kolmogorov-Smirnov statistic).

Both corpora are read at 100 Hz (every real record has a 100 Hz copy; only a few have 500 Hz)
and resampled to 500 Hz before delineation, because NeuroKit2's wavelet delineator is tuned for
rates of a few hundred Hz; the same resampling is applied to both, so it cannot favour either.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ecgtriage.errors import DataError

#: Statement groups compared, as sets of PTB-XL SCP codes (MI: every code of PTB-XL's MI
#: diagnostic superclass, listed so the report does not depend on a scp_statements.csv).
GROUPS: dict[str, frozenset[str]] = {
    "NORM": frozenset({"NORM"}),
    "AF": frozenset({"AFIB"}),
    "LBBB": frozenset({"CLBBB"}),
    "RBBB": frozenset({"CRBBB"}),
    "LVH": frozenset({"LVH"}),
    "MI": frozenset({"IMI", "ASMI", "ILMI", "AMI", "ALMI", "INJAS", "LMI", "INJAL", "IPLMI",
                     "IPMI", "INJIN", "INJLA", "PMI", "INJIL"}),
}

#: Features, with their unit (for tables and axis labels).
FEATURES: dict[str, str] = {
    "heart_rate": "/min", "pr_ms": "ms", "qrs_ms": "ms", "qt_ms": "ms", "qtc_ms": "ms",
    "axis_deg": "deg", "p_amp_mv": "mV", "t_amp_mv": "mV",
    **{f"r_{v}_mv": "mV" for v in ("v1", "v2", "v3", "v4", "v5", "v6")},
    **{f"s_{v}_mv": "mV" for v in ("v1", "v2", "v3", "v4", "v5", "v6")},
}

FS_MEASURE = 500
_READ_FS = 100


@dataclass
class RealismResult:
    """What :func:`realism_report` wrote: per-record features, distances, exclusions, files."""

    features: pd.DataFrame
    distances: pd.DataFrame
    exclusions: pd.DataFrame
    out: Path


def record_groups(statements: str) -> list[str]:
    """The statement groups a record belongs to (``";"``-joined raw SCP statements)."""
    codes = {s.strip().split("+")[0] for s in str(statements).split(";") if s.strip()}
    return [g for g, members in GROUPS.items() if codes & members]


def measure_record(signal: np.ndarray, fs: float) -> dict[str, float]:
    """Measure one (12, n) mV record; NaN for a feature that cannot be measured.

    Lead II is cleaned (NeuroKit2's default 0.5 Hz high-pass + 50 Hz notch) and delineated;
    intervals are medians over beats. Amplitudes are medians over beats of the extreme in a
    fixed window around each R peak, relative to the median level 80-50 ms before it (the PR
    segment), measured on every lead with the same NeuroKit2 cleaning.

    Raises
    ------
    DataError
        When fewer than three R peaks are found (the record cannot be delineated).
    """
    import neurokit2 as nk
    from scipy import signal as sps

    x = np.asarray(signal, dtype=np.float64)
    if fs != FS_MEASURE:
        up, down = int(FS_MEASURE), int(fs)
        g = np.gcd(up, down)
        x = sps.resample_poly(x, up // g, down // g, axis=1)
    fs = FS_MEASURE
    with warnings.catch_warnings():
        # NeuroKit2 warns on every short or noisy record; those become NaN features instead.
        warnings.simplefilter("ignore")
        clean = np.vstack([nk.ecg_clean(lead, sampling_rate=fs) for lead in x])
        _, info = nk.ecg_peaks(clean[1], sampling_rate=fs)
        r = np.asarray(info["ECG_R_Peaks"], dtype=int)
        if r.size < 3:
            raise DataError(f"{r.size} R peaks found in lead II")
        _, wave = nk.ecg_delineate(clean[1], r, sampling_rate=fs, method="dwt")
    rr = np.diff(r) / fs
    out: dict[str, float] = {"heart_rate": float(60.0 / np.median(rr))}

    def points(key: str) -> np.ndarray:
        v = np.asarray(wave.get(key, [np.nan] * r.size), dtype=float)
        return v if v.size == r.size else np.full(r.size, np.nan)

    p_on, t_off = points("ECG_P_Onsets"), points("ECG_T_Offsets")
    p_pk, t_pk = points("ECG_P_Peaks"), points("ECG_T_Peaks")
    # QRS boundaries from the 12-lead spatial velocity, not NeuroKit2's single-lead DWT
    # R onsets/offsets: on real PTB-XL NORM records those put the onset ~120 ms before the R
    # peak (QRS ~190 ms), useless as a duration.
    r_on, r_off = _qrs_bounds(clean, r, fs)

    def med(values: np.ndarray, lo: float, hi: float) -> float:
        ok = values[np.isfinite(values) & (values >= lo) & (values <= hi)]
        return float(np.median(ok)) if ok.size else float("nan")

    ms = 1000.0 / fs
    out["pr_ms"] = med((r_on - p_on) * ms, 40, 400)
    out["qrs_ms"] = med((r_off - r_on) * ms, 40, 250)
    qt = (t_off - r_on) * ms
    out["qt_ms"] = med(qt, 200, 700)
    rr_beat = np.concatenate([[np.median(rr)], rr])  # the interval preceding each beat
    out["qtc_ms"] = med(qt / np.sqrt(rr_beat), 250, 700)

    n = x.shape[1]
    keep = (r > int(0.1 * fs)) & (r < n - int(0.1 * fs))
    rk = r[keep]
    if rk.size == 0:
        raise DataError("no complete QRS complex inside the record")
    base_idx = rk[:, None] + np.arange(-int(0.08 * fs), -int(0.05 * fs))[None, :]
    qrs_idx = rk[:, None] + np.arange(-int(0.06 * fs), int(0.08 * fs))[None, :]
    base = np.median(clean[:, base_idx], axis=2)  # (12, beats)
    seg = clean[:, qrs_idx] - base[:, :, None]  # (12, beats, window)
    net = np.median(seg.sum(axis=2), axis=1) / fs  # net QRS area, mV*s
    out["axis_deg"] = float(np.degrees(np.arctan2(net[5], net[0])))
    r_amp = np.median(np.maximum(seg.max(axis=2), 0.0), axis=1)
    s_amp = np.median(np.maximum(-seg.min(axis=2), 0.0), axis=1)
    for k in range(6):
        out[f"r_v{k + 1}_mv"] = float(r_amp[6 + k])
        out[f"s_v{k + 1}_mv"] = float(s_amp[6 + k])

    def amp(peaks: np.ndarray) -> float:
        ok = np.isfinite(peaks) & keep
        if not ok.any():
            return float("nan")
        idx = peaks[ok].astype(int)
        b = base[1][np.cumsum(keep) - 1][ok]
        return float(np.median(clean[1, np.clip(idx, 0, n - 1)] - b))

    out["p_amp_mv"] = amp(p_pk)
    out["t_amp_mv"] = amp(t_pk)
    return out


def _qrs_bounds(clean: np.ndarray, r: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """QRS onset and offset per beat: where the spatial velocity (sum over leads of |slope|,
    40 Hz low-passed so EMG does not count) stays above 12 % of that beat's QRS peak, with
    gaps under 30 ms bridged (notched complexes); the criterion the simulator's own tests use
    to set QRS durations, so a synthetic QRS is measured as it was designed."""
    from scipy import signal as sps

    sos = sps.butter(4, 40.0, btype="lowpass", fs=fs, output="sos")
    vel = np.abs(np.diff(sps.sosfiltfilt(sos, clean, axis=1), axis=1)).sum(axis=0) * fs
    n = vel.size
    on = np.full(r.size, np.nan)
    off = np.full(r.size, np.nan)
    gap, reach, near = int(0.03 * fs), int(0.15 * fs), int(0.06 * fs)
    for i, rp in enumerate(r):
        lo, hi = max(rp - near, 0), min(rp + near, n)
        if hi - lo < 2 or rp - reach < 0 or rp + reach >= n:
            continue
        thr = 0.12 * vel[lo:hi].max()
        a = rp
        while a > rp - reach and (vel[max(a - gap, 0):a] > thr).any():
            a -= 1
        b = rp
        while b < rp + reach and (vel[b + 1:b + 1 + gap] > thr).any():
            b += 1
        if a > rp - reach and b < rp + reach:  # both ends found inside the search window
            on[i], off[i] = a, b
    return on, off


def _measure_job(job: tuple[str, str, list[str]]) -> list[dict]:
    """Measure records ``ids`` of source ``root`` (one worker's chunk)."""
    from ecgtriage.io.sources import open_source

    root, label, ids = job
    src = open_source(root)
    rows = []
    for rid in ids:
        try:
            rec = src.read(rid, fs=_READ_FS)
            rows.append({"corpus": label, "record_id": rid, **measure_record(rec.signal, rec.fs)})
        except (DataError, ValueError, IndexError, FloatingPointError) as exc:
            # NeuroKit2 raises ValueError/IndexError on flat or chaotic records: an exclusion,
            # reported with its reason, not a crash of the whole report.
            rows.append({"corpus": label, "record_id": rid, "excluded": f"{type(exc).__name__}: {exc}"})
    return rows


def select_records(metadata: pd.DataFrame, max_per_group: int, seed: int) -> pd.DataFrame:
    """Up to ``max_per_group`` records per statement group (random, by ``seed``), with groups.

    Returns one row per (record, group): ``record_id, group``.
    """
    rng = np.random.default_rng(seed)
    pairs = [(str(rid), g) for rid, st in zip(metadata.record_id, metadata.statements)
             for g in record_groups(st)]
    frame = pd.DataFrame(pairs, columns=["record_id", "group"])
    parts = []
    for g in GROUPS:
        sub = frame[frame.group == g]
        if len(sub) > max_per_group:
            sub = sub.iloc[np.sort(rng.choice(len(sub), max_per_group, replace=False))]
        parts.append(sub)
    return pd.concat(parts, ignore_index=True) if parts else frame


def distances(features: pd.DataFrame) -> pd.DataFrame:
    """Per (group, feature): sizes, medians, Wasserstein (raw and / real std) and KS."""
    from scipy.stats import ks_2samp, wasserstein_distance

    rows = []
    for g in GROUPS:
        for f in FEATURES:
            a = features.loc[(features.group == g) & (features.corpus == "real"), f].dropna().to_numpy()
            b = features.loc[(features.group == g) & (features.corpus == "synthetic"), f].dropna().to_numpy()
            row = {"group": g, "feature": f, "unit": FEATURES[f], "n_real": a.size, "n_synthetic": b.size,
                   "median_real": np.median(a) if a.size else np.nan,
                   "median_synthetic": np.median(b) if b.size else np.nan,
                   "wasserstein": np.nan, "wasserstein_per_real_std": np.nan, "ks": np.nan, "ks_p": np.nan}
            if a.size >= 5 and b.size >= 5:
                w = wasserstein_distance(a, b)
                ks = ks_2samp(a, b)
                row.update(wasserstein=w, wasserstein_per_real_std=w / max(np.std(a), 1e-9),
                           ks=ks.statistic, ks_p=ks.pvalue)
            rows.append(row)
    return pd.DataFrame(rows)


def _figures(features: pd.DataFrame, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    groups = [g for g in GROUPS if (features.group == g).any()]
    for f, unit in FEATURES.items():
        fig, axes = plt.subplots(1, len(groups), figsize=(2.6 * len(groups), 2.4), squeeze=False)
        for ax, g in zip(axes[0], groups):
            a = features.loc[(features.group == g) & (features.corpus == "real"), f].dropna()
            b = features.loc[(features.group == g) & (features.corpus == "synthetic"), f].dropna()
            both = np.concatenate([a, b])
            if both.size:
                lo, hi = np.percentile(both, [1, 99])
                bins = np.linspace(lo, hi if hi > lo else lo + 1, 25)
                ax.hist(np.clip(a, lo, hi), bins=bins, density=True, alpha=0.5, label=f"real ({a.size})")
                ax.hist(np.clip(b, lo, hi), bins=bins, density=True, alpha=0.5,
                        label=f"synthetic ({b.size})")
                ax.legend(fontsize=6)
            ax.set_title(g, fontsize=9)
            ax.set_xlabel(f"{f} ({unit})", fontsize=7)
            ax.tick_params(labelsize=6)
        fig.tight_layout()
        path = out / "figures" / f"{f}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def _summary(dist: pd.DataFrame, feats: pd.DataFrame, excl: pd.DataFrame, command: str | None) -> str:
    lines = ["# Realism report: real PTB-XL vs synthetic PTB-XL-format", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    counts = feats.groupby(["group", "corpus"]).record_id.nunique().unstack(fill_value=0)
    lines += ["Records measured per group (excluded records are listed in `exclusions.csv`: "
              f"{len(excl)}):", "", "| group | real | synthetic |", "|---|---|---|"]
    for g in GROUPS:
        if g in counts.index:
            lines.append(f"| {g} | {counts.loc[g].get('real', 0)} | {counts.loc[g].get('synthetic', 0)} |")
    lines += ["", "Medians (real / synthetic) and Wasserstein distance relative to the real "
              "standard deviation (W/sd; 0 = identical distributions, about 1 = shifted by a "
              "whole spread); KS statistic in `distances.csv`.", ""]
    groups = [g for g in GROUPS if (dist.group == g).any() and dist[dist.group == g].n_real.sum() > 0]
    lines.append("| feature | " + " | ".join(groups) + " |")
    lines.append("|---|" + "---|" * len(groups))
    for f, unit in FEATURES.items():
        cells = []
        for g in groups:
            row = dist[(dist.group == g) & (dist.feature == f)].iloc[0]
            if np.isnan(row.median_real) or np.isnan(row.median_synthetic):
                cells.append("-")
                continue
            fmt = "{:.0f}" if unit in ("ms", "/min", "deg") else "{:.2f}"
            w = "" if np.isnan(row.wasserstein_per_real_std) else f" ({row.wasserstein_per_real_std:.2f})"
            cells.append(f"{fmt.format(row.median_real)} / {fmt.format(row.median_synthetic)}{w}")
        lines.append(f"| {f} ({unit}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def realism_report(
    real: str | os.PathLike,
    synthetic: str | os.PathLike,
    out: str | os.PathLike,
    *,
    max_per_group: int = 150,
    seed: int = 0,
    workers: int | None = 1,
    progress: bool = True,
    command: str | None = None,
) -> RealismResult:
    """Measure both corpora with one pipeline and write the comparison to ``out``.

    Writes ``features.csv`` (one row per record and group), ``distances.csv``,
    ``exclusions.csv`` (records NeuroKit2 could not delineate, with the reason),
    ``figures/<feature>.png`` and ``summary.md``.

    Parameters
    ----------
    real, synthetic : PTB-XL-format folders (``open_source`` must detect ``ptbxl``).
    max_per_group : records measured per group and corpus (random, by ``seed``), which bounds
        the run time (about 0.1 s per record and core).
    workers : processes for the measurement.

    Raises
    ------
    DataError
        When a folder is not PTB-XL format.
    """
    from concurrent.futures import ProcessPoolExecutor

    from tqdm.auto import tqdm

    from ecgtriage.atomic import write_csv, write_text
    from ecgtriage.io.sources import open_source

    out = Path(out)
    selections = {}
    for label, path in (("real", real), ("synthetic", synthetic)):
        src = open_source(path)
        if src.format != "ptbxl":
            raise DataError(f"{path}: expected a PTB-XL-format folder for --{label}, found {src.format}")
        selections[label] = (str(src.root), select_records(src.metadata(), max_per_group, seed))
    jobs = []
    for label, (root, sel) in selections.items():
        ids = sorted(set(sel.record_id), key=lambda s: (len(s), s))
        jobs += [(root, label, ids[i:i + 20]) for i in range(0, len(ids), 20)]
    rows: list[dict] = []
    total = sum(len(j[2]) for j in jobs)
    with tqdm(total=total, desc="measure", unit="rec", disable=None if progress else True) as bar:
        if (workers or 1) <= 1:
            for job in jobs:
                rows += _measure_job(job)
                bar.update(len(job[2]))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for job, res in zip(jobs, pool.map(_measure_job, jobs)):
                    rows += res
                    bar.update(len(job[2]))
    measured = pd.DataFrame(rows)
    if "excluded" not in measured:
        measured["excluded"] = np.nan
    excl = measured[measured.excluded.notna()][["corpus", "record_id", "excluded"]].rename(
        columns={"excluded": "reason"})
    ok = measured[measured.excluded.isna()].drop(columns="excluded")
    for f in FEATURES:
        if f not in ok:
            ok[f] = np.nan
    sel = pd.concat([s.assign(corpus=label) for label, (_, s) in selections.items()], ignore_index=True)
    feats = sel.merge(ok, on=["corpus", "record_id"], how="inner")[
        ["corpus", "record_id", "group", *FEATURES]]
    dist = distances(feats)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    write_csv(out / "features.csv", feats, index=False)
    write_csv(out / "distances.csv", dist, index=False)
    write_csv(out / "exclusions.csv", excl, index=False)
    _figures(feats, out)
    write_text(out / "summary.md", _summary(dist, feats, excl, command))
    return RealismResult(feats, dist, excl, out)


def measure_sample(path: str | os.PathLike, n: int, seed: int, *, fold: int | None = None,
                   workers: int = 1, progress: bool = True) -> pd.DataFrame:
    """Features of ``n`` random records of a PTB-XL-format folder at their natural prevalence.

    ``fold`` restricts the draw to one ``strat_fold`` (real PTB-XL fold 9 is the shared fold
    with every record; folds 1-8 there are enriched for rare statements). Returns one row per
    measured record: ``record_id, patient_id, normal`` (NORM among the statements) and the
    :data:`FEATURES`; records that cannot be measured are dropped (counted in ``attrs``).
    """
    from concurrent.futures import ProcessPoolExecutor

    from tqdm.auto import tqdm

    from ecgtriage.io.sources import open_source

    src = open_source(path)
    meta = src.metadata()
    if fold is not None:
        meta = meta[pd.to_numeric(meta.fold, errors="coerce") == fold]
    rng = np.random.default_rng(seed)
    if len(meta) > n:
        meta = meta.iloc[np.sort(rng.choice(len(meta), n, replace=False))]
    ids = meta.record_id.astype(str).tolist()
    jobs = [(str(src.root), "sample", ids[i:i + 20]) for i in range(0, len(ids), 20)]
    rows: list[dict] = []
    with tqdm(total=len(ids), desc="measure", unit="rec", disable=None if progress else True) as bar:
        if workers <= 1:
            results = map(_measure_job, jobs)
        else:
            pool = ProcessPoolExecutor(max_workers=workers)
            results = pool.map(_measure_job, jobs)
        for job, res in zip(jobs, results):
            rows += res
            bar.update(len(job[2]))
        if workers > 1:
            pool.shutdown()
    frame = pd.DataFrame(rows)
    n_excluded = int(frame.get("excluded", pd.Series(dtype=object)).notna().sum())
    if "excluded" in frame:
        frame = frame[frame.excluded.isna()].drop(columns="excluded")
    info = meta.assign(record_id=meta.record_id.astype(str))[["record_id", "patient_id", "statements"]]
    frame = info.merge(frame.drop(columns="corpus"), on="record_id")
    frame["normal"] = frame.statements.map(lambda s: "NORM" in str(s).split(";"))
    frame.attrs["n_excluded"] = n_excluded
    return frame.drop(columns="statements")


def normal_vs_rest_auroc(frame: pd.DataFrame, seed: int = 0, folds: int = 5) -> float:
    """Cross-validated AUROC of a logistic regression on :data:`FEATURES`, Normal vs the rest.

    The difficulty-parity baseline: a simulator whose Normal records a linear model on a few
    interval and amplitude measurements separates far better than on real data is easier than
    the real hospital. Folds group records by patient; missing features are imputed with the
    training median plus a missing indicator (an absent P wave is information: AF).
    """
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = frame[list(FEATURES)].to_numpy(dtype=float)
    y = frame.normal.to_numpy(dtype=bool)
    model = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler(),
                          LogisticRegression(max_iter=2000, C=1.0))
    groups = frame.patient_id.astype(str).to_numpy()
    cv = GroupKFold(n_splits=folds)
    proba = cross_val_predict(model, x, y, cv=cv, groups=groups, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, proba))
