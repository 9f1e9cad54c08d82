"""One patient-id normalisation for splits, bootstrap clusters and the study."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

import ecgtriage.data.ids
from ecgtriage.data.ids import normalise_patient_id, patient_ids


@pytest.mark.parametrize(
    "missing", [None, np.nan, float("nan"), pd.NA, pd.NaT, "", "   ", "nan", "NaN", "None", "<NA>"]
)
def test_every_spelling_of_no_id_is_missing(missing):
    assert normalise_patient_id(missing) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (17.0, "17"),
        (np.float64(15709.0), "15709"),
        ("15709.0", "15709"),
        (" P1 ", "P1"),
        (42, "42"),
        (np.int64(7), "7"),
        (17.5, "17.5"),
        ("S00012", "S00012"),
    ],
)
def test_ids_are_normalised_so_equal_patients_compare_equal(value, expected):
    assert normalise_patient_id(value) == expected


def test_records_without_an_id_become_their_own_patient():
    got = patient_ids(
        ["a", "b", "c", "d", "e", "f", 7],
        ["", "15709.0", None, "P1", np.nan, "<NA>", pd.NA],
    )
    assert got.tolist() == [
        "record:a", "15709", "record:c", "P1", "record:e", "record:f", "record:7",
    ]


def test_a_table_without_patient_column_gives_every_record_its_own_patient():
    assert patient_ids(["1", "2"], None).tolist() == ["record:1", "record:2"]


def test_float_and_text_spellings_of_one_patient_join():
    # a nullable-float column (PTB-XL) and its CSV text must give the same patient
    from_float = patient_ids(["1", "2"], pd.Series([15709.0, np.nan]))
    from_text = patient_ids(["1", "2"], pd.Series(["15709.0", "<NA>"], dtype="string"))
    assert from_float.tolist() == from_text.tolist() == ["15709", "record:2"]


def test_lengths_must_agree():
    with pytest.raises(ValueError, match="2 record ids but 1 patient ids"):
        patient_ids(["a", "b"], ["p"])


def test_splits_treat_na_text_as_missing():
    # labels.splits used to keep "<NA>" as one shared patient; now each record is its own
    from ecgtriage.labels.splits import _patient_ids

    records = pd.DataFrame({"record_id": ["r1", "r2", "r3"], "patient_id": ["<NA>", "<NA>", 3.0]})
    assert _patient_ids(records).tolist() == ["record:r1", "record:r2", "3"]


def test_docstring_examples_run():
    failures, _ = doctest.testmod(ecgtriage.data.ids, raise_on_error=False)
    assert failures == 0
