"""Checkpoints: ``model.safetensors`` + ``model_card.json`` + ``config.json`` in a run directory."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ecgtriage import __version__, atomic

CARD_VERSION = 1
WEIGHTS = "model.safetensors"
CARD = "model_card.json"
_REQUIRED = ("model", "fs", "n_samples", "leads", "units", "scheme", "objective", "thresholds")


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


def save_checkpoint(run_dir: str | Path, model: torch.nn.Module, card: dict) -> None:
    """Write the weights (safetensors) and the model card (JSON) atomically."""
    run_dir = Path(run_dir)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic.atomic_path(run_dir / WEIGHTS) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "model": card["model"]["name"]})
    atomic.write_json(run_dir / CARD, card)


def read_card(run_dir: str | Path) -> dict:
    """The model card of a run directory, checked for the fields loading needs."""
    path = Path(run_dir) / CARD
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: expected a run directory written by `ecgtriage train`")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: cannot parse JSON: {exc}") from None
    missing = [k for k in _REQUIRED if k not in card]
    if missing:
        raise ValueError(f"{path}: missing field(s) {', '.join(missing)}")
    if card.get("card_version") != CARD_VERSION:
        raise ValueError(f"{path}: card_version: expected {CARD_VERSION}, found {card.get('card_version')!r}")
    return card


def load_checkpoint(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild the model described by the run's card and load its weights.

    Returns
    -------
    (model in eval mode with ``output_activation`` set, card dict)
    """
    from ecgtriage.models import create_model

    run_dir = Path(run_dir)
    card = read_card(run_dir)
    weights = run_dir / WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} does not exist (model card found beside it)")
    spec = card["model"]
    model = create_model(spec["name"], n_leads=len(card["leads"]), n_samples=int(card["n_samples"]),
                         fs=float(card["fs"]), n_outputs=int(spec["n_outputs"]))
    state = load_file(str(weights))
    expected = set(model.state_dict())
    if set(state) != expected:
        raise ValueError(f"{weights}: tensors do not match model {spec['name']!r}: "
                         f"missing {sorted(expected - set(state))[:5]}, unexpected {sorted(set(state) - expected)[:5]}")
    model.load_state_dict(state)
    model.output_activation = card["objective"]["activation"]
    return model.to(device).eval(), card
