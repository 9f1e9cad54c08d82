"""Vectorised evaluation of wave events ("lobes") on a sample grid.

A lobe is a smooth time function times a weight vector over the eight independent leads.  Two
shapes cover every wave the simulator draws:

* ``GAUSS``: an asymmetric Gaussian (centre ``c``, left width ``sl``, right width ``sr``), used for
  P, Q, R, S, T, U, delta, J waves and pacing spikes;
* ``PLATEAU``: a smooth box from ``c`` to ``e`` with tanh edges of widths ``sl`` and ``sr``, used
  for ST-segment shifts.

Each lobe is evaluated only over its local support, all lobes at once with numpy, and
accumulated with ``np.bincount``; there is no per-sample Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GAUSS = 0
PLATEAU = 1

#: Gaussian support, in widths, on either side of the centre (the tail beyond is < 4e-4).
_GAUSS_HALF = 4.0
#: tanh edge support, in widths (the remainder beyond is < 5e-6).
_EDGE_HALF = 6.0


@dataclass
class Lobes:
    """A flat set of lobes (struct of arrays); times in seconds, weights in mV per lead."""

    kind: np.ndarray  # (L,) int
    c: np.ndarray  # (L,) centre (GAUSS) or start (PLATEAU)
    sl: np.ndarray  # (L,) left width / start edge width
    sr: np.ndarray  # (L,) right width / end edge width
    e: np.ndarray  # (L,) end (PLATEAU only)
    w: np.ndarray  # (L, 8) lead weights

    @staticmethod
    def concat(parts: list["Lobes"]) -> "Lobes":
        parts = [p for p in parts if p.c.size]
        if not parts:
            z = np.zeros(0)
            return Lobes(z.astype(int), z, z, z, z, np.zeros((0, 8)))
        return Lobes(
            np.concatenate([p.kind for p in parts]),
            np.concatenate([p.c for p in parts]),
            np.concatenate([p.sl for p in parts]),
            np.concatenate([p.sr for p in parts]),
            np.concatenate([p.e for p in parts]),
            np.concatenate([p.w for p in parts]),
        )


def antialias_width(fs: float) -> float:
    """Width (s) of the Gaussian smoothing that stands in for a recorder's anti-alias filter.

    A Gaussian of this width has its -3 dB point near 0.4 fs, so lobes narrower than a sample
    (pacing spikes at 100 Hz) keep their area instead of aliasing to random heights.
    """
    return 0.45 / fs


def render(lobes: Lobes, n: int, fs: float) -> np.ndarray:
    """Sum all lobes on the grid ``t = arange(n) / fs``.

    Returns
    -------
    array (8, n) float64, leads I, II, V1-V6.
    """
    out = np.zeros((8, n))
    if lobes.c.size == 0:
        return out
    aa = antialias_width(fs)
    is_g = lobes.kind == GAUSS
    sl = np.sqrt(lobes.sl**2 + aa**2)
    sr = np.sqrt(lobes.sr**2 + aa**2)
    w = lobes.w.copy()
    # Broadening a Gaussian keeps its area: the peak drops by the ratio of the widths.
    w[is_g] *= ((lobes.sl[is_g] + lobes.sr[is_g]) / (sl[is_g] + sr[is_g]))[:, None]
    lo = np.where(is_g, lobes.c - _GAUSS_HALF * sl, lobes.c - _EDGE_HALF * sl)
    hi = np.where(is_g, lobes.c + _GAUSS_HALF * sr, lobes.e + _EDGE_HALF * sr)
    first = np.floor(lo * fs).astype(np.int64)
    last = np.ceil(hi * fs).astype(np.int64)
    keep = (last >= 0) & (first < n)
    if not keep.any():
        return out
    width = last - first + 1
    # Bucket lobes by support length (powers of two) so short lobes do not pay for long ones.
    bucket = np.ceil(np.log2(np.maximum(width, 2))).astype(int)
    idx_parts, val_parts, lobe_parts = [], [], []
    for b in np.unique(bucket[keep]):
        sel = np.flatnonzero(keep & (bucket == b))
        k = int(width[sel].max())
        idx = first[sel, None] + np.arange(k)[None, :]
        t = idx / fs
        g = is_g[sel]
        vals = np.empty(idx.shape)
        if g.any():
            gs = sel[g]
            x = t[g] - lobes.c[gs, None]
            s = np.where(x < 0, sl[gs, None], sr[gs, None])
            vals[g] = np.exp(-0.5 * (x / s) ** 2)
        if (~g).any():
            ps = sel[~g]
            tp = t[~g]
            vals[~g] = 0.5 * (
                np.tanh((tp - lobes.c[ps, None]) / sl[ps, None])
                - np.tanh((tp - lobes.e[ps, None]) / sr[ps, None])
            )
        inside = (idx >= 0) & (idx < n) & (idx <= last[sel, None])
        idx_parts.append(idx[inside])
        val_parts.append(vals[inside])
        lobe_parts.append(np.broadcast_to(sel[:, None], idx.shape)[inside])
    idx_all = np.concatenate(idx_parts)
    val_all = np.concatenate(val_parts)
    lobe_all = np.concatenate(lobe_parts)
    for lead in range(8):
        out[lead] = np.bincount(idx_all, weights=val_all * w[lobe_all, lead], minlength=n)
    return out
