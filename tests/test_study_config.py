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


def _scores(t3_ext, t4_ext, aha_ext, t3_int=(0.86, 0.84, 0.88), t4_int=(0.85, 0.83, 0.87)):
    return [
        _score("tier3", "internal", "native", macro_f1=t3_int),
        _score("tier4", "internal", "native", macro_f1=t4_int),
        _score("tier3", "ext", "native", accuracy=t3_ext),
        _score("tier3", "ext", "tier3", accuracy=t3_ext),
        _score("tier4", "ext", "tier3", accuracy=t4_ext),
        _score("aha44", "ext", "tier3", accuracy=aha_ext),
    ]


def _verdicts(scores, rare=None):
    out = claims(scores, ["aha44", "tier4", "tier3"], "internal", ["ext"], rare)
    return {c["claim"].split(" ")[1] + ":" + c["claim"][:12]: c["verdict"] for c in out}, out


def test_claim_verdicts_follow_their_criteria():
    _, out = _verdicts(_scores((0.62, 0.58, 0.66), (0.50, 0.45, 0.55), (0.40, 0.35, 0.45)),
                       rare={"ext": [0.0, 0.0]})
    verdicts = [c["verdict"] for c in out]
    # 3-tier best with separated CIs; 0.87 inside [0.84, 0.88]; 60.5 % inside [0.58, 0.66];
    # both rare F1 = 0; gap 0.01 in [0, 0.05]; attribution claim not testable here.
    assert verdicts == ["supported", "supported", "supported", "supported", "supported",
                        "not testable"]

    _, out = _verdicts(_scores((0.50, 0.45, 0.55), (0.52, 0.47, 0.57), (0.40, 0.35, 0.45),
                               t3_int=(0.70, 0.65, 0.75), t4_int=(0.72, 0.70, 0.74)),
                       rare={"ext": [0.0, 0.3]})
    verdicts = [c["verdict"] for c in out]
    assert verdicts[0] == "inconclusive"  # tier4's CI overlaps tier3's
    assert verdicts[1] == "not supported" and "(lower)" in out[1]["observed"]
    assert verdicts[2] == "not supported"
    assert verdicts[3] == "not supported" and "1 with F1 > 0" in out[3]["observed"]
    assert verdicts[4] == "not supported"  # tier4 above tier3: gap -0.02

    _, out = _verdicts(_scores((0.40, 0.35, 0.45), (0.60, 0.55, 0.65), (0.40, 0.35, 0.45)))
    assert out[0]["verdict"] == "not supported"
    assert out[3]["verdict"] == "not testable"  # no rare statement with external positives


def test_headline_averages_seeds():
    scores = [
        _score("tier3", "internal", "native", macro_f1=(0.8, 0.7, 0.9)),
        {**_score("tier3", "internal", "native", macro_f1=(0.6, 0.5, 0.7)), "seed": 1},
    ]
    row = headline(scores, ["tier3"], "internal", [])[0]
    assert row["internal_f1"]["value"] == pytest.approx(0.7)
    assert row["internal_f1"]["n_seeds"] == 2


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
