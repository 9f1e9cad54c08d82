"""``ecgtriage train`` / ``export`` on a prepared synthetic PTB-XL-format cache, and DDP through
``torchrun -m ecgtriage train`` (two CPU processes, gloo)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest

from ecgtriage.cli import main
from ecgtriage.data.cache import open_cache
from ecgtriage.train.checkpoint import load_checkpoint
from ecgtriage.train.predict import predict_proba

CONFIG = """
[train]
epochs = 1
batch_size = 16
window_s = 2.5
num_threads = 1
device = "cpu"
"""


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    from ecgtriage.synth.corpus import write_ptbxl_corpus

    root = tmp_path_factory.mktemp("cli")
    write_ptbxl_corpus(root / "corpus", 60, 0, workers=1, progress=False)
    assert main(["prepare", str(root / "corpus"), "--out", str(root / "cache"), "--workers", "1"]) == 0
    (root / "train.toml").write_text(CONFIG)
    return root


def _val_signals(run, cache_dir):
    splits = pd.read_csv(run / "splits.csv", dtype=str)
    preds = pd.read_csv(run / "val_predictions.csv", dtype={"record_id": str})
    cache = open_cache(cache_dir / "cache")
    return preds, np.asarray(cache.signals[cache.rows_for(preds["record_id"])], np.float32), splits


@pytest.mark.slow
def test_train_and_export_commands(cache_dir, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", "--data", str(cache_dir / "cache"), "--scheme", "tier3", "--out", str(run),
                 "--config", str(cache_dir / "train.toml"), "--seed", "3"])
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    card = json.loads((run / "model_card.json").read_text())
    assert card["seed"] == 3 and card["n_samples"] == 250 and card["fs"] == 100.0
    assert card["scheme"]["name"] == "tier3" and card["scheme"]["classes"] == ["Normal", "Monitor", "Serious"]
    assert card["training_data"]["format"] == "ptbxl"
    assert card["preprocessing"]["cache_n_samples"] == 1000
    preds, x, splits = _val_signals(run, cache_dir)
    # Validation predictions are exactly the records the split table calls "val".
    assert sorted(preds["record_id"]) == sorted(splits.loc[splits["split"] == "val", "record_id"])
    model, _ = load_checkpoint(run)
    np.testing.assert_allclose(predict_proba(model, x, progress=False),
                               preds.filter(like="p_").to_numpy(), atol=1e-5)

    onnx_path = tmp_path / "model.onnx"
    assert main(["export", "--run", str(run), "--out", str(onnx_path)]) == 0
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    start = (1000 - 250) // 2  # the ONNX graph takes the model window; crop like validation
    proba = session.run(["proba"], {"ecg": x[:, :, start:start + 250]})[0]
    np.testing.assert_allclose(proba, preds.filter(like="p_").to_numpy(), atol=1e-4)


def test_train_rejects_unknown_model(cache_dir, tmp_path, capsys):
    code = main(["train", "--data", str(cache_dir / "cache"), "--scheme", "tier3", "--out",
                 str(tmp_path / "r"), "--model", "nope"])
    assert code == 1
    assert "--model: expected one of inception1d, resnet1d_ribeiro, resnet1d_small, resnet1d_wang, xresnet1d101, xresnet1d50, found 'nope'" in capsys.readouterr().err


def test_export_without_run_names_the_card(tmp_path, capsys):
    assert main(["export", "--run", str(tmp_path), "--out", str(tmp_path / "m.onnx")]) == 1
    assert "model_card.json does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_two_processes(cache_dir, tmp_path):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "ecgtriage", "train", "--data", str(cache_dir / "cache"), "--scheme", "aha44",
           "--out", str(run), "--config", str(cache_dir / "train.toml")]
    # Own session, so a timeout kills torchrun's worker processes too (not only torchrun).
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    done = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wrote") == 1  # rank 0 alone reports and writes
    assert len(list(tmp_path.rglob("model.safetensors"))) == 1
    preds, x, splits = _val_signals(run, cache_dir)
    model, card = load_checkpoint(run)
    assert card.multilabel and len(card.classes) == 44 and card.code_thresholds().shape == (44,)
    np.testing.assert_allclose(predict_proba(model, x, progress=False),
                               preds.filter(like="p_").to_numpy(), atol=1e-5)


def test_splits_file_with_unknown_part_is_refused(cache_dir, tmp_path, capsys):
    bad = tmp_path / "splits.csv"
    bad.write_text("record_id,split\n1,train\n2,holdout\n")
    code = main(["train", "--data", str(cache_dir / "cache"), "--scheme", "tier3", "--out",
                 str(tmp_path / "r"), "--splits", str(bad)])
    assert code == 1
    assert f"{bad}: split: expected train, val or test, found holdout" in capsys.readouterr().err
