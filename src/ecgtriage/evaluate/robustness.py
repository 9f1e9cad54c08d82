"""Robustness: graded, seeded corruptions of signal batches and degradation summaries.

Every corruption takes a batch ``x`` of shape (N, 12, T) in mV at sampling rate ``fs`` and
returns a new float32 array of the same shape; the input is never modified. Randomness comes
only from a generator seeded by ``(seed, corruption name, severity)``, so a corrupted test set
is identical across models and runs.

Noise corruptions use :mod:`ecgtriage.signal.noise` and fix the level per record with
``add_at_snr`` (SNR over all leads and samples of the record); records with zero power (e.g.
an all-zero padded record) are returned unchanged because an SNR is undefined for them.

Power-line interference and low sampling rates
----------------------------------------------
The cached signals are usually 100 Hz, produced by an anti-aliased resampler, and real
recorders filter before sampling too, so interference at or above the Nyquist frequency
``fs / 2`` cannot reach the model's input. The power-line corruptions therefore use the noise
module's anti-aliased model (``anti_alias=True``: harmonics at or above ``fs / 2`` dropped), and
where even the mains fundamental is at or above ``fs / 2`` (50 Hz and 60 Hz at fs = 100 Hz)
the corruption is **not applicable**: :func:`apply_corruption` raises
:class:`CorruptionNotApplicable` and :func:`evaluate_corruptions` records the severity row with
status ``not applicable`` and no value, instead of silently adding nothing or adding a
sign-alternating Nyquist sequence that no device would record.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

__all__ = [
    "Corruption",
    "CorruptionNotApplicable",
    "CORRUPTIONS",
    "SNR_LEVELS_DB",
    "apply_corruption",
    "corruption_rng",
    "evaluate_corruptions",
    "degradation_curves",
    "degradation_summary",
]

#: SNR levels of the noise corruptions, mildest first.
SNR_LEVELS_DB = (24.0, 18.0, 12.0, 6.0, 0.0)


class CorruptionNotApplicable(ValueError):
    """The corruption cannot be represented at this sampling rate."""


CorruptFn = Callable[[np.ndarray, float, float, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Corruption:
    """A registered corruption.

    ``fn(x, fs, severity, rng) -> corrupted``; ``severities`` are ordered mildest first;
    ``applicable(fs)`` returns ``None`` or the reason the corruption does not apply at ``fs``.
    """

    name: str
    severities: tuple[float, ...]
    unit: str
    description: str
    fn: CorruptFn = field(repr=False)
    applicable: Callable[[float], str | None] = field(default=lambda fs: None, repr=False)


def _check_batch(x: Any) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 3:
        raise ValueError(f"signals: expected shape (N, leads, T), found {arr.shape}")
    return arr.astype(np.float64)


def _noise_at_snr(kind: str, **params: Any) -> CorruptFn:
    def corrupt(x: np.ndarray, fs: float, snr_db: float, rng: np.random.Generator) -> np.ndarray:
        from ecgtriage.signal import noise

        gen = {
            "gaussian": noise.gaussian_noise,
            "baseline_wander": noise.baseline_wander,
            "muscle": noise.muscle_noise,
            "electrode_motion": noise.electrode_motion,
            "powerline": noise.powerline,
        }[kind]
        clean = _check_batch(x)
        out = clean.copy()
        n, leads, t = clean.shape
        for i in range(n):
            # Draw the noise even for silent records so later records get the same noise
            # whatever the earlier records contain.
            nz = gen(t, fs, rng, n_leads=leads, **params)
            if np.any(clean[i]):
                out[i] = noise.add_at_snr(clean[i], nz, snr_db)
        return out.astype(np.float32)

    return corrupt


def _powerline_applicable(mains_hz: float) -> Callable[[float], str | None]:
    def check(fs: float) -> str | None:
        if mains_hz >= fs / 2:
            return (
                f"{mains_hz:g} Hz mains is at or above the Nyquist frequency ({fs / 2:g} Hz) of "
                f"fs={fs:g} Hz; an anti-aliased recording at this rate holds no mains interference"
            )
        return None

    return check


def _missing_leads(x: np.ndarray, fs: float, k: float, rng: np.random.Generator) -> np.ndarray:
    out = _check_batch(x)
    n, leads, _ = out.shape
    k = int(k)
    if not 0 <= k <= leads:
        raise ValueError(f"missing leads: expected 0..{leads}, found {k}")
    for i in range(n):
        out[i, rng.choice(leads, size=k, replace=False)] = 0.0
    return out.astype(np.float32)


def _scale(x: np.ndarray, fs: float, factor: float, rng: np.random.Generator) -> np.ndarray:
    return (_check_batch(x) * factor).astype(np.float32)


def _shift_samples(fs: float, seconds: float, t: int) -> int:
    k = int(round(seconds * fs))
    if abs(k) >= t:
        raise ValueError(f"time shift: {seconds:g} s = {k} samples is not shorter than the record ({t})")
    return k


def _circular_shift(x: np.ndarray, fs: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    arr = _check_batch(x)
    return np.roll(arr, _shift_samples(fs, seconds, arr.shape[-1]), axis=-1).astype(np.float32)


def _padded_shift(x: np.ndarray, fs: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    arr = _check_batch(x)
    k = _shift_samples(fs, seconds, arr.shape[-1])
    out = np.zeros_like(arr)
    if k >= 0:
        out[..., k:] = arr[..., : arr.shape[-1] - k]
    else:
        out[..., :k] = arr[..., -k:]
    return out.astype(np.float32)


def _snr_entry(name: str, kind: str, description: str, **params: Any) -> Corruption:
    return Corruption(name, SNR_LEVELS_DB, "dB SNR", description, _noise_at_snr(kind, **params))


#: Registry: name → :class:`Corruption` (severities mildest first).
CORRUPTIONS: dict[str, Corruption] = {
    c.name: c
    for c in (
        _snr_entry("gaussian", "gaussian", "white Gaussian noise"),
        _snr_entry("baseline_wander", "baseline_wander", "respiration + drift below ~0.5 Hz"),
        _snr_entry("muscle", "muscle", "EMG bursts, mostly above 20 Hz"),
        _snr_entry("electrode_motion", "electrode_motion", "step-like transients with recovery"),
        Corruption(
            "powerline_50hz", SNR_LEVELS_DB, "dB SNR", "50 Hz mains + harmonics (anti-aliased)",
            _noise_at_snr("powerline", mains_hz=50.0, anti_alias=True), _powerline_applicable(50.0),
        ),
        Corruption(
            "powerline_60hz", SNR_LEVELS_DB, "dB SNR", "60 Hz mains + harmonics (anti-aliased)",
            _noise_at_snr("powerline", mains_hz=60.0, anti_alias=True), _powerline_applicable(60.0),
        ),
        Corruption("missing_leads", (1, 2, 3, 4, 5, 6), "leads zeroed",
                   "k randomly chosen leads per record set to 0", _missing_leads),
        Corruption("amplitude_gain", (1.25, 1.5, 2.0), "x", "all leads multiplied by the factor", _scale),
        Corruption("amplitude_attenuation", (0.8, 0.67, 0.5), "x", "all leads multiplied by the factor", _scale),
        Corruption("time_shift_circular", (0.25, 0.5, 1.0, 2.0), "s",
                   "delay by the given seconds, wrapping around (np.roll)", _circular_shift),
        Corruption("time_shift_padded", (0.25, 0.5, 1.0, 2.0), "s",
                   "delay by the given seconds, zero-filling the start", _padded_shift),
    )
}


def corruption_rng(seed: int, name: str, severity: float) -> np.random.Generator:
    """The generator used for ``(seed, name, severity)``: stable across runs and processes."""
    tags = [int(seed), zlib.crc32(name.encode()), zlib.crc32(repr(float(severity)).encode())]
    return np.random.default_rng(np.random.SeedSequence(tags))


def apply_corruption(x: Any, name: str, severity: float, fs: float, seed: int) -> np.ndarray:
    """Corrupt a batch (N, 12, T) with a registered corruption; deterministic by ``seed``.

    Raises
    ------
    KeyError
        Unknown corruption name (the message lists the registered ones).
    CorruptionNotApplicable
        The corruption does not exist at this ``fs`` (see the module notes).
    """
    if name not in CORRUPTIONS:
        raise KeyError(f"corruption: expected one of {sorted(CORRUPTIONS)}, found {name!r}")
    corruption = CORRUPTIONS[name]
    reason = corruption.applicable(fs)
    if reason is not None:
        raise CorruptionNotApplicable(f"{name}: {reason}")
    return corruption.fn(x, fs, severity, corruption_rng(seed, name, severity))


def evaluate_corruptions(
    signals: Any,
    fs: float,
    predict: Callable[[np.ndarray], np.ndarray],
    score: Callable[[np.ndarray], Mapping[str, float] | float],
    *,
    seed: int,
    names: Sequence[str] | None = None,
    batch_size: int = 256,
) -> pd.DataFrame:
    """Score a model on every corruption and severity (and clean), as a long table.

    Parameters
    ----------
    signals : (N, 12, T) array (e.g. the test rows of the cache; read in batches)
    fs : sampling rate of ``signals``
    predict : ``predict(batch) -> proba`` (e.g. ``lambda b: predict_proba(model, b)``)
    score : ``score(proba of all N records) -> float or {metric: float}``
    seed : corruption seed (same for every model compared)
    names : corruptions to run (default: all registered)
    batch_size : records corrupted and predicted at once

    Returns
    -------
    DataFrame
        ``corruption, severity, unit, rank`` (0 = clean, 1.. = mildest..most severe),
        ``status`` (``ok`` or ``not applicable: <reason>``) and one column per metric.
    """
    x = signals
    n = len(x)

    def run(transform: Callable[[np.ndarray], np.ndarray]) -> dict[str, float]:
        parts = [predict(transform(np.asarray(x[i : i + batch_size], dtype=np.float32)))
                 for i in range(0, n, batch_size)]
        value = score(np.concatenate(parts, axis=0))
        return dict(value) if isinstance(value, Mapping) else {"value": float(value)}

    rows = [{"corruption": "clean", "severity": np.nan, "unit": "", "rank": 0, "status": "ok",
             **run(lambda b: b)}]
    selected = list(names) if names is not None else list(CORRUPTIONS)
    jobs = [(c, r, s) for c in selected for r, s in enumerate(CORRUPTIONS[c].severities, start=1)]
    for cname, rank, sev in tqdm(jobs, desc="corruptions", disable=None):
        corruption = CORRUPTIONS[cname]
        base = {"corruption": cname, "severity": sev, "unit": corruption.unit, "rank": rank}
        reason = corruption.applicable(fs)
        if reason is not None:
            rows.append({**base, "status": f"not applicable: {reason}"})
            continue
        # One generator per (corruption, severity), consumed batch after batch in record
        # order: the result equals apply_corruption on the whole array at once.
        rng = corruption_rng(seed, cname, sev)
        rows.append({**base, "status": "ok",
                     **run(lambda b, c=corruption, s=sev, g=rng: c.fn(b, fs, s, g))})
    return pd.DataFrame(rows)


def degradation_curves(
    results: pd.DataFrame, metric: str, *, group_by: Sequence[str] = ("scheme",)
) -> pd.DataFrame:
    """Degradation curves: ``results`` plus ``clean`` and ``relative`` (metric / clean metric).

    ``results`` holds :func:`evaluate_corruptions` rows of one or several models (identified by
    the ``group_by`` columns), each with its ``clean`` row. Plot ``relative`` (or ``metric``)
    against ``rank`` or ``severity`` per corruption; rows that are not applicable keep NaN.
    """
    keys = list(group_by)
    missing = [c for c in [*keys, "corruption", metric] if c not in results.columns]
    if missing:
        raise ValueError(f"results: expected columns {missing} (missing)")
    clean = results[results["corruption"] == "clean"]
    n_models = len(results.drop_duplicates(keys)) if keys else 1
    if len(clean) != n_models or (keys and clean.duplicated(keys).any()):
        raise ValueError(f"results: expected one clean row per model ({n_models}), found {len(clean)}")
    if keys:
        ref = clean[keys + [metric]].rename(columns={metric: "clean"})
        out = results.merge(ref, on=keys, how="left", validate="many_to_one")
    else:
        out = results.assign(clean=float(clean[metric].iloc[0]))
    out["relative"] = out[metric] / out["clean"].where(out["clean"] != 0)
    return out


def degradation_summary(
    results: pd.DataFrame, metric: str, *, group_by: Sequence[str] = ("scheme",)
) -> pd.DataFrame:
    """Normalised area under the degradation curve per model and corruption.

    Definition: for a corruption with severities ranked 1..K (mildest first) and the clean
    metric ``m_0`` at rank 0, the curve is ``m_k / m_0`` against rank ``k``; the summary is its
    trapezoidal area divided by K::

        AUC_norm = (1 / K) * sum_{k=1..K} (m_{k-1} + m_k) / (2 m_0)

    Ranks (not raw severities) are the x axis so that corruptions in different units (dB,
    leads, seconds) compare. 1 means no degradation, 0.5 a linear fall to zero at the most
    severe level; values above 1 mean the metric rose.

    Parameters
    ----------
    results : DataFrame
        Rows of :func:`evaluate_corruptions` for one or several models, with the columns in
        ``group_by`` (e.g. ``scheme``) identifying the model, including each model's
        ``corruption == "clean"`` row.
    metric : column to summarise.

    Returns
    -------
    DataFrame
        ``*group_by, corruption, metric, clean, auc_normalised, at_worst`` (metric at the most
        severe level divided by clean), ``n_severities``, ``status`` (``ok``, ``not
        applicable`` or ``clean metric is zero``).
    """
    keys = list(group_by)
    missing = [c for c in [*keys, "corruption", "rank", "status", metric] if c not in results.columns]
    if missing:
        raise ValueError(f"results: expected columns {missing} (missing)")
    rows = []
    for key_vals, model in results.groupby(keys, sort=True) if keys else [((), results)]:
        key_vals = key_vals if isinstance(key_vals, tuple) else (key_vals,)
        ident = dict(zip(keys, key_vals))
        clean_rows = model[model["corruption"] == "clean"]
        if len(clean_rows) != 1:
            raise ValueError(f"results: expected one clean row for {ident}, found {len(clean_rows)}")
        m0 = float(clean_rows[metric].iloc[0])
        for cname, cur in model[model["corruption"] != "clean"].groupby("corruption", sort=False):
            cur = cur.sort_values("rank")
            row = {**ident, "corruption": cname, "metric": metric, "clean": m0,
                   "n_severities": int(len(cur))}
            if not (cur["status"] == "ok").all():
                rows.append({**row, "auc_normalised": np.nan, "at_worst": np.nan,
                             "status": "not applicable"})
                continue
            if m0 == 0 or np.isnan(m0):
                rows.append({**row, "auc_normalised": np.nan, "at_worst": np.nan,
                             "status": "clean metric is zero"})
                continue
            rel = np.concatenate(([1.0], cur[metric].to_numpy(dtype=np.float64) / m0))
            auc = float(((rel[:-1] + rel[1:]) / 2).sum() / (rel.size - 1))
            rows.append({**row, "auc_normalised": auc, "at_worst": float(rel[-1]), "status": "ok"})
    return pd.DataFrame(rows)
