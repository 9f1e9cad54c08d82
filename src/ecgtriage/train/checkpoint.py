"""Checkpoints: ``model.safetensors`` + ``model_card.json`` + ``config.json`` in a run directory."""

from __future__ import annotations

import subprocess
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ecgtriage import __version__, atomic
from ecgtriage.models import create_model
from ecgtriage.train.card import CARD, CARD_VERSION, ModelCard

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
        save_file(state, str(tmp), metadata={"format": "pt", "model": card.model.name})
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
    ValueError
        When the weights do not fit the architecture the card names.
    """
    run_dir = Path(run_dir)
    card = ModelCard.read(run_dir)
    weights = run_dir / WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} does not exist (model card found beside it)")
    model = create_model(card.model.name, n_leads=len(card.leads), n_samples=card.n_samples,
                         fs=card.fs, n_outputs=card.model.n_outputs)
    state = load_file(str(weights))
    expected = set(model.state_dict())
    if set(state) != expected:
        raise ValueError(f"{weights}: tensors do not match model {card.model.name!r}: "
                         f"missing {sorted(expected - set(state))[:5]}, unexpected {sorted(set(state) - expected)[:5]}")
    model.load_state_dict(state)
    model.output_activation = card.activation
    return model.to(device).eval(), card
