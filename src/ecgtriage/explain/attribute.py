"""Attributions of a trained model's probability to its 12-lead input, over captum.

Three methods, each batched and returning float32 ``(N, 12, n_samples)`` maps aligned with
the input, so that every score in :mod:`ecgtriage.explain.scores` can treat them alike:

* :func:`gradcam` (Selvaraju et al. 2017): Grad-CAM on the last convolutional stage, upsampled
  (linear) to the input length. Grad-CAM is one map over time shared by all leads; the
  lead-wise split chosen here distributes that map over leads in proportion to the local
  ``|input × gradient|`` of each lead (smoothed over one cell of the last stage), so the lead
  sum at every instant equals the Grad-CAM value and the temporal profile is untouched. It is
  non-negative (ReLU'd, as in the paper).
* :func:`integrated_gradients` (Sundararajan et al. 2017), signed, zero baseline.
* :func:`occlusion` (Zeiler & Fergus 2014): drop in the probability when one lead's window is
  set to 0 mV; gradient-free, the cross-check for the two gradient methods.

Models output logits; the attributed quantity is a *probability* (the card's activation, the
same conversion as ``train.export.ProbabilityModel``), reduced to one number per record by a
*target*: a class index, a class name, ``"serious"`` (the Serious score: the tier's Serious
probability; for a multi-label code model the largest probability among the codes that alone
make a record Serious under the tier rules) or an ``(N, C)`` bool mask per record (the
largest probability among the masked classes, e.g. a record's own true codes).

captum is imported inside the functions (optional dependency, ``explain`` extra).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from ecgtriage.errors import ConfigError
from ecgtriage.train.export import ProbabilityModel

__all__ = ["METHODS", "ScoreModel", "attribute", "best_windows", "gradcam", "integrated_gradients", "last_conv_stage",
           "occlusion", "serious_mask", "target_mask", "target_probability"]

#: Method names accepted by :func:`attribute` and the CLI.
METHODS = ("gradcam", "ig", "occlusion")


# ---- targets -------------------------------------------------------------------------------


def serious_mask(card: Any) -> np.ndarray:
    """(C,) bool: the classes whose probability is the card's Serious score.

    A single-label tier card: its Serious class (``card.serious_index``, else the last class of
    an ordered scheme). A multi-label code card: every code that on its own collapses to
    Serious under the tier3 rules (``labels.collapse_to_tier`` of the one-hot code set), i.e.
    the codes whose probability can make the model call a record Serious.
    """
    classes = list(card.classes)
    if not card.multilabel:
        idx = card.serious_index
        if idx is None:
            if "Serious" not in classes:
                raise ConfigError(f"target 'serious': the {card.scheme_name} classes {classes} "
                                  "have no Serious class")
            idx = classes.index("Serious")
        mask = np.zeros(len(classes), bool)
        mask[idx] = True
        return mask
    from ecgtriage.labels import collapse_to_tier, load_scheme

    tier3 = load_scheme("tier3")
    tier = collapse_to_tier(np.eye(len(classes), dtype=bool), tier3)
    mask = tier == tier3.classes.index("Serious")
    if not mask.any():
        raise ConfigError(f"target 'serious': no {card.scheme_name} class collapses to Serious")
    return mask


def target_mask(target: Any, classes: Sequence[str], card: Any = None, n: int | None = None) -> np.ndarray:
    """Resolve a target to a bool mask over classes: ``(C,)`` or ``(N, C)``.

    Parameters
    ----------
    target : int class index, class name, ``"serious"`` (needs ``card``), or an (N, C) / (C,)
        bool array.
    classes : the model's classes in output order.
    card : the model card (for ``"serious"``).
    n : records in the batch, to check a per-record mask.
    """
    c = len(classes)
    if isinstance(target, (np.ndarray, list, tuple, torch.Tensor)) and not isinstance(target, str):
        mask = np.asarray(target, dtype=bool)
        if mask.shape[-1] != c or mask.ndim not in (1, 2) or (mask.ndim == 2 and n is not None and mask.shape[0] != n):
            raise ConfigError(f"target: expected a bool mask of shape ({c},) or ({n}, {c}), "
                              f"found {mask.shape}")
        if not mask.any(axis=-1).all():
            raise ConfigError("target: every record's mask must select at least one class")
        return mask
    if isinstance(target, str) and target.lower() == "serious":
        if card is None:
            raise ConfigError("target 'serious': needs the model card")
        return serious_mask(card)
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if not 0 <= int(target) < c:
            raise ConfigError(f"target: expected a class index 0..{c - 1}, found {target}")
        idx = int(target)
    elif isinstance(target, str) and target in classes:
        idx = list(classes).index(target)
    elif isinstance(target, str) and target.isdigit() and int(target) < c and target not in classes:
        idx = int(target)
    else:
        raise ConfigError(f"target: expected a class index, one of {list(classes)} or 'serious', "
                          f"found {target!r}")
    mask = np.zeros(c, bool)
    mask[idx] = True
    return mask


class ScoreModel(torch.nn.Module):
    """The network followed by its activation and a target reduction: ``(N, 12, T) → (N,)``.

    ``forward(x, mask)`` returns, per record, the largest probability among the classes that
    ``mask`` ((N, C) float, 1 = selected) selects. With one selected class that is simply its
    probability. The mask travels as a forward argument so that captum expands it alongside
    the inputs (integration steps, occlusion batches).
    """

    def __init__(self, model: torch.nn.Module, activation: str) -> None:
        super().__init__()
        self.proba = ProbabilityModel(model, activation)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        p = self.proba(x)
        return torch.where(mask > 0, p, torch.full_like(p, -1.0)).amax(dim=1)


def _activation(model: torch.nn.Module, card: Any) -> str:
    act = card.activation if card is not None else getattr(model, "output_activation", None)
    if act is None:
        raise ConfigError("model.output_activation is not set: load the model with load_checkpoint "
                          "or pass its card")
    return act


def _classes(model: torch.nn.Module, card: Any) -> list[str]:
    if card is not None:
        return list(card.classes)
    return [str(i) for i in range(model.signal_contract.n_outputs)]


def _prepare(model: torch.nn.Module, x: Any, target: Any, card: Any) -> tuple[ScoreModel, torch.Tensor, torch.Tensor]:
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    if xt.ndim != 3:
        raise ConfigError(f"x: expected shape (N, 12, n_samples), found {tuple(xt.shape)}")
    classes = _classes(model, card)
    mask = target_mask(target, classes, card, n=xt.shape[0])
    mask = np.broadcast_to(mask, (xt.shape[0], len(classes))) if mask.ndim == 1 else mask
    scorer = ScoreModel(model.eval(), _activation(model, card)).eval()
    for p in scorer.parameters():
        p.requires_grad_(False)
    return scorer, xt, torch.as_tensor(mask.astype(np.float32))


def _batched(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor,
             mask: torch.Tensor, batch_size: int) -> np.ndarray:
    out = []
    for s in range(0, x.shape[0], batch_size):
        a = fn(x[s:s + batch_size], mask[s:s + batch_size])
        out.append(a.detach().float().cpu().numpy())
    return np.concatenate(out, axis=0).astype(np.float32)


# ---- Grad-CAM ------------------------------------------------------------------------------


def last_conv_stage(model: torch.nn.Module, n_leads: int = 12, n_samples: int | None = None) -> torch.nn.Module:
    """The module whose output is the network's last convolutional feature map.

    Found generically by one forward pass with hooks: among modules that contain a
    ``Conv1d`` and return a (batch, channels, time) tensor, the one that finishes last. For
    every registry model (stem → residual stages → pooling → linear head) that is the stage
    container, whose output is the last stage's feature map just before global pooling.
    """
    contract = getattr(model, "signal_contract", None)
    n = n_samples or (contract.n_samples if contract is not None else None)
    if n is None:
        raise ConfigError("last_conv_stage: the model has no signal_contract; pass n_samples")
    finished: list[torch.nn.Module] = []
    hooks = []
    for mod in model.modules():
        if mod is model or not any(isinstance(m, torch.nn.Conv1d) for m in mod.modules()):
            continue

        def hook(m, _inp, out):
            if isinstance(out, torch.Tensor) and out.dim() == 3:
                finished.append(m)

        hooks.append(mod.register_forward_hook(hook))
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, n_leads, n))
        model.train(was_training)
    finally:
        for h in hooks:
            h.remove()
    if not finished:
        raise ConfigError(f"{type(model).__name__}: no convolutional stage with a (batch, channels, "
                          "time) output to attach Grad-CAM to")
    return finished[-1]


def gradcam(model: torch.nn.Module, x: Any, target: Any, *, card: Any = None,
            batch_size: int = 32) -> np.ndarray:
    """Grad-CAM on the last convolutional stage, per lead: float32 (N, leads, T), ≥ 0.

    The temporal map is captum's ``LayerGradCam`` (ReLU of the gradient-weighted channel sum)
    upsampled linearly to ``T``. It is split over leads by each lead's share of the smoothed
    ``|x · ∂score/∂x|`` at that instant (module docstring): Grad-CAM says *when*, the input
    gradient says *which lead* carried it, and the lead-sum stays the Grad-CAM curve.
    """
    from captum.attr import InputXGradient, LayerAttribution, LayerGradCam

    scorer, xt, mask = _prepare(model, x, target, card)
    layer = last_conv_stage(model, xt.shape[1], xt.shape[2])
    cam = LayerGradCam(scorer, layer)
    ixg = InputXGradient(scorer)
    n = xt.shape[2]

    def one(xb: torch.Tensor, mb: torch.Tensor) -> torch.Tensor:
        c = cam.attribute(xb, additional_forward_args=(mb,), relu_attributions=True)
        cell = max(1, int(round(n / c.shape[-1])))
        c = LayerAttribution.interpolate(c, (n,), interpolate_mode="linear")  # (B, 1, T)
        g = ixg.attribute(xb.clone().requires_grad_(True), additional_forward_args=(mb,)).abs()
        g = torch.nn.functional.avg_pool1d(g, cell, stride=1, padding=cell // 2,
                                           count_include_pad=False)[..., :n]
        share = g / g.sum(dim=1, keepdim=True).clamp_min(1e-12)
        return c * share

    return _batched(one, xt, mask, batch_size)


# ---- Integrated gradients ------------------------------------------------------------------


def integrated_gradients(model: torch.nn.Module, x: Any, target: Any, *, card: Any = None,
                         baseline: str = "zeros", n_steps: int = 32, batch_size: int = 8) -> np.ndarray:
    """Integrated Gradients, signed: float32 (N, leads, T).

    Baseline: ``"zeros"``, the isoelectric line (0 mV on every lead). After the band-pass
    every cached record is a deviation from the isoelectric baseline, so 0 mV is the physically
    meaningful "no cardiac signal" rather than an arbitrary reference: the attributions then
    answer "how much did each sample's deviation from isoelectric contribute", and by
    completeness they sum to ``score(x) - score(0)``. ``n_steps`` Gauss-Legendre points
    (captum's default rule); 32 keeps the completeness gap at a few percent for the registry
    models while keeping CPU cost moderate.
    """
    from captum.attr import IntegratedGradients

    if baseline != "zeros":
        raise ConfigError(f"baseline: expected 'zeros' (isoelectric 0 mV), found {baseline!r}")
    scorer, xt, mask = _prepare(model, x, target, card)
    ig = IntegratedGradients(scorer)

    def one(xb: torch.Tensor, mb: torch.Tensor) -> torch.Tensor:
        return ig.attribute(xb, baselines=torch.zeros_like(xb), additional_forward_args=(mb,),
                            n_steps=n_steps, internal_batch_size=max(n_steps, xb.shape[0] * 4))

    return _batched(one, xt, mask, batch_size)


# ---- Occlusion -----------------------------------------------------------------------------


def occlusion(model: torch.nn.Module, x: Any, target: Any, *, card: Any = None, fs: float | None = None,
              window_s: float = 0.5, batch_size: int = 4, perturbations_per_eval: int = 64) -> np.ndarray:
    """Occlusion: float32 (N, leads, T), the drop in the target probability when a window of one
    lead is set to 0 mV (isoelectric, as the IG baseline), spread evenly over that window.

    Windows of ``window_s`` seconds (default 0.5 s: about one QRS-T complex at normal rates, so
    one window removes one beat's feature on one lead) tile each lead without overlap; the
    cost is ``leads × T / window`` forward passes per record.
    """
    from captum.attr import Occlusion

    scorer, xt, mask = _prepare(model, x, target, card)
    rate = fs or getattr(getattr(model, "signal_contract", None), "fs", None)
    if rate is None:
        raise ConfigError("occlusion: pass fs (the model has no signal_contract)")
    w = max(1, int(round(window_s * rate)))
    occ = Occlusion(scorer)

    def one(xb: torch.Tensor, mb: torch.Tensor) -> torch.Tensor:
        return occ.attribute(xb, sliding_window_shapes=(1, w), strides=(1, w), baselines=0.0,
                             additional_forward_args=(mb,), perturbations_per_eval=perturbations_per_eval)

    return _batched(one, xt, mask, batch_size)


def attribute(method: str, model: torch.nn.Module, x: Any, target: Any, *, card: Any = None,
              **kwargs: Any) -> np.ndarray:
    """Dispatch by method name (:data:`METHODS`).

    A model validated with sliding windows (``model.window_protocol``, set by training and
    ``load_checkpoint``) given records longer than its input is explained on **one window per
    record**: the window of its protocol with the highest target probability
    (:func:`best_windows`), i.e. the window whose evidence the ``max`` aggregation reports. The
    map keeps the input's shape, zero outside that window, so figures stay aligned with the
    whole record. Other models see ``x`` as given.
    """
    fns = {"gradcam": gradcam, "ig": integrated_gradients, "occlusion": occlusion}
    if method not in fns:
        raise ConfigError(f"method: expected one of {', '.join(METHODS)}, found {method!r}")
    starts = best_windows(model, x, target, card=card)
    if starts is None:
        return fns[method](model, x, target, card=card, **kwargs)
    xs = np.asarray(x, dtype=np.float32)
    n = int(model.signal_contract.n_samples)
    windows = np.stack([xs[i, :, s:s + n] for i, s in enumerate(starts)])
    a = fns[method](model, windows, target, card=card, **kwargs)
    out = np.zeros(xs.shape, np.float32)
    for i, s in enumerate(starts):
        out[i, :, s:s + n] = a[i]
    return out


def _protocol_starts(model: torch.nn.Module, shape: tuple[int, ...]) -> list[int] | None:
    """Window starts of the model's protocol over records of ``shape``, or ``None`` when the
    model has no protocol or the records are no longer than its input."""
    from ecgtriage.train.augment import window_starts

    protocol = getattr(model, "window_protocol", None)
    contract = getattr(model, "signal_contract", None)
    if protocol is None or contract is None or len(shape) != 3 or shape[-1] <= contract.n_samples:
        return None
    stride = max(1, round(float(protocol["stride_s"]) * float(contract.fs)))
    return window_starts(int(shape[-1]), int(contract.n_samples), stride)


def best_windows(model: torch.nn.Module, x: Any, target: Any, *, card: Any = None,
                 batch_size: int = 64) -> np.ndarray | None:
    """(N,) start sample of each record's explained window, or ``None`` (no windows).

    For a windowed model (``model.window_protocol``) on records longer than its input: among
    the protocol's sliding windows, the one with the highest target probability (ties: the
    first). With ``max`` aggregation that window alone carries the record's target probability;
    with ``mean`` it is the window that contributes most.
    """
    xs = np.asarray(x, dtype=np.float32)
    starts = _protocol_starts(model, xs.shape)
    if starts is None:
        return None
    n = int(model.signal_contract.n_samples)
    scores = np.stack([_window_scores(model, xs[..., s:s + n], target, card, batch_size)
                       for s in starts])  # (W, N)
    return np.asarray(starts)[scores.argmax(axis=0)]


def target_probability(model: torch.nn.Module, x: Any, target: Any, *, card: Any = None,
                       batch_size: int = 64) -> np.ndarray:
    """(N,) float64 target score (the quantity the attributions explain) for (N, 12, T) inputs.

    For a windowed model on longer records (see :func:`attribute`), the score of the explained
    window (:func:`best_windows`): the largest window score, which for ``max`` aggregation of
    sigmoid outputs equals the record's aggregated probability of the target.
    """
    xs = np.asarray(x, dtype=np.float32)
    starts = _protocol_starts(model, xs.shape)
    if starts is None:
        return _window_scores(model, xs, target, card, batch_size)
    n = int(model.signal_contract.n_samples)
    return np.stack([_window_scores(model, xs[..., s:s + n], target, card, batch_size)
                     for s in starts]).max(axis=0)


def _window_scores(model: torch.nn.Module, x: Any, target: Any, card: Any,
                   batch_size: int) -> np.ndarray:
    """(N,) float64 target score of the model on ``x`` exactly as given."""
    scorer, xt, mask = _prepare(model, x, target, card)
    out = []
    with torch.no_grad():
        for s in range(0, xt.shape[0], batch_size):
            out.append(scorer(xt[s:s + batch_size], mask[s:s + batch_size]).numpy())
    return np.concatenate(out).astype(np.float64)
