"""Scores of where a model looks, against the ECG's anatomy (definitions: docs/interpretability.md).

Every score takes one record's attribution ``(12, n)`` (any method of
:mod:`ecgtriage.explain.attribute`) and boolean masks ``(12, n)`` built from the beat anatomy
(``ecgtriage.explain.anatomy``: segments ``P``, ``QRS``, ``STT``, ``baseline``):

* :func:`localisation`: share of the positive attribution mass inside the statement's defining
  region (segments ∩ leads, :func:`defining_region`) and on the isoelectric baseline (Suh et
  al. 2022, arXiv 2211.12702).
* :func:`pointing_game`: is the attribution maximum inside the defining region (ibid.).
* :func:`add_burst` + :func:`noise_attention`: the share of attribution that lands on a short
  muscle or electrode-motion burst, over the burst's share of the record (1 = chance).
* :func:`deletion_curves`: faithfulness; the target probability while the most-attributed
  windows are set to 0 mV first, against random windows; the area between the curves.
* :func:`randomised_model` + :func:`sanity_correlation`: Adebayo et al. 2018's
  model-parameter randomisation test.
* :func:`mean_ci`, :func:`paired_difference_ci`, :func:`attention_verdict`: patient-bootstrap
  summaries (``evaluate.bootstrap.bootstrap_statistic``) and the pre-set verdict rule.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from importlib import resources
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ecgtriage.errors import ConfigError
from ecgtriage.evaluate.bootstrap import bootstrap_statistic
from ecgtriage.explain.anatomy import SEGMENTS
from ecgtriage.leads import CANONICAL_LEADS

__all__ = [
    "SANITY_MAX_RHO", "ATTENTION_MARGIN", "defining_regions", "defining_region", "region_mask",
    "localisation", "pointing_game", "add_burst", "noise_attention", "deletion_curves",
    "randomised_model", "sanity_correlation", "mean_ci", "paired_difference_ci",
    "attention_verdict",
]

#: A method whose attributions keep a median Spearman correlation above this between the trained
#: and the randomised model is flagged (it explains the input more than the model) and not used
#: for the attention claim. Adebayo et al. 2018 judged by eye; 0.5 is our fixed cut.
SANITY_MAX_RHO = 0.5
#: Pre-set margin of the attention claim on the localisation difference (tier3 - aha44).
ATTENTION_MARGIN = 0.05



# ---- defining regions ----------------------------------------------------------------------


@lru_cache(maxsize=1)
def _regions_table() -> pd.DataFrame:
    with resources.files("ecgtriage.explain").joinpath("data/defining_regions.csv").open() as f:
        table = pd.read_csv(f, dtype=str, keep_default_na=False)
    for _, row in table.iterrows():
        for seg in row["segments"].split(";"):
            if seg not in SEGMENTS:
                raise ConfigError(f"explain/data/defining_regions.csv: code {row['aha_code']}: "
                                  f"segments: expected {SEGMENTS}, found {seg!r}")
        if row["leads"] != "all":
            for lead in row["leads"].split(";"):
                if lead not in CANONICAL_LEADS:
                    raise ConfigError(f"explain/data/defining_regions.csv: code {row['aha_code']}: "
                                      f"leads: unknown lead {lead!r}")
    return table


def defining_regions() -> pd.DataFrame:
    """The table ``aha_code, name, segments, leads, rationale`` (a copy)."""
    return _regions_table().copy()


def region_mask(anatomy: Mapping[str, np.ndarray], segments: Iterable[str], leads: Iterable[str] | str) -> np.ndarray:
    """(12, n) bool: the union of ``segments`` of the anatomy, restricted to ``leads``."""
    segs = list(segments)
    missing = [s for s in segs if s not in anatomy]
    if missing:
        raise ConfigError(f"anatomy: missing segment(s) {missing}; found {sorted(anatomy)}")
    mask = np.zeros_like(np.asarray(anatomy[segs[0]], dtype=bool))
    for s in segs:
        mask |= np.asarray(anatomy[s], dtype=bool)
    if leads != "all":
        keep = np.zeros(mask.shape[0], bool)
        keep[[CANONICAL_LEADS.index(lead) for lead in leads]] = True
        mask &= keep[:, None]
    return mask


def defining_region(aha_codes: Iterable[Any], anatomy: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """(12, n) bool union of the defining regions of a record's AHA codes; ``None`` when none of
    its codes has a row (normal records, rate-only statements)."""
    table = _regions_table().set_index("aha_code")
    mask = None
    for code in {str(c) for c in aha_codes}:
        if code not in table.index:
            continue
        row = table.loc[code]
        leads = "all" if row["leads"] == "all" else row["leads"].split(";")
        part = region_mask(anatomy, row["segments"].split(";"), leads)
        mask = part if mask is None else mask | part
    return mask


# ---- localisation --------------------------------------------------------------------------


def _check_pair(attr: np.ndarray, mask: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(attr, dtype=np.float64)
    m = np.asarray(mask, dtype=bool)
    if a.shape != m.shape:
        raise ValueError(f"{name}: attribution shape {a.shape} differs from mask shape {m.shape}")
    return a, m


def localisation(attr: np.ndarray, region: np.ndarray, baseline: np.ndarray) -> dict[str, float]:
    """Where the positive attribution mass lies.

    Returns
    -------
    dict with ``region`` (share of ``max(attr, 0)`` inside the defining region), ``baseline``
    (share on the isoelectric baseline), ``region_area`` (the region's share of the
    lead × time plane: the value a uniform attribution would get) and ``region_gain``
    (``region / region_area``; > 1 means concentrated on the region). NaN when there is no
    positive mass.
    """
    a, r = _check_pair(attr, region, "localisation")
    _, b = _check_pair(attr, baseline, "localisation")
    pos = np.clip(a, 0.0, None)
    total = pos.sum()
    area = r.mean()
    if total <= 0:
        return {"region": float("nan"), "baseline": float("nan"), "region_area": float(area),
                "region_gain": float("nan")}
    share = pos[r].sum() / total
    return {"region": float(share), "baseline": float(pos[b].sum() / total),
            "region_area": float(area), "region_gain": float(share / area) if area > 0 else float("nan")}


def pointing_game(attr: np.ndarray, region: np.ndarray) -> bool:
    """``True`` when the (lead, sample) of the largest attribution lies in the region."""
    a, r = _check_pair(attr, region, "pointing_game")
    return bool(r.flat[int(np.argmax(a))])


# ---- noise attention -----------------------------------------------------------------------


def add_burst(x: np.ndarray, fs: float, rng: np.random.Generator, *, kind: str = "muscle",
              duration_s: float = 1.0, amplitude_mv: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A clean (12, n) record plus one short localised artefact burst.

    The burst is generated by ``ecgtriage.signal.noise`` (``muscle_noise`` at a constant
    envelope, or ``electrode_motion`` with its single event) over ``duration_s`` and tapered
    with a Tukey window (no steps, which would add spurious low frequencies), then added at a
    random position. Default amplitudes: 0.15 mV RMS muscle, 0.8 mV electrode motion, visible
    but below a QRS, as in a typical noisy recording.

    Returns
    -------
    (noisy float32 (12, n), burst mask (12, n) bool: the burst's window in the leads it touches)
    """
    from scipy.signal.windows import tukey

    from ecgtriage.signal import noise as noisemod

    sig = np.asarray(x, dtype=np.float64)
    n_leads, n = sig.shape
    m = max(2, int(round(duration_s * fs)))
    if m >= n:
        raise ValueError(f"duration_s: a {duration_s} s burst does not fit a {n / fs:g} s record")
    if kind == "muscle":
        burst = noisemod.muscle_noise(m, fs, rng, n_leads, amplitude_mv=amplitude_mv or 0.15,
                                      continuous_fraction=1.0, burst_rate_hz=0.0)
    elif kind == "electrode_motion":
        burst = noisemod.electrode_motion(m, fs, rng, n_leads, amplitude_mv=amplitude_mv or 0.8,
                                          event_rate_hz=0.0, recovery_s=(0.2, 0.6))
    else:
        raise ConfigError(f"kind: expected 'muscle' or 'electrode_motion', found {kind!r}")
    burst = burst * tukey(m, 0.25)[None, :]
    start = int(rng.integers(0, n - m + 1))
    out = sig.copy()
    out[:, start:start + m] += burst
    mask = np.zeros((n_leads, n), bool)
    touched = np.abs(burst).max(axis=1) > 1e-9
    mask[touched, start:start + m] = True
    return out.astype(np.float32), mask


def noise_attention(attr: np.ndarray, burst: np.ndarray) -> dict[str, float]:
    """Share of ``|attr|`` on the burst, and that share over the burst's share of the record.

    Absolute values: a model that reacts to the artefact in either direction is attending to
    it. ``ratio`` = 1 is chance (attribution spread uniformly), > 1 the burst draws attention.
    """
    a, b = _check_pair(attr, burst, "noise_attention")
    mag = np.abs(a)
    total, area = mag.sum(), b.mean()
    if total <= 0 or area <= 0:
        return {"share": float("nan"), "area": float(area), "ratio": float("nan")}
    share = mag[b].sum() / total
    return {"share": float(share), "area": float(area), "ratio": float(share / area)}


# ---- faithfulness --------------------------------------------------------------------------


def _cells(attr: np.ndarray, w: int) -> np.ndarray:
    """(12, n_windows) attribution summed over non-overlapping windows of ``w`` samples."""
    n_leads, n = attr.shape
    n_win = -(-n // w)
    padded = np.zeros((n_leads, n_win * w))
    padded[:, :n] = attr
    return padded.reshape(n_leads, n_win, w).sum(axis=2)


def deletion_curves(score_fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, attr: np.ndarray,
                    fs: float, rng: np.random.Generator, *, window_s: float = 0.5, n_steps: int = 10,
                    n_random: int = 3) -> dict[str, Any]:
    """Deletion curves of one record (Suh et al. 2022's degradation test, after Samek 2017).

    The record is cut into (lead, ``window_s``) cells; cells are set to 0 mV (isoelectric, the
    IG and occlusion baseline) in order of decreasing summed attribution, and in ``n_random``
    random orders. ``score_fn`` maps (B, 12, n) inputs to the (B,) target probability.

    Returns
    -------
    dict with ``fractions`` (removed share of cells, 0..1), ``attributed`` and ``random`` curves
    (the latter averaged over orders), and ``area_between`` = ∫(random - attributed) d fraction:
    positive when removing what the method points at hurts the prediction more than chance.
    """
    sig = np.asarray(x, dtype=np.float32)
    w = max(1, int(round(window_s * fs)))
    cells = _cells(np.asarray(attr, dtype=np.float64), w)
    n_cells = cells.size
    orders = [np.argsort(-cells.ravel(), kind="stable")]
    orders += [rng.permutation(n_cells) for _ in range(n_random)]
    fractions = np.linspace(0.0, 1.0, n_steps + 1)
    batch = []
    n = sig.shape[1]
    for order in orders:
        for f in fractions:
            k = int(round(f * n_cells))
            keep = np.ones(n_cells, bool)
            keep[order[:k]] = False
            sample_keep = np.repeat(keep.reshape(cells.shape), w, axis=1)[:, :n]
            batch.append(sig * sample_keep)
    scores = np.asarray(score_fn(np.stack(batch)), dtype=np.float64).reshape(len(orders), -1)
    attributed, random = scores[0], scores[1:].mean(axis=0)
    area = float(np.trapezoid(random - attributed, fractions))
    return {"fractions": fractions.tolist(), "attributed": attributed.tolist(),
            "random": random.tolist(), "area_between": area}


# ---- sanity --------------------------------------------------------------------------------


def randomised_model(model: Any, seed: int, *, top_layers: int | None = None) -> Any:
    """A copy of ``model`` with re-initialised parameters (Adebayo et al. 2018).

    ``top_layers=None`` re-initialises every parameterised layer at once; ``k`` re-initialises
    only the ``k`` layers nearest the output (one step of the cascading test). Layers are
    re-drawn with their own ``reset_parameters`` (PyTorch's default initialisation for that
    layer type); batch-norm running statistics are reset too. The generator is seeded locally
    (``torch.random.fork_rng``), so the global RNG is untouched.
    """
    import torch

    clone = copy.deepcopy(model)
    layers = [m for m in clone.modules() if hasattr(m, "reset_parameters")
              and any(True for _ in m.parameters(recurse=False))]
    chosen = layers if top_layers is None else layers[len(layers) - top_layers:]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in chosen:
            m.reset_parameters()
            if hasattr(m, "reset_running_stats"):
                m.reset_running_stats()
    return clone.eval()


def sanity_correlation(a_trained: np.ndarray, a_random: np.ndarray) -> np.ndarray:
    """(N,) Spearman rank correlation of ``|attribution|`` per record, trained vs randomised.

    Absolute values as in Adebayo et al. 2018 (the sign of a map often flips under
    randomisation while its structure stays). High correlation = the method does not depend
    on what the model learned.
    """
    from scipy.stats import spearmanr

    a = np.abs(np.asarray(a_trained, dtype=np.float64)).reshape(len(a_trained), -1)
    b = np.abs(np.asarray(a_random, dtype=np.float64)).reshape(len(a_random), -1)
    if a.shape != b.shape:
        raise ValueError(f"sanity_correlation: shapes differ: {a.shape} vs {b.shape}")
    out = np.full(a.shape[0], np.nan)
    for i in range(a.shape[0]):
        if np.ptp(a[i]) > 0 and np.ptp(b[i]) > 0:
            out[i] = spearmanr(a[i], b[i]).statistic
    return out


# ---- bootstrap summaries -------------------------------------------------------------------


def _weighted_nanmean(values: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    vz = np.where(ok, v, 0.0)

    def stat(w: np.ndarray) -> np.ndarray:
        den = w @ ok.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, (w @ vz) / den, np.nan)

    return stat


def mean_ci(values: Sequence[float], patient_ids: Sequence[Any], *, n_boot: int = 1000,
            seed: int = 0) -> dict[str, Any]:
    """Mean of a per-record score (NaN ignored) with a patient-bootstrap 95 % CI."""
    return bootstrap_statistic(_weighted_nanmean(np.asarray(values)), patient_ids, n_boot=n_boot, seed=seed)


def paired_difference_ci(a: Sequence[float], b: Sequence[float], patient_ids: Sequence[Any], *,
                         n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Mean of ``a - b`` over the same records (paired), with a patient-bootstrap 95 % CI."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired_difference_ci: a has {a.shape}, b has {b.shape}: not paired")
    return mean_ci(a - b, patient_ids, n_boot=n_boot, seed=seed)


def attention_verdict(difference: Mapping[str, Any], margin: float = ATTENTION_MARGIN) -> str:
    """The pre-set rule for "tier models attend to clinically relevant features".

    ``difference`` is :func:`paired_difference_ci` of localisation (tier model - aha44 model).
    ``"supported"`` when the CI's lower bound exceeds ``margin``; ``"not supported"`` when its
    upper bound is below ``margin`` (the tier model is not better by the margin);
    ``"inconclusive"`` when the CI straddles the margin or is undefined.
    """
    low, high = difference.get("low"), difference.get("high")
    if low is None or high is None or not np.isfinite(low) or not np.isfinite(high):
        return "inconclusive"
    if low > margin:
        return "supported"
    if high < margin:
        return "not supported"
    return "inconclusive"
