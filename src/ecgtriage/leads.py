"""Canonical 12-lead names and order: the one home every layer reads them from.

The order is a contract between readers (``io``), signal processing (``signal``), models
(``models``) and the synthetic generator (``synth``). It lives at the bottom of the import graph
so that none of them has to import another's module just to learn the lead order.
"""

from __future__ import annotations

#: Canonical 12-lead order; every signal in the project is (12, n) in this order.
CANONICAL_LEADS: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
)

# Files spell the augmented leads in upper case (PTB-XL's ``AVR``) or lower case; matching on the
# upper-cased name accepts every spelling without accepting a lead that is not one of the 12.
_LEAD_ALIASES = {name.upper(): name for name in CANONICAL_LEADS}


def normalise_lead_name(name: str) -> str:
    """Map a file's spelling of a lead name (``AVR``, ``avr``, ``aVR``) to the canonical one.

    Raises ``ValueError`` naming the lead when it is not one of the 12 standard leads.

    Examples
    --------
    >>> normalise_lead_name(" AVR ")
    'aVR'
    >>> normalise_lead_name("v1")
    'V1'
    """
    key = name.strip().upper()
    if key not in _LEAD_ALIASES:
        raise ValueError(
            f"unknown lead name {name!r}: expected one of {', '.join(CANONICAL_LEADS)}"
        )
    return _LEAD_ALIASES[key]
