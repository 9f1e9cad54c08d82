"""Fixed-length windows: crop longer records, pad shorter ones, with the policy made explicit."""

from __future__ import annotations

from typing import Literal

import numpy as np

from ecgtriage.errors import ConfigError, DataError

CropPolicy = Literal["centre", "start"]
PadPolicy = Literal["zeros", "edge"]
PadSide = Literal["end", "both"]


def fix_length(
    signal: np.ndarray,
    n_samples: int,
    crop: CropPolicy = "centre",
    pad: PadPolicy = "zeros",
    pad_side: PadSide = "end",
) -> np.ndarray:
    """Crop or pad the last axis of ``signal`` to exactly ``n_samples``.

    ``crop="centre"`` keeps the middle ``n_samples`` (an odd surplus drops one more sample at the
    end), ``"start"`` keeps the first ones. ``pad="zeros"`` pads with 0 mV (the band-passed
    baseline), ``"edge"`` repeats the first/last sample; ``pad_side`` says where the padding goes.

    Examples
    --------
    >>> import numpy as np
    >>> fix_length(np.arange(6), 4)  # centre crop
    array([1, 2, 3, 4])
    >>> fix_length(np.arange(3), 5)  # zeros at the end
    array([0, 1, 2, 0, 0])
    >>> fix_length(np.arange(3), 5, pad="edge", pad_side="both")
    array([0, 0, 1, 2, 2])
    """
    if n_samples <= 0:
        raise ConfigError(f"window length must be positive, got {n_samples} samples")
    x = np.asarray(signal)
    n = x.shape[-1]
    if n == n_samples:
        return x
    if n > n_samples:
        if crop == "centre":
            start = (n - n_samples) // 2
        elif crop == "start":
            start = 0
        else:
            raise ConfigError(f"crop policy must be 'centre' or 'start', got {crop!r}")
        return x[..., start : start + n_samples]
    if n == 0:
        raise DataError("cannot pad an empty signal (0 samples)")
    missing = n_samples - n
    if pad_side == "end":
        before, after = 0, missing
    elif pad_side == "both":
        before, after = missing // 2, missing - missing // 2
    else:
        raise ConfigError(f"pad side must be 'end' or 'both', got {pad_side!r}")
    widths = [(0, 0)] * (x.ndim - 1) + [(before, after)]
    if pad == "zeros":
        return np.pad(x, widths, mode="constant")
    if pad == "edge":
        return np.pad(x, widths, mode="edge")
    raise ConfigError(f"pad policy must be 'zeros' or 'edge', got {pad!r}")
