"""Print a study's headline, fair comparison, claims and robustness as Markdown (the README's
results).

Usage: python scripts/headline_markdown.py STUDY_DIR
Reads STUDY_DIR/tables/metrics.csv, robustness_summary.csv and results.json (written by
``ecgtriage study``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd


def cell(frame: pd.DataFrame, scheme: str, test_set: str, view: str, metric: str) -> str:
    row = frame[(frame.scheme == scheme) & (frame.test_set == test_set) & (frame.view == view)
                & (frame.metric == metric)]
    if row.empty or pd.isna(row.value.iloc[0]):
        return "–"
    value, lo, hi = row[["value", "value_lo", "value_hi"]].iloc[0]
    ci = "" if pd.isna(lo) else f" ({lo:.2f}–{hi:.2f})"
    return f"{value:.2f}{ci}"


def main(study: str) -> None:
    frame = pd.read_csv(Path(study) / "tables" / "metrics.csv")
    frame = frame[frame.seed == frame.seed.min()]
    externals = [t for t in frame.test_set.unique() if t != "internal"]
    head = ["scheme", "internal macro-F1 (own classes)", "internal 3-tier macro-F1",
            "internal Serious sensitivity (3-tier)"]
    for ext in externals:
        head += [f"{ext} accuracy (own classes)", f"{ext} 3-tier accuracy"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for scheme in frame.scheme.unique():
        row = [scheme, cell(frame, scheme, "internal", "native", "macro_f1"),
               cell(frame, scheme, "internal", "tier3", "macro_f1"),
               cell(frame, scheme, "internal", "tier3", "serious_sensitivity")]
        for ext in externals:
            row += [cell(frame, scheme, ext, "native", "accuracy"),
                    cell(frame, scheme, ext, "tier3", "accuracy")]
        print("| " + " | ".join(row) + " |")
    results = json.loads((Path(study) / "results.json").read_text(encoding="utf-8"))
    comparison(results)
    claims(results)
    robustness(Path(study))


def _ci(ci: dict | None, digits: int = 2) -> str:
    if not ci or ci.get("value") is None:
        return "–"
    text = f"{ci['value']:.{digits}f}"
    if ci.get("lo") is not None and ci.get("hi") is not None:
        text += f" ({ci['lo']:.{digits}f}–{ci['hi']:.{digits}f})"
    if ci.get("k") is not None:
        text += f" [{ci['k']}/{ci['n']}]"
    return text


COMPARED = ("accuracy", "macro_f1", "serious_sensitivity", "serious_auroc",
            "sensitivity_at_matched_specificity")


def comparison(results: dict) -> None:
    """Learned and ceiling rows per test set and target variant, then tier3's paired
    differences against every other model."""
    for c in results.get("comparison") or []:
        print()
        print(f"**{c['test_set']}** ({c['n_records']} ECGs; Serious: "
              f"{c['target_counts']['default']['Serious']} default, "
              f"{c['target_counts']['modifier_free']['Serious']} modifier-free)")
        print()
        head = ["targets", "row", "scheme", "3-tier accuracy", "3-tier macro-F1",
                "Serious sensitivity [k/n]", "Serious AUROC",
                f"sens. at spec. {c['matched']['specificity']:.2f}"]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in c["rows"]:
            cells = [r["target"].replace("_", "-"), r["kind"], r["scheme"]]
            cells += [_ci(r["metrics"].get(m)) for m in COMPARED]
            print("| " + " | ".join(cells) + " |")
        diffs = [d for d in c["differences"] if "tier3" in (d["a"], d["b"])
                 and d["metric"] in ("accuracy", "macro_f1", "serious_sensitivity")]
        if diffs:
            print()
            print("| targets | paired difference | metric | difference (95 % CI) |")
            print("|---|---|---|---|")
            for d in diffs:
                sign, a, b = (1, d["a"], d["b"]) if d["a"] == "tier3" else (-1, d["b"], d["a"])
                lo, hi = sorted((sign * d["low"], sign * d["high"]))
                print(f"| {d['target'].replace('_', '-')} | {a} − {b} | "
                      f"{d['metric'].replace('_', ' ')} | "
                      f"{sign * d['difference']:+.3f} ({lo:+.3f} to {hi:+.3f}) |")


def claims(results: dict) -> None:
    print()
    print("| claim | verdict | observed |")
    print("|---|---|---|")
    for c in results.get("claims") or []:
        print(f"| {c['claim']} | {c['verdict']} | {c['observed']} |")


def robustness(study: Path) -> None:
    """Normalised area under each degradation curve, internal test set (1 = no loss)."""
    frame = pd.read_csv(study / "tables" / "robustness_summary.csv")
    frame = frame[(frame.test_set == "internal") & (frame.status == "ok")]
    table = frame.pivot_table(index="corruption", columns="scheme", values="auc")
    schemes = list(table.columns)
    print()
    print("| corruption (internal test) | " + " | ".join(schemes) + " |")
    print("|---|" + "---:|" * len(schemes))
    for corruption, values in table.iterrows():
        print(f"| {corruption} | " + " | ".join(f"{values[s]:.2f}" for s in schemes) + " |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
