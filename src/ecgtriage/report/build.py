"""Build the self-contained ``report.html`` of a study from its ``results.json``.

The report is one file: inline CSS, figures as base64 PNG data URIs, no scripts and no remote
references, so it can be mailed or archived and still open years later. It reads only
``results.json`` (written by ``ecgtriage.study``), so it can be rebuilt at any time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ecgtriage import atomic
from ecgtriage.evaluate.reference import PUBLISHED
from ecgtriage.report import figures


def build_report(study_dir: str | Path) -> Path:
    """Render ``<study_dir>/report.html`` from ``<study_dir>/results.json``.

    Returns the path of the written report. Raises ``FileNotFoundError`` when the study has no
    results yet.
    """
    study = Path(study_dir)
    results_path = study / "results.json"
    if not results_path.is_file():
        raise FileNotFoundError(
            f"{results_path} does not exist: run `ecgtriage study --out {study}` first"
        )
    results = json.loads(results_path.read_text(encoding="utf-8"))
    html = render_report(results)
    out = study / "report.html"
    atomic.write_text(out, html)
    return out


def render_report(results: dict[str, Any]) -> str:
    """The report's HTML for a results dict (see ``ecgtriage.study_results`` for its layout)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("ecgtriage.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ci"] = format_ci
    env.filters["num"] = format_num
    env.filters["pct"] = format_pct
    template = env.get_template("report.html.j2")
    return template.render(r=results, published=PUBLISHED, figs=_figures(results))


def _figures(results: dict[str, Any]) -> dict[str, str | None]:
    schemes = list(results.get("schemes", []))
    scores = results.get("scores", [])
    seed0 = {}
    for s in scores:  # first seed of each scheme stands for it in per-model figures
        seed0.setdefault(s["scheme"], s["seed"])
    first = [s for s in scores if s["seed"] == seed0[s["scheme"]]]

    def confusion_panels(view: str) -> list[dict[str, Any]]:
        return [
            {"title": f"{s['scheme']} model · {s['test_set']} ({view})",
             "labels": s["confusion"]["labels"], "matrix": s["confusion"]["matrix"]}
            for s in first if s["view"] == view and s.get("confusion")
        ]

    reliability = [
        {"title": f"{s['scheme']} · {s['test_set']}", "ece": s["metrics"].get("ece"),
         "bins": s.get("reliability")}
        for s in first if s["view"] == "native" and s.get("reliability")
    ]
    robustness = results.get("robustness", {}).get("curves", [])
    rare_rows = results.get("rare_unseen", {}).get("rows", [])
    prevalence = [row for ext in results.get("external", []) for row in ext.get("prevalence", [])]
    return {
        "robustness": figures.robustness_curves(robustness, _robustness_metric_label(results)),
        "rare_unseen": figures.rare_unseen_heatmap(rare_rows, schemes),
        "reliability": figures.reliability_diagrams(reliability),
        "prevalence": figures.prevalence_shift(prevalence),
        "confusion_tier3": figures.confusion_grid(
            confusion_panels("tier3"), "3-tier common ground (rows sum to 1)"),
        "confusion_tier4": figures.confusion_grid(
            confusion_panels("tier4"), "4-tier common ground (rows sum to 1)"),
    }


def _robustness_metric_label(results: dict[str, Any]) -> str:
    return results.get("robustness", {}).get("metric_label", "3-tier macro-F1")


def format_num(value: Any, digits: int = 3) -> str:
    """A number for a table cell; ``–`` for missing or NaN."""
    try:
        v = atomic.nan_to_none(value)
    except (TypeError, ValueError):
        return str(value)
    if v is None:
        return "–"
    if v.is_integer() and abs(v) >= 1 and digits == 0:
        return str(int(v))
    return f"{v:.{digits}f}"


def format_pct(value: Any, digits: int = 1) -> str:
    """A fraction as a percentage (0.605 → ``60.5 %``)."""
    v = atomic.nan_to_none(value)
    if v is None:
        return "–"
    return f"{100 * v:.{digits}f} %"


def format_ci(value: Any, digits: int = 3) -> str:
    """``{value, lo, hi}`` → ``0.871 (0.850–0.889)``; a bare number prints alone."""
    if value is None:
        return "–"
    if not isinstance(value, dict):
        return format_num(value, digits)
    main = format_num(value.get("value"), digits)
    lo, hi = value.get("lo"), value.get("hi")
    if lo is None or hi is None or main == "–":
        return main
    return f"{main} ({format_num(lo, digits)}–{format_num(hi, digits)})"
