"""ecgtriage.explain: attributions, anatomy scores, sanity, and the explain command.

Where the truth is known (a toy beat train whose positive class is a notched QRS in V1 and V6,
with the P / QRS / ST-T / baseline masks known by construction), a trained model must put its
attribution on that region; a randomised model's Grad-CAM must decorrelate; every score has a
hand-computed answer.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgtriage.errors import ConfigError
from ecgtriage.explain import attribute as A
from ecgtriage.explain import scores as S
from ecgtriage.leads import CANONICAL_LEADS
from ecgtriage.models import create_model

SEGS = ("P", "QRS", "STT", "baseline")


def make_beats(n: int, seed: int, fs: float = 100.0, n_samples: int = 200):
    """Beat trains with known anatomy; class 1 adds a terminal R' (notched QRS) in V1 and V6."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / fs
    x = rng.normal(0, 0.03, size=(n, 12, n_samples))
    y = (rng.random(n) < 0.5).astype(np.int64)
    anat = {k: np.zeros((n, 12, n_samples), bool) for k in SEGS}
    gains = rng.uniform(0.5, 1.2, size=(n, 12, 1))
    for i in range(n):
        rr = rng.uniform(0.7, 0.9)
        first = rng.uniform(0.2, 0.2 + rr)
        sig, notch = np.zeros(n_samples), np.zeros(n_samples)
        seg = np.full(n_samples, "baseline", dtype=object)
        for r in np.arange(first - rr, t[-1] + rr, rr):
            def g(c, w, a):
                return a * np.exp(-0.5 * ((t - r - c) / w) ** 2)
            sig += g(-0.16, 0.02, 0.15) + g(0, 0.012, 1.0) + g(0.3, 0.05, 0.3)
            notch += y[i] * g(0.06, 0.012, 0.8)
            for name, lo, hi in (("P", -0.22, -0.10), ("QRS", -0.05, 0.10), ("STT", 0.10, 0.42)):
                seg[(t >= r + lo) & (t < r + hi)] = name
        x[i] += gains[i] * sig
        x[i, [CANONICAL_LEADS.index("V1"), CANONICAL_LEADS.index("V6")]] += notch
        for k in anat:
            anat[k][i] = (seg == k)[None, :]
    return x.astype(np.float32), y, anat


def _one(anat, i):
    return {k: v[i] for k, v in anat.items()}


# ---- scores on hand-built attributions -----------------------------------------------------


def _masks(n=100):
    anat = {k: np.zeros((12, n), bool) for k in SEGS}
    anat["P"][:, 0:10] = True
    anat["QRS"][:, 10:20] = True
    anat["STT"][:, 20:40] = True
    anat["baseline"][:, 40:] = True
    return anat


def test_localisation_and_pointing_game_known_answers():
    anat = _masks()
    region = S.region_mask(anat, ["QRS"], ["V1", "V6"])
    assert region.sum() == 2 * 10 and region[6, 10] and region[11, 19] and not region[0, 15]
    attr = np.zeros((12, 100))
    attr[6, 12] = 3.0        # inside the region
    attr[0, 50] = 1.0        # on the baseline
    attr[3, 30] = -5.0       # negative mass is ignored by localisation
    loc = S.localisation(attr, region, anat["baseline"])
    assert loc["region"] == pytest.approx(0.75) and loc["baseline"] == pytest.approx(0.25)
    assert loc["region_area"] == pytest.approx(20 / 1200)
    assert loc["region_gain"] == pytest.approx(0.75 / (20 / 1200))
    assert S.pointing_game(attr, region)
    attr[0, 50] = 4.0
    assert not S.pointing_game(attr, region)
    assert np.isnan(S.localisation(np.zeros((12, 100)), region, anat["baseline"])["region"])
    with pytest.raises(ValueError, match="shape"):
        S.localisation(np.zeros((12, 99)), region, anat["baseline"])


def test_defining_region_table_unions_codes_and_skips_unknown():
    anat = _masks()
    rbbb = S.defining_region(["106"], anat)                 # QRS in V1, V2, I, V6
    assert rbbb.sum() == 4 * 10
    both = S.defining_region(["106", "161", "1"], anat)     # + inferior MI: QRS+STT in II, III, aVF
    assert both.sum() == 4 * 10 + 3 * 30
    assert S.defining_region(["1", "22"], anat) is None     # normal and sinus rate: no region
    table = S.defining_regions()
    assert table["rationale"].str.len().gt(20).all()
    assert set(table.columns) >= {"aha_code", "segments", "leads", "rationale"}


def test_noise_attention_burst_mask_and_ratio():
    rng = np.random.default_rng(0)
    clean = np.zeros((12, 1000), np.float32)
    for kind in ("muscle", "electrode_motion"):
        noisy, mask = S.add_burst(clean, 100.0, rng, kind=kind, duration_s=1.0)
        cols = np.flatnonzero(mask.any(axis=0))
        assert cols.size == 100 and np.ptp(cols) == 99          # one 1 s window
        assert np.all(noisy[:, ~mask.any(axis=0)] == 0)          # nothing outside it
        assert np.abs(noisy[mask]).max() > 0.01
    attr = np.zeros((12, 1000))
    attr[mask] = 1.0
    res = S.noise_attention(attr, mask)
    assert res["share"] == pytest.approx(1.0) and res["ratio"] == pytest.approx(1 / mask.mean())
    uniform = S.noise_attention(np.ones((12, 1000)), mask)
    assert uniform["ratio"] == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="muscle"):
        S.add_burst(clean, 100.0, rng, kind="wander")


def test_deletion_curves_reward_the_true_evidence():
    # Score = mean of lead 0's first 50 samples: an attribution pointing there is faithful.
    x = np.ones((12, 200), np.float32)

    def score(batch):
        return batch[:, 0, :50].mean(axis=(1,))

    good = np.zeros((12, 200))
    good[0, :50] = 1.0
    bad = np.ones((12, 200))
    bad[0, :50] = -1.0     # points away from the evidence: it is removed last
    rng = np.random.default_rng(0)
    g = S.deletion_curves(score, x, good, 100.0, rng, window_s=0.5, n_steps=8)
    b = S.deletion_curves(score, x, bad, 100.0, rng, window_s=0.5, n_steps=8)
    assert g["attributed"][0] == 1.0 and g["attributed"][-1] == 0.0
    assert g["area_between"] > 0.3 and b["area_between"] < -0.3


def test_bootstrap_summaries_and_verdict_rule():
    rng = np.random.default_rng(0)
    a = rng.normal(0.5, 0.05, 60)
    b = a - 0.2 + rng.normal(0, 0.01, 60)
    pid = np.repeat(np.arange(30), 2)
    diff = S.paired_difference_ci(a, b, pid, n_boot=300)
    assert diff["estimate"] == pytest.approx(0.2, abs=0.01) and diff["n_patients"] == 30
    assert S.attention_verdict(diff, 0.05) == "supported"
    assert S.attention_verdict(S.paired_difference_ci(b, a, pid, n_boot=300)) == "not supported"
    assert S.attention_verdict({"low": 0.0, "high": 0.1}) == "inconclusive"
    with_nan = S.mean_ci(np.r_[a[:-1], np.nan], pid, n_boot=100)
    assert with_nan["estimate"] == pytest.approx(a[:-1].mean())


# ---- attribution plumbing ------------------------------------------------------------------


def _random_model(n_outputs=3, n_samples=200, activation="softmax"):
    torch.manual_seed(0)
    m = create_model("resnet1d_small", n_samples=n_samples, fs=100.0, n_outputs=n_outputs)
    m.output_activation = activation
    return m.eval()


def test_methods_shapes_targets_and_ig_completeness():
    m = _random_model()
    x = np.random.default_rng(1).normal(0, 0.5, (2, 12, 200)).astype(np.float32)
    assert isinstance(A.last_conv_stage(m), torch.nn.Sequential)      # the residual stages
    for method in A.METHODS:
        a = A.attribute(method, m, x, 2, n_steps=8) if method == "ig" else A.attribute(method, m, x, 2)
        assert a.shape == x.shape and a.dtype == np.float32 and np.isfinite(a).all()
    assert (A.gradcam(m, x, 1) >= 0).all()
    # IG completeness: attributions sum to score(x) - score(baseline 0 mV).
    ig = A.integrated_gradients(m, x[:1], 0, n_steps=32)
    gap = A.target_probability(m, x[:1], 0) - A.target_probability(m, np.zeros_like(x[:1]), 0)
    np.testing.assert_allclose(ig.sum(axis=(1, 2)), gap, rtol=0.05, atol=1e-6)
    with pytest.raises(ConfigError, match="class index"):
        A.gradcam(m, x, 7)
    with pytest.raises(ConfigError, match="method"):
        A.attribute("lime", m, x, 0)


def test_serious_target_from_the_card():
    class Card:  # the two card properties serious_mask reads
        def __init__(self, classes, multilabel, serious_index=None):
            self.classes, self.multilabel, self.serious_index = classes, multilabel, serious_index
            self.scheme_name = "x"

    assert A.serious_mask(Card(["Normal", "Monitor", "Serious"], False, 2)).tolist() == [False, False, True]
    from ecgtriage.labels import load_scheme

    codes = list(load_scheme("aha44").classes)
    mask = A.serious_mask(Card(codes, True))
    serious = {codes[i] for i in np.flatnonzero(mask)}
    assert {"88", "87", "84"} <= serious and "1" not in serious and "106" not in serious
    # per-record masks: the score is the largest selected probability
    m = _random_model(n_outputs=44, activation="sigmoid")
    x = np.random.default_rng(2).normal(0, 0.5, (2, 12, 200)).astype(np.float32)
    per = np.zeros((2, 44), bool)
    per[0, 3] = per[1, [5, 7]] = True
    p = A.target_probability(m, x, per)
    from ecgtriage.train.predict import predict_proba

    full = predict_proba(m, x, progress=False)
    assert p == pytest.approx([full[0, 3], full[1, [5, 7]].max()], rel=1e-5)


# ---- trained toy: attention on the defining region, sanity ---------------------------------


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    from ecgtriage.data.dataset import SignalDataset
    from ecgtriage.train.checkpoint import load_checkpoint
    from ecgtriage.train.config import TrainConfig
    from ecgtriage.train.run import train_on_arrays

    x, y, anat = make_beats(300, 1)
    cfg = TrainConfig(epochs=4, batch_size=32, lr=1e-2, patience=0, num_threads=1, window_s=2.0,
                      device="cpu", seed=0)
    train = SignalDataset(x, np.arange(240), y[:240])
    val = SignalDataset(x, np.arange(240, 300), y[240:], record_ids=[f"v{i}" for i in range(60)])
    run = train_on_arrays(train, val, classes=["other", "notched"], multilabel=False, ordered=False,
                          fs=100.0, config=cfg, out_dir=tmp_path_factory.mktemp("toy") / "run",
                          scheme_name="toy", scheme_version="1", progress=False)
    model, card = load_checkpoint(run)
    return run, model, card, x, y, anat


@pytest.mark.slow
def test_trained_model_attends_to_the_defining_region_and_sanity(toy_run):
    _, model, card, x, y, anat = toy_run
    pos = (np.flatnonzero(y[240:] == 1) + 240)[:8]
    assert A.target_probability(model, x[pos], 1, card=card).mean() > 0.9
    regions = [S.region_mask(_one(anat, i), ["QRS"], ["V1", "V6"]) for i in pos]
    results = {}
    for method, kw in (("ig", {"n_steps": 16}), ("gradcam", {}), ("occlusion", {})):
        a = A.attribute(method, model, x[pos], 1, card=card, **kw)
        loc = [S.localisation(a[j], regions[j], anat["baseline"][i]) for j, i in enumerate(pos)]
        results[method] = (a, loc)
        gain = np.mean([r["region_gain"] for r in loc])
        assert gain > 2.0, (method, gain)           # > 2× what a uniform map would put there
    ig_loc = results["ig"][1]
    assert np.mean([r["region"] for r in ig_loc]) > 3 * np.mean([r["baseline"] for r in ig_loc])
    assert np.mean([S.pointing_game(results["ig"][0][j], regions[j]) for j in range(len(pos))]) >= 0.5
    # Sanity: Grad-CAM of a re-initialised model decorrelates; a model-blind "method" (|x|) does not.
    rand = S.randomised_model(model, seed=0)
    assert not torch.equal(next(rand.parameters()), next(model.parameters()))
    rho = S.sanity_correlation(results["gradcam"][0], A.gradcam(rand, x[pos], 1, card=card))
    assert np.nanmedian(rho) < S.SANITY_MAX_RHO
    blind = S.sanity_correlation(np.abs(x[pos]), np.abs(x[pos]))
    assert np.nanmedian(blind) > S.SANITY_MAX_RHO


# ---- CLI -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_explain_on_a_wfdb_record(toy_run, tmp_path, capsys):
    import json
    import os

    import wfdb

    from ecgtriage.cli.app import main

    run, model, card, x, y, _ = toy_run
    i = int(np.flatnonzero(y == 1)[0])
    record = np.concatenate([x[i], x[i][:, :100]], axis=1).astype(np.float64)  # 3 s at 100 Hz
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        wfdb.wrsamp("rec1", fs=100, units=["mV"] * 12, sig_name=list(CANONICAL_LEADS),
                    p_signal=record.T, fmt=["16"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12)
    finally:
        os.chdir(cwd)
    out = tmp_path / "out"
    args = ["explain", "--run", str(run), str(tmp_path / "rec1.hea"), "--method", "occlusion",
            "--target", "notched", "--out", str(out)]
    assert main(args) == 0
    png, js = out / "rec1.png", out / "rec1.json"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000
    numbers = json.loads(js.read_text())
    assert numbers["target_classes"] == ["notched"] and numbers["method"] == "occlusion"
    assert numbers["target_probability"] == pytest.approx(numbers["probabilities"]["notched"], rel=1e-5)
    assert sum(numbers["lead_share"].values()) == pytest.approx(1.0)
    assert any("band-pass" in n or "centre" in n for n in numbers["input_notes"]) or numbers["input_notes"] == []
    # a second run refuses to replace the outputs unless told to
    capsys.readouterr()
    assert main(args) == 1
    assert "rec1.png exists" in capsys.readouterr().err
    # 'serious' on a model without a Serious class is a one-line error
    assert main([*args[:-4], "--target", "serious", "--out", str(out), "--overwrite"]) == 1
    assert "no Serious class" in capsys.readouterr().err


# ---- study section -------------------------------------------------------------------------


@pytest.mark.slow
def test_study_section_scores_every_model_and_judges_the_claim(monkeypatch):
    from types import SimpleNamespace

    import pandas as pd

    from ecgtriage.labels import load_scheme
    from ecgtriage.study.sections import interpretability as section

    x, y, anat = make_beats(6, 5)
    ids = [f"r{i}" for i in range(6)]
    index = pd.DataFrame({"record_id": ids, "patient_id": [f"p{i // 2}" for i in range(6)]})
    cache = SimpleNamespace(fs=100.0, index=index, signals=x,
                            rows_for=lambda wanted: np.array([ids.index(r) for r in wanted]))
    ts = SimpleNamespace(name="internal", kind="internal", record_ids=tuple(ids), corruption=None,
                         dataset=SimpleNamespace(cache=cache, source="nowhere", name="toy"))
    statements = SimpleNamespace(get=lambda ds, rids: pd.DataFrame(
        {"record_id": ids + ["r0"], "aha_code": ["106"] * 6 + [pd.NA]}))
    tier3 = SimpleNamespace(classes=["Normal", "Monitor", "Serious"], multilabel=False,
                            serious_index=2, scheme_name="tier3", activation="softmax", n_samples=200)
    aha44 = SimpleNamespace(classes=list(load_scheme("aha44").classes), multilabel=True,
                            serious_index=None, scheme_name="aha44", activation="sigmoid", n_samples=200)
    models = {"t": (_random_model(3), tier3), "a": (_random_model(44, activation="sigmoid"), aha44)}
    monkeypatch.setattr("ecgtriage.train.checkpoint.load_checkpoint", lambda run_dir: models[run_dir])
    monkeypatch.setattr(section, "_anatomy",
                        lambda ts, rid, xi, fs, n, synthetic: (_one(anat, ids.index(rid)), "simulator"))
    cells = [SimpleNamespace(id="tier3-s0", scheme="tier3", seed=0, run_dir="t"),
             SimpleNamespace(id="aha44-s0", scheme="aha44", seed=0, run_dir="a")]
    evaluation = SimpleNamespace(explain_sample=6, explain_methods=["gradcam"], seed=0, bootstrap=50)
    out = section.interpretability_section(cells, [ts], None, statements, evaluation)
    assert [(r["scheme"], r["n_records"], r["anatomy"]) for r in out["rows"]] == [
        ("tier3", 6, ["simulator"]), ("aha44", 6, ["simulator"])]
    for row in out["rows"]:
        est = row["localisation"]["estimate"]
        assert est is None or 0.0 <= est <= 1.0
        assert row["localisation"]["n_patients"] == 3
    assert {s["scheme"] for s in out["sanity"]} == {"tier3", "aha44"}
    assert [e["png"][:22] for e in out["examples"]] == ["data:image/png;base64,"] * 2
    v = out["verdict"]
    passed = all(s["passed"] for s in out["sanity"])
    assert v["verdict"] in ({"supported", "not supported", "inconclusive"} if passed else {"not testable"})
    assert section.interpretability_section(
        cells, [ts], None, statements, SimpleNamespace(explain_sample=0)) == {"skipped": "explain_sample is 0"}
