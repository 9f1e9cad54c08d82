"""Report rendering on a hand-built results dict (no training involved)."""

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from ecgtriage.report import build_report, render_report
from ecgtriage.report.build import format_ci, format_num, format_pct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.refs: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.imgs.append(attrs.get("src", ""))
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            if key in attrs and tag != "img":
                self.refs.append(attrs[key])


def _ci(v):
    return {"value": v, "lo": v - 0.05, "hi": v + 0.05}


def fake_results() -> dict:
    """Results shaped like ``ecgtriage.study_results.assemble`` writes them."""
    schemes = ["aha44", "tier4", "tier3"]
    scores = []
    tiers3 = ["Normal", "Monitor", "Serious"]
    tiers4 = ["Normal", "Mild", "Moderate", "Serious"]
    for scheme in schemes:
        for test_set in ("internal", "ptbxl_like"):
            scores.append({
                "cell": f"{scheme}-s0", "scheme": scheme, "seed": 0, "test_set": test_set,
                "view": "native",
                "metrics": {"accuracy": _ci(0.7), "macro_f1": _ci(0.6), "macro_auroc": _ci(0.8),
                            "macro_auprc": _ci(0.5), "ece": 0.07},
                "confusion": None,
                "reliability": {"confidence": [0.05, 0.35, 0.65, 0.95],
                                "accuracy": [0.1, 0.3, None, 0.9], "count": [10, 5, 0, 20]},
                "per_class": [{"class": "Normal", "support": 10, "precision": 0.8, "recall": 0.7,
                               "f1": 0.75, "auroc": 0.9, "auprc": None}],
            })
            for view, labels in (("tier3", tiers3), ("tier4", tiers4)):
                k = len(labels)
                scores.append({
                    "cell": f"{scheme}-s0", "scheme": scheme, "seed": 0, "test_set": test_set,
                    "view": view,
                    "metrics": {"accuracy": _ci(0.6), "macro_f1": _ci(0.55),
                                "serious_sensitivity": _ci(0.8),
                                "serious_specificity": _ci(0.9)},
                    "confusion": {"labels": labels,
                                  "matrix": (np.eye(k, dtype=int) * 5 + 1).tolist()},
                    "reliability": None, "per_class": [],
                })
    curves = []
    for scheme in schemes:
        curves.append({"scheme": scheme, "seed": 0, "test_set": "internal", "corruption": None,
                       "severity": None, "rank": 0, "unit": "", "value": 0.7})
        for corruption, unit in (("gaussian", "dB SNR"), ("missing_leads", "leads zeroed")):
            for rank, (level, v) in enumerate(((24, 0.68), (12, 0.6), (6, 0.45), (0, 0.3)), 1):
                curves.append({"scheme": scheme, "seed": 0, "test_set": "internal",
                               "corruption": corruption, "severity": level, "rank": rank,
                               "unit": unit, "value": v})
    return {
        "schema_version": 1, "package_version": "0.1.0", "created": "2026-01-01T00:00:00Z",
        "synthetic": True, "wall_time_s": 321.0, "config_hash": "abc123def456",
        "command": "ecgtriage study --out x", "schemes": schemes,
        "headline_internal": "internal (synthetic SPH-like)",
        "headline_externals": ["ptbxl_like"],
        "headline": [{"scheme": s, "internal_f1": _ci(0.6),
                      "external_accuracy": {"ptbxl_like": _ci(0.5)},
                      "internal_tier3_f1": _ci(0.55),
                      "external_tier3_accuracy": {"ptbxl_like": _ci(0.45)}} for s in schemes],
        "claims": [{"claim": "3-tier generalises best", "observed": "0.50 vs 0.48",
                    "criterion": "CIs do not overlap", "verdict": "not supported"}],
        "data_roles": [{"role": "train", "dataset": "sph_like", "format": "sph",
                        "rule": "patient-level 70 %", "n_records": 100, "n_patients": 90}],
        "split_note": "Split by patient.",
        "exclusions": [{"dataset": "sph_like", "reason": "too short", "n": 2}],
        "scores": scores,
        "external": [{"test_set": "ptbxl_like",
                      "coverage": {"records_with_known_tier": 0.93, "unmapped_statements": "X"},
                      "classes_with_positives": [{"scheme": "aha44", "n_classes": 44,
                                                  "n_with_positives": 20}],
                      "em_adjusted": [{"scheme": "tier3", "seed": 0, "view": "tier3",
                                       "raw_accuracy": 0.5, "adjusted_accuracy": 0.55,
                                       "raw_macro_f1": 0.4, "adjusted_macro_f1": 0.45}],
                      "prevalence": [{"scheme": "tier3", "class": c, "dataset": d,
                                      "prevalence": p}
                                     for c in tiers3 for d, p in (("train", 0.3),
                                                                  ("ptbxl_like", 0.2))]}],
        "rare_unseen": {
            "headline": [{"scheme": "tier3", "test_set": "ptbxl_like", "group": "unseen",
                          "n": 12, "rate": _ci(0.4)}],
            "rows": [{"statement": "PACE", "status": "unseen", "n": 4,
                      "detection": {"aha44": 0.25, "tier4": 0.5, "tier3": None}}],
        },
        "robustness": {"metric_label": "3-tier macro-F1", "curves": curves, "skipped": [],
                       "summary": [{"scheme": "tier3", "seed": 0, "test_set": "internal",
                                    "corruption": "gaussian", "clean": 0.7, "auc": 0.8}]},
        "caveats": ["Synthetic data."],
        "cells": [{"id": f"{s}-s0", "scheme": s, "seed": 0, "hash": "h", "classes": ["a"]}
                  for s in schemes],
    }


def check_self_contained(html: str) -> int:
    """Assert the report parses, has no remote references and every image is a PNG."""
    import matplotlib.image as mpimg

    parser = _Collector()
    parser.feed(html)
    parser.close()
    assert parser.scripts == 0
    assert parser.refs == []
    assert not re.search(r"https?://", html)
    assert parser.imgs, "report has no figures"
    for src in parser.imgs:
        assert src.startswith("data:image/png;base64,"), src[:40]
        raw = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert raw[:8] == PNG_SIGNATURE
        image = mpimg.imread(io.BytesIO(raw), format="png")
        assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50
    return len(parser.imgs)


def test_render_report_is_self_contained_and_has_all_figures():
    html = render_report(fake_results())
    n_images = check_self_contained(html)
    # confusion tier3, robustness, rare/unseen, reliability, prevalence (tier4 sits in <details>)
    assert n_images == 6
    assert "Synthetic data." in html
    assert "0.600 (0.550–0.650)" in html  # internal F1 with its CI
    assert "60.5 %" in html  # the published external accuracy beside it
    assert "F1 0.87;" in html and "best generalisation of the three schemes" in html
    assert "not supported" in html


def test_build_report_writes_file_and_needs_results(tmp_path):
    with pytest.raises(FileNotFoundError, match="results.json does not exist"):
        build_report(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps(fake_results()))
    out = build_report(tmp_path)
    assert out == tmp_path / "report.html"
    check_self_contained(out.read_text(encoding="utf-8"))


def test_formatters():
    assert format_ci({"value": 0.8712, "lo": 0.85, "hi": 0.889}) == "0.871 (0.850–0.889)"
    assert format_ci({"value": None, "lo": None, "hi": None}) == "–"
    assert format_ci(float("nan")) == "–"
    assert format_pct(0.605) == "60.5 %"
    assert format_pct(None) == format_pct(float("nan")) == format_pct(np.float32("nan")) == "–"
    assert format_num(np.nan) == format_num(None) == "–" and format_num("n/a") == "n/a"
    assert format_num(0.12345) == "0.123" and format_num(np.int64(12), digits=0) == "12"


def test_exclusions_are_listed_by_reason_with_their_records_collapsed():
    from ecgtriage.report import render_report

    results = fake_results()
    results["exclusions"] = [
        {"dataset": "held_out", "reason": "<file>: record is N s long", "n": 3,
         "records": [{"record_id": f"r{i}", "file": f"records/r{i}.hea", "reason": ""}
                     for i in range(3)]},
        {"dataset": "held_out", "reason": "no tier3 label (undeterminable)", "n": 1},
    ]
    html = render_report(results)
    section = html[html.index("Excluded records"):html.index("Every model on every test set")]
    assert section.count("<details>") == 1  # one group per reason, not one row per file
    assert "r2 · records/r2.hea" in section and "no tier3 label" in section
