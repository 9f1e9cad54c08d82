"""Mean ventricular rate from one ECG lead.

A signal measurement, so it lives in ``signal/``; ``labels`` uses it for the PTB-XL/Challenge
analogue of AF with rapid ventricular response (labels.md decision 5: AF/AFL is Serious only
above 110/min).
"""

from __future__ import annotations

import warnings

import numpy as np

from ecgtriage.leads import CANONICAL_LEADS

#: Lead used for R-peak detection (row of lead II in the canonical order): its QRS is tall and
#: upright in most people, which is what the R-peak detector expects.
LEAD_II = CANONICAL_LEADS.index("II")
#: Shortest RR the detector accepts (s). NeuroKit's default (0.3 s) drops beats of AF with a
#: rapid response, whose shortest RR is well below 300 ms; 0.2 s is the ventricular refractory
#: period, so no real beat pair is closer.
MIN_RR_S = 0.2
#: Mean ventricular rates (beats/min) accepted as a measurement; outside is a detector failure.
PLAUSIBLE_RATE = (20.0, 300.0)


class RateError(ValueError):
    """The rate could not be measured; the message says why."""


def ventricular_rate(lead: np.ndarray, fs: float) -> float:
    """Mean ventricular rate (beats/min) from NeuroKit2's R-peak detector.

    Rate = 60 · (number of RR intervals) / (time from the first to the last R peak), i.e. the
    mean over the whole record, robust to the irregular RR of AF. Raises :class:`RateError`
    when the lead is flat or non-finite, fewer than three R peaks are found or the rate is
    outside ``PLAUSIBLE_RATE``.

    Examples
    --------
    QRS-like pulses every 0.75 s (80/min) at 100 Hz:

    >>> import numpy as np
    >>> fs = 100.0
    >>> t = np.arange(1000) / fs
    >>> lead = sum(np.exp(-0.5 * ((t - b) / 0.012) ** 2) for b in np.arange(0.5, 9.6, 0.75))
    >>> round(ventricular_rate(lead, fs))
    80
    """
    import neurokit2 as nk

    x = np.asarray(lead, dtype=np.float64)
    if x.ndim != 1 or x.size < fs:
        raise RateError(f"lead must be 1-D and at least 1 s long, found shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise RateError("lead contains non-finite samples")
    if np.ptp(x) < 1e-3:
        raise RateError("lead is flat")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cleaned = nk.ecg_clean(x, sampling_rate=fs)
            _, info = nk.ecg_peaks(cleaned, sampling_rate=fs, method="neurokit", mindelay=MIN_RR_S)
    except Exception as exc:  # neurokit raises assorted errors on degenerate input
        raise RateError(f"R-peak detection failed: {type(exc).__name__}: {exc}") from exc
    peaks = np.asarray(info.get("ECG_R_Peaks", []), dtype=np.int64)
    if peaks.size < 3:
        raise RateError(f"only {peaks.size} R peaks found")
    rate = float(60.0 * fs * (peaks.size - 1) / (peaks[-1] - peaks[0]))
    if not PLAUSIBLE_RATE[0] <= rate <= PLAUSIBLE_RATE[1]:
        # outside human ventricular rates: a detector failure (noise, flat lead), not a finding
        raise RateError(f"implausible rate {rate:.0f}/min from {peaks.size} R peaks")
    return rate
