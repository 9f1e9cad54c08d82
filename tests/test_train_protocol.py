"""The PTB-XL benchmark protocol: crops, sliding windows, aggregation, schedules, tier recipes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ecgtriage.data.dataset import SignalDataset
from ecgtriage.errors import ConfigError
from ecgtriage.models import create_model
from ecgtriage.train import augment as aug
from ecgtriage.train.checkpoint import load_checkpoint
from ecgtriage.train.config import TrainConfig
from ecgtriage.train.objectives import build_objective, fine_to_coarse, statement_tiers
from ecgtriage.train.presets import tier_recipe
from ecgtriage.train.predict import predict_ensemble, predict_proba
from ecgtriage.train.run import train_on_arrays
from toy import make_toy_task


@pytest.mark.parametrize("total, n, stride, starts", [
    (1000, 250, 125, [0, 125, 250, 375, 500, 625, 750]),
    (1000, 250, 300, [0, 300, 600, 750]),  # the tail gets a window ending at the last sample
    (250, 250, 125, [0]),
    (1000, 250, 1000, [0, 750]),
])
def test_window_starts_known_answers(total, n, stride, starts):
    assert aug.window_starts(total, n, stride) == starts


def test_sliding_windows_are_the_record_slices_record_major():
    x = torch.arange(2 * 12 * 10, dtype=torch.float32).reshape(2, 12, 10)
    windows, w = aug.sliding_windows(x, 4, 3)  # starts 0, 3, 6
    assert w == 3 and windows.shape == (6, 12, 4)
    torch.testing.assert_close(windows[4], x[1, :, 3:7])
    torch.testing.assert_close(windows[2], x[0, :, 6:10])


def test_window_shorter_than_model_raises():
    with pytest.raises(ValueError, match="expected at least 250 samples per lead, found 200"):
        aug.window_starts(200, 250, 10)


class Stub(torch.nn.Module):
    """A "model" whose logit for class c is the window's mean of lead c: known outputs."""

    def __init__(self, n_samples: int, activation: str) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.signal_contract = create_model("resnet1d_small", n_samples=n_samples, fs=100,
                                            n_outputs=2).signal_contract
        self.output_activation = activation

    def forward(self, x):
        return x[:, :2, :].mean(dim=-1) + self.w


def _ramp() -> np.ndarray:
    # 1 record, lead 0 = -2 in the first half, +2 in the second; lead 1 = 0.
    x = np.zeros((1, 12, 400), np.float32)
    x[0, 0, :200], x[0, 0, 200:] = -2.0, 2.0
    return x


def test_predict_proba_max_and_mean_aggregation_known_answers():
    stub = Stub(200, "sigmoid")
    x = _ramp()
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    # Windows of 200 every 100 samples: starts 0, 100, 200 → lead-0 means -2, 0, +2.
    p_max = predict_proba(stub, x, protocol={"stride_s": 1.0, "aggregate": "max"}, progress=False)
    p_mean = predict_proba(stub, x, protocol={"stride_s": 1.0, "aggregate": "mean"}, progress=False)
    np.testing.assert_allclose(p_max[0], [sig(2.0), 0.5], rtol=1e-6)
    np.testing.assert_allclose(p_mean[0], [(sig(-2.0) + 0.5 + sig(2.0)) / 3, 0.5], rtol=1e-6)
    # No protocol: the centre window (100..300), lead-0 mean 0.
    np.testing.assert_allclose(predict_proba(stub, x, progress=False)[0], [0.5, 0.5], rtol=1e-6)
    # The model's own protocol is the default.
    stub.window_protocol = {"stride_s": 1.0, "aggregate": "max"}
    np.testing.assert_allclose(predict_proba(stub, x, progress=False), p_max)


def test_max_aggregation_renormalises_single_label_rows():
    stub = Stub(200, "softmax")
    p = predict_proba(stub, _ramp(), protocol={"stride_s": 1.0, "aggregate": "max"}, progress=False)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    soft = lambda a: np.exp(a) / np.exp(a).sum()  # noqa: E731
    raw = np.max([soft(np.array([m, 0.0])) for m in (-2.0, 0.0, 2.0)], axis=0)
    np.testing.assert_allclose(p[0], raw / raw.sum(), rtol=1e-6)


def test_ensemble_mean_and_cost():
    a, b = Stub(200, "sigmoid"), Stub(200, "sigmoid")
    with torch.no_grad():
        b.w.fill_(1.0)
    x = _ramp()
    p, cost = predict_ensemble([a, b], x, tta_scales=(1.0, 0.5))
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    # centre window mean 0 whatever the scale: model a gives 0.5, model b sigmoid(1)
    np.testing.assert_allclose(p[0], [(0.5 + sig(1.0)) / 2] * 2, rtol=1e-6)
    assert cost["forward_passes"] == 4 and cost["n_models"] == 2 and cost["seconds"] >= 0


def test_config_rejects_bad_protocol_values():
    with pytest.raises(ConfigError, match="predict_stride_s: expected > 0"):
        TrainConfig(predict_stride_s=0.0)
    with pytest.raises(ConfigError, match="plateau_patience"):
        TrainConfig(plateau_patience=0)
    with pytest.raises(ConfigError, match="patience: expected more than plateau_patience"):
        TrainConfig(schedule="plateau", patience=2, plateau_patience=2)
    assert aug.window_protocol(TrainConfig()) is None  # default: today's centre crop
    assert aug.window_protocol({"predict_stride_s": 1.25, "aggregate": "mean"}) == {
        "stride_s": 1.25, "aggregate": "mean"}


def test_statement_tiers_follow_the_label_rules():
    tiers = dict(zip(__import__("ecgtriage.labels", fromlist=["load_scheme"]).load_scheme("all").classes,
                     statement_tiers("all", "tier3")))
    assert tiers["NORM"] == 0 and tiers["SR"] == 0
    assert tiers["3AVB"] == 2 and tiers["LNGQT"] == 2  # Serious
    assert tiers["PVC"] == 1  # Monitor
    with pytest.raises(ConfigError, match="not single statements"):
        statement_tiers("superdiagnostic")


def test_fine_to_coarse_known_answers():
    tiers = np.array([1, 2, 1, 0])  # Monitor, Serious, Monitor, Normal
    proba = np.array([[0, 0, 0, 0], [1, 0, 0, 1], [0.5, 0.5, 0, 0], [0.5, 0.5, 0.5, 0.9]])
    out = fine_to_coarse(proba, tiers, 3)
    expected = [[1, 0, 0], [0, 1, 0], [0.25, 0.25, 0.5], [0.125, 0.375, 0.5]]
    np.testing.assert_allclose(out, expected, atol=1e-12)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)


def test_tier_recipes():
    assert tier_recipe("direct") == ("tier3", {"loss": "ce", "class_weighting": False})
    assert tier_recipe("fine_to_coarse", fine_scheme="aha44")[0] == "aha44"
    assert tier_recipe("corn", "tier4") == ("tier4", {"loss": "corn"})
    with pytest.raises(ConfigError, match="tier recipe: expected one of"):
        tier_recipe("magic")


def test_direct_objective_has_no_class_weights():
    obj = build_objective("ce", multilabel=False, ordered=True, n_classes=3,
                          y_train=np.array([0, 0, 0, 1, 2]), class_weighting=False)
    assert obj.class_weight is None


def _toy_single(n_samples=300):
    x, y = make_toy_task(240, 3, fs=100.0, n_samples=n_samples, multilabel=False, seed=5)
    return (SignalDataset(x, np.arange(180), y[:180]),
            SignalDataset(x, np.arange(180, 240), y[180:], record_ids=[f"v{i}" for i in range(60)]))


@pytest.mark.slow
def test_protocol_run_trains_records_and_reloads(tmp_path):
    # Direct tier training (no weights), random 2 s crops of 3 s records, sliding-window
    # validation, selection by macro AUROC, plateau schedule with early stopping.
    train, val = _toy_single()
    cfg = TrainConfig(epochs=4, batch_size=32, lr=1e-2, patience=2, num_threads=1, device="cpu",
                      window_s=2.0, predict_stride_s=0.5, aggregate="mean", schedule="plateau", plateau_patience=1,
                      select_metric="macro_auroc", class_weighting=False, model="resnet1d_small")
    out = train_on_arrays(train, val, classes=["Normal", "Monitor", "Serious"], multilabel=False,
                          ordered=True, fs=100.0, config=cfg, out_dir=tmp_path / "run",
                          scheme_name="tier3", scheme_version="t", progress=False)
    model, card = load_checkpoint(out)
    assert card.config["predict_stride_s"] == 0.5 and card.n_samples == 200
    assert card.preprocessing["window"].startswith("sliding windows of n_samples every 0.5 s")
    assert model.window_protocol == {"stride_s": 0.5, "aggregate": "mean"}
    assert "macro_auroc" in card.val_metrics and card.val_metrics["macro_auroc"] > 0.6
    # Prediction applies the recorded protocol and reproduces the validation probabilities.
    proba = predict_proba(model, val.load_tensor(progress=False).numpy(), progress=False)
    val_pred = pd.read_csv(out / "val_predictions.csv")[["p_Normal", "p_Monitor", "p_Serious"]]
    np.testing.assert_allclose(proba, val_pred.to_numpy(), atol=1e-4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_plateau_scheduler_lowers_the_rate_on_a_stall():
    from ecgtriage.train.loop import is_epoch_scheduler, make_scheduler

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = make_scheduler(opt, TrainConfig(schedule="plateau", plateau_patience=1), 100)
    assert is_epoch_scheduler(sched)
    for metric in (0.5, 0.6, 0.6, 0.6):
        sched.step(metric)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)


def test_windowed_predictor_matches_predict_proba():
    from ecgtriage.train.objectives import to_probabilities
    from ecgtriage.train.predict import windowed_predictor

    stub = Stub(200, "sigmoid")
    one_window = lambda x: to_probabilities(stub(torch.from_numpy(x)), "sigmoid").detach().numpy()  # noqa: E731
    assert windowed_predictor(one_window, stub) is one_window  # no protocol: unchanged
    stub.window_protocol = {"stride_s": 1.0, "aggregate": "mean"}
    wrapped = windowed_predictor(one_window, stub)
    np.testing.assert_allclose(wrapped(_ramp()), predict_proba(stub, _ramp(), progress=False), rtol=1e-6)


def test_ladder_table_and_subsample():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "ptbxl_ladder.py"
    spec = importlib.util.spec_from_file_location("ptbxl_ladder", path)
    ladder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ladder)
    splits = pd.DataFrame({"record_id": [str(i) for i in range(1000)],
                           "split": ["train"] * 800 + ["val"] * 100 + ["test"] * 100})
    small = ladder.subsample(splits, 200, seed=0)
    assert small["split"].value_counts().to_dict() == {"train": 200, "val": 25, "test": 25}
    assert ladder.subsample(splits, None, seed=0) is splits
    rows = [{"task": "superdiagnostic", "recipe": None, "model": "m", "auroc": 0.8123,
             "s_per_epoch": 2.0, "n_parameters": 500_000},
            {"task": "tier3", "recipe": "direct", "model": "m", "auroc": 0.7, "serious_sensitivity": 0.9,
             "s_per_epoch": 3.0, "n_parameters": 500_000}]
    text = ladder.table(rows, ["superdiagnostic", "tier3"])
    assert "| published xresnet1d101 | 0.928 | – | – | – |" in text
    assert "| m | 0.812 | 0.700 (sens 0.90) | 2.0 | 0.50 M |" in text
