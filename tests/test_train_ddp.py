"""Two-process DDP training on CPU (gloo): one checkpoint, gathered validation predictions equal
a single-process evaluation of the saved model."""

from __future__ import annotations

import os
import socket

import numpy as np
import pandas as pd
import pytest
import torch.multiprocessing as mp

from ecgtriage.data.dataset import SignalDataset
from ecgtriage.train.checkpoint import load_checkpoint
from ecgtriage.train.config import TrainConfig
from ecgtriage.train.predict import predict_proba
from ecgtriage.train.run import train_on_arrays
from toy import make_toy_task

N_TRAIN, N_VAL = 120, 41  # 41 is odd: the sampler pads one record that must be dropped


def _data():
    x, y = make_toy_task(N_TRAIN + N_VAL, 3, fs=100.0, n_samples=200, multilabel=True, seed=11)
    train = SignalDataset(x, np.arange(N_TRAIN), y[:N_TRAIN])
    val = SignalDataset(x, np.arange(N_TRAIN, N_TRAIN + N_VAL), y[N_TRAIN:],
                        record_ids=[f"v{i}" for i in range(N_VAL)])
    return x, train, val


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    _, train, val = _data()
    cfg = TrainConfig(epochs=2, batch_size=16, lr=1e-2, patience=0, num_threads=1, device="cpu")
    train_on_arrays(train, val, classes=["A", "B", "C"], multilabel=True, ordered=False, fs=100.0,
                    config=cfg, out_dir=out, scheme_name="toy", scheme_version="1", progress=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_ddp_writes_one_checkpoint_and_gathers_all_predictions(tmp_path):
    out = tmp_path / "ddp"
    mp.spawn(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    assert len(list(tmp_path.rglob("model.safetensors"))) == 1
    assert len(list(tmp_path.rglob("model_card.json"))) == 1
    assert pd.read_csv(out / "metrics.csv")["epoch"].tolist() == [1, 2]
    gathered = pd.read_csv(out / "val_predictions.csv")
    assert gathered["record_id"].tolist() == [f"v{i}" for i in range(N_VAL)]
    x, _, _ = _data()
    model, card = load_checkpoint(out)
    assert card.training_data["n"] == {"train": N_TRAIN, "val": N_VAL}
    single = predict_proba(model, x[N_TRAIN:], batch_size=64, progress=False)
    np.testing.assert_allclose(gathered[["p_A", "p_B", "p_C"]].to_numpy(), single, atol=1e-5)
