"""Per-patient physiology: the normal baseline that statements then modify."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .leads import DOWER


@dataclass(frozen=True)
class Patient:
    """One simulated person's resting ECG parameters (all within normal adult ranges).

    Attributes
    ----------
    age : years.
    sex : ``"M"`` or ``"F"``.
    heart_rate : resting sinus rate, beats/min.
    pr_ms, p_ms, qrs_ms : PR interval, P-wave and QRS durations.
    qtc_ms : Bazett-corrected QT; the QT of each beat is ``qtc * sqrt(RR)``.
    axis_deg : frontal QRS axis.
    horizontal_deg : rotation of the heart about its long (vertical) axis; moves the precordial
        transition zone (positive = clockwise, later transition).
    qrs_amp, t_amp, p_amp : magnitudes (mV) of the main QRS, T and P vectors.
    septal_frac, terminal_frac : size of the initial septal and terminal QRS forces relative to
        the main force.
    t_anterior : anterior (negative Z) component of the T vector.
    precordial_jitter : 6x3 perturbation of the Dower rows for V1-V6 (electrode placement and
        torso shape).
    resp_hz, rsa, lf : respiration frequency, respiratory sinus arrhythmia (relative RR
        amplitude) and slow (Mayer-wave) RR variability.
    beat_jitter : relative beat-to-beat amplitude variability.
    """

    age: int
    sex: str
    heart_rate: float
    pr_ms: float
    p_ms: float
    qrs_ms: float
    qtc_ms: float
    axis_deg: float
    horizontal_deg: float
    qrs_amp: float
    t_amp: float
    p_amp: float
    septal_frac: float
    terminal_frac: float
    t_anterior: float
    precordial_jitter: tuple[tuple[float, float, float], ...]
    resp_hz: float
    rsa: float
    lf: float
    beat_jitter: float

    def dower(self) -> np.ndarray:
        """This patient's 8x3 lead matrix (Dower rows with the precordial perturbation)."""
        d = DOWER.copy()
        d[2:] += np.asarray(self.precordial_jitter)
        return d


def _normalise_sex(sex) -> str | None:
    """``"M"``/``"F"`` from the spellings the sources use (SPH ``M``/``F``, PTB-XL 0 = male,
    1 = female); ``None`` or NaN means unknown."""
    if sex is None or (isinstance(sex, float) and not np.isfinite(sex)):
        return None
    key = str(sex).strip().lower()
    mapping = {"m": "M", "male": "M", "0": "M", "f": "F", "female": "F", "1": "F"}
    if key not in mapping:
        raise ValueError(f"sex: expected 'M' or 'F' (or PTB-XL 0/1), found {sex!r}")
    return mapping[key]


def _clip_normal(rng: np.random.Generator, mean: float, sd: float, lo: float, hi: float) -> float:
    return float(np.clip(rng.normal(mean, sd), lo, hi))


def sample_patient(
    rng: np.random.Generator, age: int | None = None, sex: str | None = None
) -> Patient:
    """Draw a patient with a normal resting ECG.

    Age and sex shift the draws the way population studies report: women have faster rates,
    narrower and lower QRS and longer QTc; PR and QTc lengthen, QRS voltage falls and the axis
    moves leftwards with age.

    Parameters
    ----------
    rng : numpy Generator (the only source of randomness).
    age : years; drawn when ``None`` or NaN; values above 100 (PTB-XL's 300 code) count as 100.
    sex : ``"M"`` or ``"F"`` (PTB-XL's 0/1 accepted); drawn when ``None``.
    """
    sex = _normalise_sex(sex)
    if sex is None:
        sex = "M" if rng.random() < 0.5 else "F"
    if age is not None and not np.isfinite(age):
        age = None
    if age is None:
        age = int(np.clip(rng.normal(55, 17), 18, 95))
    if age < 0:
        raise ValueError(f"age: expected years >= 0, found {age!r}")
    # PTB-XL codes ages above 89 as 300; anything past 100 is treated as 100.
    age = int(min(age, 100))
    female = sex == "F"
    dage = age - 50
    jitter = rng.normal(0.0, 0.07, size=(6, 3))
    pr_ms = _clip_normal(rng, 155 + 0.35 * dage, 16, 125, 195)
    p_ms = _clip_normal(rng, 95 + 0.1 * dage, 7, 82, 110)
    return Patient(
        age=int(age),
        sex=sex,
        heart_rate=_clip_normal(rng, 71 + 3 * female, 9, 58, 98),
        pr_ms=max(pr_ms, p_ms + 35),  # a PR segment of at least 35 ms
        p_ms=p_ms,
        qrs_ms=_clip_normal(rng, 90 - 6 * female, 5, 80, 100),
        qtc_ms=_clip_normal(rng, 405 + 12 * female + 0.3 * dage, 12, 375, 445),
        axis_deg=_clip_normal(rng, 50 - 0.4 * dage, 20, -25, 85),
        horizontal_deg=_clip_normal(rng, 0, 12, -25, 25),
        qrs_amp=_clip_normal(rng, (1.9 - 0.3 * female) * (1 - 0.004 * dage), 0.25, 1.15, 2.3),
        t_amp=_clip_normal(rng, 0.5 - 0.07 * female, 0.08, 0.3, 0.7),
        p_amp=_clip_normal(rng, 0.17, 0.03, 0.1, 0.25),
        septal_frac=_clip_normal(rng, 0.17, 0.04, 0.08, 0.28),
        terminal_frac=_clip_normal(rng, 0.28, 0.06, 0.15, 0.42),
        t_anterior=_clip_normal(rng, 0.3, 0.1, 0.1, 0.5),
        precordial_jitter=tuple(tuple(float(v) for v in row) for row in jitter),
        resp_hz=_clip_normal(rng, 0.25, 0.04, 0.15, 0.4),
        rsa=_clip_normal(rng, 0.025 - 0.0002 * dage, 0.01, 0.005, 0.045),
        lf=_clip_normal(rng, 0.02, 0.008, 0.005, 0.04),
        beat_jitter=_clip_normal(rng, 0.02, 0.007, 0.005, 0.04),
    )
