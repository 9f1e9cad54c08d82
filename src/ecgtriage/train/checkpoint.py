"""Checkpoints: ``model.safetensors`` + ``model_card.json`` + ``config.json`` in a run directory."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ecgtriage import __version__, atomic
from ecgtriage.models import create_model
from ecgtriage.errors import DataError
from ecgtriage.train.augment import window_protocol
from ecgtriage.train.card import CARD, CARD_VERSION, ModelCard, ModelCardError

__all__ = ["CARD", "CARD_VERSION", "WEIGHTS", "code_version", "load_checkpoint", "save_checkpoint"]

WEIGHTS = "model.safetensors"


def code_version() -> dict:
    """Package version plus the git commit of the source tree when it is a checkout."""
    info = {"package": __version__, "git_commit": None}
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                                capture_output=True, text=True, timeout=5)
        if commit.returncode == 0:
            info["git_commit"] = commit.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def save_checkpoint(run_dir: str | Path, model: torch.nn.Module, card: ModelCard) -> None:
    """Write the weights (safetensors) and the model card (JSON), each atomically.

    The weights go first: a reader that finds a card (the marker of a finished run, see
    ``ecgtriage.study.cells``) also finds the weights it describes.
    """
    run_dir = Path(run_dir)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic.atomic_path(run_dir / WEIGHTS) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", **card.weights_metadata()})
    card.write(run_dir)


def load_checkpoint(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, ModelCard]:
    """Rebuild the model described by the run's card and load its weights.

    Returns
    -------
    (model in eval mode with ``output_activation`` set, its :class:`ModelCard`)

    Raises
    ------
    FileNotFoundError
        When the card or the weights are missing.
    ModelCardError
        When the card is invalid (see :meth:`ModelCard.read`).
    ModelCardError
        Also when the card disagrees with the weights: the contract stored in the weights file
        (model, n_outputs, n_samples, fs, activation, classes), or tensor names and shapes.
    DataError
        When a weight is NaN or inf (a diverged run).
    """
    run_dir = Path(run_dir)
    card = ModelCard.read(run_dir)
    weights = run_dir / WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} does not exist (model card found beside it)")
    _check_weights_metadata(weights, card)
    model = create_model(card.model.name, n_leads=len(card.leads), n_samples=card.n_samples,
                         fs=card.fs, n_outputs=card.model.n_outputs)
    contract = model.signal_contract
    if int(contract.n_samples) != card.n_samples or not math.isclose(float(contract.fs), card.fs):
        raise ModelCardError(f"{run_dir / CARD}: n_samples/fs {card.n_samples}/{card.fs:g}; the "
                             f"model {card.model.name!r} built from it expects "
                             f"{contract.n_samples}/{float(contract.fs):g}")
    state = load_file(str(weights))
    expected = model.state_dict()
    if set(state) != set(expected):
        raise ModelCardError(f"{weights}: tensors do not match model {card.model.name!r} of "
                             f"{run_dir / CARD}: missing {sorted(set(expected) - set(state))[:5]}, "
                             f"unexpected {sorted(set(state) - set(expected))[:5]}")
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ModelCardError(f"{weights}: tensor {name} has shape {tuple(tensor.shape)}; the "
                                 f"card's model (n_outputs {card.model.n_outputs}, "
                                 f"{len(card.leads)} leads) expects {tuple(expected[name].shape)}")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise DataError(f"{weights}: tensor {name} holds NaN or inf values; the run diverged "
                            "and its model cannot be used")
    model.load_state_dict(state)
    model.output_activation = card.activation
    # Sliding-window prediction (predict_stride_s / aggregate) as validated; None: centre crop.
    model.window_protocol = window_protocol(card.config)
    return model.to(device).eval(), card


def _check_weights_metadata(weights: Path, card: ModelCard) -> None:
    """Compare the contract stored in the weights file with the card (weights written before
    the contract was stored carry only the model name, and are checked by shape alone)."""
    with safe_open(str(weights), framework="pt") as handle:
        stored = handle.metadata() or {}
    expected = card.weights_metadata()
    differ = [k for k in expected if k in stored and k != "fs" and stored[k] != expected[k]]
    if "fs" in stored and not math.isclose(float(stored["fs"]), card.fs):
        differ.append("fs")
    if differ:
        shown = "; ".join(f"{k}: card {expected[k]}, weights {stored[k]}" for k in differ)
        raise ModelCardError(f"{weights.parent / CARD}: disagrees with {weights.name} ({shown}); "
                             "the card does not describe these weights")


def transfer_weights(model: torch.nn.Module, run_dir: str | Path) -> list[str]:
    """Initialise ``model`` from a finished run's weights: every tensor whose name and shape
    match is copied, the rest (the output layer of a scheme with other classes) keeps its
    initialisation. Returns the names of the tensors left as they were.

    Used by ``TrainConfig.init_from`` to start, e.g., a tier3 model from one trained on all
    PTB-XL statements: the richer labels shape the features, the tier head is learnt anew.
    The run is loaded with :func:`load_checkpoint`, so its card and weights are checked, and it
    must have this model's architecture and input contract.

    Raises
    ------
    ConfigError
        When the run is another architecture, another input contract, or shares no tensor.
    """
    from ecgtriage.errors import ConfigError

    try:
        source, card = load_checkpoint(run_dir, device="cpu")
    except FileNotFoundError as exc:
        raise ConfigError(f"train setting init_from: {exc}") from None
    mine, theirs = model.signal_contract, source.signal_contract
    if (type(model) is not type(source) or int(mine.n_samples) != int(theirs.n_samples)
            or not math.isclose(float(mine.fs), float(theirs.fs)) or tuple(mine.leads) != tuple(theirs.leads)):
        raise ConfigError(f"train setting init_from: {run_dir} holds {card.model.name} reading "
                          f"{theirs.n_samples} samples at {float(theirs.fs):g} Hz of "
                          f"{len(theirs.leads)} leads; this run builds {type(model).__name__} reading "
                          f"{mine.n_samples} at {float(mine.fs):g} Hz of {len(mine.leads)}")
    target = model.state_dict()
    shared = {k: v for k, v in source.state_dict().items()
              if k in target and tuple(v.shape) == tuple(target[k].shape)}
    if not shared:
        raise ConfigError(f"train setting init_from: no tensor of {run_dir} fits this model")
    model.load_state_dict(shared, strict=False)
    return sorted(set(target) - set(shared))
