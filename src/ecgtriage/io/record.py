"""The one value type every reader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

from ecgtriage.leads import CANONICAL_LEADS


@dataclass(frozen=True)
class ECGRecord:
    """A 12-lead ECG in canonical form.

    Attributes
    ----------
    signal : float32 array of shape (12, n_samples), millivolts, leads in ``CANONICAL_LEADS`` order.
    fs : sampling rate in Hz.
    record_id : identifier unique within its source.
    patient_id : identifier of the patient (``None`` if the source has none).
    age : years, or ``None``.
    sex : ``"M"``, ``"F"`` or ``None``.
    statements : raw label statements in the source's own vocabulary: SPH ``"60+310"``,
        PTB-XL SCP codes (``"NORM"``), Challenge SNOMED CT codes (``"164889003"``).
    source_format : ``"sph"``, ``"ptbxl"``, ``"challenge"``.
    extra : read-only mapping of format-specific fields (PTB-XL ``strat_fold``, likelihoods, ...).
    """

    signal: np.ndarray
    fs: float
    record_id: str
    patient_id: str | None = None
    age: float | None = None
    sex: str | None = None
    statements: tuple[str, ...] = ()
    source_format: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    leads: tuple[str, ...] = CANONICAL_LEADS
    units: str = "mV"

    def __post_init__(self) -> None:
        sig = np.asarray(self.signal)
        if sig.ndim != 2 or sig.shape[0] != len(CANONICAL_LEADS):
            raise ValueError(
                f"record {self.record_id}: signal must have shape (12, n_samples), got {sig.shape}"
            )
        if tuple(self.leads) != CANONICAL_LEADS:
            raise ValueError(
                f"record {self.record_id}: leads must be in canonical order {CANONICAL_LEADS}, "
                f"got {tuple(self.leads)}"
            )
        if not self.fs or self.fs <= 0:
            raise ValueError(f"record {self.record_id}: sampling rate must be positive, got {self.fs}")
        if sig.dtype != np.float32:
            sig = sig.astype(np.float32)
        sig.setflags(write=False)
        object.__setattr__(self, "signal", sig)
        object.__setattr__(self, "statements", tuple(self.statements))
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / float(self.fs)
