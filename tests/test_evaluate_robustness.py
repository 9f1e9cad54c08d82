"""Corruptions: measured SNR and exact properties; degradation summary by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecgtriage.evaluate.robustness import (
    CORRUPTIONS,
    SNR_LEVELS_DB,
    CorruptionNotApplicable,
    apply_corruption,
    degradation_curves,
    degradation_summary,
    evaluate_corruptions,
)
from ecgtriage.signal.noise import snr_db


def _batch(n=3, fs=100, seconds=10, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(fs * seconds)) / fs
    beats = np.sin(2 * np.pi * 1.2 * t) ** 15  # peaky, ECG-like
    gains = rng.uniform(0.3, 1.5, size=(n, 12, 1))
    return (gains * beats[None, None, :]).astype(np.float32)


@pytest.mark.parametrize("name", ["gaussian", "baseline_wander", "muscle", "electrode_motion"])
def test_noise_corruptions_hit_the_snr(name):
    x = _batch()
    for snr in (SNR_LEVELS_DB[0], SNR_LEVELS_DB[-1]):
        y = apply_corruption(x, name, snr, fs=100, seed=1)
        assert y.dtype == np.float32 and y.shape == x.shape
        for i in range(len(x)):
            assert snr_db(x[i], y[i].astype(np.float64) - x[i]) == pytest.approx(snr, abs=0.01)


def test_powerline_not_applicable_at_100hz_but_present_at_500hz():
    with pytest.raises(CorruptionNotApplicable, match="50 Hz mains is at or above the Nyquist"):
        apply_corruption(_batch(), "powerline_50hz", 12.0, fs=100, seed=0)
    with pytest.raises(CorruptionNotApplicable, match="60 Hz"):
        apply_corruption(_batch(), "powerline_60hz", 12.0, fs=100, seed=0)
    x = _batch(n=1, fs=500)
    y = apply_corruption(x, "powerline_60hz", 6.0, fs=500, seed=0)
    noise = y[0, 0].astype(np.float64) - x[0, 0]
    freqs = np.fft.rfftfreq(noise.size, 1 / 500)
    assert freqs[np.argmax(np.abs(np.fft.rfft(noise)))] == pytest.approx(60.0, abs=0.5)
    assert snr_db(x[0], y[0].astype(np.float64) - x[0]) == pytest.approx(6.0, abs=0.01)


def test_missing_leads_zeroes_exactly_k_leads():
    x = _batch(n=5)
    for k in CORRUPTIONS["missing_leads"].severities:
        y = apply_corruption(x, "missing_leads", k, fs=100, seed=3)
        zero = ~y.any(axis=2)
        assert (zero.sum(axis=1) == k).all()
        np.testing.assert_array_equal(y[~zero], x[~zero])
    # records lose different leads
    y = apply_corruption(x, "missing_leads", 3, fs=100, seed=3)
    assert len({tuple(np.flatnonzero(~r.any(axis=1))) for r in y}) > 1


def test_scaling_and_shifts():
    x = _batch()
    np.testing.assert_allclose(apply_corruption(x, "amplitude_gain", 2.0, fs=100, seed=0), 2 * x)
    np.testing.assert_allclose(apply_corruption(x, "amplitude_attenuation", 0.5, fs=100, seed=0), 0.5 * x)
    y = apply_corruption(x, "time_shift_circular", 0.5, fs=100, seed=0)
    np.testing.assert_array_equal(y, np.roll(x, 50, axis=-1))
    z = apply_corruption(x, "time_shift_padded", 2.0, fs=100, seed=0)
    assert not z[..., :200].any()
    np.testing.assert_array_equal(z[..., 200:], x[..., :-200])
    with pytest.raises(ValueError, match="not shorter than the record"):
        apply_corruption(x[..., :100], "time_shift_padded", 2.0, fs=100, seed=0)


def test_deterministic_and_input_untouched():
    x = _batch()
    before = x.copy()
    a = apply_corruption(x, "muscle", 6.0, fs=100, seed=5)
    b = apply_corruption(x, "muscle", 6.0, fs=100, seed=5)
    c = apply_corruption(x, "muscle", 6.0, fs=100, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(x, before)
    silent = np.zeros_like(x[:1])
    np.testing.assert_array_equal(apply_corruption(silent, "gaussian", 0.0, fs=100, seed=0), silent)
    with pytest.raises(KeyError, match="expected one of"):
        apply_corruption(x, "snow", 1, fs=100, seed=0)


def test_evaluate_corruptions_batches_equal_whole_array():
    x = _batch(n=5, seconds=2)
    res = evaluate_corruptions(
        x, 100, predict=lambda b: b.reshape(len(b), -1),
        score=lambda p: {"mean_abs": float(np.abs(p).mean())},
        seed=2, names=["gaussian", "missing_leads", "powerline_50hz"], batch_size=2,
    )
    assert res.loc[0, "corruption"] == "clean" and res.loc[0, "rank"] == 0
    row = res[(res.corruption == "gaussian") & (res.severity == 0.0)].iloc[0]
    whole = apply_corruption(x, "gaussian", 0.0, fs=100, seed=2)
    assert row["mean_abs"] == pytest.approx(float(np.abs(whole).mean()))
    pl = res[res.corruption == "powerline_50hz"]
    assert len(pl) == 5 and pl["status"].str.startswith("not applicable").all()
    assert pl["mean_abs"].isna().all()


def test_degradation_summary_hand_computed():
    rows = [("tier3", "clean", 0, 0.8, "ok")]
    rows += [("tier3", "gaussian", k, v, "ok") for k, v in ((1, 0.8), (2, 0.6), (3, 0.4))]
    rows += [("tier3", "powerline_50hz", 1, np.nan, "not applicable: Nyquist")]
    rows += [("aha44", "clean", 0, 0.5, "ok"), ("aha44", "gaussian", 1, 0.5, "ok")]
    res = pd.DataFrame(rows, columns=["scheme", "corruption", "rank", "f1", "status"])
    out = degradation_summary(res, "f1").set_index(["scheme", "corruption"])
    # relative curve 1, 1, 0.75, 0.5 -> trapezoids 1 + 0.875 + 0.625 over 3 ranks
    assert out.loc[("tier3", "gaussian"), "auc_normalised"] == pytest.approx(2.5 / 3)
    assert out.loc[("tier3", "gaussian"), "at_worst"] == pytest.approx(0.5)
    assert out.loc[("tier3", "powerline_50hz"), "status"] == "not applicable"
    assert out.loc[("aha44", "gaussian"), "auc_normalised"] == 1.0
    curves = degradation_curves(res, "f1")
    g = curves[(curves.scheme == "tier3") & (curves.corruption == "gaussian")]
    assert g["relative"].tolist() == pytest.approx([1.0, 0.75, 0.5])
    assert curves.loc[curves.corruption == "powerline_50hz", "relative"].isna().all()
