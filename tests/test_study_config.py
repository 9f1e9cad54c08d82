"""StudyConfig loading, overrides, errors; cell keys; claim verdicts on hand-built scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecgtriage.config import config_hash
from ecgtriage.study.cells import make_cells, splits_fingerprint, prediction_key
from ecgtriage.study.claims import claims, headline
from ecgtriage.study.config import StudyConfig, load_study_config


def test_defaults_are_the_reference_grid():
    cfg = load_study_config()
    assert cfg.schemes == ["aha44", "tier4", "tier3"]
    assert cfg.seeds == [0]
    assert cfg.preprocess.fs == 100.0 and cfg.preprocess.seconds == 10.0
    assert cfg.data.train is None  # synthetic study
    assert cfg.train.device == "auto"  # as `train`: a GPU when one is visible


def test_partial_toml_keeps_study_defaults_and_cli_overrides_win(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text(
        'schemes = ["tier3"]\nseeds = [1, 2]\n'
        "[train]\nepochs = 3\n"
        "[evaluation.severities]\ngaussian = [10, 0]\n"
        "[data.synthetic]\nn_train = 300\n"
    )
    cfg = load_study_config(path, **{"train.epochs": 5, "seeds": None, "out": "x"})
    assert cfg.schemes == ["tier3"] and cfg.seeds == [1, 2]
    assert cfg.train.epochs == 5  # the flag beats the file
    assert cfg.train.patience == 0  # the study's default, not TrainConfig's bare default
    assert cfg.evaluation.levels("gaussian") == [10.0, 0.0]
    assert cfg.evaluation.levels("muscle") == [24.0, 18.0, 12.0, 6.0, 0.0]  # registry
    assert cfg.data.synthetic.n_train == 300
    assert cfg.data.synthetic.n_external == StudyConfig().data.synthetic.n_external
    assert cfg.out == "x"


def test_json_config_round_trips_through_config_json(tmp_path):
    from ecgtriage.config import save_resolved

    cfg = load_study_config(None, **{"schemes": ["tier4", "tier3"], "train.lr": 0.01})
    save_resolved(cfg, tmp_path / "config.json")
    again = load_study_config(tmp_path / "config.json")
    assert again == cfg
    assert config_hash(again) == config_hash(cfg)


def test_unknown_key_names_file_and_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[train]\nepoch = 3\n")
    with pytest.raises(ValueError, match=r"bad\.toml\.train: unknown setting\(s\) epoch"):
        load_study_config(path)


def test_wrong_type_and_bad_values_are_refused(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"seeds": "zero"}))
    with pytest.raises(ValueError, match=r"bad\.json\.seeds: expected a list, found 'zero'"):
        load_study_config(path)
    with pytest.raises(ValueError, match="schemes: expected distinct names"):
        load_study_config(None, schemes=["tier3", "tier3"])
    with pytest.raises(ValueError, match="data.external: given without data.train"):
        load_study_config(None, **{"data.external": ["/x"]})
    with pytest.raises(ValueError, match="override train.epochz: unknown setting 'epochz'"):
        load_study_config(None, **{"train.epochz": 2})
    with pytest.raises(FileNotFoundError, match="config file .*nope.toml does not exist"):
        load_study_config(tmp_path / "nope.toml")


def test_cli_parses_study_and_evaluate_flags():
    from ecgtriage.cli import build_parser

    args = build_parser().parse_args(
        ["study", "--train", "a", "--external", "b", "--external", "c", "--scheme", "tier3",
         "--seed", "0", "--seed", "1", "--device", "cpu"])
    assert args.external == ["b", "c"] and args.seeds == [0, 1] and args.schemes == ["tier3"]
    args = build_parser().parse_args(["evaluate", "d", "--study", "s", "--name", "f10"])
    assert (args.study, args.path, args.name) == ("s", "d", "f10")


def test_cell_hash_depends_on_what_the_model_depends_on(tmp_path):
    import pandas as pd

    cfg = StudyConfig()
    fp = {"train_cache": "abc", "splits": "s1"}
    versions = {"aha44": "v1", "tier4": "v1", "tier3": "v1"}
    cells = make_cells(tmp_path, cfg.schemes, [0, 1], cfg.train, cfg.preprocess, fp, versions)
    assert [c.id for c in cells] == ["aha44-s0", "aha44-s1", "tier4-s0", "tier4-s1",
                                     "tier3-s0", "tier3-s1"]
    assert len({c.hash for c in cells}) == 6
    again = make_cells(tmp_path, cfg.schemes, [0, 1], cfg.train, cfg.preprocess, fp, versions)
    assert [c.hash for c in again] == [c.hash for c in cells]
    bumped = make_cells(tmp_path, cfg.schemes, [0, 1], cfg.train, cfg.preprocess, fp,
                        {**versions, "tier3": "v2"})
    assert [c.hash for c in bumped][:4] == [c.hash for c in cells][:4]
    assert [c.hash for c in bumped][4:] != [c.hash for c in cells][4:]
    assert cells[0].dir == tmp_path / "cells" / f"aha44-s0-{cells[0].hash}"
    assert not cells[0].trained
    a = pd.DataFrame({"record_id": ["1", "2", "3"], "split": ["train", "val", "test"]})
    assert splits_fingerprint(a) == splits_fingerprint(a.iloc[::-1])
    assert splits_fingerprint(a) != splits_fingerprint(a.assign(split=["train", "test", "val"]))


def test_prediction_keys_are_readable_and_distinct():
    clean = prediction_key("internal", "h1")
    noisy = prediction_key("internal", "h1", "gaussian", 6.0, 0)
    assert clean.startswith("internal-") and noisy.startswith("internal__gaussian_6-")
    assert prediction_key("internal", "h2") != clean
    assert prediction_key("internal", "h1", "gaussian", -3.0, 0).startswith("internal__gaussian_m3-")


def _score(scheme, test_set, view, **metrics):
    return {"scheme": scheme, "seed": 0, "test_set": test_set, "view": view,
            "metrics": {k: {"value": v[0], "lo": v[1], "hi": v[2]} for k, v in metrics.items()}}


def _diff(a, b, d, lo, hi, metric="accuracy"):
    return {"a": a, "b": b, "target": "default", "metric": metric, "difference": d,
            "low": lo, "high": hi}


def _comparison(ext_diffs, gap=(0.02, 0.0, 0.04)):
    return [{"test_set": "ext", "differences": ext_diffs},
            {"test_set": "internal", "differences": [],
             "native_macro_f1_tier3_minus_tier4": {"a": "tier3", "b": "tier4",
                                                    "difference": gap[0], "low": gap[1],
                                                    "high": gap[2]}}]


def _rare(*rows):
    return {"ext": [{"code": str(i), "f1": f1, "auroc": {"value": a, "lo": lo, "hi": hi}}
                    for i, (f1, a, lo, hi) in enumerate(rows)]}


def _verdicts(comparison, rare=None, scores=(), published=None):
    return claims(list(scores), ["aha44", "tier4", "tier3"], "internal", ["ext"],
                  comparison=comparison, rare_codes=rare, published_testable=published)


def test_claim_verdicts_follow_their_criteria():
    # tier3 − others: both paired intervals above 0 → supported; the order a/b is irrelevant.
    out = _verdicts(_comparison([_diff("tier3", "tier4", 0.05, 0.02, 0.08),
                                 _diff("aha44", "tier3", -0.10, -0.14, -0.06),
                                 _diff("tier3", "tier4", 0.3, -0.5, 0.9, metric="macro_f1")]),
                    rare=_rare((0.0, 0.52, 0.40, 0.64), (0.0, 0.50, 0.45, 0.55)),
                    published="trained on ptbxl: the published values are for SPH → PTB-XL")
    verdicts = [c["verdict"] for c in out]
    # Published values: not an SPH → PTB-XL run here → not testable, with the reason.
    assert verdicts == ["supported", "not testable", "not testable", "supported", "supported",
                        "not testable"]
    assert out[1]["observed"].startswith("trained on ptbxl")
    assert "tier3 − aha44 +0.100 (+0.060 to +0.140)" in out[0]["observed"]

    out = _verdicts(_comparison([_diff("tier3", "tier4", 0.01, -0.02, 0.04),
                                 _diff("tier3", "aha44", 0.10, 0.06, 0.14)],
                                gap=(0.02, -0.04, 0.08)),
                    rare=_rare((0.0, 0.8, 0.7, 0.9), (0.0, 0.5, 0.4, 0.6), (0.2, 0.6, 0.5, 0.7)))
    verdicts = [c["verdict"] for c in out]
    assert verdicts[0] == "inconclusive"  # one interval straddles 0
    assert verdicts[3] == "inconclusive"  # F1 = 0 on 2 of 3 but one code discriminates
    assert verdicts[4] == "inconclusive"  # the gap's interval is wider than 0.02 ± 0.03

    out = _verdicts(_comparison([_diff("tier4", "tier3", 0.05, 0.02, 0.08)],
                                gap=(-0.05, -0.08, -0.02)),
                    rare=_rare((0.3, 0.8, 0.7, 0.9), (0.2, 0.7, 0.65, 0.8)))
    assert [out[0]["verdict"], out[3]["verdict"], out[4]["verdict"]] == [
        "not supported", "not supported", "not supported"]
    assert _verdicts(None)[3]["verdict"] == "not testable"  # no rare statement


def test_published_values_are_judged_by_equivalence_on_the_published_setting():
    scores = [_score("tier3", "internal", "native", macro_f1=(0.86, 0.84, 0.88)),
              _score("tier3", "ext", "native", accuracy=(0.50, 0.30, 0.70))]
    out = _verdicts(None, scores=scores, published=None)
    # 0.84-0.88 minus 0.87 lies inside ±0.05; 0.30-0.70 minus 0.605 straddles the margin.
    assert [out[1]["verdict"], out[2]["verdict"]] == ["supported", "inconclusive"]
    scores[1] = _score("tier3", "ext", "native", accuracy=(0.40, 0.38, 0.42))
    assert _verdicts(None, scores=scores, published=None)[2]["verdict"] == "not supported"


def test_headline_averages_seeds():
    scores = [
        _score("tier3", "internal", "native", macro_f1=(0.8, 0.7, 0.9)),
        {**_score("tier3", "internal", "native", macro_f1=(0.6, 0.5, 0.7)), "seed": 1},
    ]
    row = headline(scores, ["tier3"], "internal", [])[0]
    assert row["internal_f1"]["value"] == pytest.approx(0.7)
    assert row["internal_f1"]["n_seeds"] == 2
    # The interval includes the seed spread: wider than either seed's own interval.
    assert row["internal_f1"]["lo"] < 0.5 and row["internal_f1"]["hi"] > 0.9


def test_example_config_loads():
    path = Path(__file__).resolve().parents[1] / "examples" / "study.toml"
    cfg = load_study_config(path)
    assert cfg.data.train.endswith("ptbxl") and cfg.seeds == [0, 1, 2]
    assert cfg.evaluation.levels("gaussian") == [24.0, 12.0, 6.0, 0.0]


def test_records_without_patient_id_are_their_own_patients():
    import numpy as np

    from ecgtriage.data.ids import patient_ids

    got = patient_ids(["a", "b", "c", "d", "e"], ["", "15709.0", None, "P1", np.nan])
    assert got.tolist() == ["record:a", "15709", "record:c", "P1", "record:e"]
