"""Ventricular rate from lead II (NeuroKit2 R peaks) and the AF/AFL > 110/min rule on signals."""

import numpy as np
import pandas as pd
import pytest

from ecgtriage.labels import encode_targets
from ecgtriage.labels.rate import RateError, ventricular_rate


def spike_train(beat_times, fs, seconds=10.0):
    """A QRS-like Gaussian pulse (1 mV, sd 12 ms) at each beat time plus a T wave 250 ms later."""
    t = np.arange(int(seconds * fs)) / fs
    x = np.zeros_like(t)
    for b in beat_times:
        x += np.exp(-0.5 * ((t - b) / 0.012) ** 2) + 0.2 * np.exp(-0.5 * ((t - b - 0.25) / 0.05) ** 2)
    return x


def irregular_beats(mean_rate, rng, seconds=10.0):
    """AF-like irregular RR (±25 %) with a known mean rate between first and last beat."""
    rr = 60.0 / mean_rate * rng.uniform(0.75, 1.25, size=200)
    times = 0.4 + np.cumsum(rr)
    return times[times < seconds - 0.4]


@pytest.mark.parametrize("fs", [100, 500])
@pytest.mark.parametrize("rate", [60, 95, 130, 160])
def test_rate_matches_known_beats(fs, rate):
    beats = irregular_beats(rate, np.random.default_rng(rate))
    expected = 60.0 * (len(beats) - 1) / (beats[-1] - beats[0])
    assert ventricular_rate(spike_train(beats, fs), fs) == pytest.approx(expected, abs=2.0)


def test_flat_and_broken_leads_raise():
    with pytest.raises(RateError, match="flat"):
        ventricular_rate(np.zeros(1000), 100)
    with pytest.raises(RateError, match="non-finite"):
        ventricular_rate(np.full(1000, np.nan), 100)


def test_af_rate_rule_on_cached_signals():
    fs, rng = 100, np.random.default_rng(0)
    signals = np.zeros((4, 12, 1000), np.float16)
    signals[0, 1] = spike_train(irregular_beats(140, rng), fs)   # fast AF
    signals[1, 1] = spike_train(irregular_beats(80, rng), fs)    # controlled AF
    # row 2: flat lead II -> measurement fails -> falls back to Moderate
    signals[3, 1] = spike_train(irregular_beats(150, rng), fs)   # fast, but not AF
    index = pd.DataFrame({
        "record_id": ["fast", "slow", "flat", "stach"], "row": [0, 1, 2, 3],
        "statements": ["AFIB;SR", "AFLT", "AFIB", "STACH"],
    })
    t = encode_targets(index, "ptbxl", "tier4", signals=signals, fs=fs)
    assert t.y.tolist() == [3, 2, 2, 1]
    assert t.details["rate_status"].tolist()[:2] == ["measured", "measured"]
    assert t.details["rate_status"][2].startswith("failed: lead is flat")
    assert t.details["rate_status"][3] == ""  # no AF statement: rate never measured
    assert t.details["ventricular_rate"][0] > 110 > t.details["ventricular_rate"][1]
    assert t.details["rules"].tolist() == ["P4", "", "", ""]
