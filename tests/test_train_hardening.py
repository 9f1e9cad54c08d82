"""Issue 13 for training and export: no data loss, no silent wrong result.

A tiny run (one epoch on the toy task) stands in for a trained model.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file

from ecgtriage.cli import main
from ecgtriage.data.dataset import SignalDataset
from ecgtriage.errors import ConfigError, DataError
from ecgtriage.train.card import ModelCardError
from ecgtriage.train.checkpoint import load_checkpoint
from ecgtriage.train.config import TrainConfig
from ecgtriage.train.export import export_onnx
from ecgtriage.train.run import check_splits, train_on_arrays
from toy import make_toy_task

CLASSES = ["A", "B", "C"]
CFG = TrainConfig(epochs=1, batch_size=32, lr=1e-2, patience=0, num_threads=1, window_s=2.0,
                  device="cpu")


def _data(nan_record: int | None = None):
    x, y = make_toy_task(120, 3, fs=100.0, n_samples=200, multilabel=True, seed=5)
    if nan_record is not None:
        x[nan_record, 2, 50] = np.nan
    ids = [f"r{i:03d}" for i in range(120)]
    train = SignalDataset(x, np.arange(90), y[:90], record_ids=ids[:90])
    val = SignalDataset(x, np.arange(90, 120), y[90:], record_ids=ids[90:])
    return train, val


def _train(out, nan_record=None, context=None, config=CFG):
    train, val = _data(nan_record)
    return train_on_arrays(train, val, classes=CLASSES, multilabel=True, ordered=False, fs=100.0,
                           config=config, out_dir=out, scheme_name="toy", scheme_version="1",
                           progress=False, resume_context=context)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("run") / "run", context={"data": "d1"})


def _copy(run, tmp_path):
    return shutil.copytree(run, tmp_path / "copy")


# -- data loss -----------------------------------------------------------------------------------
def test_export_into_the_run_folder_deletes_nothing(run, capsys):
    before = sorted(p.name for p in run.iterdir())
    weights = (run / "model.safetensors").read_bytes()
    assert main(["export", "--run", str(run), "--out", str(run)]) == 1
    assert "is a folder" in capsys.readouterr().err
    for target in ("model.safetensors", "model_card.json"):
        assert main(["export", "--run", str(run), "--out", str(run / target), "--overwrite"]) == 1
        assert "input of this command" in capsys.readouterr().err
    assert sorted(p.name for p in run.iterdir()) == before
    assert (run / "model.safetensors").read_bytes() == weights


def test_export_replaces_an_existing_file_only_with_overwrite(run, tmp_path, capsys):
    out = tmp_path / "model.onnx"
    out.write_text("an older export")
    assert main(["export", "--run", str(run), "--out", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_text() == "an older export"
    assert main(["export", "--run", str(run), "--out", str(out), "--overwrite"]) == 0
    assert out.stat().st_size > 1000
    # No temporary left; the model card travels beside the export.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.card.json", "model.onnx"]


def test_train_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "thesis.tex").write_text("keep")
    code = main(["train", str(tmp_path / "no-cache"), "--scheme", "tier3", "--out", str(folder)])
    assert code == 1
    assert "holds no training run" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == ["thesis.tex"]


# -- silent wrong results ------------------------------------------------------------------------
def test_non_finite_input_stops_training_naming_the_record(tmp_path):
    with pytest.raises(DataError, match=r"r007"):
        _train(tmp_path / "nan", nan_record=7)
    assert not (tmp_path / "nan" / "model.safetensors").exists()


def test_non_finite_validation_output_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"validation: non-finite model outputs for records r100"):
        _train(tmp_path / "nanval", nan_record=100)


def test_resume_with_other_data_is_refused_before_writing(run, tmp_path):
    copy = _copy(run, tmp_path)
    config_before = (copy / "config.json").read_text()
    with pytest.raises(ConfigError, match="different data.*another --out"):
        _train(copy, context={"data": "d2"})
    with pytest.raises(ConfigError, match="different scheme"):
        _train(copy, context={"data": "d1", "scheme": "tier4 1"})
    assert (copy / "config.json").read_text() == config_before


def test_resume_key_covers_data_scheme_splits_and_config():
    from ecgtriage.train.state import resume_key, splits_fingerprint

    a = pd.DataFrame({"record_id": ["1", "2"], "split": ["train", "val"]})
    b = pd.DataFrame({"record_id": ["2", "1"], "split": ["val", "train"]})
    c = pd.DataFrame({"record_id": ["1", "2"], "split": ["val", "train"]})
    assert splits_fingerprint(a) == splits_fingerprint(b) != splits_fingerprint(c)
    key = resume_key(CFG, {"data": "h", "scheme": "s", "splits": splits_fingerprint(a)})
    assert set(key) == {"config", "data", "scheme", "splits"}
    assert resume_key(TrainConfig(epochs=2), None)["config"] != resume_key(CFG, None)["config"]


@pytest.mark.parametrize("rows, message", [
    ([("1", "train"), ("2", "val"), ("1", "test")], "record 1 appears in splits test and train"),
    ([("1", "train"), ("2", "val"), ("2", "val")], "record 2 appears 2 times in split val"),
    ([("1", "train"), ("2", "dev")], "found dev"),
])
def test_leaky_split_tables_are_refused(rows, message, tmp_path):
    table = pd.DataFrame(rows, columns=["record_id", "split"])
    with pytest.raises(DataError, match=message):
        check_splits(table)
    from ecgtriage.cli.train import read_splits

    path = tmp_path / "splits.csv"
    table.to_csv(path, index=False)
    with pytest.raises(DataError, match=message):
        read_splits(str(path))


def _edit_card(run_dir, **changes):
    card = json.loads((run_dir / "model_card.json").read_text())
    for dotted, value in changes.items():
        node = card
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    (run_dir / "model_card.json").write_text(json.dumps(card))


@pytest.mark.parametrize("changes, field", [
    ({"n_samples": 300, "seconds": 3.0}, "n_samples"),
    ({"fs": 250.0, "seconds": 0.8}, "fs"),
    ({"objective.activation": "tanh"}, "objective.activation"),
    ({"scheme.classes": ["A", "B", "C", "D"],
      "thresholds.values": {"A": 0.5, "B": 0.5, "C": 0.5, "D": 0.5},
      "thresholds.source": {"A": "tuned", "B": "tuned", "C": "tuned", "D": "tuned"}},
     "model.n_outputs"),
    ({"scheme.classes": ["C", "B", "A"],
      "thresholds.values": {"A": 0.5, "B": 0.5, "C": 0.5},
      "thresholds.source": {"A": "tuned", "B": "tuned", "C": "tuned"}}, "classes"),
])
def test_card_that_disagrees_with_its_weights_is_refused(run, tmp_path, changes, field, capsys):
    copy = _copy(run, tmp_path)
    _edit_card(copy, **changes)
    with pytest.raises(ModelCardError, match=field):
        load_checkpoint(copy)
    assert main(["export", "--run", str(copy), "--out", str(tmp_path / "m.onnx")]) == 1
    assert field in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_nan_weights_are_refused_and_not_exported(run, tmp_path):
    copy = _copy(run, tmp_path)
    state = load_file(str(copy / "model.safetensors"))
    name = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[name][0] = float("nan")
    from safetensors import safe_open

    with safe_open(str(copy / "model.safetensors"), framework="pt") as handle:
        meta = handle.metadata()
    save_file(state, str(copy / "model.safetensors"), metadata=meta)
    with pytest.raises(DataError, match="NaN or inf"):
        load_checkpoint(copy)
    # The exporter's own check: a model whose outputs are NaN is not "equal within atol".
    model, _ = load_checkpoint(run)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    with pytest.raises(DataError, match="non-finite"):
        export_onnx(model, tmp_path / "nan.onnx")
    assert not (tmp_path / "nan.onnx").exists()


def test_thresholds_and_predictions_refuse_nan():
    from ecgtriage.train.thresholds import tune_f1_thresholds, tune_serious_threshold

    proba = np.array([[0.9, 0.1], [np.nan, 0.2], [0.2, 0.8]])
    with pytest.raises(DataError, match=r"first rows \[1\]"):
        tune_f1_thresholds(np.array([[1, 0], [0, 1], [0, 1]]), proba)
    with pytest.raises(DataError, match="non-finite"):
        tune_serious_threshold(np.array([0, 1, 1]), proba, serious=1)


def test_predict_proba_refuses_non_finite_output(run):
    from ecgtriage.train.predict import predict_proba

    model, _ = load_checkpoint(run)
    x = np.zeros((3, 12, 200), np.float32)
    x[2, 0, 10] = np.inf
    with pytest.raises(DataError, match=r"rows \[2\]"):
        predict_proba(model, x, progress=False)


# -- faults ------------------------------------------------------------------------------------
def test_read_only_output_is_one_line_naming_the_path(run, tmp_path, monkeypatch, capsys):
    import errno

    from ecgtriage import atomic

    def read_only(prefix, suffix, dir):
        raise OSError(errno.EROFS, "Read-only file system", str(dir))

    monkeypatch.setattr(atomic.tempfile, "mkdtemp", lambda **kw: read_only(**kw))
    assert main(["export", "--run", str(run), "--out", str(tmp_path / "ro" / "m.onnx")]) == 1
    err = capsys.readouterr().err
    assert err == f"ecgtriage export: error: {tmp_path / 'ro'}: Read-only file system\n"


def test_full_disk_during_export_leaves_no_temporary(run, tmp_path, monkeypatch, capsys):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(args[2]))

    monkeypatch.setattr(torch.onnx, "export", full)
    out = tmp_path / "out" / "m.onnx"
    assert main(["export", "--run", str(run), "--out", str(out)]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert list((tmp_path / "out").iterdir()) == []
