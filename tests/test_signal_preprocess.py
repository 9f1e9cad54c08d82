"""Preprocessing: resampling, zero-phase band-pass, windowing, amplitude policy."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.signal import butter, resample_poly, sosfreqz

from ecgtriage.signal.amplitude import limit_amplitude
from ecgtriage.signal.filters import bandpass, effective_band
from ecgtriage.signal.preprocess import PreprocessConfig, preprocess, preprocess_many
from ecgtriage.signal.resample import resample, resample_ratio
from ecgtriage.signal.window import fix_length


def _sine(freq: float, fs: float, seconds: float = 10.0, leads: int = 12) -> np.ndarray:
    t = np.arange(int(fs * seconds)) / fs
    return np.tile(np.sin(2 * np.pi * freq * t), (leads, 1)).astype(np.float32)


def _dominant_frequency(x: np.ndarray, fs: float) -> float:
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.fft.rfftfreq(x.size, 1 / fs)[np.argmax(spectrum)])


@pytest.mark.parametrize(("fs_in", "fs_out", "ratio"), [(500, 100, (1, 5)), (500, 250, (1, 2)), (100, 250, (5, 2)), (360, 500, (25, 18)), (257, 100, (100, 257))])
def test_resample_ratio_is_exact(fs_in, fs_out, ratio):
    assert resample_ratio(fs_in, fs_out) == ratio


@pytest.mark.parametrize(("fs_in", "fs_out"), [(500, 100), (500, 250), (100, 500), (360, 500)])
def test_resample_keeps_frequency_and_duration(fs_in, fs_out):
    x = _sine(7.0, fs_in)
    y = resample(x, fs_in, fs_out)
    assert y.shape == (12, int(10 * fs_out))
    assert y.dtype == np.float32
    assert _dominant_frequency(y[0], fs_out) == pytest.approx(7.0, abs=0.1)
    # Away from the edges the resampled sine matches the analytic one.
    t = np.arange(y.shape[1]) / fs_out
    core = slice(int(fs_out), -int(fs_out))
    np.testing.assert_allclose(y[0, core], np.sin(2 * np.pi * 7.0 * t)[core], atol=0.02)


def test_resample_is_scipy_resample_poly_and_identity_when_equal():
    x = np.random.default_rng(0).normal(size=(12, 5000))
    np.testing.assert_array_equal(resample(x, 500, 100), resample_poly(x, 1, 5, axis=-1))
    assert resample(x, 500, 500) is x


def test_resample_rejects_bad_rates():
    with pytest.raises(ValueError, match=re.escape("sampling rates must be positive, got fs_in=0, fs_out=100")):
        resample(np.zeros((12, 10)), 0, 100)


def test_bandpass_removes_baseline_wander_keeps_band():
    fs = 500.0
    ecg_band = _sine(10.0, fs)
    wander = 2.0 * _sine(0.05, fs)
    y = bandpass(ecg_band + wander, fs, 0.5, 40.0, order=3)
    core = slice(1000, -1000)
    np.testing.assert_allclose(y[:, core], ecg_band[:, core], atol=0.02)
    # The 2 mV wander alone is reduced below 5 µV away from the filter's edge transients.
    residual = bandpass(wander, fs, 0.5, 40.0, order=3)
    assert np.abs(residual[:, core]).max() < 0.005


def test_bandpass_attenuates_powerline_by_squared_butterworth_gain():
    fs = 500.0
    y = bandpass(_sine(50.0, fs), fs, 0.5, 40.0, order=3)[0, 1000:-1000]
    t = np.arange(1000, 4000) / fs
    amplitude = 2 * abs(np.mean(y * np.exp(-2j * np.pi * 50.0 * t)))
    # Forward-backward filtering squares the single-pass gain of the order-3 design.
    _, h = sosfreqz(butter(3, [0.5, 40.0], btype="bandpass", fs=fs, output="sos"), worN=[50.0], fs=fs)
    assert amplitude == pytest.approx(abs(h[0]) ** 2, rel=0.02)
    assert amplitude < 0.25


def test_bandpass_is_zero_phase():
    fs = 100.0
    x = np.zeros((12, 1000), dtype=np.float32)
    x[:, 500] = 1.0
    y = bandpass(x, fs, 0.5, 40.0)
    assert int(np.argmax(y[0])) == 500
    # Symmetric impulse response: no phase shift.
    np.testing.assert_allclose(y[0, 400:500], y[0, 501:601][::-1], atol=1e-6)


def test_high_cutoff_is_clamped_below_nyquist():
    assert effective_band(50.0, 0.5, 40.0) == (0.5, 22.5)
    assert effective_band(100.0, 0.5, 40.0) == (0.5, 40.0)
    with pytest.raises(ValueError, match=re.escape("band-pass low cut-off 30.0 Hz must be below the high cut-off 22.5 Hz")):
        effective_band(50.0, 30.0, 40.0)


def test_fix_length_crop_and_pad_policies():
    x = np.arange(10, dtype=np.float32)[None, :].repeat(12, 0)
    np.testing.assert_array_equal(fix_length(x, 4, crop="centre")[0], [3, 4, 5, 6])
    np.testing.assert_array_equal(fix_length(x, 4, crop="start")[0], [0, 1, 2, 3])
    np.testing.assert_array_equal(fix_length(x[:, :3], 6, pad="zeros")[0], [0, 1, 2, 0, 0, 0])
    np.testing.assert_array_equal(fix_length(x[:, :3], 6, pad="edge", pad_side="both")[0], [0, 0, 1, 2, 2, 2])
    assert fix_length(x, 10) is x


def test_amplitude_clip_counts_and_exclude_names_lead():
    x = np.zeros((12, 100), dtype=np.float32)
    x[7, 10:13] = [12.0, -15.0, 9.0]
    clipped, n = limit_amplitude(x, 10.0, "clip")
    assert n == 2 and clipped[7, 10] == 10.0 and clipped[7, 11] == -10.0 and clipped[7, 12] == 9.0
    with pytest.raises(ValueError, match=re.escape("amplitude beyond ±10 mV in lead V2 (peak 15.00 mV)")):
        limit_amplitude(x, 10.0, "exclude")


@pytest.mark.parametrize("fs", [100.0, 250.0, 500.0])
def test_preprocess_gives_fixed_window_at_each_rate(fs):
    x = _sine(5.0, 500.0, seconds=12.0) + 1.0  # 1 mV offset is removed by the high-pass
    out = preprocess(x, 500.0, PreprocessConfig(fs=fs))
    assert out.signal.shape == (12, int(10 * fs))
    assert out.signal.dtype == np.float32
    assert abs(float(out.signal.mean())) < 0.01
    assert out.n_samples_source == 6000 and out.fs_source == 500.0 and out.n_clipped == 0


def test_preprocess_many_equals_preprocess_and_reports_errors_per_record():
    rng = np.random.default_rng(1)
    cfg = PreprocessConfig()
    signals = [rng.normal(size=(12, 5000)).astype(np.float32) for _ in range(3)]
    signals.insert(1, np.full((12, 1000), np.nan, dtype=np.float32))
    signals.append(rng.normal(size=(12, 1000)).astype(np.float32))
    results = preprocess_many(signals, [500.0] * 4 + [500.0], cfg)
    assert str(results[1]) == "signal contains 12000 NaN/inf samples"
    assert str(results[4]) == "record is 2.00 s long; records shorter than 5 s are excluded"
    for i in (0, 2, 3):
        np.testing.assert_array_equal(results[i].signal, preprocess(signals[i], 500.0, cfg).signal)


def test_config_validation_messages():
    with pytest.raises(ValueError, match=re.escape("fs × seconds must be a whole number of samples, got 100.0 × 2.555 = 255.5")):
        PreprocessConfig(seconds=2.555, min_seconds=1.0)
    with pytest.raises(ValueError, match=re.escape("min_seconds (12.0) must not exceed the window length seconds (10.0)")):
        PreprocessConfig(min_seconds=12.0)
