"""The signal-quality gate (``ecgtriage.signal.quality_gate``) with its packaged limits.

A clean simulated record passes; each way of spoiling one lead (or the whole record) makes it
unreadable, naming that lead and the reason, and no other lead.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecgtriage.errors import ConfigError
from ecgtriage.leads import CANONICAL_LEADS
from ecgtriage.signal.quality_gate import (
    GateFlag,
    GateLimits,
    GateResult,
    assess_quality,
    default_gate_limits,
    lead_features,
)
from ecgtriage.synth.simulator import simulate_ecg

FS = 500.0


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return simulate_ecg("1", FS, 10.0, np.random.default_rng(7)).astype(np.float64)


def _only(result: GateResult, lead: str | None, reason: str) -> None:
    assert not result.readable, result.message()
    assert {f.lead for f in result.flags} == {lead}, result.message()
    assert any(f.reason.startswith(reason) for f in result.flags), result.message()


def test_clean_record_passes(clean):
    result = assess_quality(clean, FS)
    assert result.readable and result.flags == () and result.message() == "readable"
    # at 100 Hz too (PTB-XL's rate, where the limits were measured)
    low = simulate_ecg("1", 100.0, 10.0, np.random.default_rng(3))
    assert assess_quality(low, 100.0).readable


def test_flat_lead(clean):
    x = clean.copy()
    x[CANONICAL_LEADS.index("V3")] = 0.12
    result = assess_quality(x, FS)
    _only(result, "V3", "flat line")
    assert result.message().startswith("unreadable: repeat the recording (V3: flat line, std 0 mV")


def test_lead_that_stops_half_way(clean):
    x = clean.copy()
    x[0, 2500:] = x[0, 2500]
    _only(assess_quality(x, FS), "I", "flat line, constant for 5.00 s")


def test_clipped_lead(clean):
    x = clean.copy()
    t = np.arange(x.shape[1]) / FS
    ii = CANONICAL_LEADS.index("II")
    x[ii] = np.clip(x[ii] + 3.0 * np.sin(2 * np.pi * 0.2 * t), -1.0, 1.0)
    result = assess_quality(x, FS)
    assert not result.readable and result.flagged_leads == ("II",)
    assert any(f.reason.startswith("clipped") and f.value > 0.2 for f in result.flags)


def test_nan_samples(clean):
    x = clean.copy()
    x[4, 100:110] = np.nan
    result = assess_quality(x, FS)
    _only(result, "aVL", "10 NaN/inf")
    assert result.flags[0].value == 10


def test_too_short_and_implausible_rate(clean):
    _only(assess_quality(clean[:, : int(2 * FS)], FS), None, "too short, 2.00 s")
    result = assess_quality(clean[:, :100], 5.0)
    _only(result, None, "implausible sampling rate 5 Hz")
    assert result.flags[0].value == 5.0


def test_huge_amplitude(clean):
    x = clean.copy()
    v2 = CANONICAL_LEADS.index("V2")
    x[v2] *= 60.0
    result = assess_quality(x, FS)
    assert result.flagged_leads == ("V2",)
    assert any(f.reason.startswith("implausible amplitude") for f in result.flags)


def test_strong_white_noise(clean):
    x = clean.copy()
    v4 = CANONICAL_LEADS.index("V4")
    x[v4] += np.random.default_rng(1).normal(0.0, 1.0, x.shape[1])
    _only(assess_quality(x, FS), "V4", "noise")


def test_missing_leads_are_not_flagged_but_no_lead_is_unreadable(clean):
    x = clean.copy()
    present = [lead in ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6") for lead in CANONICAL_LEADS]
    x[[not p for p in present]] = 0.0
    assert assess_quality(x, FS, present=present).readable
    _only(assess_quality(np.zeros_like(x), FS, present=[False] * 12), None, "no lead present")


def test_limits_decide(clean):
    strict = GateLimits(max_ptp_mv=0.5)
    result = assess_quality(clean, FS, limits=strict)
    assert not result.readable
    assert all(f.reason.startswith("implausible amplitude") for f in result.flags)


def test_features_physical_values():
    fs = 100.0
    t = np.arange(1000) / fs
    x = np.stack([np.sin(2 * np.pi * t), np.zeros(1000)])
    f = lead_features(x, fs)
    assert f["std_mv"][0] == pytest.approx(1 / np.sqrt(2), rel=1e-3)
    assert f["ptp_mv"][0] == pytest.approx(2.0, rel=1e-3)
    assert f["std_mv"][1] == 0 and f["flat_run_s"][1] == pytest.approx(10.0)
    assert f["wander_share"][0] < 0.01  # 1 Hz is above the 0.7 Hz cut-off


def test_default_limits_are_measured_data():
    from importlib import resources

    limits = default_gate_limits()
    data = json.loads((resources.files("ecgtriage.signal") / "data" / "quality_gate.json")
                      .read_text(encoding="utf-8"))
    assert GateLimits.from_dict(data["limits"]) == limits
    prov = data["provenance"]
    assert prov["clean_false_reject"] <= prov["target_clean_false_reject"]
    assert prov["script"] == "scripts/measure_quality_gate.py"


def test_limits_round_trip_and_unknown_keys(tmp_path):
    from ecgtriage.atomic import write_json

    limits = GateLimits(max_ptp_mv=12.5, min_std_mv=0.02)
    write_json(tmp_path / "g.json", limits.to_dict())
    again = GateLimits.from_dict(json.loads((tmp_path / "g.json").read_text()))
    assert again == limits
    with pytest.raises(ConfigError, match="unknown setting.*max_snr"):
        GateLimits.from_dict({**limits.to_dict(), "max_snr": 3})
    with pytest.raises(ConfigError, match="min_fs < max_fs"):
        GateLimits(min_fs=100.0, max_fs=50.0)
    with pytest.raises(ConfigError, match="max_rail_share"):
        GateLimits.from_dict({"max_rail_share": 2.0})


def test_flag_and_message_format():
    result = GateResult(False, (GateFlag("V3", "flat line, std 0.001 mV", 0.001),
                                GateFlag(None, "too short, 2.00 s", 2.0)))
    assert result.message() == ("unreadable: repeat the recording (V3: flat line, std 0.001 mV; "
                                "too short, 2.00 s)")


def test_swapped_limb_leads_break_einthoven(clean):
    from ecgtriage.signal.quality_gate import limb_lead_error

    assert limb_lead_error(clean) < 1e-6
    x = clean.copy()
    x[[0, 1]] = x[[1, 0]]  # I and II swapped: III = II - I no longer holds
    assert limb_lead_error(x) > 0.3
    _only(assess_quality(x, FS), None, "limb leads I, II, III, aVR, aVL, aVF break Einthoven")
    # precordial swaps are invisible to the laws; two limb leads leave nothing to check
    y = clean.copy()
    y[[6, 7]] = y[[7, 6]]
    assert assess_quality(y, FS).readable
    present = [lead in ("I", "II", "V1", "V2") for lead in CANONICAL_LEADS]
    assert np.isnan(limb_lead_error(x, present))
