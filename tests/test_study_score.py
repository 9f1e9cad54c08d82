"""Study scoring and its sections on hand-made model cards, prediction tables and targets.

No training and no cache: a data set is a stand-in with an index, the targets come from a
hand-written ``compute`` function, and every expected number is worked out by hand below.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from test_train_card import tier_dict

from ecgtriage.labels import Targets
from ecgtriage.study import predict as predict_mod
from ecgtriage.study.cells import Cell
from ecgtriage.study.config import EvaluationConfig
from ecgtriage.study.data import DataPlan, Dataset, exclusions
from ecgtriage.study.predict import Predictions, prob_columns, write_predictions
from ecgtriage.study.score import score_models, score_prediction
from ecgtriage.study.sections.external import external_section
from ecgtriage.study.sections.robustness import robustness_section
from ecgtriage.study.targets import StudyTargets, label_exclusions
from ecgtriage.study.testsets import TestSet, clean_test_sets, key_of
from ecgtriage.train.card import ModelCard

TIER3 = ["Normal", "Monitor", "Serious"]
TIER4 = ["Normal", "Mild", "Moderate", "Serious"]
IDS = [f"r{i}" for i in range(6)]
#: Hand-made labels: two records per tier; r5 has no determinable tier4 label.
Y3 = np.array([0, 0, 1, 1, 2, 2])
Y4 = np.array([0, 0, 1, 2, 3, -1])
#: Most probable tier: Normal, Monitor, Monitor, Monitor, Serious, Normal → 4 of 6 right.
#: r5's P(Serious) = 0.3 is not the largest but passes the card's operating point (0.25).
PROBA = np.array([
    [0.8, 0.1, 0.1],
    [0.3, 0.6, 0.1],
    [0.2, 0.7, 0.1],
    [0.1, 0.8, 0.1],
    [0.1, 0.2, 0.7],
    [0.5, 0.2, 0.3],
], dtype=np.float32)


def _dataset(name: str = "hosp", fmt: str = "sph", ids=IDS, patients=None,
             excluded: pd.DataFrame | None = None, source: str = "/data/hosp") -> Dataset:
    index = pd.DataFrame({"record_id": list(ids),
                          "patient_id": list(patients) if patients is not None
                          else [f"p{i // 2}" for i in range(len(ids))]})
    cache = SimpleNamespace(manifest={"content_hash": f"hash-{name}"}, format=fmt, fs=100.0,
                            index=index,
                            excluded=excluded if excluded is not None
                            else pd.DataFrame(columns=["record_id", "file", "reason"]))
    return Dataset(name=name, role="train", cache=cache, source=source)


def _targets(dataset: Dataset, scheme: str) -> Targets:
    classes = {"tier3": TIER3, "tier4": TIER4}[scheme]
    y = {"tier3": Y3, "tier4": Y4}[scheme]
    ids = dataset.cache.index["record_id"].astype(str).to_numpy()
    y = y[: len(ids)]
    return Targets(y=y, known=y >= 0, class_observable=np.ones(len(classes), bool),
                   record_ids=ids, scheme_name=scheme, scheme_version="1",
                   classes=tuple(classes), details=pd.DataFrame())


def _cell(root: Path, threshold: float | None = 0.25) -> Cell:
    cell = Cell("tier3", 0, {}, "abc", root / "cells" / "tier3-s0-abc")
    ModelCard.from_dict(tier_dict(threshold)).write(cell.run_dir)
    return cell


def _write_table(cell: Cell, ts: TestSet, proba: np.ndarray = PROBA, seed: int = 0) -> Path:
    table = pd.DataFrame({"record_id": list(ts.record_ids),
                          "patient_id": [f"p{i // 2}" for i in range(len(ts.record_ids))]})
    table[prob_columns(TIER3)] = proba
    path = cell.predictions_path(key_of(ts, seed))
    write_predictions(path, table)
    return path


@pytest.fixture
def scene(tmp_path):
    ds = _dataset()
    ts = TestSet("internal", "internal", ds, tuple(IDS))
    cell = _cell(tmp_path)
    _write_table(cell, ts)
    return SimpleNamespace(ds=ds, ts=ts, cell=cell, predictions=Predictions(0),
                           targets=StudyTargets(compute=_targets))


def test_native_and_common_ground_views_match_hand_counts(scene):
    views = score_prediction(scene.predictions.get(scene.cell, scene.ts), scene.targets,
                             EvaluationConfig(bootstrap=0))
    assert set(views) == {"native", "tier3"}  # tier4 cannot be derived from a tier3 model
    native = views["native"]["metrics"]
    assert native["accuracy"]["value"] == pytest.approx(4 / 6)
    assert views["tier3"]["metrics"]["accuracy"]["value"] == pytest.approx(4 / 6)
    # Serious: r4 by argmax, r5 only through the operating point → 2 of 2 at the card's rule.
    assert native["serious_sensitivity"]["value"] == pytest.approx(1.0)
    # Specificity at the operating point: no non-Serious record passes 0.25 (max is 0.1).
    assert native["serious_specificity"]["value"] == pytest.approx(1.0)
    assert views["native"]["confusion"]["matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert views["native"]["n_records"] == 6


def test_without_an_operating_point_serious_follows_the_argmax(scene, tmp_path):
    cell = _cell(tmp_path / "argmax", threshold=None)
    _write_table(cell, scene.ts)
    views = score_prediction(scene.predictions.get(cell, scene.ts), scene.targets,
                             EvaluationConfig(bootstrap=0))
    assert views["native"]["metrics"]["serious_sensitivity"]["value"] == pytest.approx(0.5)


def test_bootstrap_intervals_bracket_the_point_estimate(scene):
    views = score_prediction(scene.predictions.get(scene.cell, scene.ts), scene.targets,
                             EvaluationConfig(bootstrap=50, seed=1))
    for name in ("accuracy", "macro_f1"):
        ci = views["native"]["metrics"][name]
        assert ci["lo"] is not None and ci["lo"] <= ci["value"] <= ci["hi"], name


def test_a_corrupted_copy_gets_only_the_robustness_point(scene):
    noisy = scene.ts.with_corruption("gaussian", 6.0, 1)
    _write_table(scene.cell, noisy, np.tile([[0.1, 0.1, 0.8]], (6, 1)).astype(np.float32))
    out = score_models([scene.cell], [scene.ts, noisy], scene.predictions, scene.targets,
                       EvaluationConfig(bootstrap=0))
    assert {(s["test_set"], s["view"]) for s in out.scores} == {("internal", "native"),
                                                                  ("internal", "tier3")}
    points = {c["corruption"]: c["value"] for c in out.curves}
    # All Serious: F1 of Serious = 2·(2/6)/(2/6 + 1) = 0.5, the others 0 → macro 1/6.
    assert points[None] > points["gaussian"] == pytest.approx(1 / 6)


def test_each_table_and_card_is_read_once(scene, monkeypatch):
    calls = []
    real = predict_mod.read_predictions
    monkeypatch.setattr(predict_mod, "read_predictions", lambda p: calls.append(p) or real(p))
    first = scene.predictions.get(scene.cell, scene.ts)
    again = scene.predictions.get(scene.cell, scene.ts)
    assert first is again and len(calls) == 1
    assert scene.predictions.card(scene.cell) is first.card


def test_prediction_rows_follow_record_ids_not_file_order(scene):
    shuffled = scene.ts.record_ids[::-1]
    path = scene.cell.predictions_path(key_of(scene.ts, 0))
    table = pd.read_csv(path, dtype=str).set_index("record_id").loc[list(shuffled)].reset_index()
    table.to_csv(path, index=False)
    pred = Predictions(0).get(scene.cell, scene.ts)
    views = score_prediction(pred, scene.targets, EvaluationConfig(bootstrap=0))
    assert views["native"]["metrics"]["accuracy"]["value"] == pytest.approx(4 / 6)


def test_label_exclusions_count_undeterminable_labels(scene):
    rows = label_exclusions([scene.ts], ["tier3"], scene.targets)
    assert rows == [{"dataset": "internal", "reason": "no tier4 label (undeterminable)", "n": 1,
                     "records": [{"record_id": "r5"}]}]


def test_robustness_section_areas_by_hand():
    curves = [{"cell": "tier3-s0", "scheme": "tier3", "seed": 0, "test_set": "internal",
               "corruption": c, "severity": s, "rank": r, "value": v}
              for c, s, r, v in ((None, None, 0, 0.8), ("gaussian", 12.0, 1, 0.8),
                                 ("gaussian", 0.0, 2, 0.4))]
    out = robustness_section(curves, skipped=[])
    (row,) = out["summary"]
    # (1/2)·[(0.8 + 0.8)/1.6 + (0.8 + 0.4)/1.6] = 0.875; worst 0.4/0.8.
    assert row["auc"] == pytest.approx(0.875) and row["at_worst"] == pytest.approx(0.5)
    assert out["curves"][1]["unit"] == "dB SNR" or out["curves"][1]["unit"]
    assert out["metric_label"] == "3-tier macro-F1"


def test_external_section_writes_em_adjusted_tables_once(scene, tmp_path):
    train = _dataset("hosp")
    plan = DataPlan(train=train, splits=pd.DataFrame({"record_id": IDS, "split": ["train"] * 6}),
                    split_roles={})
    ext = TestSet("other", "external", _dataset("other", fmt="ptbxl"), tuple(IDS))
    _write_table(scene.cell, ext)
    statements = SimpleNamespace(get=lambda ds, ids=None: pd.DataFrame(
        {"record_id": list(ids or IDS), "statement": ["NORM"] * len(ids or IDS),
         "name": ["normal ECG"] * len(ids or IDS), "aha_code": ["1"] * len(ids or IDS)}))
    out = external_section(["tier3"], plan, [scene.cell], [scene.ts, ext], scene.predictions,
                           scene.targets, statements)
    (entry,) = out  # the internal set has no external section
    (em,) = entry["em_adjusted"]
    assert em["raw_accuracy"] == pytest.approx(4 / 6)
    adjusted = scene.cell.predictions_path(key_of(ext, 0)).with_name(
        scene.cell.predictions_path(key_of(ext, 0)).stem + "__em_adjusted.csv")
    assert adjusted.is_file()
    stamp = adjusted.stat().st_mtime_ns
    external_section(["tier3"], plan, [scene.cell], [ext], scene.predictions, scene.targets,
                     statements)
    assert adjusted.stat().st_mtime_ns == stamp
    table = pd.read_csv(adjusted)
    assert np.allclose(table[prob_columns(TIER3)].sum(axis=1), 1.0, atol=1e-4)


def test_clean_test_sets_drop_records_of_training_patients(monkeypatch):
    # Stand-in caches carry no signals: signal fingerprints are tested in test_data_identity.
    from ecgtriage.data import identity
    monkeypatch.setattr(identity, "match_signals", lambda *a, **k: [])
    train = _dataset("hosp")
    splits = pd.DataFrame({"record_id": IDS, "split": ["train", "train", "val", "val",
                                                       "test", "test"]})
    # The same hospital given again: p0 (r0, r1) and p1 (r2, r3) were seen in training.
    again = _dataset("again", ids=["r0", "r3", "r4", "x9"],
                     patients=["p0", "p1", "p2", "p1.0"])
    plan = DataPlan(train=train, splits=splits, split_roles={})
    sets, dropped = clean_test_sets(plan, [again])
    assert sets[1].record_ids == ("r4",)
    assert dropped[0]["n"] == 3 and {r["record_id"] for r in dropped[0]["records"]} == {
        "r0", "r3", "x9"}


def test_exclusions_are_grouped_by_reason_with_relative_files(tmp_path):
    root = tmp_path / "hosp"
    excluded = pd.DataFrame({
        "record_id": ["a", "b", "c"],
        "file": [str(root / "records" / "a.hea"), str(root / "records" / "b.hea"), "c.mat"],
        "reason": [f"{root}/records/a.hea: record is 2.00 s long; records shorter than 5 s are excluded",
                   f"{root}/records/b.hea: record is 3.50 s long; records shorter than 5 s are excluded",
                   "unreadable header: no sampling rate"],
    })
    rows = exclusions([_dataset("hosp", excluded=excluded, source=str(root))])
    assert [r["n"] for r in rows] == [2, 1]
    short = rows[0]
    assert "<file>" in short["reason"] and str(root) not in short["reason"]
    assert [r["file"] for r in short["records"]] == ["records/a.hea", "records/b.hea"]
    assert rows[1]["reason"] == "unreadable header: no sampling rate"
