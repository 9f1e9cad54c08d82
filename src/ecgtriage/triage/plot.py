"""A triaged record drawn as a clinical printout with the model's answer in its header."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecgtriage.triage.core import TriageResult

__all__ = ["triage_figure"]


def triage_figure(signal: np.ndarray, fs: float, result: TriageResult, out: str | Path,
                  title: str = "", dpi: int = 110) -> Path:
    """Save the (12, n) mV record at ``fs`` as a 12-lead printout
    (``ecgtriage.synth.plot.record_figure``) titled ``title`` with the triage headline below it
    (tier and its probability, status, statements, model and version), so the picture a
    clinician looks at carries the answer and how sure the model was."""
    from ecgtriage.synth.plot import record_figure

    header = "\n".join(t for t in (title, result.headline()) if t)
    return record_figure(signal, fs, out, title=header, dpi=dpi)
