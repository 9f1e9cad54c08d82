"""What to do with railed or physiologically absurd amplitudes."""

from __future__ import annotations

from typing import Literal

import numpy as np

from ecgtriage.errors import ConfigError, DataError
from ecgtriage.leads import CANONICAL_LEADS

AmplitudePolicy = Literal["clip", "exclude"]


def limit_amplitude(
    signal: np.ndarray,
    limit_mv: float,
    policy: AmplitudePolicy = "clip",
    leads: tuple[str, ...] = CANONICAL_LEADS,
) -> tuple[np.ndarray, int]:
    """Apply the amplitude policy to a (n_leads, n) signal in mV.

    Returns ``(signal, n_clipped)``. ``"clip"`` clips every sample to ``±limit_mv`` and counts
    the clipped samples (the count is recorded per record, so clipped records can be found and
    dropped later). ``"exclude"`` raises ``ValueError`` naming the worst lead and its peak when
    any sample is beyond the limit. Float16 storage is safe either way.

    Examples
    --------
    >>> import numpy as np
    >>> clipped, n_clipped = limit_amplitude(np.array([[0.5, 12.0, -11.0]]), 10.0)
    >>> clipped.tolist(), n_clipped
    ([[0.5, 10.0, -10.0]], 2)
    """
    x = np.asarray(signal)
    peak = np.abs(x).max(axis=-1)
    beyond = peak > limit_mv
    if not beyond.any():
        return x, 0
    if policy == "exclude":
        worst = int(np.argmax(peak))
        name = leads[worst] if worst < len(leads) else str(worst)
        raise DataError(
            f"amplitude beyond ±{limit_mv:g} mV in lead {name} (peak {peak[worst]:.2f} mV)"
        )
    if policy != "clip":
        raise ConfigError(f"amplitude policy must be 'clip' or 'exclude', got {policy!r}")
    n_clipped = int(np.count_nonzero(np.abs(x) > limit_mv))
    return np.clip(x, -limit_mv, limit_mv), n_clipped
