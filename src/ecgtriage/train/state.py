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

#: 2: the resume key covers the data, scheme and splits besides the configuration.
STATE_VERSION = 2


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


def resume_key(config, context: dict | None = None) -> dict[str, str]:
    """What must match for ``last.pt`` to be continued: the training configuration plus the
    ``context`` of the run (data content hash, scheme name and version, splits fingerprint).

    Continuing another run's weights on other data or another scheme would silently train a
    model that matches neither, so each part is compared on resume.
    """
    return {"config": _resume_key(config), **{str(k): str(v) for k, v in (context or {}).items()}}


def splits_fingerprint(splits) -> str:
    """sha256 of the (record_id, split) pairs, order-independent."""
    import hashlib

    pairs = sorted(zip(map(str, splits["record_id"]), map(str, splits["split"])))
    return hashlib.sha256("\n".join(f"{r}\t{s}" for r, s in pairs).encode()).hexdigest()


def check_resume(path: Path, config, context: dict | None = None) -> bool:
    """Whether ``path`` (``last.pt``) exists and may be continued; raise when it belongs to
    another run.

    Called before anything is written into the run folder, so a refused resume leaves the
    other run's files as they were.

    Raises
    ------
    ConfigError
        Naming the parts of the resume key that differ and what to do instead.
    DataError
        ``last.pt`` is of another state version.
    """
    if not path.is_file():
        return False
    payload = torch.load(path, map_location="cpu", weights_only=True)
    _check_payload(path, payload, resume_key(config, context))
    return True


def _check_payload(path: Path, payload: dict, expected: dict[str, str]) -> None:
    if payload.get("version") != STATE_VERSION:
        raise DataError(f"{path}: resume-state version: expected {STATE_VERSION}, found "
                        f"{payload.get('version')!r}; use another --out, or --no-resume to start "
                        "over in this folder")
    found = payload.get("resume_key") or {}
    differ = sorted(k for k in set(expected) | set(found) if expected.get(k) != found.get(k))
    if differ:
        raise ConfigError(
            f"{path}: this run folder holds a run with a different {', '.join(differ)} "
            f"(resume key parts that differ); continuing it would train from that run's weights. "
            f"Use another --out, or --no-resume to start over in this folder (replacing that run)"
        )


def save_state(path: Path, config, state: FitState, model, optimizer, scheduler, scaler,
               context: dict | None = None) -> None:
    payload = {
        "version": STATE_VERSION,
        "resume_key": resume_key(config, context),
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


def load_state(path: Path, config, model, optimizer, scheduler, scaler,
               context: dict | None = None) -> FitState:
    """Restore model/optimizer/scheduler in place and return the loop state from ``path``
    (refused as in :func:`check_resume` when it belongs to another run)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    _check_payload(path, payload, resume_key(config, context))
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
