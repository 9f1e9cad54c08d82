"""An attribution drawn behind the ECG it explains, in the clinical printout layout.

The trace is ``ecgtriage.synth.plot.draw_ecg`` (3 × 4 leads + lead II rhythm strip, 25 mm/s,
10 mm/mV on millimetre paper); the attribution is painted as a coloured band behind each lead's
panel at the same time axis, so a reader sees which part of which beat in which lead the model
used. Signed maps (IG, occlusion) use red for evidence *for* the target and blue *against*;
non-negative maps (Grad-CAM) are red only. Colour strength is the value over the record's
99th percentile of ``|attribution|`` (one outlier sample does not wash the rest out).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecgtriage.leads import CANONICAL_LEADS
from ecgtriage.synth.plot import CAL_MM, MM_PER_S, ROW_MM, draw_ecg, save_figure

__all__ = ["draw_attribution", "attribution_figure"]

#: Lead panels of ``draw_ecg``'s 3 × 4 layout, row by row (the printout's standard order).
LAYOUT = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
_BAND_MM = 13.0  # half-height of the coloured band around a lead's baseline


def _rgba(values: np.ndarray, scale: float) -> np.ndarray:
    v = np.clip(values / scale, -1.0, 1.0)
    rgba = np.zeros(v.shape + (4,))
    pos = v > 0
    rgba[pos, :3] = (0.85, 0.1, 0.05)
    rgba[~pos, :3] = (0.1, 0.3, 0.9)
    rgba[..., 3] = 0.75 * np.abs(v) ** 0.8
    return rgba


def draw_attribution(ax, signal: np.ndarray, attribution: np.ndarray, fs: float, title: str = "",
                     seconds: float = 10.0, smooth_s: float = 0.04) -> float:
    """Draw the ECG with its attribution behind it on ``ax``; return the colour scale used.

    ``smooth_s``: the map is averaged over this many seconds for display only (a 40 ms box,
    below the width of a QRS), so single-sample spikes of gradient maps stay visible as bands.
    """
    from scipy.ndimage import uniform_filter1d

    sig = np.asarray(signal, dtype=np.float64)
    att = np.asarray(attribution, dtype=np.float64)
    if att.shape != sig.shape:
        raise ValueError(f"attribution: expected the signal's shape {sig.shape}, found {att.shape}")
    n = min(int(round(seconds * fs)), sig.shape[1])
    att = att[:, :n]
    width = max(1, int(round(smooth_s * fs)))
    att = uniform_filter1d(att, width, axis=1, mode="nearest")
    scale = float(np.percentile(np.abs(att), 99)) or float(np.abs(att).max()) or 1.0
    draw_ecg(ax, sig, fs, title=title, seconds=n / fs)
    height = ROW_MM * 4 + 8.0
    index = {name: i for i, name in enumerate(CANONICAL_LEADS)}
    seg = n // 4
    for r, row in enumerate(LAYOUT):
        y0 = height - ROW_MM * (r + 1) + 6.0
        for c, lead in enumerate(row):
            x0 = CAL_MM + c * seg / fs * MM_PER_S
            part = att[index[lead], c * seg:(c + 1) * seg]
            ax.imshow(_rgba(part, scale)[None, :, :], extent=(x0, x0 + seg / fs * MM_PER_S,
                      y0 - _BAND_MM, y0 + _BAND_MM), aspect="auto", interpolation="nearest", zorder=1.5)
    y_rhythm = ROW_MM * 0.5 + 2.0
    ax.imshow(_rgba(att[index["II"]], scale)[None, :, :],
              extent=(CAL_MM, CAL_MM + n / fs * MM_PER_S, y_rhythm - _BAND_MM, y_rhythm + _BAND_MM),
              aspect="auto", interpolation="nearest", zorder=1.5)
    # draw_ecg set the limits and aspect; imshow must not change them.
    ax.set_xlim(0, CAL_MM + n / fs * MM_PER_S)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    return scale


def attribution_figure(signal: np.ndarray, attribution: np.ndarray, fs: float, out: str | Path,
                       title: str = "", legend: str = "", dpi: int = 110) -> Path:
    """Save one record with its attribution overlay as an image (atomic write)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = min(10.0, np.shape(signal)[-1] / float(fs))
    width_in = (CAL_MM + seconds * MM_PER_S) / 25.4 + 0.4
    height_in = (ROW_MM * 4 + 8.0) / 25.4 + 0.9
    fig, ax = plt.subplots(figsize=(width_in, height_in))
    draw_attribution(ax, signal, attribution, fs, title=title, seconds=seconds)
    if legend:
        ax.text(0, -2.5, legend, fontsize=7, ha="left", va="top")
    return save_figure(fig, out, dpi)
