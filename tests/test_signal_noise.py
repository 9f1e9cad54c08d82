"""Noise generators: spectral placement (Welch PSD band powers), SNR mixing, quantisation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from ecgtriage.signal import noise

FS = 500.0
N = 5000


def band_fraction(x: np.ndarray, fs: float, low: float, high: float) -> float:
    """Fraction of the total Welch power of all leads that lies in [low, high) Hz."""
    freqs, psd = sps.welch(x, fs=fs, nperseg=min(x.shape[-1], 4096), axis=-1)
    total = psd.sum()
    inside = psd[:, (freqs >= low) & (freqs < high)].sum()
    return float(inside / total)


@pytest.mark.parametrize("name", sorted(noise.NOISE_TYPES))
def test_shape_dtype_and_determinism(name):
    gen = noise.NOISE_TYPES[name]
    a = gen(N, FS, np.random.default_rng(3))
    b = gen(N, FS, np.random.default_rng(3))
    c = gen(N, FS, np.random.default_rng(4))
    assert a.shape == (12, N) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert gen(N, FS, np.random.default_rng(0), n_leads=3).shape == (3, N)


def test_baseline_wander_is_below_one_hertz():
    x = noise.baseline_wander(20 * 500, FS, np.random.default_rng(1), amplitude_mv=0.5)
    assert band_fraction(x, FS, 0.0, 1.0) > 0.95
    assert 0.05 < np.abs(x).max() < 2.0


def test_muscle_noise_energy_above_20_hz():
    x = noise.muscle_noise(N, FS, np.random.default_rng(2))
    assert band_fraction(x, FS, 20.0, 250.0) > 0.9
    assert band_fraction(x, FS, 0.0, 5.0) < 0.02


def test_muscle_noise_comes_in_bursts():
    x = noise.muscle_noise(N, FS, np.random.default_rng(5), continuous_fraction=0.1)
    rms = np.sqrt((x[0].reshape(-1, 100) ** 2).mean(axis=1))  # 0.2-s windows
    assert rms.max() > 4 * np.median(rms)


def test_muscle_noise_respects_nyquist_at_100_hz():
    x = noise.muscle_noise(1000, 100.0, np.random.default_rng(2))
    assert band_fraction(x, 100.0, 15.0, 50.01) > 0.9


def test_electrode_motion_is_low_frequency_and_large():
    x = noise.electrode_motion(N, FS, np.random.default_rng(7), amplitude_mv=0.5)
    assert band_fraction(x, FS, 0.0, 10.0) > 0.9
    assert np.abs(x).max() > 0.2
    # Step-like: the largest one-sample jump is big compared with the wander of a sinusoid.
    assert np.abs(np.diff(x, axis=1)).max() > 0.01


@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_powerline_peak_at_mains_frequency(mains):
    x = noise.powerline(N, FS, np.random.default_rng(0), mains_hz=mains)
    freqs, psd = sps.welch(x[0], fs=FS, nperseg=2500)
    assert abs(freqs[np.argmax(psd)] - mains) <= 0.5
    assert band_fraction(x, FS, mains - 2, mains + 2) > 0.8
    assert band_fraction(x, FS, 2 * mains - 2, 2 * mains + 2) > 0.01  # harmonic present


def test_powerline_at_nyquist_alternates_sign_at_fs_100():
    x = noise.powerline(1000, 100.0, np.random.default_rng(1), mains_hz=50.0, harmonics=1)
    # 50 Hz at fs = 100 is (-1)**k * A sin(phi): consecutive samples cancel (up to the slow beat
    # from the grid-frequency deviation), and nothing is left at lower frequencies.
    lead = x[0]
    assert np.abs(lead).max() > 1e-3
    assert np.abs(lead[1:] + lead[:-1]).max() < 0.02 * np.abs(lead).max()


def test_powerline_anti_alias_drops_components_above_nyquist():
    x = noise.powerline(1000, 100.0, np.random.default_rng(1), mains_hz=50.0, anti_alias=True)
    assert np.all(x == 0.0)
    y = noise.powerline(1000, 250.0, np.random.default_rng(1), mains_hz=50.0, anti_alias=True)
    freqs, psd = sps.welch(y[0], fs=250.0, nperseg=1000)
    assert psd[freqs > 110].sum() < 1e-6 * psd.sum()  # 150 Hz harmonic gone, 100 Hz kept


def test_gaussian_noise_std():
    x = noise.gaussian_noise(N, FS, np.random.default_rng(0), std_mv=0.02)
    assert x.std() == pytest.approx(0.02, rel=0.02)


@pytest.mark.parametrize("snr", [-6.0, 0.0, 12.5, 30.0])
@pytest.mark.parametrize("name", ["baseline_wander", "muscle", "gaussian", "powerline"])
def test_add_at_snr_measures_requested_snr(snr, name):
    rng = np.random.default_rng(11)
    t = np.arange(N) / FS
    clean = (np.sin(2 * np.pi * 1.2 * t)[None, :] * np.linspace(0.5, 1.5, 12)[:, None]).astype(
        np.float32
    )
    n = noise.NOISE_TYPES[name](N, FS, rng)
    noisy = noise.add_at_snr(clean, n, snr)
    assert noisy.dtype == np.float32 and noisy.shape == clean.shape
    residual = noisy.astype(np.float64) - clean
    assert noise.snr_db(clean, residual) == pytest.approx(snr, abs=1e-3)


def test_add_at_snr_errors():
    clean = np.ones((12, 10))
    with pytest.raises(ValueError, match=r"noise shape \(12, 9\) does not match clean shape"):
        noise.add_at_snr(clean, np.ones((12, 9)), 10)
    with pytest.raises(ValueError, match="noise power must be finite and positive"):
        noise.add_at_snr(clean, np.zeros((12, 10)), 10)
    with pytest.raises(ValueError, match="clean signal has zero power"):
        noise.add_at_snr(np.zeros((12, 10)), np.ones((12, 10)), 10)


def test_quantise_to_microvolts():
    x = np.array([0.00049, 0.0005001, -1.23456, 40.0])
    np.testing.assert_allclose(noise.quantise(x, 0.001), [0.0, 0.001, -1.235, 40.0])
    np.testing.assert_allclose(noise.quantise(x, 0.001, bits=16), [0.0, 0.001, -1.235, 32.767])
    with pytest.raises(ValueError, match="lsb_mv: expected a positive step in mV, found 0"):
        noise.quantise(x, 0)


def test_generator_argument_errors():
    with pytest.raises(ValueError, match="fs: expected a positive sampling rate in Hz, found 0"):
        noise.gaussian_noise(10, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_samples: expected a positive integer, found 0"):
        noise.muscle_noise(0, 500, np.random.default_rng(0))
