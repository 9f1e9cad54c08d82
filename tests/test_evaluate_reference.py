"""The reference study's published numbers: one typed, read-only copy."""

from __future__ import annotations

import dataclasses
import doctest

import pytest

import ecgtriage.evaluate.reference
from ecgtriage.evaluate.reference import PUBLISHED, PublishedResult


def test_published_numbers():
    assert set(PUBLISHED) == {"tier3", "tier4", "aha44"}
    assert all(isinstance(p, PublishedResult) and p.scheme == k for k, p in PUBLISHED.items())
    assert (PUBLISHED["tier3"].internal_f1, PUBLISHED["tier3"].external_accuracy) == (0.87, 0.605)
    assert PUBLISHED["tier4"].gap_below_tier3 == 0.02
    assert PUBLISHED["aha44"].note == "F1 = 0 on rare conditions externally"


def test_published_numbers_cannot_be_changed_by_a_caller():
    with pytest.raises(TypeError):
        PUBLISHED["tier3"] = PUBLISHED["tier4"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        PUBLISHED["tier3"].internal_f1 = 0.9  # type: ignore[misc]


def test_docstring_examples_run():
    failures, _ = doctest.testmod(ecgtriage.evaluate.reference, raise_on_error=False)
    assert failures == 0
