"""Named training presets and tier recipes: how ``train`` and the study pick them, and the
probability correction fine-to-coarse needs."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ecgtriage import config as cfgmod
from ecgtriage.cli.app import build_parser
from ecgtriage.errors import ConfigError
from ecgtriage.study.config import default_train_config, load_study_config
from ecgtriage.train.objectives import bce_pos_weight, fine_to_coarse, remove_pos_weight
from ecgtriage.train.presets import PRESETS, preset, resolve_preset


def test_every_preset_builds_and_unknown_names_are_listed():
    for name in PRESETS:
        assert preset(name).epochs >= 1
    with pytest.raises(ConfigError, match="expected one of library, study-cpu, benchmark"):
        preset("fast")
    with pytest.raises(ConfigError, match="expected auto or one of"):
        resolve_preset("fast", real_data=True)


def test_benchmark_preset_is_the_published_protocol():
    b = preset("benchmark")
    assert (b.window_s, b.predict_stride_s, b.aggregate) == (2.5, 1.25, "max")
    assert (b.lr, b.weight_decay, b.schedule, b.select_metric) == (1e-2, 1e-2, "onecycle", "macro_auroc")
    assert preset("benchmark", epochs=3, device=None).epochs == 3  # None leaves the preset's value


def test_study_resolves_auto_by_data_and_keeps_explicit_settings(tmp_path):
    synthetic = load_study_config()
    assert synthetic.train_preset == "study-cpu"
    assert synthetic.train == default_train_config() == preset("study-cpu")

    real = load_study_config(**{"data.train": "somewhere", "train.epochs": 3})
    assert real.train_preset == "real-cpu"
    assert real.train == replace(preset("real-cpu"), epochs=3)

    (tmp_path / "s.toml").write_text('train_preset = "benchmark"\n[train]\nclass_weighting = true\n')
    chosen = load_study_config(tmp_path / "s.toml")
    assert chosen.train == replace(preset("benchmark"), class_weighting=True)

    # The saved, resolved config reloads to the same configuration.
    (tmp_path / "config.json").write_text(json.dumps(cfgmod.to_dict(chosen)))
    assert load_study_config(tmp_path / "config.json") == chosen


def test_study_cli_preset_override_reaches_the_config():
    real = load_study_config(**{"data.train": "x", "train_preset": "study-cpu"})
    assert real.train == preset("study-cpu")
    with pytest.raises(ConfigError, match="train preset"):
        load_study_config(train_preset="nope")


def _train_config(argv):
    from ecgtriage.cli.train import _load_config

    return _load_config(build_parser().parse_args(["train", "data", "--out", "r", *argv]))


def test_train_cli_preset_recipe_and_flags_compose(tmp_path):
    cfg = _train_config(["--scheme", "tier3", "--preset", "benchmark", "--recipe", "corn", "--epochs", "2"])
    assert cfg == replace(preset("benchmark"), loss="corn", epochs=2)
    (tmp_path / "t.toml").write_text("[train]\nlr = 0.001\n")
    cfg = _train_config(["--scheme", "tier3", "--preset", "real-cpu", "--config", str(tmp_path / "t.toml")])
    assert cfg == replace(preset("real-cpu"), lr=0.001)
    assert _train_config(["--scheme", "tier3"]) == preset("library")


def test_remove_pos_weight_recovers_the_unweighted_optimum():
    # Weighted BCE is minimised at odds w·q/(1-q) for a true probability q.
    q = np.array([[0.01, 0.2, 0.5, 0.9]])
    w = np.array([50.0, 4.0, 1.0, 0.5])
    weighted = w * q / (1 - q) / (1 + w * q / (1 - q))
    assert np.allclose(remove_pos_weight(weighted, w), q)
    assert np.allclose(remove_pos_weight([[0.5]], [3.0]), 0.25)
    assert np.allclose(bce_pos_weight([10, 0, 90], 100, 5.0), [5.0, 1.0, 10 / 90])


def test_inflated_statement_probabilities_would_empty_normal():
    # 40 rare statements of tier 1 at true 2 % each: weighted (w=49) they read 0.5 each, and
    # the product rule leaves P(Normal) ≈ 0; corrected, P(Normal) = 0.98^40 ≈ 0.45.
    q = np.full((1, 40), 0.02)
    w = np.full(40, 49.0)
    inflated = w * q / (1 - q) / (1 + w * q / (1 - q))
    tiers = np.ones(40, np.int64)
    assert fine_to_coarse(inflated, tiers, 3)[0, 0] < 1e-9
    assert fine_to_coarse(remove_pos_weight(inflated, w), tiers, 3)[0, 0] == pytest.approx(0.98 ** 40)


@pytest.fixture(scope="module")
def ladder():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "ptbxl_ladder.py"
    spec = importlib.util.spec_from_file_location("ptbxl_ladder", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ladder_pairs_every_recipe_with_todays_default(ladder):
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 3, n)
    ids = np.array([str(i) for i in range(n)])
    good = np.eye(3)[y] * 0.6 + 0.4 / 3  # ranks every record right
    noise = rng.dirichlet(np.ones(3), n)  # ranks at chance
    rows = [{"task": "tier3", "recipe": "study_default", "model": "resnet1d_small", "seeds": 1},
            {"task": "tier3", "recipe": "direct", "model": "xresnet1d50", "seeds": 5}]
    preds = [{"test_ids": ids, "test_y": y, "test_proba": noise, "test_decided": noise.argmax(1)},
             # the recipe predicts in another order: pairing is by record id
             {"test_ids": ids[::-1], "test_y": y[::-1], "test_proba": good[::-1],
              "test_decided": good[::-1].argmax(1)}]
    (entry,) = ladder.compare_to_baseline(rows, preds, {i: f"p{int(i) // 2}" for i in ids}, n_boot=200)
    assert entry["recipe"] == "direct ×5" and entry["n_records"] == n
    assert entry["macro_auroc"]["a"] == pytest.approx(1.0)
    assert entry["macro_auroc"]["low"] > 0.3 and entry["improves"]
    assert entry["serious_sensitivity_recipe"]["value"] == 1.0 and entry["qualifies"]
    assert "| xresnet1d50 | direct ×5 |" in ladder.comparison_table([entry])


def test_ladder_compares_the_default_model_with_each_backbone(ladder):
    rng = np.random.default_rng(1)
    n = 400
    y = (rng.random((n, 5)) < 0.3).astype(np.float32)
    ids = np.array([str(i) for i in range(n)])
    sharp = np.clip(y * 0.8 + rng.random((n, 5)) * 0.3, 0, 1)  # near-perfect ranking
    vague = rng.random((n, 5))  # chance
    rows = [{"task": "superdiagnostic", "recipe": None, "model": m, "seeds": 1} for m in ("small", "big")]
    preds = [{"test_ids": ids, "test_y": y, "test_proba": vague},
             {"test_ids": ids, "test_y": y, "test_proba": sharp}]
    (entry,) = ladder.compare_models(rows, preds, {i: i for i in ids}, "small", n_boot=100)
    assert entry["model"] == "big" and entry["n_valid"] == 100
    assert entry["high"] < 0 and entry["a"] == pytest.approx(0.5, abs=0.06)
    assert "| superdiagnostic | small | big |" in ladder.model_comparison_table([entry])
    assert ladder.model_comparison_table([entry]).rstrip().endswith("| yes |")
