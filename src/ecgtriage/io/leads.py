"""Select and reorder a file's leads by name into the canonical 12-lead order."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ecgtriage.errors import DataError
from ecgtriage.leads import CANONICAL_LEADS, normalise_lead_name

_UNIT_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3}


def unit_scale(unit: str, where: str) -> float:
    """Factor that converts ``unit`` to millivolts; ``ValueError`` naming ``where`` otherwise."""
    key = (unit or "").strip().lower()
    if key not in _UNIT_TO_MV:
        raise DataError(f"{where}: unsupported signal unit {unit!r}; expected mV, uV or V")
    return _UNIT_TO_MV[key]


def canonical_order(names: Sequence[str], where: str) -> list[int]:
    """Row indices that pick the 12 standard leads from ``names`` in ``CANONICAL_LEADS`` order.

    Spelling is normalised (``AVR`` → ``aVR``); leads that are not among the 12 standard ones
    (e.g. Frank X, Y, Z) are ignored. Raises ``ValueError`` naming ``where`` when a standard lead
    is missing or present twice.
    """
    position: dict[str, int] = {}
    duplicates: list[str] = []
    for i, name in enumerate(names):
        try:
            canonical = normalise_lead_name(str(name))
        except ValueError:
            continue
        if canonical in position:
            duplicates.append(canonical)
        position[canonical] = i
    if duplicates:
        raise DataError(f"{where}: lead(s) {', '.join(duplicates)} appear more than once")
    missing = [lead for lead in CANONICAL_LEADS if lead not in position]
    if missing:
        raise DataError(
            f"{where}: lead set is missing {', '.join(missing)}; expected the 12 standard leads "
            f"{', '.join(CANONICAL_LEADS)}, found {', '.join(map(str, names)) or 'none'}"
        )
    return [position[lead] for lead in CANONICAL_LEADS]


def to_canonical(signal: np.ndarray, names: Sequence[str], where: str) -> np.ndarray:
    """``signal`` (n_leads, n) reordered to the canonical 12 leads (see :func:`canonical_order`)."""
    order = canonical_order(names, where)
    if order == list(range(len(CANONICAL_LEADS))) and signal.shape[0] == len(CANONICAL_LEADS):
        return signal
    return signal[order]


def check_finite(signal: np.ndarray, where: str) -> None:
    """Raise ``ValueError`` naming ``where``, the first bad lead and the count of NaN/inf samples."""
    bad = ~np.isfinite(signal)
    if bad.any():
        per_lead = bad.sum(axis=-1)
        first = int(np.argmax(per_lead > 0))
        lead = CANONICAL_LEADS[first] if signal.shape[0] == len(CANONICAL_LEADS) else str(first)
        raise DataError(
            f"{where}: signal contains {int(bad.sum())} NaN/inf sample(s) "
            f"(first in lead {lead})"
        )
