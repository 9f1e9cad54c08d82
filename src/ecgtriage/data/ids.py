"""Patient ids as one comparable text, whatever the source or the table they were read from.

Patient ids decide which records may share a split and which records form one bootstrap
cluster, so two spellings of the same patient (``15709`` and ``15709.0``) must compare equal and
every spelling of "no id" (``None``, NaN, ``"<NA>"`` from a string column written by pandas,
``""``) must be recognised. A record without an id becomes its own patient, ``record:<id>``:
treating all id-less records (every Challenge record) as one patient would put them all in one
split and make every bootstrap resample of them identical.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd

#: Texts that mean "no patient id", compared case-insensitively after stripping: what ``str()``
#: makes of None, NaN and pandas' NA, and what CSV round trips leave behind.
MISSING_ID_TEXTS = frozenset({"", "nan", "none", "<na>"})


def normalise_patient_id(value: Any) -> str | None:
    """One text per patient id, or ``None`` when the value means "no id".

    PTB-XL stores patient ids as floats, so ``17.0`` and ``"17.0"`` both become ``"17"``;
    whitespace is stripped.

    Examples
    --------
    >>> normalise_patient_id(17.0), normalise_patient_id(" 15709.0 "), normalise_patient_id("P1")
    ('17', '15709', 'P1')
    >>> normalise_patient_id(float("nan")) is None, normalise_patient_id("<NA>") is None
    (True, True)
    """
    if value is None:
        return None
    if not isinstance(value, str):
        if pd.api.types.is_scalar(value) and pd.isna(value):
            return None
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            return str(int(value))
        if isinstance(value, (int, np.integer)):
            return str(int(value))
    text = str(value).strip()
    if text.endswith(".0"):  # "15709.0": a float id that went through text (CSV, astype(str))
        text = text[:-2]
    if text.lower() in MISSING_ID_TEXTS:
        return None
    return text


def patient_ids(record_ids: Iterable[Any], patients: Iterable[Any] | None) -> np.ndarray:
    """Patient id per record as text; a record without one is its own patient ``record:<id>``.

    Parameters
    ----------
    record_ids : record ids, one per record.
    patients : patient ids in the same order (any of the spellings
        :func:`normalise_patient_id` accepts), or ``None`` when the table has no patient column.

    Returns
    -------
    numpy array of str, one per record.

    Examples
    --------
    >>> patient_ids(["a", "b", "c"], ["", 15709.0, "<NA>"]).tolist()
    ['record:a', '15709', 'record:c']
    """
    ids = [str(r) for r in record_ids]
    if patients is None:
        return np.asarray([f"record:{r}" for r in ids], dtype=str)
    values = list(patients)
    if len(values) != len(ids):
        raise ValueError(
            f"patient_ids: {len(ids)} record ids but {len(values)} patient ids; expected one each"
        )
    out = []
    for record, value in zip(ids, values):
        pid = normalise_patient_id(value)
        out.append(f"record:{record}" if pid is None else pid)
    return np.asarray(out, dtype=str)
