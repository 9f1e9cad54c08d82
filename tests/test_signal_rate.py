"""Ventricular rate from one lead (NeuroKit2 R peaks) on pulse trains with known beat times."""

import numpy as np
import pytest

from ecgtriage.signal.rate import RateError, ventricular_rate


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
