"""End-to-end training on a tiny learnable task: learning, reproducibility, resume, round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from ecgtriage.data.dataset import SignalDataset
from ecgtriage.evaluate.collapse import serious_operating_point
from ecgtriage.train.card import ModelCard
from ecgtriage.train.checkpoint import load_checkpoint
from ecgtriage.train.config import TrainConfig
from ecgtriage.train.export import export_onnx
from ecgtriage.train.predict import predict_proba
from ecgtriage.train.run import train_on_arrays
from toy import make_toy_task

CLASSES = ["A", "B", "C", "D"]
LEGACY_CARD_KEYS = ("card_version", "model", "fs", "n_samples", "seconds", "leads", "units", "scheme",
                    "objective", "thresholds", "preprocessing", "training_data", "code_version", "seed",
                    "best_epoch", "epochs_run", "val_metrics", "config", "created")
CFG = TrainConfig(epochs=3, batch_size=32, lr=1e-2, patience=0, num_threads=1, window_s=2.0,
                  device="cpu")


def _toy_multilabel():
    # 300 cached samples per record at 100 Hz, model window 200: training crops at random.
    x, y = make_toy_task(260, 4, fs=100.0, n_samples=300, multilabel=True, seed=3)
    y[:200, 3] = 0  # class D never positive in training
    train = SignalDataset(x, np.arange(200), y[:200])
    val = SignalDataset(x, np.arange(200, 260), y[200:], record_ids=[f"v{i}" for i in range(60)])
    return x, train, val


def _run(out, config=CFG, **kwargs):
    _, train, val = _toy_multilabel()
    return train_on_arrays(train, val, classes=CLASSES, multilabel=True, ordered=False, fs=100.0,
                           config=config, out_dir=out, scheme_name="toy", scheme_version="1",
                           progress=False, **kwargs)


@pytest.fixture(scope="module")
def run_a(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("a") / "run")


def test_learns_beyond_chance_and_writes_a_complete_run(run_a):
    for name in ("model.safetensors", "model_card.json", "config.json", "metrics.csv", "last.pt",
                 "val_predictions.csv"):
        assert (run_a / name).is_file(), name
    assert list((run_a / "tensorboard").iterdir())
    metrics = pd.read_csv(run_a / "metrics.csv")
    assert metrics["epoch"].tolist() == [1, 2, 3]
    card = json.loads((run_a / "model_card.json").read_text())
    # Chance is 0.5; classes A-C carry an obvious burst.
    assert card["val_metrics"]["macro_auroc"] > 0.85
    assert card["val_metrics"]["n_auroc_classes"] == 3  # D: absent from training, not scored
    assert card["objective"]["classes_absent_from_training"] == ["D"]
    assert card["objective"]["masked_from_loss"] == ["D"]
    assert card["thresholds"]["values"]["D"] is None
    assert all(card["thresholds"]["values"][c] is not None for c in "ABC")
    assert (card["fs"], card["n_samples"], card["units"]) == (100.0, 200, "mV")
    assert card["training_data"]["n"] == {"train": 200, "val": 60}
    assert card["training_data"]["class_counts"]["train"]["D"] == 0
    assert card["scheme"] == {"name": "toy", "version": "1", "classes": CLASSES,
                              "multilabel": True, "ordered": False}
    assert card["best_epoch"] == int(metrics.loc[metrics["macro_auroc"].idxmax(), "epoch"])
    # The on-disk layout is the trainer's historical one: every key, and nothing but them.
    assert sorted(card) == sorted(LEGACY_CARD_KEYS)
    assert ModelCard.read(run_a).to_dict() == card


def test_same_seed_gives_identical_results(run_a, tmp_path):
    run_b = _run(tmp_path / "b")
    a, b = pd.read_csv(run_a / "metrics.csv"), pd.read_csv(run_b / "metrics.csv")
    cols = ["train_loss", "val_loss", "macro_auroc"]
    pd.testing.assert_frame_equal(a[cols], b[cols], check_exact=True)
    wa, wb = load_file(run_a / "model.safetensors"), load_file(run_b / "model.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_different_seed_differs(run_a, tmp_path):
    run_c = _run(tmp_path / "c", config=TrainConfig(**{**CFG.__dict__, "seed": 1}))
    assert not pd.read_csv(run_a / "metrics.csv")["train_loss"].equals(
        pd.read_csv(run_c / "metrics.csv")["train_loss"])


def test_resume_after_interruption_matches_uninterrupted_run(run_a, tmp_path):
    class Interrupt(Exception):
        pass

    def stop_after_first(epoch, row):
        if epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        _run(tmp_path / "r", on_epoch_end=stop_after_first)
    assert pd.read_csv(tmp_path / "r" / "metrics.csv")["epoch"].tolist() == [1]
    resumed = _run(tmp_path / "r")
    pd.testing.assert_frame_equal(
        pd.read_csv(run_a / "metrics.csv").drop(columns=["train_seconds", "samples_per_s"]),
        pd.read_csv(resumed / "metrics.csv").drop(columns=["train_seconds", "samples_per_s"]),
        check_exact=True)
    wa, wr = load_file(run_a / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert all(torch.equal(wa[k], wr[k]) for k in wa)


def test_resume_with_other_config_is_refused(run_a, tmp_path):
    import shutil

    shutil.copytree(run_a, tmp_path / "copy")
    with pytest.raises(ValueError, match="last.pt: this run folder holds a run with a different config"):
        _run(tmp_path / "copy", config=TrainConfig(**{**CFG.__dict__, "lr": 5e-3}))


def test_checkpoint_round_trip_and_onnx(run_a, tmp_path):
    x, _, _ = _toy_multilabel()
    model, card = load_checkpoint(run_a)
    assert model.output_activation == "sigmoid" and not model.training
    proba = predict_proba(model, x[200:], batch_size=16, progress=False)  # centre-cropped 300 → 200
    saved = pd.read_csv(run_a / "val_predictions.csv")
    assert saved["record_id"].tolist() == [f"v{i}" for i in range(60)]
    np.testing.assert_allclose(proba, saved[[f"p_{c}" for c in CLASSES]].to_numpy(), atol=1e-5)
    assert export_onnx(model, tmp_path / "m.onnx") < 1e-4


def test_predict_rejects_short_signals(run_a):
    model, _ = load_checkpoint(run_a)
    with pytest.raises(ValueError, match=r"expected at least 200 samples per lead \(2 s at 100 Hz\), found 150"):
        predict_proba(model, np.zeros((1, 12, 150), np.float32))


def test_load_checkpoint_without_card_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="model_card.json does not exist"):
        load_checkpoint(tmp_path)


def test_ordinal_tiers_train_and_get_an_operating_point(tmp_path):
    x, y = make_toy_task(300, 3, fs=100.0, n_samples=200, multilabel=False, seed=5)
    train = SignalDataset(x, np.arange(220), y[:220])
    val = SignalDataset(x, np.arange(220, 300), y[220:])
    cfg = TrainConfig(epochs=6, batch_size=32, lr=1e-2, patience=0, num_threads=1, loss="corn",
                      device="cpu", noise_std=0.0)
    out = train_on_arrays(train, val, classes=["Normal", "Monitor", "Serious"], multilabel=False,
                          ordered=True, fs=100.0, config=cfg, out_dir=tmp_path / "t",
                          scheme_name="tier3", scheme_version="1", progress=False)
    model, card = load_checkpoint(out)
    assert model.output_activation == "corn" and card.model.n_outputs == 2
    assert card.val_metrics["macro_f1"] > 0.6  # chance ≈ 0.33
    op = card.thresholds
    assert op["kind"] == "serious_operating_point" and op["class"] == "Serious"
    assert op["sensitivity"] >= 0.8
    proba = predict_proba(model, x[220:], progress=False)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert card.serious_threshold == op["threshold"]
    np.testing.assert_array_equal(card.decide(proba, operating_point=True),
                                  serious_operating_point(proba, 2, op["threshold"]))


@pytest.mark.parametrize("schedule, epochs_run", [("cosine", 2), ("onecycle", 5)])
def test_early_stopping_waits_for_the_warm_up(tmp_path, schedule, epochs_run):
    # No validation record is positive, so the metric is NaN and never improves: with patience 2
    # a cosine run stops after epoch 2; a one-cycle run of 10 epochs does not count its warm-up
    # (30 % = 3 epochs) and stops after epochs 4 and 5.
    x, y = make_toy_task(80, 2, fs=100.0, n_samples=100, multilabel=True, seed=0)
    y[60:] = 0
    cfg = TrainConfig(epochs=10, batch_size=20, patience=2, schedule=schedule, num_threads=1, device="cpu")
    out = train_on_arrays(SignalDataset(x, np.arange(60), y[:60]), SignalDataset(x, np.arange(60, 80), y[60:]),
                          classes=["A", "B"], multilabel=True, ordered=False, fs=100.0, config=cfg,
                          out_dir=tmp_path / "es", scheme_name="toy", scheme_version="1", progress=False)
    card = json.loads((out / "model_card.json").read_text())
    assert card["epochs_run"] == epochs_run
    # Trained classes without validation positives get the w/(1+w) fallback, not a tuned value.
    assert card["thresholds"]["source"] == {"A": "fallback", "B": "fallback"}
    pos = y[:60].sum(axis=0)
    w = np.minimum((60 - pos) / pos, cfg.pos_weight_max)
    assert list(card["thresholds"]["values"].values()) == pytest.approx((w / (1 + w)).tolist())


def test_streaming_from_the_memmap_matches_in_memory_training(run_a, tmp_path):
    # in_memory="never" reads batches through a DataLoader over the (memmap-like) array: the
    # same batches in the same order, so the same numbers.
    run_s = _run(tmp_path / "s", config=TrainConfig(**{**CFG.__dict__, "in_memory": "never"}))
    cols = ["train_loss", "val_loss", "macro_auroc"]
    pd.testing.assert_frame_equal(pd.read_csv(run_a / "metrics.csv")[cols],
                                  pd.read_csv(run_s / "metrics.csv")[cols], check_exact=True)


def test_empty_validation_split_is_refused(tmp_path):
    x, y = make_toy_task(10, 2, n_samples=100, multilabel=True, seed=0)
    with pytest.raises(ValueError, match="validation split: expected at least one record with a known target"):
        train_on_arrays(SignalDataset(x, np.arange(10), y), SignalDataset(x, np.arange(0), y[:0]),
                        classes=["A", "B"], multilabel=True, ordered=False, fs=100.0, config=CFG,
                        out_dir=tmp_path / "e", scheme_name="toy", scheme_version="1")


def test_init_from_transfers_every_tensor_but_the_new_head(run_a, tmp_path):
    from dataclasses import replace

    from ecgtriage.errors import ConfigError
    from ecgtriage.models import create_model
    from ecgtriage.train.checkpoint import transfer_weights

    source, _ = load_checkpoint(run_a)
    # A tier model (3 outputs) on the same backbone and input contract as the 4-class run.
    tier = create_model(CFG.model, n_leads=12, n_samples=200, fs=100.0, n_outputs=3)
    untouched = transfer_weights(tier, run_a)
    src, dst = source.state_dict(), tier.state_dict()
    assert untouched and all(tuple(src[k].shape) != tuple(dst[k].shape) for k in untouched)
    shared = [k for k in dst if k not in untouched]
    assert len(shared) > 10 and all(torch.equal(dst[k], src[k]) for k in shared)
    with pytest.raises(ConfigError, match="reading 200 samples at 100 Hz"):
        transfer_weights(create_model(CFG.model, n_leads=12, n_samples=300, fs=100.0, n_outputs=3), run_a)
    with pytest.raises(ConfigError, match="init_from"):
        transfer_weights(tier, tmp_path / "no-run")

    # Through training: the run starts from the transferred backbone and records where from.
    x, y = make_toy_task(120, 3, fs=100.0, n_samples=300, multilabel=False, seed=1)
    cfg = replace(CFG, epochs=1, init_from=str(run_a))
    out = train_on_arrays(SignalDataset(x, np.arange(90), y[:90]), SignalDataset(x, np.arange(90, 120), y[90:]),
                          classes=["Normal", "Monitor", "Serious"], multilabel=False, ordered=True,
                          fs=100.0, config=cfg, out_dir=tmp_path / "t", scheme_name="tier3",
                          scheme_version="1", progress=False)
    assert json.loads((out / "config.json").read_text())["init_from"] == str(run_a)
