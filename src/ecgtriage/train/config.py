"""Typed training configuration (load with ``ecgtriage.config.load_file(TrainConfig, path)``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ecgtriage.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of one training run; the resolved copy is written as ``config.json``.

    Attributes
    ----------
    model : registered model name (``ecgtriage.models.list_models()``).
    seed : seeds weight init, batch order, augmentation and dropout (no global RNG is touched
        beyond what training restores afterwards).
    epochs, batch_size, lr, weight_decay : AdamW optimisation; ``lr`` is the peak rate.
    schedule : ``"onecycle"`` (OneCycleLR), ``"cosine"`` (CosineAnnealingLR per step) or
        ``"plateau"`` (constant ``lr`` divided by 10 after ``plateau_patience`` epochs without
        improvement of the selection metric): with ``"plateau"`` or ``"cosine"`` the rate is
        high from the first epoch, so the best epoch cannot be an artefact of a warm-up.
    patience : early stopping after this many epochs without validation improvement (0 = off);
        epochs of the one-cycle warm-up (the first 30 %) do not count towards it.
    plateau_patience : epochs without improvement before ``"plateau"`` lowers the rate.
    select_metric : the validation metric that picks the best epoch and drives early stopping:
        ``"auto"`` (macro AUROC multi-label, macro-F1 single-label) or ``"macro_auroc"``
        (one-vs-rest macro AUROC also for single-label schemes, as the PTB-XL benchmark does;
        threshold-free, so it does not swing with the argmax decision).
    grad_clip : max global gradient norm (0 = off).
    loss : ``"auto"`` (BCE for multi-label, cross-entropy for single-label), ``"bce"``,
        ``"focal"``, ``"ce"`` or ``"corn"`` (ordinal, ordered single-label schemes only).
    pos_weight_max : cap on BCE positive weights (negatives/positives per class).
    focal_gamma : focusing parameter of the focal loss.
    class_weighting : weight cross-entropy classes by inverse training frequency.
    window_s : model input window in seconds (``None``: the cache's full window); when the cache
        holds more samples, training crops at random (the benchmark's random crops, e.g. 2.5 s)
        and evaluation takes the centre, or slides windows when ``predict_stride_s`` is set.
    predict_stride_s : stride (s) of the sliding windows that validation and every later
        prediction (``predict_proba`` reads it from the card) cover a longer record with;
        ``None``: one centre window (today's behaviour).
    aggregate : how window probabilities become the record's: ``"max"`` (the benchmark's) or
        ``"mean"``; single-label rows are renormalised to sum to 1 after ``"max"``.
    scale_range : multiplicative amplitude augmentation drawn uniformly from this (lo, hi).
    noise_std : standard deviation (mV) of additive Gaussian noise augmentation (0 = off).
    device : ``"cpu"``, ``"cuda"`` or ``"auto"``.
    amp : mixed precision dtype on CUDA (``"off"`` always on CPU).
    num_threads : ``torch.set_num_threads`` for the run (``None``: leave as is).
    workers : DataLoader workers reading the memmap when the split is not loaded into RAM.
    in_memory : load the training split into RAM once (``"auto"``: when it fits).
    deterministic : ``torch.use_deterministic_algorithms`` during the run.
    serious_sensitivity : target validation sensitivity for the Serious operating point.
    min_val_serious : Serious validation records needed to tune that operating point (fewer:
        plain argmax, recorded in the card).
    min_val_positives : validation positives a multi-label class needs for an F1-tuned
        threshold (fewer: the ``w/(1+w)`` fallback of its BCE positive weight).
    eval_batch_size : batch size for validation and prediction.
    init_from : a finished run folder whose weights start this run (every tensor of matching
        name and shape; the output layer of another scheme is learnt anew), e.g. a model of
        all PTB-XL statements for a tier model: transfer from richer labels. ``None``: random.
    """

    model: str = "resnet1d_small"
    seed: int = 0
    epochs: int = 20
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-2
    schedule: Literal["onecycle", "cosine", "plateau"] = "onecycle"
    patience: int = 5
    plateau_patience: int = 2
    select_metric: Literal["auto", "macro_auroc"] = "auto"
    grad_clip: float = 1.0
    loss: Literal["auto", "bce", "focal", "ce", "corn"] = "auto"
    pos_weight_max: float = 50.0
    focal_gamma: float = 2.0
    class_weighting: bool = True
    window_s: float | None = None
    predict_stride_s: float | None = None
    aggregate: Literal["max", "mean"] = "max"
    scale_range: tuple[float, float] = (0.8, 1.2)
    noise_std: float = 0.01
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: Literal["bf16", "fp16", "off"] = "bf16"
    num_threads: int | None = None
    workers: int = 0
    in_memory: Literal["auto", "always", "never"] = "auto"
    deterministic: bool = True
    serious_sensitivity: float = 0.8
    min_val_serious: int = 5
    min_val_positives: int = 5
    eval_batch_size: int = 256
    init_from: str | None = None

    def __post_init__(self) -> None:
        checks = (
            ("epochs", self.epochs >= 1, "≥ 1"),
            ("batch_size", self.batch_size >= 1, "≥ 1"),
            ("eval_batch_size", self.eval_batch_size >= 1, "≥ 1"),
            ("lr", self.lr > 0, "> 0"),
            ("weight_decay", self.weight_decay >= 0, "≥ 0"),
            ("patience", self.patience >= 0, "≥ 0"),
            ("grad_clip", self.grad_clip >= 0, "≥ 0"),
            ("noise_std", self.noise_std >= 0, "≥ 0"),
            ("workers", self.workers >= 0, "≥ 0"),
            ("pos_weight_max", self.pos_weight_max > 0, "> 0"),
            ("serious_sensitivity", 0 < self.serious_sensitivity <= 1, "in (0, 1]"),
            ("min_val_serious", self.min_val_serious >= 1, "≥ 1"),
            ("min_val_positives", self.min_val_positives >= 1, "≥ 1"),
            ("scale_range", 0 < self.scale_range[0] <= self.scale_range[1], "0 < lo ≤ hi"),
            ("window_s", self.window_s is None or self.window_s > 0, "> 0"),
            ("predict_stride_s", self.predict_stride_s is None or self.predict_stride_s > 0, "> 0"),
            ("plateau_patience", self.plateau_patience >= 1, "≥ 1"),
            ("num_threads", self.num_threads is None or self.num_threads >= 1, "≥ 1"),
        )
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(f"train setting {name}: expected {expected}, found {getattr(self, name)!r}")
        if self.schedule == "plateau" and 0 < self.patience <= self.plateau_patience:
            # Stopping before the rate was ever lowered would make "plateau" a constant rate.
            raise ConfigError(f"train setting patience: expected more than plateau_patience "
                              f"({self.plateau_patience}) with schedule 'plateau', found {self.patience}")
