"""The headline table and the verdict on each published claim, computed from the scores.

Every verdict comes with the explicit criterion that produced it, so a reader can disagree with
the criterion rather than with an opaque judgement. Verdicts: ``supported``, ``not supported``,
``inconclusive`` (the data cannot separate the alternatives) and ``not testable`` (this run
lacks what the claim needs, e.g. no external set).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from ecgtriage.evaluate.reference import PUBLISHED

#: A tier-4 gap counts as "about 2 %" when it lies in [0, this].
TIER4_GAP_TOLERANCE = 0.05


def _val(ci: Any) -> float:
    if isinstance(ci, dict):
        ci = ci.get("value")
    return float("nan") if ci is None else float(ci)


def _mean_ci(cis: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Mean over seeds; the interval is that of the first seed (stated in the report)."""
    cis = [c for c in cis if c is not None and not math.isnan(_val(c))]
    if not cis:
        return None
    values = [_val(c) for c in cis]
    return {"value": sum(values) / len(values), "lo": cis[0].get("lo"), "hi": cis[0].get("hi"),
            "n_seeds": len(values)}


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


def _fmt(ci: dict | None) -> str:
    if ci is None or math.isnan(_val(ci)):
        return "n/a"
    if ci.get("lo") is None or ci.get("hi") is None:
        return f"{_val(ci):.3f}"
    return f"{_val(ci):.3f} ({float(ci['lo']):.3f}–{float(ci['hi']):.3f})"


def _contains(ci: dict | None, value: float) -> bool:
    return ci is not None and ci.get("lo") is not None and ci.get("hi") is not None and (
        float(ci["lo"]) <= value <= float(ci["hi"]))


def claims(scores: list[dict[str, Any]], schemes: list[str], internal: str,
           externals: list[str], rare_external_f1: dict[str, list[float]] | None = None
           ) -> list[dict[str, str]]:
    """Verdicts on the reference study's claims, in the order the paper makes them.

    Parameters
    ----------
    rare_external_f1 : external test set → F1 of the aha44 model on each rare training class
        that has at least one positive record there.
    """
    lookup = score_lookup(scores)
    ext = externals[0] if externals else None
    return [
        _tier3_generalises_best(lookup, schemes, ext),
        *_published_values_inside_ci(lookup, internal, ext),
        _aha44_fails_on_rare(schemes, ext, rare_external_f1 or {}),
        _tier4_gap(lookup, internal),
        _claim("Tier models attend to clinically relevant waveform parts, fine-grained ones to "
               "noise", "attributions are not computed by this study",
               "needs an attribution analysis (relevance of QRS/ST-T versus noise per scheme)",
               "not testable"),
    ]


def _tier3_generalises_best(lookup: Lookup, schemes: list[str], ext: str | None
                            ) -> dict[str, str]:
    """Compared on the same 3 tiers, so the number of classes plays no part."""
    claim = "The 3-tier model generalises best (highest external accuracy)"
    criterion = ("external 3-tier accuracy on common ground; supported if tier3's CI lies "
                 "above every other scheme's CI, not supported if another scheme's does so "
                 "over tier3, otherwise inconclusive")
    if ext is None or "tier3" not in schemes or len(schemes) < 2:
        return _claim(claim, "no external test set or no tier3/other scheme", criterion,
                      "not testable")
    cis = {s: metric_ci(lookup, s, ext, "tier3", "accuracy") for s in schemes}
    observed = "; ".join(f"{s} {_fmt(c)}" for s, c in cis.items())
    t3 = cis["tier3"]
    others = {s: c for s, c in cis.items() if s != "tier3" and c is not None}
    if t3 is None or not others:
        verdict = "not testable"
    elif all(_above(t3, c) for c in others.values()):
        verdict = "supported"
    elif any(_above(c, t3) for c in others.values()):
        verdict = "not supported"
    else:
        verdict = "inconclusive"
    return _claim(claim, f"{ext}: {observed}", criterion, verdict)


def _published_values_inside_ci(lookup: Lookup, internal: str, ext: str | None
                                ) -> list[dict[str, str]]:
    """The published tier3 point values against this run's CIs."""
    tier3 = PUBLISHED["tier3"]
    out = []
    for label, test_set, metric, published in (
        (f"3-tier internal macro-F1 is {tier3.internal_f1:g}", internal, "macro_f1",
         tier3.internal_f1),
        (f"3-tier external accuracy is {100 * tier3.external_accuracy:g} %", ext, "accuracy",
         tier3.external_accuracy),
    ):
        criterion = f"supported if {published:g} lies inside this run's 95 % CI"
        ci = metric_ci(lookup, "tier3", test_set, "native", metric) if test_set else None
        if ci is None:
            out.append(_claim(label, "n/a", criterion, "not testable"))
            continue
        verdict = "supported" if _contains(ci, published) else "not supported"
        where = "" if verdict == "supported" else (
            " (higher)" if _val(ci) > published else " (lower)")
        out.append(_claim(label, f"{test_set}: {_fmt(ci)}{where}", criterion, verdict))
    return out


def _aha44_fails_on_rare(schemes: list[str], ext: str | None,
                         rare_external_f1: dict[str, list[float]]) -> dict[str, str]:
    label = "The 44-class model scores F1 = 0 on rare conditions externally"
    criterion = ("supported if every rare training statement (< 0.5 % of training records) "
                 "that occurs in the external set has F1 = 0 there")
    f1s = rare_external_f1.get(ext, []) if ext else []
    f1s = [f for f in f1s if f is not None and not math.isnan(f)]
    if "aha44" not in schemes or not f1s:
        return _claim(label, "no rare statement with external positives", criterion,
                      "not testable")
    nonzero = sum(f > 0 for f in f1s)
    observed = (f"{ext}: {len(f1s)} rare statements, {nonzero} with F1 > 0, "
                f"mean F1 {sum(f1s) / len(f1s):.3f}")
    return _claim(label, observed, criterion, "supported" if nonzero == 0 else "not supported")


def _tier4_gap(lookup: Lookup, internal: str) -> dict[str, str]:
    label = "The 4-tier model is only about 2 % below the 3-tier model"
    criterion = (f"internal macro-F1 difference tier3 − tier4 between 0 and "
                 f"{TIER4_GAP_TOLERANCE:g} (published ≈ {PUBLISHED['tier4'].gap_below_tier3:g})")
    t3 = metric_ci(lookup, "tier3", internal, "native", "macro_f1")
    t4 = metric_ci(lookup, "tier4", internal, "native", "macro_f1")
    if t3 is None or t4 is None:
        return _claim(label, "n/a", criterion, "not testable")
    gap = _val(t3) - _val(t4)
    verdict = "supported" if 0 <= gap <= TIER4_GAP_TOLERANCE else "not supported"
    return _claim(label, f"tier3 {_val(t3):.3f} − tier4 {_val(t4):.3f} = {gap:+.3f}",
                  criterion, verdict)


def _above(a: dict, b: dict) -> bool:
    return a.get("lo") is not None and b.get("hi") is not None and float(a["lo"]) > float(b["hi"])


def _claim(claim: str, observed: str, criterion: str, verdict: str) -> dict[str, str]:
    return {"claim": claim, "observed": observed, "criterion": criterion, "verdict": verdict}
def attention_claim(interpretability: dict[str, Any] | None) -> dict[str, str] | None:
    """The attention claim judged by the interpretability section's pre-set rule, or ``None``
    (the "not testable" default) when the section did not run."""
    v = (interpretability or {}).get("verdict")
    if not v or v.get("verdict") == "not testable":
        return None
    d = v["difference"]
    return _claim("Tier models attend to clinically relevant waveform parts, fine-grained ones to "
                  "noise", f"localisation tier3 - aha44 ({v['method']}, n={d['n_records']}): "
                  f"{d['estimate']:+.3f} ({d['low']:+.3f} to {d['high']:+.3f})",
                  v["criterion"], v["verdict"])


