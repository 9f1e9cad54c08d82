"""ECG noise and artifact generators, SNR mixing and amplitude quantisation.

The three artifact types of the MIT-BIH Noise Stress Test Database (baseline wander, muscle
artifact, electrode motion) plus power-line interference and white noise. Every generator has
the signature ``(n_samples, fs, rng, n_leads=12, **params) -> (n_leads, n_samples) float64``
in millivolts, draws only from ``rng`` and is therefore reproducible by seed.

Amplitude parameters set the *typical* size of the artifact; for robustness curves the level is
usually fixed afterwards with :func:`add_at_snr`, which rescales the noise to an exact SNR.

Aliasing and low sampling rates
-------------------------------
Generators synthesise their band directly at ``fs`` and clip every band edge to below the
Nyquist frequency ``fs / 2``. :func:`powerline` models an unfiltered analogue-to-digital
converter: the continuous interference ``A sin(2 pi f t + phi)`` is evaluated at the sample
instants, so components above ``fs / 2`` alias exactly as they would in a real recording. At
``fs = 100`` Hz, 50 Hz mains sits exactly at the Nyquist frequency: the samples are
``A sin(phi) * (-1)**k``, a sign-alternating sequence whose amplitude depends on the (random)
phase between mains and sampling clock (the generator's +-0.2 % grid-frequency deviation makes
that amplitude beat slowly), the 100 Hz harmonic aliases to a near-constant offset (a drift
below 0.2 Hz) and the 150 Hz harmonic folds back onto 50 Hz. Pass ``anti_alias=True`` to model a device with an anti-aliasing filter instead: every
component at or above ``fs / 2`` is dropped (at ``fs = 100`` with 50 Hz mains nothing is left
and the result is all zeros).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "baseline_wander",
    "muscle_noise",
    "electrode_motion",
    "powerline",
    "gaussian_noise",
    "add_at_snr",
    "snr_db",
    "quantise",
    "NOISE_TYPES",
]


def _check(n_samples: int, fs: float, n_leads: int) -> None:
    if int(n_samples) != n_samples or n_samples < 1:
        raise ValueError(f"n_samples: expected a positive integer, found {n_samples!r}")
    if not fs or fs <= 0:
        raise ValueError(f"fs: expected a positive sampling rate in Hz, found {fs!r}")
    if int(n_leads) != n_leads or n_leads < 1:
        raise ValueError(f"n_leads: expected a positive integer, found {n_leads!r}")


def _lead_mixing(rng: np.random.Generator, n_leads: int, n_sources: int) -> np.ndarray:
    """Random lead weights: artifacts share sources across leads, with lead-specific gains."""
    weights = rng.normal(0.0, 1.0, size=(n_leads, n_sources))
    norms = np.sqrt((weights**2).sum(axis=1, keepdims=True))
    return weights / np.maximum(norms, 1e-12)


def _bandlimited_gaussian(
    n: int, fs: float, low_hz: float | None, high_hz: float | None, rng: np.random.Generator,
    rows: int = 1,
) -> np.ndarray:
    """Unit-variance Gaussian noise limited to [low_hz, high_hz] by shaping its spectrum."""
    white = rng.standard_normal((rows, n))
    spec = np.fft.rfft(white, axis=-1)
    freqs = np.fft.rfftfreq(n, d=1.0 / fs)
    mask = np.ones_like(freqs, dtype=bool)
    if low_hz is not None:
        mask &= freqs >= low_hz
    if high_hz is not None:
        mask &= freqs <= high_hz
    # Keep at least one bin so very short records still get some noise in the band.
    if not mask.any():
        target = low_hz if low_hz is not None else (high_hz or 0.0)
        mask[int(np.argmin(np.abs(freqs - target)))] = True
    spec[:, ~mask] = 0.0
    out = np.fft.irfft(spec, n=n, axis=-1)
    std = out.std(axis=-1, keepdims=True)
    return out / np.maximum(std, 1e-12)


def baseline_wander(
    n_samples: int,
    fs: float,
    rng: np.random.Generator,
    n_leads: int = 12,
    *,
    amplitude_mv: float = 0.3,
    resp_rate_hz: float | None = None,
    drift_cutoff_hz: float = 0.5,
) -> np.ndarray:
    """Baseline wander: respiration-locked sinusoid plus slow random drift, below ~0.5-1 Hz.

    Parameters
    ----------
    amplitude_mv : typical peak amplitude of the wander (real wander reaches about 1 mV).
    resp_rate_hz : respiration frequency; drawn from 0.15-0.4 Hz when ``None``.
    drift_cutoff_hz : upper edge of the random drift component.

    Examples
    --------
    The generator is explicit, so the same seed gives the same wander:

    >>> import numpy as np
    >>> wander = baseline_wander(1000, 100.0, np.random.default_rng(0))
    >>> wander.shape
    (12, 1000)
    >>> bool((wander == baseline_wander(1000, 100.0, np.random.default_rng(0))).all())
    True
    """
    _check(n_samples, fs, n_leads)
    t = np.arange(n_samples) / fs
    resp = resp_rate_hz if resp_rate_hz is not None else rng.uniform(0.15, 0.4)
    phase = rng.uniform(0, 2 * np.pi)
    respiration = np.sin(2 * np.pi * resp * t + phase)
    drift = _bandlimited_gaussian(n_samples, fs, None, min(drift_cutoff_hz, fs / 2), rng, rows=2)
    sources = np.vstack([respiration * np.sqrt(2.0), drift])  # unit-power sources
    mix = _lead_mixing(rng, n_leads, sources.shape[0])
    gains = rng.uniform(0.5, 1.0, size=(n_leads, 1))
    return amplitude_mv / np.sqrt(2.0) * gains * (mix @ sources)


def muscle_noise(
    n_samples: int,
    fs: float,
    rng: np.random.Generator,
    n_leads: int = 12,
    *,
    amplitude_mv: float = 0.05,
    low_hz: float = 20.0,
    high_hz: float = 150.0,
    burst_rate_hz: float = 0.3,
    continuous_fraction: float = 0.3,
) -> np.ndarray:
    """Muscle (EMG) artifact: broadband noise mostly above 20 Hz, in bursts.

    Parameters
    ----------
    amplitude_mv : RMS amplitude inside a burst.
    low_hz, high_hz : band of the EMG noise; ``high_hz`` is clipped below ``fs / 2``.
    burst_rate_hz : mean rate of muscle bursts (each 0.2-1.5 s long).
    continuous_fraction : envelope level between bursts, as a fraction of the burst level.
    """
    _check(n_samples, fs, n_leads)
    nyq = fs / 2
    high = min(high_hz, 0.95 * nyq)
    low = min(low_hz, 0.5 * high)
    carrier = _bandlimited_gaussian(n_samples, fs, low, high, rng, rows=n_leads)
    duration = n_samples / fs
    envelope = np.full(n_samples, continuous_fraction)
    n_bursts = rng.poisson(burst_rate_hz * duration) + 1
    t = np.arange(n_samples) / fs
    for centre, width in zip(rng.uniform(0, duration, n_bursts), rng.uniform(0.2, 1.5, n_bursts)):
        # Raised-cosine bursts avoid steps in the envelope (a step would add low frequencies).
        inside = np.abs(t - centre) < width / 2
        envelope[inside] = np.maximum(
            envelope[inside], 0.5 * (1 + np.cos(2 * np.pi * (t[inside] - centre) / width))
        )
    gains = rng.uniform(0.5, 1.0, size=(n_leads, 1))
    return amplitude_mv * gains * carrier * envelope


def electrode_motion(
    n_samples: int,
    fs: float,
    rng: np.random.Generator,
    n_leads: int = 12,
    *,
    amplitude_mv: float = 0.5,
    event_rate_hz: float = 0.2,
    recovery_s: tuple[float, float] = (0.3, 2.0),
) -> np.ndarray:
    """Electrode motion artifact: large, step-like, low-frequency transients.

    Each event is a smoothed step that decays back to baseline (the electrode's half-cell
    potential settling), in a random subset of leads sharing the electrode.

    Parameters
    ----------
    amplitude_mv : typical step height.
    event_rate_hz : mean number of events per second (at least one event per record).
    recovery_s : range of the exponential recovery time constant.
    """
    _check(n_samples, fs, n_leads)
    duration = n_samples / fs
    t = np.arange(n_samples) / fs
    out = np.zeros((n_leads, n_samples))
    n_events = rng.poisson(event_rate_hz * duration) + 1
    rise_s = 0.04
    for _ in range(n_events):
        onset = rng.uniform(0, duration * 0.9)
        tau = rng.uniform(*recovery_s)
        height = amplitude_mv * rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.5)
        dt = t - onset
        after = np.maximum(dt, 0.0)
        shape = np.where(dt < 0, 0.0, (1 - np.exp(-after / rise_s)) * np.exp(-after / tau))
        shape = shape / max(shape.max(), 1e-12)
        leads = rng.random(n_leads) < 0.4
        if not leads.any():
            leads[rng.integers(n_leads)] = True
        gains = rng.uniform(0.3, 1.0, size=n_leads) * leads
        out += height * gains[:, None] * shape[None, :]
    return out


def powerline(
    n_samples: int,
    fs: float,
    rng: np.random.Generator,
    n_leads: int = 12,
    *,
    mains_hz: float = 50.0,
    amplitude_mv: float = 0.05,
    harmonics: int = 3,
    harmonic_decay: float = 0.3,
    anti_alias: bool = False,
) -> np.ndarray:
    """Power-line interference at ``mains_hz`` (50 or 60 Hz) and its harmonics.

    The continuous waveform is evaluated at the sample instants, so components above Nyquist
    alias as in an unfiltered converter (see the module notes for fs = 100 Hz). With
    ``anti_alias=True`` components at or above ``fs / 2`` are dropped instead.

    Parameters
    ----------
    harmonics : number of components including the fundamental (k * mains_hz, k = 1..harmonics).
    harmonic_decay : amplitude ratio between successive harmonics.
    """
    _check(n_samples, fs, n_leads)
    if mains_hz <= 0:
        raise ValueError(f"mains_hz: expected a positive frequency, found {mains_hz!r}")
    t = np.arange(n_samples) / fs
    out = np.zeros((n_leads, n_samples))
    # Small mains-frequency deviation (grid tolerance) keeps records from being identical.
    f0 = mains_hz * (1 + rng.uniform(-0.002, 0.002))
    gains = amplitude_mv * rng.uniform(0.5, 1.0, size=(n_leads, 1))
    for k in range(1, harmonics + 1):
        phase = rng.uniform(0, 2 * np.pi)
        freq = k * f0
        if anti_alias and freq >= fs / 2 * 0.999:
            continue
        out += gains * harmonic_decay ** (k - 1) * np.sin(2 * np.pi * freq * t + phase)[None, :]
    return out


def gaussian_noise(
    n_samples: int,
    fs: float,
    rng: np.random.Generator,
    n_leads: int = 12,
    *,
    std_mv: float = 0.01,
) -> np.ndarray:
    """White Gaussian noise with standard deviation ``std_mv`` (e.g. amplifier noise)."""
    _check(n_samples, fs, n_leads)
    return rng.normal(0.0, std_mv, size=(n_leads, n_samples))


#: Name -> generator, for corruption sweeps and the CLI.
NOISE_TYPES = {
    "baseline_wander": baseline_wander,
    "muscle": muscle_noise,
    "electrode_motion": electrode_motion,
    "powerline": powerline,
    "gaussian": gaussian_noise,
}


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.square(np.asarray(x, dtype=np.float64))))


def snr_db(clean: np.ndarray, noise: np.ndarray) -> float:
    """``10 log10(P_clean / P_noise)`` with powers as mean squares over the whole record."""
    return 10.0 * np.log10(_power(clean) / _power(noise))


def add_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Return ``clean + s * noise`` with ``s`` chosen so that the SNR is exactly ``snr_db``.

    Powers are mean squares over all leads and samples of the record, so a level means the same
    thing for every record. The result has ``clean``'s dtype (float64 when ``clean`` is integer).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> clean = np.sin(np.linspace(0, 20, 1000))[None]
    >>> noisy = add_at_snr(clean, rng.normal(size=clean.shape), 12.0)
    >>> print(round(snr_db(clean, noisy - clean), 6))
    12.0
    """
    clean_arr = np.asarray(clean)
    noise_arr = np.asarray(noise, dtype=np.float64)
    if clean_arr.shape != noise_arr.shape:
        raise ValueError(
            f"add_at_snr: noise shape {noise_arr.shape} does not match clean shape {clean_arr.shape}"
        )
    p_clean = _power(clean_arr)
    p_noise = _power(noise_arr)
    if p_clean == 0.0:
        raise ValueError("add_at_snr: clean signal has zero power; SNR is undefined")
    if p_noise == 0.0 or not np.isfinite(p_noise):
        raise ValueError(f"add_at_snr: noise power must be finite and positive, found {p_noise}")
    scale = np.sqrt(p_clean / (p_noise * 10.0 ** (snr_db / 10.0)))
    out_dtype = clean_arr.dtype if np.issubdtype(clean_arr.dtype, np.floating) else np.float64
    return (clean_arr.astype(np.float64) + scale * noise_arr).astype(out_dtype)


def quantise(signal: np.ndarray, lsb_mv: float, bits: int | None = None) -> np.ndarray:
    """Round to a multiple of ``lsb_mv`` (e.g. 0.001 mV for 16-bit at 1 uV).

    With ``bits`` the codes are also clipped to the signed range of a ``bits``-bit converter,
    as a saturated amplifier would.
    """
    if not lsb_mv or lsb_mv <= 0:
        raise ValueError(f"lsb_mv: expected a positive step in mV, found {lsb_mv!r}")
    codes = np.round(np.asarray(signal, dtype=np.float64) / lsb_mv)
    if bits is not None:
        lim = 2 ** (bits - 1)
        codes = np.clip(codes, -lim, lim - 1)
    return codes * lsb_mv

