"""Electrode potentials and the recorder's lead derivation.

A 12-lead recorder does not measure 12 independent signals: it measures the potentials of nine
electrodes (RA, LA, LL on the limbs, V1-V6 on the chest; the right-leg electrode is the driven
reference and drops out) and forms every lead as a fixed difference of them:

* Einthoven: I = LA - RA, II = LL - RA, III = LL - LA;
* Goldberger: aVR = RA - (LA + LL)/2, aVL = LA - (RA + LL)/2, aVF = LL - (RA + LA)/2;
* precordial: Vk = Vk_electrode - WCT with Wilson's central terminal WCT = (RA + LA + LL)/3.

So III = II - I and aVR + aVL + aVF = 0 hold for *whatever* the electrodes carry, noise
included, and an artifact at one electrode shows in exactly the leads whose row of
:data:`DERIVATION` uses that electrode (an LA artifact: +1 in I and aVL, -1 in III, -1/2 in
aVR and aVF, -1/3 in V1-V6 through the WCT, nothing in II). Simulating noise per lead instead
breaks both facts, which real recordings obey to rounding, and a model can learn from that.

The cardiac source is the simulator's dipole projected with the Dower matrix
(:mod:`.leads`). Dower gives leads, not electrodes, but the map is invertible up to a
potential common to all electrodes (which no lead can see): with the WCT as zero,
RA = -(I + II)/3, LA = (2 I - II)/3, LL = (2 II - I)/3 and Vk = the precordial lead.
:data:`ELECTRODE_DOWER` is that projection applied to the Dower matrix: electrode potentials
straight from the cardiac vector (X, Y, Z).
"""

from __future__ import annotations

import numpy as np

from .leads import DOWER

#: The nine recording electrodes, in the row order used throughout :mod:`ecgtriage.synth`.
ELECTRODES: tuple[str, ...] = ("RA", "LA", "LL", "V1", "V2", "V3", "V4", "V5", "V6")
#: Limb electrodes: the ones near skeletal muscle (arm and leg EMG) and forming the WCT.
LIMB_ELECTRODES: tuple[str, ...] = ("RA", "LA", "LL")
#: Precordial electrodes.
CHEST_ELECTRODES: tuple[str, ...] = ELECTRODES[3:]

#: Lead names in PTB-XL's spelling, canonical order (quality columns are written with them).
PTBXL_LEADS = ("I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6")

_RA, _LA, _LL = 0, 1, 2


def _derivation() -> np.ndarray:
    d = np.zeros((12, 9))
    d[0, [_RA, _LA]] = (-1.0, 1.0)  # I
    d[1, [_RA, _LL]] = (-1.0, 1.0)  # II
    d[2, [_LA, _LL]] = (-1.0, 1.0)  # III
    d[3, [_RA, _LA, _LL]] = (1.0, -0.5, -0.5)  # aVR
    d[4, [_RA, _LA, _LL]] = (-0.5, 1.0, -0.5)  # aVL
    d[5, [_RA, _LA, _LL]] = (-0.5, -0.5, 1.0)  # aVF
    for k in range(6):
        d[6 + k, 3 + k] = 1.0
        d[6 + k, :3] = -1.0 / 3.0  # minus Wilson's central terminal
    return d


#: (12, 9) recorder derivation: leads = DERIVATION @ electrodes.
DERIVATION = _derivation()

# (9, 8) map from the eight independent leads (I, II, V1-V6) to electrode potentials with the
# WCT as zero: the right inverse of DERIVATION's independent rows.
_FROM_EIGHT = np.zeros((9, 8))
_FROM_EIGHT[_RA, :2] = (-1 / 3, -1 / 3)
_FROM_EIGHT[_LA, :2] = (2 / 3, -1 / 3)
_FROM_EIGHT[_LL, :2] = (-1 / 3, 2 / 3)
_FROM_EIGHT[3:, 2:] = np.eye(6)

#: (9, 3) electrode potentials (WCT = 0) per unit cardiac vector (X, Y, Z), from Dower.
ELECTRODE_DOWER = _FROM_EIGHT @ DOWER


def electrode_index(name: str) -> int:
    """Row of electrode ``name`` (``"LA"``, ``"V3"``) in :data:`ELECTRODES`.

    Raises
    ------
    ValueError
        For an unknown electrode name (listing the known ones).
    """
    try:
        return ELECTRODES.index(str(name).upper())
    except ValueError:
        raise ValueError(f"electrode {name!r}: expected one of {', '.join(ELECTRODES)}") from None


def from_leads(leads: np.ndarray) -> np.ndarray:
    """Electrode potentials (9, n) float64 relative to the WCT, from 12 or 8 leads.

    Only the independent leads I, II and V1-V6 are used, so the result is consistent even when
    a caller's 12 leads violate the identities (a stand-in simulator): re-deriving gives leads
    that obey them.

    Parameters
    ----------
    leads : array (12, n) in canonical order, or (8, n) as I, II, V1-V6.
    """
    x = np.asarray(leads, dtype=np.float64)
    if x.shape[0] == 12:
        eight = np.concatenate([x[:2], x[6:]], axis=0)
    elif x.shape[0] == 8:
        eight = x
    else:
        raise ValueError(f"from_leads: expected 12 or 8 leads, found shape {x.shape}")
    return np.tensordot(_FROM_EIGHT, eight, axes=1)


def to_leads(electrodes: np.ndarray) -> np.ndarray:
    """The 12 leads (12, n) float64 a recorder derives from electrode potentials (9, n).

    Written out term by term (not as a matrix product) so each lead is the same sum of the
    same float64 terms a differential amplifier forms; a potential common to all electrodes
    cancels to float64 rounding (~1e-16 of its size).
    """
    e = np.asarray(electrodes, dtype=np.float64)
    if e.shape[0] != 9:
        raise ValueError(f"to_leads: expected 9 electrodes, found shape {e.shape}")
    ra, la, ll = e[_RA], e[_LA], e[_LL]
    wct = (ra + la + ll) / 3.0
    out = np.empty((12,) + e.shape[1:])
    out[0] = la - ra
    out[1] = ll - ra
    out[2] = ll - la
    out[3] = ra - (la + ll) / 2.0
    out[4] = la - (ra + ll) / 2.0
    out[5] = ll - (ra + la) / 2.0
    out[6:] = e[3:] - wct
    return out


def leads_using(electrodes) -> list[int]:
    """Canonical lead indices whose derivation uses any of ``electrodes`` (names or indices)."""
    if isinstance(electrodes, (str, int, np.integer)):
        electrodes = [electrodes]
    cols = [electrode_index(e) if isinstance(e, str) else int(e) for e in electrodes]
    return sorted(np.flatnonzero(np.abs(DERIVATION[:, cols]).sum(axis=1) > 0).tolist())


def group_of_leads(leads: list[int]) -> str:
    """PTB-XL annotators' spelling of a set of leads: ``"alles"``, ``"V3"``, ``"V5,V6"``,
    ``"I,III-V6"`` (runs of three or more as ``A-B``), parseable by
    :func:`ecgtriage.synth.device.leads_of_group`."""
    idx = sorted(set(int(i) for i in leads))
    if not idx:
        return ""
    if idx == list(range(12)):
        return "alles"
    runs: list[list[int]] = [[idx[0]]]
    for i in idx[1:]:
        if i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    parts: list[str] = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{PTBXL_LEADS[run[0]]}-{PTBXL_LEADS[run[-1]]}")
        else:
            parts.extend(PTBXL_LEADS[i] for i in run)
    return ",".join(parts)
