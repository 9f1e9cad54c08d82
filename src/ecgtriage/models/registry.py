"""Model registry: named presets, one factory, and the signal contract every model carries.

Every model takes the same signal arguments (``n_leads``, ``n_samples``, ``fs``, ``n_outputs``)
and records them as ``model.signal_contract`` so that the contract travels with the weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ecgtriage.leads import CANONICAL_LEADS

_REGISTRY: dict[str, Callable[..., torch.nn.Module]] = {}


@dataclass(frozen=True)
class SignalContract:
    """What a model expects as input and returns.

    Attributes
    ----------
    leads : lead names in input channel order (canonical 12-lead order for 12 leads).
    n_samples : samples per lead in one input window.
    fs : sampling rate of the input in Hz.
    n_outputs : width of the output (logits).
    """

    leads: tuple[str, ...]
    n_samples: int
    fs: float
    n_outputs: int

    @property
    def seconds(self) -> float:
        return self.n_samples / self.fs


def register_model(name: str) -> Callable[[Callable[..., torch.nn.Module]], Callable[..., torch.nn.Module]]:
    """Decorator adding a model builder ``fn(n_leads, n_samples, fs, n_outputs)`` to the registry."""

    def wrap(fn: Callable[..., torch.nn.Module]) -> Callable[..., torch.nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = fn
        return fn

    return wrap


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`, sorted."""
    _load_builtin()
    return sorted(_REGISTRY)


def check_signal_args(
    n_leads: int, n_samples: int, fs: float, n_outputs: int, seconds: float | None = None
) -> None:
    """Raise ``ValueError`` naming the argument when the signal arguments are invalid or disagree."""
    for name, value in (("n_leads", n_leads), ("n_samples", n_samples), ("n_outputs", n_outputs)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name}: expected a positive integer, found {value!r}")
    if isinstance(fs, bool) or not isinstance(fs, (int, float)) or not fs > 0:
        raise ValueError(f"fs: expected a positive sampling rate in Hz, found {fs!r}")
    if seconds is not None:
        expected = round(seconds * fs)
        if expected != n_samples:
            raise ValueError(
                f"inconsistent signal arguments: seconds={seconds} at fs={fs} Hz gives "
                f"{expected} samples, but n_samples={n_samples}"
            )


def create_model(
    name: str,
    *,
    n_leads: int = 12,
    n_samples: int,
    fs: float,
    n_outputs: int,
    seconds: float | None = None,
) -> torch.nn.Module:
    """Build a registered model for a given signal contract.

    Parameters
    ----------
    name : a name from :func:`list_models`.
    n_leads, n_samples, fs : input channels, samples per window and sampling rate (Hz).
    n_outputs : number of output logits.
    seconds : optional window length; when given it must equal ``n_samples / fs``.

    Returns
    -------
    torch.nn.Module with ``.signal_contract`` (:class:`SignalContract`) and ``.model_name``.
    """
    _load_builtin()
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}: expected one of {', '.join(sorted(_REGISTRY))}")
    check_signal_args(n_leads, n_samples, fs, n_outputs, seconds)
    model = _REGISTRY[name](n_leads=n_leads, n_samples=n_samples, fs=float(fs), n_outputs=n_outputs)
    leads = CANONICAL_LEADS if n_leads == len(CANONICAL_LEADS) else tuple(f"ch{i}" for i in range(n_leads))
    model.signal_contract = SignalContract(leads, n_samples, float(fs), n_outputs)
    model.model_name = name
    return model


def _load_builtin() -> None:
    # Importing the module runs its @register_model decorators exactly once.
    from ecgtriage.models import benchmark, resnet1d  # noqa: F401
