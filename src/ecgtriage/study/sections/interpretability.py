"""Where each model looks: anatomy scores of attributions per model and clean test set.

For a fixed, seeded sample of each clean test set (``EvaluationConfig.explain_sample`` records
that carry at least one statement with a defining region, ``explain/data/defining_regions.csv``)
every model's probability of the record's own label (its tier class; for aha44 the largest
probability among its true codes; the Serious score where a record has none) is attributed
with each method in ``explain_methods``, and scored (docs/interpretability.md): localisation on
the record's defining region and on the baseline, the pointing game, noise attention to a 1 s
muscle or electrode-motion burst, deletion-curve faithfulness, and the parameter-randomisation
sanity check. Beat
anatomy comes from the simulator's fiducials on a synthetic corpus and from NeuroKit2 on real
records. The attention claim is judged by the pre-set rule of
``explain.scores.attention_verdict`` on the paired (same records) patient-bootstrap difference
of localisation, tier3 minus aha44, on the internal test set, with a method that passed the
sanity check.
"""

from __future__ import annotations

import base64
import time
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import numpy as np


__all__ = ["interpretability_section"]

_SANITY_RECORDS = 8
#: Deletion curves cost (1 + n_random) x (n_steps + 1) forward passes per record, most of the
#: section's time: they run on the first 16 sampled records, 4 steps, 1 random order.
_FAITH_RECORDS = 16
_BURSTS = ("muscle", "electrode_motion")


def _sample(ts, statements, n: int, seed: int) -> tuple[list[str], dict[str, list[str]]]:
    from ecgtriage.explain.scores import defining_regions

    table = statements.get(ts.dataset, ts.record_ids)
    known = set(defining_regions()["aha_code"])
    codes: dict[str, list[str]] = {}
    for rid, code in zip(table["record_id"].astype(str), table["aha_code"]):
        if code is not None and not (isinstance(code, float) and np.isnan(code)) and str(code) in known:
            codes.setdefault(rid, []).append(str(code))
    eligible = [r for r in ts.record_ids if str(r) in codes]
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(eligible, size=min(n, len(eligible)), replace=False).tolist()) if eligible else []
    return [str(r) for r in chosen], codes


def _anatomy(ts, rid: str, x: np.ndarray, fs: float, n_model: int, synthetic: bool) -> tuple[dict, str]:
    from ecgtriage.explain import anatomy as anat

    cache = ts.dataset.cache
    if synthetic:
        try:
            row = cache.index.set_index(cache.index["record_id"].astype(str)).loc[rid]
            offset = anat.study_offset(int(row["n_samples_source"]), float(row["fs_source"]),
                                       None, n_model)
            return anat.load_corpus_anatomy(ts.dataset.source, rid, n_model, fs, offset), "simulator"
        except Exception:  # noqa: BLE001 - a corpus without fiducials falls back to NeuroKit2
            pass
    # Lead II timing for every lead: 25x faster than per-lead delineation (0.08 s vs 2 s per
    # record on one core) and the study runs it for every sampled record.
    return anat.delineate(x, fs, per_lead=False), "neurokit2"


def _true_mask(targets, ts, scheme: str, ids: list[str], card, fallback: np.ndarray) -> tuple[np.ndarray, str]:
    """(N, C) bool: each record's own label(s) in the model's scheme (the evidence the defining
    region is about); records without a determinable, non-empty label get ``fallback``."""
    c = len(card.classes)
    out = np.broadcast_to(fallback, (len(ids), c)).copy()
    if targets is None:
        return out, "serious"
    try:
        y = np.asarray(targets.y(ts.dataset, scheme, ids))
        known = np.asarray(targets.known(ts.dataset, scheme, ids), bool)
    except Exception:  # noqa: BLE001 - a scheme the data set cannot label: the Serious score
        return out, "serious"
    hot = (y > 0.5) if y.ndim == 2 else (np.eye(c, dtype=bool)[np.clip(y, 0, c - 1)] & (y >= 0)[:, None])
    ok = known & hot.any(axis=1)
    out[ok] = hot[ok]
    return out, "true label"


def interpretability_section(cells: Sequence[Any], clean: Sequence[Any], predictions: Any,
                             statements: Any, evaluation: Any, synthetic: bool = False,
                             figures: int = 1, targets: Any = None) -> dict[str, Any]:
    """Scores per (model, test set, method) with CIs, sanity per method, the claim's verdict,
    and ``figures`` example figures per model (PNG data URIs) on the internal test set.

    The target of each record is its own label in the model's scheme (``targets``, a
    ``StudyTargets``): the tier class for a tier model, the largest probability among its true
    codes for aha44, so every model is asked for the evidence of the finding the defining
    region describes. Without ``targets`` (or for records without a label) the Serious score.

    Returns ``{"rows": [...], "sanity": [...], "verdict": {...}, "examples": [...],
    "seconds": float}``; ``{"skipped": reason}`` when ``explain_sample`` is 0 or captum is absent.
    """
    t0 = time.perf_counter()
    n = int(getattr(evaluation, "explain_sample", 0) or 0)
    methods = list(getattr(evaluation, "explain_methods", ["gradcam"]))
    if n <= 0:
        return {"skipped": "explain_sample is 0"}
    try:
        import captum  # noqa: F401
    except ImportError:
        return {"skipped": "captum is not installed (pip install ecgtriage[explain])"}
    from ecgtriage.explain import attribute as A
    from ecgtriage.explain import scores as S
    from ecgtriage.explain.figure import attribution_figure
    from ecgtriage.study.predict import load_signals
    from ecgtriage.train.checkpoint import load_checkpoint

    seed = int(evaluation.seed)
    n_boot = int(evaluation.bootstrap)
    rows, sanity, examples, per_record = [], [], [], {}
    models = {cell.id: load_checkpoint(cell.run_dir) for cell in cells}
    for ts in clean:
        ids, codes = _sample(ts, statements, n, seed)
        if not ids:
            continue
        fs = float(ts.dataset.cache.fs)
        x_all = load_signals(ts, ids)
        index = ts.dataset.cache.index
        pids = index.set_index(index["record_id"].astype(str)).loc[ids, "patient_id"].astype(str).tolist()
        prepared: dict[int, tuple] = {}  # per model window length: inputs, anatomy, noisy copies
        for cell in cells:
            model, card = models[cell.id]
            try:
                serious = A.serious_mask(card)
            except Exception:  # noqa: BLE001 - a scheme without a Serious score is not scored
                continue
            mask, target_kind = _true_mask(targets, ts, cell.scheme, ids, card, serious)
            # A model validated with sliding windows reads the whole record (attribute explains
            # its best window, zero elsewhere); anatomy then sees every beat, not 2.5 s of them.
            length = x_all.shape[2] if getattr(model, "window_protocol", None) else card.n_samples
            if length not in prepared:
                start = (x_all.shape[2] - length) // 2
                xw = np.ascontiguousarray(x_all[:, :, start:start + length])
                an = [_anatomy(ts, rid, xw[i], fs, length, synthetic) for i, rid in enumerate(ids)]
                burst_rng = np.random.default_rng(seed)
                # Muscle bursts on even, electrode-motion bursts on odd records.
                nz, bu = zip(*(S.add_burst(xw[i], fs, burst_rng, kind=_BURSTS[i % 2])
                               for i in range(len(ids))))
                prepared[length] = (xw, an, np.stack(nz), bu)
            x, anats, noisy, bursts = prepared[length]
            rng = np.random.default_rng(seed)

            def score_fn(batch, row, _m=model, _c=card, _k=mask):
                """The target probability of record ``row``'s variants (deletion curves)."""
                return A.target_probability(_m, batch, _k[row], card=_c)

            for method in methods:
                a = A.attribute(method, model, x, mask, card=card)
                a_noisy = A.attribute(method, model, noisy, mask, card=card)
                loc, point, noise, faith = [], [], [], []
                for i, rid in enumerate(ids):
                    masks, _src = anats[i]
                    region = S.defining_region(codes[rid], masks)
                    if region is None or not region.any() or not np.asarray(masks["baseline"]).any():
                        loc.append({"region": np.nan, "baseline": np.nan, "region_gain": np.nan})
                        point.append(np.nan)
                    else:
                        loc.append(S.localisation(a[i], region, np.asarray(masks["baseline"], bool)))
                        # No positive mass (e.g. a ReLU'd Grad-CAM of an absent class): no maximum.
                        point.append(float(S.pointing_game(a[i], region))
                                     if np.isfinite(loc[-1]["region"]) else np.nan)
                    noise.append(S.noise_attention(a_noisy[i], bursts[i])["ratio"])
                    faith.append(S.deletion_curves(partial(score_fn, row=i), x[i], a[i], fs, rng,
                                                   n_steps=4, n_random=1)["area_between"]
                                 if i < _FAITH_RECORDS else np.nan)
                region_share = [r["region"] for r in loc]
                per_record[(ts.name, cell.scheme, cell.seed, method)] = (ids, pids, region_share)
                rows.append({
                    "test_set": ts.name, "scheme": cell.scheme, "seed": cell.seed, "method": method,
                    "target": target_kind,
                    "n_records": len(ids), "anatomy": sorted({src for _, src in anats}),
                    "localisation": S.mean_ci(region_share, pids, n_boot=n_boot, seed=seed),
                    "baseline_share": S.mean_ci([r["baseline"] for r in loc], pids, n_boot=n_boot, seed=seed),
                    "region_gain": S.mean_ci([r["region_gain"] for r in loc], pids, n_boot=n_boot, seed=seed),
                    "pointing_game": S.mean_ci(point, pids, n_boot=n_boot, seed=seed),
                    "noise_attention": S.mean_ci(noise, pids, n_boot=n_boot, seed=seed),
                    **{f"noise_attention_{kind}": S.mean_ci(
                        [v if i % 2 == k else np.nan for i, v in enumerate(noise)], pids,
                        n_boot=n_boot, seed=seed) for k, kind in enumerate(_BURSTS)},
                    "faithfulness": S.mean_ci(faith, pids, n_boot=n_boot, seed=seed),
                })
                if ts.kind == "internal":
                    k = min(_SANITY_RECORDS, len(ids))
                    rand = S.randomised_model(model, seed)
                    rho = S.sanity_correlation(a[:k], A.attribute(method, rand, x[:k], mask[:k], card=card))
                    med = float(np.nanmedian(rho)) if np.isfinite(rho).any() else float("nan")
                    sanity.append({"scheme": cell.scheme, "seed": cell.seed, "method": method,
                                   "median_rho": med, "n_records": k,
                                   "note": "" if np.isfinite(med) else "attributions are all zero",
                                   "passed": bool(np.isfinite(med) and med < S.SANITY_MAX_RHO)})
                    if len([e for e in examples if e["cell"] == cell.id]) < figures:
                        examples.append(_example(attribution_figure, cell, ts, ids[0], x[0], a[0], fs,
                                                 method, A.target_probability(model, x[:1], mask[:1], card=card)[0]))
    verdict = _verdict(per_record, sanity, seed, n_boot)
    return {"rows": rows, "sanity": sanity, "verdict": verdict, "examples": examples,
            "target": "true label (Serious score where none)", "margin": S.ATTENTION_MARGIN, "sanity_max_rho": S.SANITY_MAX_RHO,
            "seconds": time.perf_counter() - t0}


def _example(draw, cell, ts, rid, x, a, fs, method, p) -> dict[str, Any]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "example.png"
        draw(x, a, fs, path, title=f"{cell.scheme} model · {ts.name} record {rid} · {method} · "
             f"P(target)={p:.2f}", dpi=70)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    return {"cell": cell.id, "scheme": cell.scheme, "test_set": ts.name, "record_id": rid,
            "method": method, "png": f"data:image/png;base64,{data}"}


def _verdict(per_record, sanity, seed: int, n_boot: int) -> dict[str, Any]:
    from ecgtriage.explain import scores as S

    passed = {(s["scheme"], s["seed"], s["method"]) for s in sanity if s["passed"]}
    criterion = (f"paired patient-bootstrap difference of localisation (tier3 - aha44, same "
                 f"records, internal test set): supported if the 95% CI lower bound > "
                 f"{S.ATTENTION_MARGIN}, not supported if its upper bound < {S.ATTENTION_MARGIN}, "
                 "else inconclusive; methods failing the sanity check are not used")
    for (ts, scheme, s, method), (ids, pids, tier) in sorted(per_record.items()):
        if ts != "internal" or scheme != "tier3" or (scheme, s, method) not in passed:
            continue
        other = per_record.get((ts, "aha44", s, method))
        if other is None or ("aha44", s, method) not in passed:
            continue
        diff = S.paired_difference_ci(tier, other[2], pids, n_boot=n_boot, seed=seed)
        if diff.get("estimate") is None or diff.get("low") is None:
            return {"verdict": "not testable", "difference": diff, "method": method, "seed": s,
                    "criterion": criterion, "reason": "no record has a defining region and "
                    "attribution mass under both models"}
        return {"verdict": S.attention_verdict(diff), "difference": diff, "method": method,
                "seed": s, "criterion": criterion}
    return {"verdict": "not testable", "difference": None, "method": None, "criterion": criterion,
            "reason": "no tier3 and aha44 pair with a method that passed the sanity check"}
