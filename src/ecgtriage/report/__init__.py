"""The study's self-contained HTML report and its figures."""

from ecgtriage.report.build import build_report, render_report

__all__ = ["build_report", "render_report"]
