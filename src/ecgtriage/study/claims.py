"""The headline table and the verdict on each published claim, computed from the scores.

Every verdict follows a criterion fixed before looking (the margins below), stated beside it,
so a reader can disagree with the criterion rather than with an opaque judgement. Verdicts:
``supported``, ``not supported``, ``inconclusive`` (the interval cannot separate the
alternatives: a wide interval is never "supported") and ``not testable`` (this run lacks what
the claim needs, with the reason). Comparisons between schemes use paired patient-bootstrap
differences on the same records (``sections.comparison``), never two marginal intervals.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from ecgtriage.evaluate.intervals import (equivalence_verdict, seed_spread_ci,
                                          superiority_verdict)
from ecgtriage.evaluate.reference import PUBLISHED

#: "About 2 %": the tier3 − tier4 macro-F1 gap is equivalent to the published gap within
#: this margin (so the interval must lie inside [gap − margin, gap + margin]).
TIER4_GAP_MARGIN = 0.03
#: A published value is reproduced when this run's interval minus it lies inside ± this.
PUBLISHED_MARGIN = 0.05
#: A rare code is "discriminated" when its AUROC's lower bound exceeds this.
RARE_AUROC_FLOOR = 0.6


def _val(ci: Any) -> float:
    if isinstance(ci, dict):
        ci = ci.get("value")
    return float("nan") if ci is None else float(ci)


def _mean_ci(cis: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Mean over seeds with an interval that includes the spread between seeds.

    One seed: its own interval. Several: the half-widths of the mean per-seed interval
    (test-sample variation) and of a t prediction interval across seeds (training
    variation, ``seed_spread_ci``) added in quadrature on each side.
    """
    cis = [c for c in cis if c is not None and not math.isnan(_val(c))]
    if not cis:
        return None
    values = [_val(c) for c in cis]
    mean = sum(values) / len(values)
    if len(cis) == 1:
        return {"value": mean, "lo": cis[0].get("lo"), "hi": cis[0].get("hi"), "n_seeds": 1}
    spread = seed_spread_ci(values)
    if any(c.get("lo") is None or c.get("hi") is None for c in cis):
        return {"value": mean, "lo": spread["low"], "hi": spread["high"],
                "n_seeds": len(values), "seed_sd": spread["sd"]}
    between = spread["high"] - mean
    below = sum(_val(c) - float(c["lo"]) for c in cis) / len(cis)
    above = sum(float(c["hi"]) - _val(c) for c in cis) / len(cis)
    return {"value": mean, "lo": mean - math.hypot(below, between),
            "hi": mean + math.hypot(above, between), "n_seeds": len(values),
            "seed_sd": spread["sd"]}


#: (scheme, test set, view) → score entries (one per seed).
Lookup = dict[tuple[str, str, str], list[dict[str, Any]]]


def score_lookup(scores: list[dict[str, Any]]) -> Lookup:
    """(scheme, test set, view) → score entries (one per seed)."""
    out: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for s in scores:
        out[(s["scheme"], s["test_set"], s["view"])].append(s)
    return out


def metric_ci(lookup: Lookup, scheme: str, test_set: str, view: str, metric: str) -> dict | None:
    return _mean_ci([s["metrics"].get(metric) for s in lookup.get((scheme, test_set, view), [])])


def headline(scores: list[dict[str, Any]], schemes: list[str], internal: str,
             externals: list[str]) -> list[dict[str, Any]]:
    """Per scheme: internal macro-F1 and external accuracy (native classes), mean over seeds."""
    lookup = score_lookup(scores)
    return [
        {
            "scheme": scheme,
            "internal_f1": metric_ci(lookup, scheme, internal, "native", "macro_f1"),
            "external_accuracy": {e: metric_ci(lookup, scheme, e, "native", "accuracy")
                                  for e in externals},
            "internal_tier3_f1": metric_ci(lookup, scheme, internal, "tier3", "macro_f1"),
            "external_tier3_accuracy": {e: metric_ci(lookup, scheme, e, "tier3", "accuracy")
                                        for e in externals},
        }
        for scheme in schemes
    ]


def claims(scores: list[dict[str, Any]], schemes: list[str], internal: str,
           externals: list[str], *, comparison: list[dict[str, Any]] | None = None,
           rare_codes: dict[str, list[dict[str, Any]]] | None = None,
           published_testable: str | None = "not an SPH → PTB-XL run",
           attention: dict[str, str] | None = None) -> list[dict[str, str]]:
    """Verdicts on the reference study's claims, in the order the paper makes them.

    Parameters
    ----------
    comparison : ``sections.comparison`` output (paired differences per test set).
    rare_codes : external test set → the aha44 model on each rare code
        (``sections.rare_unseen.rare_code_rows``).
    published_testable : ``None`` when the run is the published setting (trained on real
        SPH, tested on real PTB-XL), else the reason the published values cannot be judged.
    attention : the attention claim's verdict, when an attribution analysis ran.
    """
    lookup = score_lookup(scores)
    by_set = {c["test_set"]: c for c in comparison or []}
    ext = externals[0] if externals else None
    return [
        _tier3_generalises_best(by_set.get(ext) if ext else None, schemes, ext),
        *_published_values(lookup, internal, ext, published_testable),
        _aha44_fails_on_rare(schemes, ext, rare_codes or {}),
        _tier4_gap(by_set.get(internal)),
        attention or _claim(
            "Tier models attend to clinically relevant waveform parts, fine-grained ones to "
            "noise", "attributions are not computed by this study",
            "needs an attribution analysis (relevance of QRS/ST-T versus noise per scheme)",
            "not testable"),
    ]


def _fmt(ci: dict | None) -> str:
    if ci is None or math.isnan(_val(ci)):
        return "n/a"
    if ci.get("lo") is None or ci.get("hi") is None:
        return f"{_val(ci):.3f}"
    return f"{_val(ci):.3f} ({float(ci['lo']):.3f}–{float(ci['hi']):.3f})"


def _fmt_diff(d: dict[str, Any]) -> str:
    return f"{d['difference']:+.3f} ({d['low']:+.3f} to {d['high']:+.3f})"


def _oriented(d: dict[str, Any], first: str) -> dict[str, Any]:
    """A paired difference as ``first − other`` (the comparison stores ``a − b``)."""
    if d["a"] == first:
        return d
    return {**d, "a": d["b"], "b": d["a"], "difference": -d["difference"],
            "low": -d["high"], "high": -d["low"]}


def _tier3_generalises_best(comp: dict[str, Any] | None, schemes: list[str], ext: str | None
                            ) -> dict[str, str]:
    """Paired external 3-tier accuracy difference, tier3 minus every other learned row."""
    claim = "The 3-tier model generalises best (highest external accuracy)"
    criterion = ("paired patient-bootstrap difference of external 3-tier accuracy (default "
                 "targets), tier3 − each other model on the same records: supported if every "
                 "interval lies above 0, not supported if any lies below 0, else inconclusive")
    if ext is None or comp is None or "tier3" not in schemes or len(schemes) < 2:
        return _claim(claim, "no external test set or no tier3/other scheme", criterion,
                      "not testable")
    diffs = [_oriented(d, "tier3") for d in comp["differences"]
             if d["target"] == "default" and d["metric"] == "accuracy"
             and "tier3" in (d["a"], d["b"])]
    diffs = [d for d in diffs if d.get("low") is not None and d.get("high") is not None]
    if not diffs:
        return _claim(claim, "no paired difference could be computed", criterion,
                      "not testable")
    verdicts = [superiority_verdict(d, 0.0) for d in diffs]
    observed = "; ".join(f"tier3 − {d['b']} {_fmt_diff(d)}" for d in diffs)
    verdict = ("supported" if all(v == "supported" for v in verdicts) else
               "not supported" if "not supported" in verdicts else "inconclusive")
    return _claim(claim, f"{ext}: {observed}", criterion, verdict)


def _published_values(lookup: Lookup, internal: str, ext: str | None,
                      published_testable: str | None) -> list[dict[str, str]]:
    """The published tier3 values: equivalent to this run's within a pre-set margin?"""
    tier3 = PUBLISHED["tier3"]
    out = []
    for label, test_set, metric, published in (
        (f"3-tier internal macro-F1 is {tier3.internal_f1:g}", internal, "macro_f1",
         tier3.internal_f1),
        (f"3-tier external accuracy is {100 * tier3.external_accuracy:g} %", ext, "accuracy",
         tier3.external_accuracy),
    ):
        criterion = (f"judged only on an SPH → PTB-XL run; supported if this run's 95 % CI "
                     f"minus {published:g} lies inside ±{PUBLISHED_MARGIN:g}, not supported "
                     f"if it lies entirely outside, else inconclusive")
        if published_testable is not None:
            out.append(_claim(label, published_testable, criterion, "not testable"))
            continue
        ci = metric_ci(lookup, "tier3", test_set, "native", metric) if test_set else None
        if ci is None or ci.get("lo") is None:
            out.append(_claim(label, "no interval for this run", criterion, "not testable"))
            continue
        diff = {"low": float(ci["lo"]) - published, "high": float(ci["hi"]) - published}
        verdict = equivalence_verdict(diff, PUBLISHED_MARGIN)
        out.append(_claim(label, f"{test_set}: {_fmt(ci)}", criterion, verdict))
    return out


def _aha44_fails_on_rare(schemes: list[str], ext: str | None,
                         rare_codes: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    label = "The 44-class model scores F1 = 0 on rare conditions externally"
    criterion = (f"per rare training code (< 0.5 % of training records) with external "
                 f"positives: F1 at the model's threshold and AUROC. Supported if every code "
                 f"has F1 = 0 and none has an AUROC lower bound above {RARE_AUROC_FLOOR:g} (it "
                 f"fails to discriminate, not only to cross its threshold); not supported if "
                 f"at least half have F1 > 0 or an AUROC lower bound above "
                 f"{RARE_AUROC_FLOOR:g}; else inconclusive")
    rows = rare_codes.get(ext, []) if ext else []
    if "aha44" not in schemes or not rows:
        return _claim(label, "no rare statement with external positives", criterion,
                      "not testable")
    f1_pos = sum(r["f1"] > 0 for r in rows)
    discriminated = sum((r.get("auroc") or {}).get("lo") is not None
                        and r["auroc"]["lo"] > RARE_AUROC_FLOOR for r in rows)
    observed = (f"{ext}: {len(rows)} rare codes, {f1_pos} with F1 > 0, {discriminated} with "
                f"AUROC lower bound > {RARE_AUROC_FLOOR:g}; " + ", ".join(
                    f"{r['code']}: F1 {r['f1']:.2f}, AUROC {_fmt(r.get('auroc'))}"
                    for r in rows[:6]))
    if f1_pos == 0 and discriminated == 0:
        verdict = "supported"
    elif 2 * f1_pos >= len(rows) or 2 * discriminated >= len(rows):
        verdict = "not supported"
    else:
        verdict = "inconclusive"
    return _claim(label, observed, criterion, verdict)


def _tier4_gap(comp: dict[str, Any] | None) -> dict[str, str]:
    label = "The 4-tier model is only about 2 % below the 3-tier model"
    gap = PUBLISHED["tier4"].gap_below_tier3
    criterion = (f"paired difference of internal native macro-F1, tier3 − tier4 on the same "
                 f"records: supported if its 95 % CI lies inside {gap:g} ± "
                 f"{TIER4_GAP_MARGIN:g}, not supported if entirely outside, else inconclusive")
    d = (comp or {}).get("native_macro_f1_tier3_minus_tier4")
    if not d or d.get("low") is None:
        return _claim(label, "n/a", criterion, "not testable")
    shifted = {"low": d["low"] - gap, "high": d["high"] - gap}
    return _claim(label, f"tier3 − tier4 = {_fmt_diff(d)}", criterion,
                  equivalence_verdict(shifted, TIER4_GAP_MARGIN))


def attention_claim(interpretability: dict[str, Any] | None) -> dict[str, str] | None:
    """The attention claim judged by the interpretability section's pre-set rule, or ``None``
    (the "not testable" default) when the section did not run."""
    v = (interpretability or {}).get("verdict")
    if not v or v.get("verdict") == "not testable":
        return None
    d = v["difference"]
    if d.get("estimate") is None or d.get("low") is None:
        # No record with both a defining region and attribution mass: nothing to compare.
        return None
    return _claim("Tier models attend to clinically relevant waveform parts, fine-grained ones to "
                  "noise", f"localisation tier3 - aha44 ({v['method']}, n={d['n_records']}): "
                  f"{d['estimate']:+.3f} ({d['low']:+.3f} to {d['high']:+.3f})",
                  v["criterion"], v["verdict"])


def _claim(claim: str, observed: str, criterion: str, verdict: str) -> dict[str, str]:
    return {"claim": claim, "observed": observed, "criterion": criterion, "verdict": verdict}
