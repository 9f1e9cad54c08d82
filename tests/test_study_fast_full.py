"""The fast study (robustness on a patient sample, ONNX Runtime when installed) against the
full one (every record, eager PyTorch) on one small corpus: the science must not move.

Clean-set tables are computed from the same predictions, so they must be identical; each
point of a degradation curve made on the sample must lie within that point's bootstrap
interval computed on the sample (plus a small slack for the interval's own noise at few
resamples). The sampling itself, the prediction keys and the ONNX/PyTorch equality are
checked directly as well.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from test_study_run import write_corpora

from ecgtriage.study import run as study_mod
from ecgtriage.study.config import load_study_config
from ecgtriage.study.data import plan_data
from ecgtriage.study.predict import (
    ONNX_ATOL,
    Predictions,
    make_predictor,
    onnx_available,
    torch_predictor,
)
from ecgtriage.study.run import grid
from ecgtriage.study.sections.robustness import curve_intervals
from ecgtriage.study.targets import StudyTargets
from ecgtriage.study.testsets import (
    clean_test_sets,
    corrupted_test_sets,
    key_of,
    robustness_sample,
)
from ecgtriage.train.checkpoint import load_checkpoint

CORRUPTIONS = {"gaussian": [12.0, 0.0], "missing_leads": [3.0, 6.0]}
SAMPLE = 36  #: of the ~60 internal test records


def _config(out, train, external, sample, runtime):
    return load_study_config(None, **{
        "out": str(out), "data.train": str(train), "data.external": [str(external)],
        "data.workers": 1, "schemes": ["tier3"],
        # The recipe these tolerances were set with: a 2-epoch real-cpu model (lr 1e-2) on 60
        # synthetic records can call every record one class, and the sample-vs-full gap of a
        # constant classifier is the sample's class mix, not the sampling under test.
        "train_preset": "study-cpu",
        "train.epochs": 2, "train.batch_size": 32, "train.num_threads": 1,
        "evaluation.explain_sample": 0,  # the interpretability section is not under test
        "evaluation.bootstrap": 20, "evaluation.corruptions": list(CORRUPTIONS),
        "evaluation.severities": CORRUPTIONS, "evaluation.corrupt_external": False,
        "evaluation.robustness_sample": sample, "evaluation.runtime": runtime,
    })


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fastfull")
    train, external = write_corpora(root, 300, 12, seed=11)
    out = root / "study"
    full_cfg = _config(out, train, external, 0, "torch")
    study_mod.run_study(full_cfg)
    full = json.loads((out / "results.json").read_text())
    shutil.copy(out / "results.json", root / "full.json")
    # Same directory: the models and the clean tables are reused, only the sampled corrupted
    # copies are predicted anew (their keys differ from the full copies').
    fast_cfg = _config(out, train, external, SAMPLE, "auto")
    study_mod.run_study(fast_cfg)
    fast = json.loads((out / "results.json").read_text())
    return {"full": full, "fast": fast, "full_cfg": full_cfg, "fast_cfg": fast_cfg, "out": out}


@pytest.mark.slow
def test_clean_tables_identical(runs):
    full, fast = runs["full"], runs["fast"]
    assert fast["timings"]["models_trained"] == 0  # nothing retrained for the fast run
    assert fast["scores"] == full["scores"]
    assert fast["external"] == full["external"]
    clean = [t for t in fast["test_sets"] if t["corruption"] is None]
    assert clean == [t for t in full["test_sets"] if t["corruption"] is None]


@pytest.mark.slow
def test_sampled_curves_within_their_intervals(runs):
    cfg, out = runs["fast_cfg"], runs["out"]
    plan = plan_data(cfg, out)
    cells = grid(cfg, plan, out)
    clean, _ = clean_test_sets(plan, [])
    corrupted, _ = corrupted_test_sets(clean, cfg.evaluation)
    internal = next(ts for ts in clean if ts.name == "internal")
    assert all(ts.sampled_from == len(internal.record_ids) for ts in corrupted)
    n = len(corrupted[0].record_ids)
    assert SAMPLE <= n < len(internal.record_ids)  # whole patients: at least the asked-for n
    rows = curve_intervals(cells, clean + corrupted, Predictions(cfg.evaluation.seed),
                           StudyTargets(), n_boot=200, seed=0)
    full = {(r["cell"], r["corruption"], r["severity"]): r["value"]
            for r in runs["full"]["robustness"]["curves"] if r["test_set"] == "internal"}
    assert len(rows) == len(cells) * (1 + sum(len(v) for v in CORRUPTIONS.values()))
    gaps, widths = [], []
    for r in rows:
        assert r["n_records"] == n and r["sample"]
        truth = full[(r["cell"], r["corruption"], r["severity"])]  # on every record
        if r["value"] is None or r["lo"] is None or truth is None:
            continue
        assert r["lo"] <= r["value"] <= r["hi"]
        # The full-set value lies within the sample's interval width of the sample's value
        # (a 95 % interval spans about 4 standard errors: a miss here is not noise) ...
        assert abs(r["value"] - truth) <= r["hi"] - r["lo"] + 1e-9, r
        gaps.append(abs(r["value"] - truth))
        widths.append((r["hi"] - r["lo"]) / 2)
    # ... and on average within the half-width: the stated intervals are honest, not loose.
    assert len(gaps) >= len(rows) // 2 and np.mean(gaps) <= np.mean(widths)


@pytest.mark.slow
def test_sample_is_fixed_patient_level_and_keyed(runs):
    cfg, out = runs["fast_cfg"], runs["out"]
    plan = plan_data(cfg, out)
    internal = clean_test_sets(plan, [])[0][0]
    a = robustness_sample(internal, SAMPLE, seed=0)
    assert a == robustness_sample(internal, SAMPLE, seed=0)  # fixed
    assert a.record_ids != robustness_sample(internal, SAMPLE, seed=1).record_ids
    index = internal.dataset.cache.index.astype({"record_id": str}).set_index("record_id")
    pats = index.loc[list(internal.record_ids), "patient_id"].astype(str)
    chosen = set(index.loc[list(a.record_ids), "patient_id"].astype(str))
    # every record of a chosen patient is in the sample (patients are never split)
    assert set(pats[pats.isin(chosen)].index) == set(a.record_ids)
    assert robustness_sample(internal, 0, seed=0) is internal
    assert robustness_sample(internal, 10**6, seed=0) is internal
    noisy = internal.with_corruption("gaussian", 0.0, 1)
    sampled = a.with_corruption("gaussian", 0.0, 1)
    assert key_of(noisy, 0) != key_of(sampled, 0)  # a sample never reuses full tables
    assert key_of(internal, 0) == key_of(robustness_sample(internal, 0, 0), 0)


@pytest.mark.slow
@pytest.mark.skipif(not onnx_available(), reason="the onnx extra is not installed")
def test_onnx_predictor_equals_eager(runs):
    cfg, out = runs["fast_cfg"], runs["out"]
    plan = plan_data(cfg, out)
    cells = grid(cfg, plan, out)
    x = np.asarray(plan.train.cache.signals[:37], dtype=np.float32)
    for cell in cells:
        model, _ = load_checkpoint(cell.run_dir, device="cpu")
        eager = torch_predictor(model, batch_size=16)(x)
        fast = make_predictor(model, device="cpu", batch_size=16, runtime="onnx", probe=x)
        got = fast(x)
        assert got.shape == eager.shape and np.abs(got - eager).max() <= ONNX_ATOL


def test_robustness_sample_and_runtime_settings():
    from ecgtriage.errors import ConfigError

    cfg = load_study_config()
    assert cfg.evaluation.robustness_sample == 300 and cfg.evaluation.runtime == "auto"
    assert load_study_config(None, **{"evaluation.robustness_sample": 0}
                             ).evaluation.robustness_sample == 0
    with pytest.raises(ConfigError, match="evaluation.robustness_sample"):
        load_study_config(None, **{"evaluation.robustness_sample": -5})
    with pytest.raises(ConfigError, match="runtime"):
        load_study_config(None, **{"evaluation.runtime": "tensorrt"})
