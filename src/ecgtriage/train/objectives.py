"""Training objectives per label scheme and the logits → probabilities conversion.

Three output kinds:

* ``"sigmoid"`` multi-label: BCE with per-class positive weights, or focal loss. Classes with no
  positive training example are masked out of the loss (their logits receive no gradient), are
  listed in the model card and never get a tuned threshold.
* ``"softmax"`` single-label: cross-entropy, optionally weighted by inverse class frequency.
* ``"corn"`` ordinal (Shi, Cao & Raschka 2021, CORN): ``C - 1`` logits; logit ``k`` is the
  conditional log-odds of ``y > k`` given ``y > k - 1``, trained only on records with
  ``y ≥ k``. Class probabilities follow from the chain rule (see :func:`to_probabilities`).

Fine-to-coarse (one of the tier recipes of ``ecgtriage.train.presets``): a statement-level
multi-label model's probabilities become tier probabilities through the label rules
(:func:`statement_tiers`, :func:`fine_to_coarse`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ecgtriage.errors import ConfigError


@dataclass(frozen=True)
class Objective:
    """A loss bound to its training-set statistics.

    Attributes
    ----------
    activation : ``"sigmoid"``, ``"softmax"`` or ``"corn"``.
    loss : ``"bce"``, ``"focal"``, ``"ce"`` or ``"corn"``.
    n_classes : number of classes of the scheme.
    class_mask : (C,) bool, classes that take part in the loss (multi-label only).
    class_weight : (C,) float weights (BCE: positive weights; CE: class weights) or ``None``.
    focal_gamma : focal-loss gamma.
    """

    activation: str
    loss: str
    n_classes: int
    class_mask: torch.Tensor | None = None
    class_weight: torch.Tensor | None = None
    focal_gamma: float = 2.0

    @property
    def n_outputs(self) -> int:
        return self.n_classes - 1 if self.activation == "corn" else self.n_classes

    def to(self, device: torch.device | str) -> "Objective":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Objective(self.activation, self.loss, self.n_classes, move(self.class_mask),
                         move(self.class_weight), self.focal_gamma)

    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if self.loss in ("bce", "focal"):
            return _multilabel_loss(self, logits, target)
        if self.loss == "ce":
            return F.cross_entropy(logits, target, weight=self.class_weight)
        return corn_loss(logits, target, self.n_classes)


def build_objective(
    loss: str,
    *,
    multilabel: bool,
    ordered: bool,
    n_classes: int,
    y_train: np.ndarray,
    pos_weight_max: float = 50.0,
    focal_gamma: float = 2.0,
    class_weighting: bool = True,
) -> Objective:
    """Choose and parametrise the loss from the scheme and the training targets.

    Parameters
    ----------
    loss : ``"auto"``, ``"bce"``, ``"focal"``, ``"ce"`` or ``"corn"``.
    multilabel, ordered : the scheme's kind.
    n_classes : number of classes.
    y_train : training targets, (N, C) multi-hot or (N,) class indices (all known).
    """
    if loss == "auto":
        loss = "bce" if multilabel else "ce"
    if multilabel and loss not in ("bce", "focal"):
        raise ConfigError(f"loss: a multi-label scheme needs 'bce' or 'focal', found {loss!r}")
    if not multilabel and loss not in ("ce", "corn"):
        raise ConfigError(f"loss: a single-label scheme needs 'ce' or 'corn', found {loss!r}")
    if loss == "corn" and not ordered:
        raise ConfigError("loss: 'corn' needs an ordered scheme (one whose classes are ranked, such as tier4 or tier3)")
    if multilabel:
        y = np.asarray(y_train, dtype=np.float64).reshape(-1, n_classes)
        pos = y.sum(axis=0)
        mask = pos > 0
        weight = bce_pos_weight(pos, len(y), pos_weight_max)
        if loss == "focal":
            weight = np.ones(n_classes)
        return Objective("sigmoid", loss, n_classes, torch.as_tensor(mask),
                         torch.as_tensor(weight, dtype=torch.float32), focal_gamma)
    counts = np.bincount(np.asarray(y_train, dtype=np.int64), minlength=n_classes)[:n_classes]
    if loss == "corn":
        return Objective("corn", "corn", n_classes)
    weight = None
    if class_weighting:
        # Inverse frequency normalised to mean 1 over present classes; absent classes get 0
        # because they never occur as a target anyway.
        inv = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
        weight = torch.as_tensor(inv / inv[counts > 0].mean(), dtype=torch.float32)
    return Objective("softmax", "ce", n_classes, class_weight=weight)


def bce_pos_weight(positives, n_records: int, cap: float) -> np.ndarray:
    """BCE positive weight per class: negatives / positives, capped at ``cap`` (1 for a class
    without positives, which the loss masks anyway)."""
    pos = np.asarray(positives, dtype=np.float64)
    return np.where(pos > 0, np.minimum((n_records - pos) / np.maximum(pos, 1), cap), 1.0)


def remove_pos_weight(proba, pos_weight) -> np.ndarray:
    """Sigmoid probabilities of a BCE model trained with positive weights ``w``, brought back to
    the training prevalence: ``odds / w``.

    A positive weight ``w`` multiplies the loss of positives, so the loss-minimising output for
    a true probability ``q`` has odds ``w · q / (1 − q)``; dividing the odds by ``w`` undoes
    exactly that (as a prior-shift correction does). Weighted outputs are fine for ranking one
    class, but :func:`fine_to_coarse` multiplies ``1 − p`` over dozens of statements, and
    inflated ``p`` there drive ``P(Normal)`` to 0 for every record.
    """
    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1 - 1e-12)
    odds = p / (1.0 - p) / np.asarray(pos_weight, dtype=np.float64)
    return odds / (1.0 + odds)


def _multilabel_loss(obj: Objective, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    target = target.float()
    if obj.loss == "bce":
        per = F.binary_cross_entropy_with_logits(
            logits, target, pos_weight=obj.class_weight, reduction="none"
        )
    else:
        per = focal_loss(logits, target, obj.focal_gamma)
    mask = obj.class_mask
    if mask is None:
        return per.mean()
    # Multiply by the mask instead of indexing with it: boolean indexing would make the GPU wait
    # for the host on every step.
    kept = mask.to(per.dtype)
    return (per * kept).sum() / (kept.sum() * per.shape[0]).clamp_min(1.0)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float) -> torch.Tensor:
    """Element-wise binary focal loss (Lin et al. 2017) without class balancing."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = torch.exp(-bce)
    return (1.0 - p_t) ** gamma * bce


def corn_loss(logits: torch.Tensor, target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """CORN loss: conditional binary tasks ``y > k`` on the subsets ``y ≥ k``, averaged over
    every (record, task) pair that takes part."""
    k = torch.arange(n_classes - 1, device=logits.device)
    y = target.long().unsqueeze(1)
    in_subset = (y >= k).float()
    label = (y > k).float()
    per = F.binary_cross_entropy_with_logits(logits, label, reduction="none")
    return (per * in_subset).sum() / in_subset.sum().clamp_min(1.0)


def to_probabilities(logits: torch.Tensor, activation: str) -> torch.Tensor:
    """(N, C) probabilities from logits.

    For ``"corn"`` the ``C - 1`` conditional probabilities ``s_k = P(y > k | y > k - 1)`` give
    ``P(y > k) = s_0 ⋯ s_k`` (computed as ``exp(cumsum(logsigmoid))``, which exports to ONNX),
    and ``P(y = k) = P(y > k - 1) - P(y > k)`` with ``P(y > -1) = 1`` and ``P(y > C - 1) = 0``.
    The cumulative products are non-increasing, so every class probability is ≥ 0 and they sum
    to 1.
    """
    logits = logits.float()
    if activation == "sigmoid":
        return torch.sigmoid(logits)
    if activation == "softmax":
        return torch.softmax(logits, dim=-1)
    if activation == "corn":
        exceed = torch.exp(torch.cumsum(F.logsigmoid(logits), dim=-1))
        ones = torch.ones_like(exceed[:, :1])
        zeros = torch.zeros_like(exceed[:, :1])
        upper = torch.cat([ones, exceed], dim=-1)
        lower = torch.cat([exceed, zeros], dim=-1)
        return upper - lower
    raise ValueError(f"activation: expected 'sigmoid', 'softmax' or 'corn', found {activation!r}")


_FORMAT_OF_VOCABULARY = {"aha": "sph", "scp": "ptbxl", "snomed": "challenge"}


def statement_tiers(fine_scheme, tier_scheme="tier3") -> np.ndarray:
    """(C_fine,) tier index of each class of a statement-level multi-label scheme (``aha44``,
    PTB-XL ``all``), as the tier scheme's own rules classify a record holding that statement
    alone (``ecgtriage.labels.encode_targets``, no modifiers or context). -1: undeterminable.

    Only schemes whose classes are statements qualify: a class such as ``MI`` of
    ``superdiagnostic`` pools statements of different tiers.
    """
    import pandas as pd

    from ecgtriage.labels import load_scheme
    from ecgtriage.labels.targets import encode_targets

    fine = load_scheme(fine_scheme)
    # The vocabulary in which every class is itself a statement (aha for aha44, scp for all).
    vocab = next((v for v in _FORMAT_OF_VOCABULARY if fine.multilabel and all(
        any(tuple(r.classes) == (c,) for r in fine.rows_for(v, c)) for c in fine.classes)), None)
    if vocab is None:
        raise ConfigError(f"fine_to_coarse: the classes of scheme {fine.name!r} are not single "
                          "statements of one vocabulary (aha, scp or snomed); use all or aha44")
    index = pd.DataFrame({"record_id": list(fine.classes), "statements": list(fine.classes)})
    return np.asarray(encode_targets(index, _FORMAT_OF_VOCABULARY[vocab], tier_scheme).y, np.int64)


def fine_to_coarse(proba: np.ndarray, tiers: np.ndarray, n_tiers: int) -> np.ndarray:
    """Tier probabilities from statement probabilities through "most severe wins".

    A record's tier is the highest tier among its statements (no statement: tier 0, Normal).
    Taking the statements as independent given the ECG, ``P(tier ≥ k) = 1 − Π_{c: t(c) ≥ k}
    (1 − p_c)`` and ``P(tier = k) = P(tier ≥ k) − P(tier ≥ k + 1)``: non-negative, summing to 1,
    and exact for a record whose statements are certain. Classes of undeterminable tier (-1)
    are left out.

    The probabilities must be calibrated to the statements' prevalence: pass a model trained
    with positive weights through :func:`remove_pos_weight` first.

    Parameters
    ----------
    proba : (N, C_fine) sigmoid probabilities.
    tiers : (C_fine,) tier index per class (:func:`statement_tiers`).
    n_tiers : number of tier classes.

    Returns
    -------
    (N, n_tiers) float64.
    """
    p = np.clip(np.asarray(proba, dtype=np.float64), 0.0, 1.0)
    t = np.asarray(tiers, dtype=np.int64)
    if p.ndim != 2 or t.shape != (p.shape[1],):
        raise ValueError(f"fine_to_coarse: proba (N, {len(t)}) expected, found {p.shape}")
    with np.errstate(divide="ignore"):  # p = 1: log 0 = -inf, exp(-inf) = 0 exactly
        log_none = np.log1p(-p)  # log P(statement c absent)
    at_least = np.ones((p.shape[0], n_tiers + 1))
    at_least[:, n_tiers] = 0.0
    for k in range(1, n_tiers):
        cols = t >= k
        at_least[:, k] = 1.0 - np.exp(log_none[:, cols].sum(axis=1)) if cols.any() else 0.0
    return at_least[:, :-1] - at_least[:, 1:]
