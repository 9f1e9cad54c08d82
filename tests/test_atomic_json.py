"""The one NaN→None rule for everything that ends up in JSON."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest

import ecgtriage.atomic
from ecgtriage.atomic import json_safe, nan_to_none, write_json


@pytest.mark.parametrize("missing", [None, float("nan"), np.nan, np.float32("nan")])
def test_nan_to_none_maps_undefined_to_none(missing):
    assert nan_to_none(missing) is None


@pytest.mark.parametrize(("value", "expected"), [(0.5, 0.5), (np.float32(0.25), 0.25), (3, 3.0), (True, 1.0)])
def test_nan_to_none_returns_python_floats(value, expected):
    out = nan_to_none(value)
    assert out == expected and type(out) is float


def test_nan_to_none_keeps_infinity():
    # infinity is a value (an unbounded ratio), not a missing one
    assert nan_to_none(np.inf) == float("inf")


def test_json_safe_converts_nested_numpy_and_nan():
    obj = {
        "auc": np.float64(np.nan),
        "n": np.int64(3),
        "ok": np.bool_(True),
        "per_class": [{"f1": np.float32(0.5)}, (np.nan, 1.0)],
        7: np.array([[1, 2], [3, 4]]),
        "name": "tier3",
        "none": None,
    }
    out = json_safe(obj)
    assert out == {
        "auc": None, "n": 3, "ok": True, "per_class": [{"f1": 0.5}, [None, 1.0]],
        "7": [[1, 2], [3, 4]], "name": "tier3", "none": None,
    }
    assert type(out["n"]) is int and type(out["ok"]) is bool
    # strict JSON: no bare NaN survives
    assert "NaN" not in json.dumps(out, allow_nan=False)


def test_json_safe_output_round_trips_through_write_json(tmp_path):
    write_json(tmp_path / "r.json", json_safe({"x": [np.nan, np.float32(2.0)]}))
    assert json.loads((tmp_path / "r.json").read_text()) == {"x": [None, 2.0]}


def test_evaluate_checks_reexport_the_same_function():
    from ecgtriage.evaluate import _checks

    assert _checks.jsonable is json_safe


def test_docstring_examples_run():
    failures, _ = doctest.testmod(ecgtriage.atomic, raise_on_error=False)
    assert failures == 0
