"""Lead geometry: the Dower transform from the cardiac vector to the eight independent leads.

Coordinates follow the Frank system used by Dower et al. (Clin Cardiol 1980;3:87):
X points to the patient's left, Y to the feet (inferior) and Z to the back (posterior), so an
anterior force has a negative Z component.  Only I, II and V1-V6 are independent; III, aVR, aVL
and aVF are derived from I and II so that Einthoven's and Goldberger's identities hold exactly.
"""

from __future__ import annotations

import numpy as np

#: The eight independent leads, in the row order of :data:`DOWER`.
INDEPENDENT_LEADS: tuple[str, ...] = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")

#: Dower matrix: rows are leads (I, II, V1-V6), columns are X, Y, Z.
DOWER = np.array(
    [
        [0.632, -0.235, 0.059],
        [0.235, 1.066, -0.132],
        [-0.515, 0.157, -0.917],
        [0.044, 0.164, -1.387],
        [0.882, 0.098, -1.277],
        [1.213, 0.127, -0.601],
        [1.125, 0.127, -0.086],
        [0.831, 0.076, 0.230],
    ]
)

# Rows that turn (I, II, V1..V6) into the canonical 12 leads
# (I, II, III, aVR, aVL, aVF, V1..V6).
_EXPAND = np.zeros((12, 8))
_EXPAND[0, 0] = 1.0
_EXPAND[1, 1] = 1.0
_EXPAND[2, :2] = (-1.0, 1.0)  # III = II - I
_EXPAND[3, :2] = (-0.5, -0.5)  # aVR = -(I + II) / 2
_EXPAND[4, :2] = (1.0, -0.5)  # aVL = I - II / 2
_EXPAND[5, :2] = (-0.5, 1.0)  # aVF = II - I / 2
_EXPAND[6:, 2:] = np.eye(6)

#: Linear map from the eight independent leads to the 12 canonical leads.
EXPAND_TO_12 = _EXPAND


def expand_to_12(eight: np.ndarray) -> np.ndarray:
    """Return the 12 canonical leads from the 8 independent ones.

    Parameters
    ----------
    eight : array (8, n) or (8,)
        Leads I, II, V1-V6.

    Returns
    -------
    array (12, n) float32 in ``CANONICAL_LEADS`` order.  The derived limb leads are computed
    from the float32-rounded I and II, so III = II - I etc. hold to float32 precision.
    """
    eight = np.asarray(eight, dtype=np.float32)
    i, ii = eight[0], eight[1]
    out = np.empty((12,) + eight.shape[1:], dtype=np.float32)
    out[0] = i
    out[1] = ii
    out[2] = ii - i
    out[3] = -(i + ii) / np.float32(2)
    out[4] = i - ii / np.float32(2)
    out[5] = ii - i / np.float32(2)
    out[6:] = eight[2:]
    return out


def frontal_axis_deg(lead_i: float, lead_avf: float) -> float:
    """Frontal-plane axis (degrees, -180..180) of a net QRS deflection in I and aVF."""
    return float(np.degrees(np.arctan2(lead_avf, lead_i)))


def rotation_z(deg: float) -> np.ndarray:
    """Rotation in the frontal (X-Y) plane; positive turns the left (+X) towards the feet (+Y)."""
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_y(deg: float) -> np.ndarray:
    """Rotation in the horizontal (X-Z) plane; positive turns the left (+X) towards the back."""
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])


def unit(v) -> np.ndarray:
    """``v`` scaled to unit length."""
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)
