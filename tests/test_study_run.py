"""End-to-end study on tiny corpora: results, report, resume without retraining, `evaluate`.

The corpora are written by the package's corpus writers in the real SPH and PTB-XL layouts;
their signals come from a light stand-in for the simulator (one sinusoid per statement on a
statement-specific lead) so that the whole file stays fast. One shared study run (module
fixture) is rerun and extended by the tests.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from test_report_build import check_self_contained

from ecgtriage.report import build_report
from ecgtriage.study import run as study_mod
from ecgtriage.study.config import load_study_config
from ecgtriage.study.predict import probabilities, read_predictions


def quick_simulate(statements, fs, duration_s, rng, patient=None):
    """A fast, label-dependent 12-lead signal (mV) with the simulator's signature."""
    n = int(round(fs * duration_s))
    t = np.arange(n) / fs
    x = 0.05 * rng.standard_normal((12, n))
    for s in statements:
        h = zlib.crc32(str(s).split("+")[0].encode())
        x[h % 12] += 0.5 * np.sin(2 * np.pi * (0.5 + (h % 17) * 0.4) * t)
    return x.astype(np.float32)


def write_corpora(root: Path, n_train: int, n_external: int, seed: int = 3) -> tuple[Path, Path]:
    from ecgtriage.synth.corpus import write_ptbxl_corpus, write_sph_corpus

    sph, ptbxl = root / "sph_mini", root / "ptbxl_mini"
    write_sph_corpus(sph, n_train, seed, workers=1, progress=False, simulate=quick_simulate)
    write_ptbxl_corpus(ptbxl, n_external, seed + 1, workers=1, progress=False,
                       simulate=quick_simulate, supported_extras=())
    return sph, ptbxl


def tiny_config(out: Path, train: Path, external: Path):
    return load_study_config(None, **{
        "out": str(out), "data.train": str(train), "data.external": [str(external)],
        "data.workers": 1,
        "train.epochs": 1, "train.batch_size": 32, "train.num_threads": 1,
        "evaluation.bootstrap": 20, "evaluation.corruptions": ["gaussian"],
        "evaluation.severities": {"gaussian": [6.0]}, "evaluation.corrupt_external": False,
    })


class Counter:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def wrap(self, real):
        def trainer(cache, scheme, out_dir, config, splits):
            self.calls.append(scheme.name)
            return real(cache, scheme, out_dir, config, splits)
        return trainer


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    train, external = write_corpora(root, 90, 30)
    cfg = tiny_config(root / "run", train, external)
    counter = Counter()
    mp = pytest.MonkeyPatch()
    mp.setattr(study_mod, "train_model", counter.wrap(study_mod.train_model))
    build_report(study_mod.run_study(cfg, command="pytest"))
    mp.undo()
    return {"root": root, "cfg": cfg, "dir": Path(cfg.out), "first_calls": list(counter.calls),
            "train": train, "external": external}


def test_study_trains_every_cell_and_scores_every_test_set(study):
    assert sorted(study["first_calls"]) == ["aha44", "tier3", "tier4"]
    results = json.loads((study["dir"] / "results.json").read_text())
    assert results["schemes"] == ["aha44", "tier4", "tier3"]
    views = {(s["scheme"], s["test_set"], s["view"]) for s in results["scores"]}
    for scheme in ("aha44", "tier4", "tier3"):
        for test_set in ("internal", "ptbxl_mini"):
            assert (scheme, test_set, "native") in views
            assert (scheme, test_set, "tier3") in views  # common ground for every model
    assert ("tier3", "internal", "tier4") not in views  # tier4 cannot come from tier3
    # Robustness: a clean point and the corrupted one for every scheme on the internal set.
    curves = results["robustness"]["curves"]
    assert {(c["scheme"], c["corruption"]) for c in curves} >= {
        (s, c) for s in ("aha44", "tier4", "tier3") for c in (None, "gaussian")}
    roles = {r["role"]: r for r in results["data_roles"]}
    assert roles["internal test"]["n_records"] > 0
    assert roles["external test"]["dataset"] == "ptbxl_mini"
    for name in ("headline", "metrics", "per_class", "confusion", "robustness_curves",
                 "rare_unseen", "prevalence", "em_adjusted", "claims"):
        assert (study["dir"] / "tables" / f"{name}.csv").is_file(), name
    saved = json.loads((study["dir"] / "config.json").read_text())
    assert saved["train"]["epochs"] == 1 and saved["schemes"] == ["aha44", "tier4", "tier3"]


def test_schemes_are_compared_paired_and_beside_their_ceilings(study):
    results = json.loads((study["dir"] / "results.json").read_text())
    comp = {c["test_set"]: c for c in results["comparison"]}
    assert set(comp) == {"internal", "ptbxl_mini"}
    for c in comp.values():
        rows = {(r["target"], r["kind"], r["scheme"]): r["metrics"] for r in c["rows"]}
        # Each scheme's own labels are its ceiling: perfect on the targets they define.
        assert rows[("default", "ceiling", "tier3")]["accuracy"]["value"] == 1.0
        assert rows[("modifier_free", "ceiling", "aha44")]["accuracy"]["value"] == 1.0
        learned = {r["scheme"] for r in c["rows"] if r["kind"] == "learned"}
        assert {"tier3", "tier4", "aha44 (code rules)"} <= learned
        assert c["differences"]
        for d in c["differences"]:
            assert d["a"] in learned and d["b"] in learned and d["a"] != d["b"]
            if d["difference"] is None:  # e.g. Serious sensitivity without a Serious record
                assert d["metric"] != "accuracy"
                continue
            assert d["low"] - 1e-9 <= d["difference"] <= d["high"] + 1e-9
            assert d["difference"] == pytest.approx(d["value_a"] - d["value_b"])
        assert 0.0 <= c["aha44_no_code_share"] <= 1.0
    assert {c["verdict"] for c in results["claims"]} <= {
        "supported", "not supported", "inconclusive", "not testable"}
    referral = results["referral"]
    assert {r["scheme"] for r in referral} == {"tier3", "tier4"}
    for r in referral:  # coverage and referrals add up; fewer accepted at lower coverage
        assert r["n_accepted"] + r["n_referred"] == round(r["coverage"] * (
            r["n_accepted"] + r["n_referred"])) + r["n_referred"]
    full = [r for r in referral if r["at"] == "coverage 1"]
    assert full and all(r["n_referred"] == 0 and r["serious_referred"] == 0 for r in full)
    for name in ("comparison", "comparison_differences", "rare_codes", "referral"):
        assert (study["dir"] / "tables" / f"{name}.csv").is_file(), name


def test_predictions_are_keyed_by_record_id(study):
    """Probabilities in a table belong to the record named on their row, whatever the order."""
    from ecgtriage.data.cache import open_cache
    from ecgtriage.train.checkpoint import load_checkpoint
    from ecgtriage.train.predict import predict_proba

    cell_dir = next((study["dir"] / "cells").glob("tier3-s0-*"))
    table_path = next((cell_dir / "predictions").glob("internal-*.csv"))
    table = read_predictions(table_path)
    splits = pd.read_csv(study["dir"] / "data" / "splits.csv", dtype=str)
    assert set(table["record_id"]) == set(splits.loc[splits["split"] == "test", "record_id"])
    model, card = load_checkpoint(cell_dir / "run")
    cache = open_cache(study["dir"] / "data" / "caches" / "sph_mini")
    picked = table.sample(frac=1.0, random_state=0).head(5)  # shuffled on purpose
    rows = cache.rows_for(picked["record_id"].tolist())
    expected = predict_proba(model, np.asarray(cache.signals[np.sort(rows)], np.float32),
                             progress=False)
    expected = expected[np.argsort(np.argsort(rows))]
    np.testing.assert_allclose(probabilities(picked, card.classes),
                               expected, rtol=1e-4, atol=1e-5)


def test_report_is_self_contained(study):
    html = (study["dir"] / "report.html").read_text(encoding="utf-8")
    assert check_self_contained(html) >= 4
    assert "The headline, in the reference study" in html
    assert "ptbxl_mini" in html


def test_rerun_resumes_without_retraining(study, monkeypatch):
    cells = sorted((study["dir"] / "cells").glob("*-s0-*"))
    weights = {c.name: (c / "run" / "model.safetensors").stat().st_mtime_ns for c in cells}
    preds = {p: p.stat().st_mtime_ns for c in cells for p in (c / "predictions").glob("*.csv")}
    counter = Counter()
    monkeypatch.setattr(study_mod, "train_model", counter.wrap(study_mod.train_model))
    study_mod.run_study(study["cfg"])
    assert counter.calls == []
    assert {c.name: (c / "run" / "model.safetensors").stat().st_mtime_ns for c in cells} == weights
    assert {p: p.stat().st_mtime_ns for p in preds} == preds

    # Simulate an interruption of one cell (no completion marker) and lose one prediction file.
    victim = next(c for c in cells if c.name.startswith("tier4-"))
    (victim / "cell.json").unlink()
    other = next(c for c in cells if c.name.startswith("aha44-"))
    lost = next((other / "predictions").glob("ptbxl_mini-*.csv"))
    lost.unlink()
    study_mod.run_study(study["cfg"])
    assert counter.calls == ["tier4"]
    assert (victim / "cell.json").is_file() and lost.is_file()
    untouched = [p for p in preds if p != lost and victim not in p.parents]
    assert all(p.stat().st_mtime_ns == preds[p] for p in untouched)
    # The retrained cell's predictions were made again from its new weights.
    # (Tables are keyed by the weights' sha256, so they may carry new names.)
    before = [t for p, t in preds.items() if victim in p.parents]
    after = list((victim / "predictions").glob("*.csv"))
    assert len(after) == len(before) and all(p.stat().st_mtime_ns > max(before) for p in after)


def test_changed_training_setting_makes_a_new_cell(study):
    cfg = study["cfg"]
    base = {c.id: c.hash for c in study_mod.grid(cfg, _plan(cfg), Path(cfg.out))}
    more = load_study_config(None, **{**_overrides(cfg), "train.epochs": 2})
    changed = {c.id: c.hash for c in study_mod.grid(more, _plan(more), Path(cfg.out))}
    other_eval = load_study_config(None, **{**_overrides(cfg), "evaluation.bootstrap": 7})
    same = {c.id: c.hash for c in study_mod.grid(other_eval, _plan(other_eval), Path(cfg.out))}
    assert base.keys() == changed.keys() == same.keys()
    assert all(base[k] != changed[k] for k in base)
    assert same == base  # evaluation settings do not touch the models


def _overrides(cfg):
    return {"out": cfg.out, "data.train": cfg.data.train, "data.external": cfg.data.external,
            "data.workers": 1, "train.epochs": cfg.train.epochs,
            "train.batch_size": cfg.train.batch_size, "train.num_threads": 1,
            "evaluation.bootstrap": cfg.evaluation.bootstrap,
            "evaluation.corruptions": cfg.evaluation.corruptions,
            "evaluation.severities": cfg.evaluation.severities,
            "evaluation.corrupt_external": False}


def _plan(cfg):
    from ecgtriage.study.data import plan_data

    return plan_data(cfg, Path(cfg.out))


def test_evaluate_adds_a_test_set_without_training(study, monkeypatch, tmp_path):
    from ecgtriage.cli import main
    from ecgtriage.synth.corpus import write_ptbxl_corpus

    later = tmp_path / "fold_later"
    write_ptbxl_corpus(later, 20, 99, workers=1, progress=False, simulate=quick_simulate,
                       supported_extras=())
    counter = Counter()
    monkeypatch.setattr(study_mod, "train_model", counter.wrap(study_mod.train_model))
    assert main(["evaluate", "--run", str(study["dir"]), "--data", str(later),
                 "--name", "later"]) == 0
    assert counter.calls == []
    results = json.loads((study["dir"] / "results.json").read_text())
    assert {s["test_set"] for s in results["scores"]} == {"internal", "ptbxl_mini", "later"}
    assert "later" in results["headline_externals"]
    assert any(r["dataset"] == "later" and r["role"] == "added test set"
               for r in results["data_roles"])
    assert "later" in (study["dir"] / "report.html").read_text(encoding="utf-8")
    # The name is taken now; asking for it again for another folder is refused.
    with pytest.raises(ValueError, match="--name later: a test set of that name"):
        study_mod.evaluate_study(study["dir"], study["external"], name="later")


def test_evaluate_refuses_a_folder_that_is_not_a_study(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a study directory"):
        study_mod.evaluate_study(tmp_path, tmp_path)


def test_evaluate_on_the_training_folder_tests_only_unseen_patients(study):
    """Scoring the training source again must not test models on their own training data."""
    study_mod.evaluate_study(study["dir"], study["train"], name="train_again")
    results = json.loads((study["dir"] / "results.json").read_text())
    roles = {r["role"].split(" ")[0]: r["n_records"] for r in results["data_roles"]}
    internal = roles["internal"]
    again = next(t for t in results["test_sets"] if t["name"] == "train_again"
                 and t["corruption"] is None)
    assert again["n_records"] == internal
    excluded = [e for e in results["exclusions"] if e["dataset"] == "train_again"
                and e["reason"].startswith("patient also in the training or validation")]
    assert excluded and excluded[0]["n"] == roles["training"] + roles["validation"]
