"""Report figures: each function takes plain results data and returns a PNG data URI.

Figures are drawn on ``matplotlib.figure.Figure`` with the Agg canvas directly (no pyplot, no
global backend state), so building a report never opens a window or touches other plots.
Every function returns ``None`` when it has nothing to draw, so the report can say so.
"""

from __future__ import annotations

import base64
import io
import math
from collections import defaultdict
from typing import Any, Sequence

import numpy as np

#: One colour per scheme, stable across figures (colour-blind-safe Okabe-Ito palette).
_PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def to_data_uri(fig) -> str:
    """Render a figure as a base64 PNG data URI (``data:image/png;base64,...``)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def scheme_colours(schemes: Sequence[str]) -> dict[str, str]:
    return {s: _PALETTE[i % len(_PALETTE)] for i, s in enumerate(schemes)}


def confusion_grid(panels: Sequence[dict[str, Any]], title: str) -> str | None:
    """Row-normalised confusion matrices, one panel per (model, test set).

    Parameters
    ----------
    panels : dicts with ``title``, ``labels`` (class names) and ``matrix`` (counts, rows = truth,
        columns = prediction).
    """
    panels = [p for p in panels if p.get("matrix")]
    if not panels:
        return None
    n = len(panels)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig = _figure(4.0 * ncols, 3.6 * nrows)
    fig.suptitle(title)
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        counts = np.asarray(panel["matrix"], dtype=float)
        totals = counts.sum(axis=1, keepdims=True)
        frac = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        ax.imshow(frac, vmin=0, vmax=1, cmap="Blues")
        labels = list(panel["labels"])
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_xlabel("model says")
        ax.set_ylabel("reference label")
        ax.set_title(panel["title"], fontsize=9)
        for r in range(frac.shape[0]):
            for c in range(frac.shape[1]):
                colour = "white" if frac[r, c] > 0.6 else "black"
                ax.text(c, r, f"{frac[r, c]:.2f}\n({int(counts[r, c])})", ha="center",
                        va="center", fontsize=7, color=colour)
    return to_data_uri(fig)


def robustness_curves(rows: Sequence[dict[str, Any]], metric_label: str) -> str | None:
    """Metric against corruption level, one panel per corruption, one line per scheme and set.

    Parameters
    ----------
    rows : dicts with ``corruption`` (``None`` = clean), ``rank`` (0 = clean, 1.. = mildest..
        most severe), ``severity``, ``unit``, ``scheme``, ``test_set`` and ``value``; several
        seeds of a scheme are averaged.
    """
    rows = [r for r in rows if r.get("value") is not None and not _isnan(r["value"])]
    corruptions = sorted({r["corruption"] for r in rows if r["corruption"]})
    if not corruptions:
        return None
    schemes = list(dict.fromkeys(r["scheme"] for r in rows))
    test_sets = list(dict.fromkeys(r["test_set"] for r in rows))
    colours = scheme_colours(schemes)
    styles = ["-", "--", ":", "-."]
    ncols = min(len(corruptions), 3)
    nrows = math.ceil(len(corruptions) / ncols)
    fig = _figure(4.2 * ncols, 3.3 * nrows)
    clean = defaultdict(list)
    for r in rows:
        if r["corruption"] is None:
            clean[(r["scheme"], r["test_set"])].append(r["value"])
    for i, corruption in enumerate(corruptions):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ticks: dict[int, str] = {0: "clean"}
        unit = ""
        for scheme in schemes:
            for j, test_set in enumerate(test_sets):
                pts = defaultdict(list)
                for r in rows:
                    if (r["corruption"], r["scheme"], r["test_set"]) == (corruption, scheme,
                                                                          test_set):
                        pts[int(r["rank"])].append(r["value"])
                        ticks[int(r["rank"])] = f"{float(r['severity']):g}"
                        unit = r.get("unit", "")
                if not pts:
                    continue
                if clean.get((scheme, test_set)):
                    pts[0] = clean[(scheme, test_set)]
                xs = sorted(pts)
                ys = [float(np.mean(pts[x])) for x in xs]
                ax.plot(xs, ys, styles[j % len(styles)], marker="o", ms=3,
                        color=colours[scheme], label=f"{scheme} · {test_set}")
        ranks = sorted(ticks)
        ax.set_xticks(ranks, [ticks[k] for k in ranks], fontsize=8)
        ax.set_title(corruption.replace("_", " "), fontsize=10)
        ax.set_xlabel(f"level ({unit}), mildest → most severe" if unit else "level")
        ax.set_ylabel(metric_label)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(fontsize=7)
    return to_data_uri(fig)


def rare_unseen_heatmap(rows: Sequence[dict[str, Any]], schemes: Sequence[str]) -> str | None:
    """Abnormal-detection rate per statement (rows) and scheme (columns).

    Parameters
    ----------
    rows : dicts with ``statement`` (label shown), ``status`` ("rare"/"unseen"/...), and
        ``detection`` mapping scheme → fraction of that statement's records the model flagged
        as abnormal (``None`` where not computed).
    """
    rows = [r for r in rows if any(r.get("detection", {}).get(s) is not None for s in schemes)]
    if not rows:
        return None
    values = np.array(
        [[_num(r["detection"].get(s)) for s in schemes] for r in rows], dtype=float
    )
    fig = _figure(2.0 + 1.3 * len(schemes), 1.2 + 0.28 * len(rows))
    ax = fig.add_subplot(1, 1, 1)
    masked = np.ma.masked_invalid(values)
    im = ax.imshow(masked, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(len(schemes)), list(schemes))
    labels = [f"{r['statement']} ({r.get('status', '')}, n={r.get('n', '?')})" for r in rows]
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            text = "–" if np.isnan(values[i, j]) else f"{values[i, j]:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="fraction flagged abnormal")
    ax.set_title("Rare and unseen statements:\nshare of records flagged abnormal", fontsize=9)
    return to_data_uri(fig)


def reliability_diagrams(panels: Sequence[dict[str, Any]]) -> str | None:
    """Reliability diagrams: observed frequency against predicted confidence per bin.

    Parameters
    ----------
    panels : dicts with ``title``, ``ece`` and ``bins`` = {``confidence``, ``accuracy``,
        ``count``} (equal-length lists; empty bins may be ``None``).
    """
    panels = [p for p in panels if p.get("bins") and p["bins"].get("confidence")]
    if not panels:
        return None
    ncols = min(len(panels), 3)
    nrows = math.ceil(len(panels) / ncols)
    fig = _figure(3.6 * ncols, 3.3 * nrows)
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        conf = np.array([_num(v) for v in panel["bins"]["confidence"]], dtype=float)
        acc = np.array([_num(v) for v in panel["bins"]["accuracy"]], dtype=float)
        count = np.array([_num(v) for v in panel["bins"].get("count", [1] * len(conf))],
                         dtype=float)
        keep = ~np.isnan(conf) & ~np.isnan(acc) & (np.nan_to_num(count) > 0)
        ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect calibration")
        ax.plot(conf[keep], acc[keep], marker="o", color=_PALETTE[0], label="model")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("predicted probability")
        ax.set_ylabel("observed frequency")
        ece = panel.get("ece")
        suffix = f" (ECE {ece:.3f})" if ece is not None and not _isnan(ece) else ""
        ax.set_title(panel["title"] + suffix, fontsize=9)
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(fontsize=7)
    return to_data_uri(fig)


def prevalence_shift(rows: Sequence[dict[str, Any]]) -> str | None:
    """Grouped bars of class prevalence per dataset, one panel per scheme.

    Parameters
    ----------
    rows : dicts with ``scheme``, ``class``, ``dataset`` and ``prevalence`` (fraction).
    """
    rows = [r for r in rows if r.get("prevalence") is not None]
    if not rows:
        return None
    schemes = list(dict.fromkeys(r["scheme"] for r in rows))
    fig = _figure(4.5 * len(schemes), 3.4)
    for i, scheme in enumerate(schemes):
        ax = fig.add_subplot(1, len(schemes), i + 1)
        sub = [r for r in rows if r["scheme"] == scheme]
        classes = list(dict.fromkeys(r["class"] for r in sub))
        datasets = list(dict.fromkeys(r["dataset"] for r in sub))
        width = 0.8 / max(len(datasets), 1)
        for j, dataset in enumerate(datasets):
            vals = {r["class"]: r["prevalence"] for r in sub if r["dataset"] == dataset}
            xs = np.arange(len(classes)) + (j - (len(datasets) - 1) / 2) * width
            ax.bar(xs, [_num(vals.get(c)) for c in classes], width=width, label=dataset,
                   color=_PALETTE[j % len(_PALETTE)])
        ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("fraction of records")
        ax.set_title(scheme)
        ax.legend(fontsize=7)
    fig.suptitle("Class prevalence in training data and test sets")
    return to_data_uri(fig)


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _isnan(value: Any) -> bool:
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True
