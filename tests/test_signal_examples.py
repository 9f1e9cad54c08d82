"""The Examples sections of the signal functions run and show what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "ecgtriage.signal.amplitude",
    "ecgtriage.signal.filters",
    "ecgtriage.signal.noise",
    "ecgtriage.signal.preprocess",
    "ecgtriage.signal.rate",
    "ecgtriage.signal.resample",
    "ecgtriage.signal.window",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    failures, attempted = doctest.testmod(module, raise_on_error=False)
    assert attempted > 0, f"{name} has no examples"
    assert failures == 0
