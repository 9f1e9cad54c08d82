"""Clinical-style 12-lead ECG figures: 25 mm/s, 10 mm/mV on red millimetre paper.

Layout as a standard printout: a 3 x 4 grid (I, II, III | aVR, aVL, aVF | V1-V3 | V4-V6), each
column showing its own consecutive 2.5 s, a 10-s lead II rhythm strip underneath, and a 1 mV
calibration pulse at the start of every row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ecgtriage.errors import ConfigError
from ecgtriage.leads import CANONICAL_LEADS

MM_PER_S = 25.0
MM_PER_MV = 10.0
ROW_MM = 32.0  # baseline-to-baseline spacing between rows
CAL_MM = 10.0  # width reserved at the left of each row for the calibration pulse
_LAYOUT = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
_MINOR = "#f6c2c2"
_MAJOR = "#e58080"


def _grid(ax, width_mm: float, height_mm: float) -> None:
    from matplotlib.collections import LineCollection

    for step, color, lw in ((1.0, _MINOR, 0.3), (5.0, _MAJOR, 0.6)):
        xs = np.arange(0, width_mm + 1e-6, step)
        ys = np.arange(0, height_mm + 1e-6, step)
        segs = [((x, 0), (x, height_mm)) for x in xs] + [((0, y), (width_mm, y)) for y in ys]
        ax.add_collection(LineCollection(segs, colors=color, linewidths=lw, zorder=0 if step == 1 else 1))


def _calibration(ax, y0: float) -> None:
    # 1 mV x 200 ms pulse: 10 mm tall, 5 mm wide, drawn with 2.5 mm flat lead-in and lead-out.
    xs = [1.0, 3.5, 3.5, 8.5, 8.5, 10.0]
    ys = [y0, y0, y0 + MM_PER_MV, y0 + MM_PER_MV, y0, y0]
    ax.plot(xs, ys, color="black", lw=0.9, zorder=3)


def draw_ecg(ax, signal: np.ndarray, fs: float, title: str = "", seconds: float = 10.0) -> None:
    """Draw a (12, n) mV ECG on ``ax`` as a clinical 3 x 4 + rhythm-strip printout."""
    sig = np.asarray(signal, dtype=np.float64)
    if sig.ndim != 2 or sig.shape[0] != 12:
        raise ValueError(f"draw_ecg: signal must have shape (12, n), got {sig.shape}")
    n = int(round(seconds * fs))
    if sig.shape[1] < n:
        raise ValueError(f"draw_ecg: need {seconds:g} s ({n} samples), got {sig.shape[1]}")
    sig = sig[:, :n]
    # One offset per lead (its median) centres each trace on its row's baseline.
    sig = sig - np.median(sig, axis=1, keepdims=True)
    width = CAL_MM + seconds * MM_PER_S
    height = ROW_MM * 4 + 8.0
    _grid(ax, width, height)
    index = {name: i for i, name in enumerate(CANONICAL_LEADS)}
    seg = n // 4
    t_mm = np.arange(seg) / fs * MM_PER_S
    for r, row in enumerate(_LAYOUT):
        y0 = height - ROW_MM * (r + 1) + 6.0
        _calibration(ax, y0)
        for c, lead in enumerate(row):
            x0 = CAL_MM + c * seg / fs * MM_PER_S
            part = sig[index[lead], c * seg : (c + 1) * seg]
            ax.plot(x0 + t_mm, y0 + part * MM_PER_MV, color="black", lw=0.7, zorder=2)
            ax.text(x0 + 1.5, y0 + 8.0, lead, fontsize=8, zorder=4)
            if c:
                ax.plot([x0, x0], [y0 - 3, y0 + 3], color="black", lw=0.8, zorder=3)
    y_rhythm = ROW_MM * 0.5 + 2.0
    _calibration(ax, y_rhythm)
    lead_ii = sig[index["II"]]
    ax.plot(CAL_MM + np.arange(n) / fs * MM_PER_S,
            y_rhythm + lead_ii * MM_PER_MV, color="black", lw=0.7, zorder=2)
    ax.text(CAL_MM + 1.5, y_rhythm + 8.0, "II", fontsize=8, zorder=4)
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title, fontsize=10, loc="left")
    ax.text(width, -2.5, "25 mm/s   10 mm/mV", fontsize=7, ha="right", va="top")


#: AHA_Code examples drawn by default: at least one per tier4 class, then several distinct codes.
DEFAULT_EXAMPLES: tuple[str, ...] = (
    "1", "22", "50", "165+330", "60+341", "106", "104", "51;86", "88", "108",
)


def _tier(aha_code: str, signal: np.ndarray, fs: float) -> str:
    """The record's tier4 class under the package's scheme (signal-dependent rules included)."""
    import pandas as pd

    from ecgtriage.labels import encode_targets, load_scheme

    scheme = load_scheme("tier4")
    index = pd.DataFrame({"record_id": ["example"], "statements": [aha_code]})
    y = encode_targets(index, "sph", scheme, signals=signal[None], fs=fs).y
    return scheme.classes[int(y[0])] if int(y[0]) >= 0 else "undetermined"


def _describe(aha_code: str) -> str:
    from ecgtriage.io.aha_code import parse_aha_code
    from ecgtriage.synth.labelsets import table

    codes = table("sph_code.csv")
    names = {int(c): d for c, d in zip(codes.Code, codes.Description)}
    parts = []
    for s in parse_aha_code(aha_code):
        text = names.get(s.code, str(s.code))
        if s.modifier is not None:
            text += f" ({names.get(s.modifier, s.modifier).lower()})"
        parts.append(f"{s} {text}")
    return "; ".join(parts)


def synth_figure(
    out: str | Path,
    seed: int = 0,
    examples: Sequence[str] = DEFAULT_EXAMPLES,
    fs: int = 500,
    dpi: int = 110,
) -> Path:
    """Simulate one 10-s SPH-device example per ``AHA_Code`` and save a clinical figure.

    Each panel is titled with the record's tier4 class (from ``ecgtriage.labels``) and the
    statements' descriptions.
    """
    from ecgtriage.io.aha_code import parse_aha_code
    from ecgtriage.synth import simulator
    from ecgtriage.synth.device import sph_device

    if not examples:
        raise ConfigError("no examples to draw; expected AHA codes such as '50+346'")
    fig, axes = _figure(len(examples))
    for k, aha in enumerate(examples):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))
        statements = [str(s) for s in parse_aha_code(aha, where="--codes")]
        patient = simulator.sample_patient(rng)
        clean = simulator.simulate_ecg(statements, fs, 10.0, rng, patient=patient)
        sig = sph_device(clean, fs, rng).astype(np.float32)
        draw_ecg(axes[k, 0], sig, fs, title=f"{_tier(aha, sig, fs)}: {_describe(aha)}")
    return save_figure(fig, out, dpi)


def _figure(n_panels: int):
    """A matplotlib figure sized so each panel prints at true 25 mm/s, 10 mm/mV."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width_in = (CAL_MM + 10 * MM_PER_S) / 25.4 + 0.4
    panel_in = (ROW_MM * 4 + 8.0) / 25.4 + 0.7
    return plt.subplots(n_panels, 1, figsize=(width_in, panel_in * n_panels), squeeze=False)


def save_figure(fig, out: str | Path, dpi: int) -> Path:
    """Lay out, write atomically in the format of ``out``'s suffix (PNG default), close."""
    import matplotlib.pyplot as plt

    from ecgtriage.atomic import atomic_path

    fig.tight_layout()
    path = Path(out)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


def record_figure(signal: np.ndarray, fs: float, out: str | Path, title: str = "",
                  dpi: int = 110) -> Path:
    """Save one (12, n) mV record as a clinical printout (up to its first 10 s).

    Records shorter than 10 s are drawn over their whole length (at least 2 s is needed for
    a readable 3 x 4 layout).
    """
    sig = np.asarray(signal, dtype=np.float64)
    seconds = min(10.0, sig.shape[-1] / float(fs))
    if seconds < 2.0:
        raise ConfigError(f"record is {seconds:.2f} s long; expected at least 2 s to draw")
    fig, axes = _figure(1)
    draw_ecg(axes[0, 0], sig, fs, title=title, seconds=seconds)
    return save_figure(fig, out, dpi)
