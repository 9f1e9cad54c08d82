"""Resumable training state (``last.pt``) and the per-epoch metrics table.

``last.pt`` holds tensors and plain Python values only and is read with
``torch.load(weights_only=True)``, so it cannot execute code. It is written atomically after
every epoch. Random states need not be stored: each epoch reseeds from (seed, epoch, rank).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from ecgtriage import atomic
from ecgtriage.config import config_hash
from ecgtriage.errors import ConfigError, DataError

STATE_VERSION = 1


@dataclass
class FitState:
    """Everything the loop needs to continue after the last finished epoch."""

    epoch: int = 0
    best_metric: float = -math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    stopped: bool = False
    best_state: dict | None = None
    best_proba: torch.Tensor | None = None
    best_metrics: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)


def _resume_key(config) -> str:
    # Settings that do not change the arithmetic may differ between the interrupted run and
    # the resumed one.
    import dataclasses

    neutral = {"num_threads": None, "workers": 0, "in_memory": "auto", "eval_batch_size": 256}
    return config_hash(dataclasses.replace(config, **neutral))


def save_state(path: Path, config, state: FitState, model, optimizer, scheduler, scaler) -> None:
    payload = {
        "version": STATE_VERSION,
        "config_key": _resume_key(config),
        "epoch": state.epoch,
        "best_metric": state.best_metric,
        "best_epoch": state.best_epoch,
        "bad_epochs": state.bad_epochs,
        "stopped": state.stopped,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else {},
        "best_state": state.best_state,
        "best_proba": state.best_proba,
        "best_metrics": state.best_metrics,
        "history": state.history,
    }
    with atomic.atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_state(path: Path, config, model, optimizer, scheduler, scaler) -> FitState:
    """Restore model/optimizer/scheduler in place and return the loop state from ``path``."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("version") != STATE_VERSION:
        raise DataError(f"{path}: resume-state version: expected {STATE_VERSION}, found {payload.get('version')!r}")
    if payload["config_key"] != _resume_key(config):
        raise ConfigError(
            f"{path}: config_key: the run was started with a different configuration "
            f"(expected {_resume_key(config)}, found {payload['config_key']}); use a new --out "
            f"directory or delete {path.name} to start over"
        )
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    if scaler is not None and payload["scaler"]:
        scaler.load_state_dict(payload["scaler"])
    return FitState(
        epoch=payload["epoch"], best_metric=payload["best_metric"], best_epoch=payload["best_epoch"],
        bad_epochs=payload["bad_epochs"], stopped=payload["stopped"], best_state=payload["best_state"],
        best_proba=payload["best_proba"], best_metrics=payload["best_metrics"],
        history=payload["history"],
    )


def write_metrics(path: Path, history: list[dict]) -> None:
    atomic.write_csv(path, pd.DataFrame(history))
