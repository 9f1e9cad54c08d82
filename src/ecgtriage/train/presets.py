"""Named training recipes: whole ``TrainConfig`` settings picked by name.

A preset is a measured recipe, not a bag of defaults: each one's docstring line says where it
comes from and how it was sized. ``ecgtriage train --preset NAME`` and the study's
``train_preset`` start from one and apply explicit settings (``--epochs``, a ``[train]`` table)
on top. Tier recipes (:data:`TIER_RECIPES`, :func:`tier_recipe`) name the ways of getting a tier model
that the PTB-XL ladder compares: weighted or unweighted ("direct") cross-entropy, CORN, and
fine-to-coarse (``ecgtriage.train.objectives.fine_to_coarse``); they change only the objective
and combine with any preset. Nothing here imports torch, so the CLI can list them at start-up.
"""

from __future__ import annotations

from dataclasses import replace

from ecgtriage.errors import ConfigError
from ecgtriage.train.config import TrainConfig

__all__ = ["PRESETS", "TIER_RECIPES", "preset", "preset_names", "resolve_preset", "tier_recipe"]


def _library() -> TrainConfig:
    return TrainConfig()


def _study_cpu() -> TrainConfig:
    # Sized by benchmarks/learning_curve.py on the embedded synthetic corpus (see
    # ecgtriage.study.config.default_train_config for the measurements).
    return TrainConfig(epochs=10, patience=0, device="auto", amp="off")


def _benchmark() -> TrainConfig:
    # Strodthoff et al. 2021: 2.5 s random crops, sliding windows every 1.25 s with the
    # maximum, AdamW at 1e-2 with a one-cycle schedule, the epoch of best validation AUROC.
    # Plain cross-entropy for tiers: priors and the Serious threshold are set on validation.
    return TrainConfig(epochs=50, batch_size=128, lr=1e-2, weight_decay=1e-2, schedule="onecycle",
                       patience=0, window_s=2.5, predict_stride_s=1.25, aggregate="max",
                       select_metric="macro_auroc", class_weighting=False, serious_sensitivity=0.9,
                       amp="bf16")


def _real_cpu() -> TrainConfig:
    # The benchmark protocol sized for 2 CPU cores, on resnet1d_small with plain cross-entropy:
    # on the shared PTB-XL subset (benchmarks/ptbxl_ladder.py, README "PTB-XL benchmark
    # ladder") it ranked tiers as well as the study-cpu recipe (paired tier3 macro-AUROC
    # difference -0.002, -0.011 to +0.007) with macro-F1 +0.075 and accuracy +0.092 above it,
    # a test Serious sensitivity of 0.85 at its validation operating point, and a quarter of the
    # time per epoch; no larger backbone, ensemble, ordinal or transfer recipe ranked better.
    return replace(_benchmark(), epochs=15, batch_size=64, amp="off", device="auto")


#: name → (factory, one-line description).
PRESETS: dict[str, tuple] = {
    "library": (_library, "TrainConfig's own defaults (20 epochs, one-cycle at 3e-3, weighted CE)"),
    "study-cpu": (_study_cpu, "the study recipe sized on the embedded synthetic data for a 2-core CPU "
                              "(full window, 10 epochs, weighted CE); the real-data default until 2026-12"),
    "benchmark": (_benchmark, "the PTB-XL benchmark protocol, GPU-sized (2.5 s crops, sliding "
                              "windows, 50 epochs, AUROC selection)"),
    "real-cpu": (_real_cpu, "the real-data default: the benchmark protocol sized for 2 CPU cores "
                            "(15 epochs, batch 64), plain cross-entropy"),
}


def preset_names() -> list[str]:
    """Registered preset names."""
    return list(PRESETS)


def preset(name: str, **overrides) -> TrainConfig:
    """The ``TrainConfig`` of preset ``name`` with ``overrides`` (``None`` values ignored).

    Raises
    ------
    ConfigError
        On an unknown name, listing the known ones.
    """
    if name not in PRESETS:
        raise ConfigError(f"train preset: expected one of {', '.join(PRESETS)}, found {name!r}")
    return replace(PRESETS[name][0](), **{k: v for k, v in overrides.items() if v is not None})


def resolve_preset(name: str, *, real_data: bool) -> str:
    """``"auto"`` → ``"real-cpu"`` for real training data, ``"study-cpu"`` for the embedded
    default; any other name is returned after checking it exists."""
    if name == "auto":
        return "real-cpu" if real_data else "study-cpu"
    if name not in PRESETS:
        raise ConfigError(f"train preset: expected auto or one of {', '.join(PRESETS)}, found {name!r}")
    return name


#: Tier recipes compared by the PTB-XL ladder and selectable by name (``tier_recipe``):
#: TrainConfig overrides and the scheme trained. ``fine_to_coarse`` trains the multi-label
#: ``fine`` scheme and derives tier probabilities with
#: :func:`ecgtriage.train.objectives.fine_to_coarse`.
TIER_RECIPES: dict[str, dict] = {
    "weighted": {"scheme": None, "train": {"loss": "ce", "class_weighting": True}},
    "direct": {"scheme": None, "train": {"loss": "ce", "class_weighting": False}},
    "corn": {"scheme": None, "train": {"loss": "corn"}},
    "fine_to_coarse": {"scheme": "all", "train": {"loss": "bce"}},
}


def tier_recipe(name: str, tier_scheme: str = "tier3", fine_scheme: str | None = None) -> tuple[str, dict]:
    """(scheme to train, TrainConfig overrides) of a tier recipe in :data:`TIER_RECIPES`.

    ``"weighted"`` is today's default (cross-entropy with inverse-frequency class weights);
    ``"direct"`` trains on the natural class frequencies, leaving priors and the Serious
    threshold to validation (the operating point is tuned there either way); ``"corn"`` is the
    ordinal objective; ``"fine_to_coarse"`` trains ``fine_scheme`` (default PTB-XL ``all``; or
    ``aha44``) and coarsens its probabilities to ``tier_scheme`` afterwards.
    """
    if name not in TIER_RECIPES:
        raise ConfigError(f"tier recipe: expected one of {', '.join(TIER_RECIPES)}, found {name!r}")
    recipe = TIER_RECIPES[name]
    scheme = recipe["scheme"] and (fine_scheme or recipe["scheme"])
    return scheme or tier_scheme, dict(recipe["train"])
