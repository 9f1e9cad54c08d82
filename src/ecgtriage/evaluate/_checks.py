"""Input validation and JSON conversion shared by the evaluation modules."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ecgtriage.atomic import json_safe


# The NaN→None rule has one home, ``ecgtriage.atomic.json_safe``, beside the JSON writer;
# ``jsonable`` stays importable here only until evaluate/collapse.py imports json_safe itself.
jsonable = json_safe


#: Rounding slack: float32 softmax outputs, or sums of them over merged tiers, can exceed 1 by
#: a few ulps; such values are clipped, anything further out is an error.
PROBA_TOLERANCE = 1e-5


def as_proba(proba: Any, name: str = "proba") -> np.ndarray:
    """Validate an (N, C) probability array with values in [0, 1] (rounding slack clipped)."""
    arr = np.asarray(proba, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (N, C) array, found shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite probabilities, found NaN or inf")
    if arr.size and (arr.min() < -PROBA_TOLERANCE or arr.max() > 1.0 + PROBA_TOLERANCE):
        raise ValueError(
            f"{name}: expected probabilities in [0, 1], found range "
            f"[{arr.min():.6g}, {arr.max():.6g}]"
        )
    return np.clip(arr, 0.0, 1.0)


def as_class_index(y: Any, n_classes: int, name: str = "y_true") -> np.ndarray:
    """Validate an (N,) int class-index array; -1 (unknown) is allowed."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D (N,) class-index array, found shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError(f"{name}: expected integer class indices, found dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = (arr < -1) | (arr >= n_classes)
    if bad.any():
        raise ValueError(
            f"{name}: expected class indices in [-1, {n_classes - 1}], "
            f"found {arr[bad][0]} at position {int(np.flatnonzero(bad)[0])}"
        )
    return arr


def as_multi_hot(y: Any, name: str = "y_true") -> np.ndarray:
    """Validate an (N, C) 0/1 array and return it as bool."""
    arr = np.asarray(y)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (N, C) multi-hot array, found shape {arr.shape}")
    if arr.dtype != bool:
        values = np.unique(arr)
        if not np.all(np.isin(values, (0, 1))):
            raise ValueError(f"{name}: expected 0/1 values, found {values[~np.isin(values, (0, 1))][:5]}")
        arr = arr.astype(bool)
    return arr


def class_names_for(class_names: Sequence[str] | None, n_classes: int) -> list[str]:
    """Class names as strings, defaulting to "0".."C-1"; length must match."""
    if class_names is None:
        return [str(i) for i in range(n_classes)]
    names = [str(c) for c in class_names]
    if len(names) != n_classes:
        raise ValueError(f"class_names: expected {n_classes} names, found {len(names)}")
    return names


def same_length(**arrays: Any) -> int:
    """Check that all arrays share their first dimension; return it."""
    lengths = {k: len(v) for k, v in arrays.items() if v is not None}
    if len(set(lengths.values())) > 1:
        found = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise ValueError(f"expected the same number of records in every input, found {found}")
    return next(iter(lengths.values())) if lengths else 0
