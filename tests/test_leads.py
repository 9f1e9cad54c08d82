"""The canonical lead names live in one module below every layer that needs them."""

from __future__ import annotations

import doctest

import pytest

import ecgtriage.leads
from ecgtriage.io.record import ECGRecord
from ecgtriage.leads import CANONICAL_LEADS, normalise_lead_name


def test_canonical_order_is_the_standard_twelve():
    assert CANONICAL_LEADS == (
        "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
    )


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [("AVR", "aVR"), ("avl", "aVL"), (" aVF ", "aVF"), ("v6", "V6"), ("iii", "III")],
)
def test_normalise_lead_name_accepts_file_spellings(spelling, canonical):
    assert normalise_lead_name(spelling) == canonical


@pytest.mark.parametrize("name", ["X", "V7", "", "aVRx"])
def test_normalise_lead_name_rejects_non_standard_leads(name):
    with pytest.raises(ValueError, match="unknown lead name"):
        normalise_lead_name(name)


def test_records_default_to_the_canonical_order():
    # ECGRecord must agree with the shared constant, not a copy of it.
    assert ECGRecord.__dataclass_fields__["leads"].default is CANONICAL_LEADS


def test_docstring_examples_run():
    failures, _ = doctest.testmod(ecgtriage.leads, raise_on_error=False)
    assert failures == 0
