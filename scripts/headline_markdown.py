"""Print a study's headline and robustness summary as Markdown tables (the README's results).

Usage: python scripts/headline_markdown.py STUDY_DIR
Reads STUDY_DIR/tables/metrics.csv and robustness_summary.csv (written by ``ecgtriage study``).
"""

from __future__ import annotations

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
    robustness(Path(study))


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
