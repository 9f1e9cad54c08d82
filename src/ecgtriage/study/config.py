"""The study's typed configuration: one file sets everything, CLI flags override it.

``StudyConfig`` nests small dataclasses (data, preprocessing, training, evaluation). A TOML or
JSON file may set any subset; unknown keys are an error naming the file and the key. The
resolved configuration is saved as ``config.json`` in the study directory.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ecgtriage import config as cfgmod
from ecgtriage.errors import ConfigError
from ecgtriage.evaluate.robustness import CORRUPTIONS
from ecgtriage.labels import DEFAULT_SCHEMES
from ecgtriage.signal.preprocess import PreprocessConfig
from ecgtriage.train.config import TrainConfig
from ecgtriage.train.presets import preset, resolve_preset



@dataclass(frozen=True)
class SyntheticData:
    """Sizes of the embedded synthetic corpora used when no real data is given.

    The defaults are tuned so that the whole default study (three models, every test set and
    corrupted copy, the report) finishes in well under 15 minutes on two CPU cores.
    """

    n_train: int = 3000  #: SPH-like corpus; split patient-level into train / val / internal test
    n_external: int = 1000  #: PTB-XL-like corpus used as the external test set
    seed: int = 20240


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from.

    ``train`` is a source folder (SPH, PTB-XL or Challenge layout) or a prepared cache; its
    patient-level splits give train, validation and the internal test set. ``external`` lists
    source folders or caches used only for testing. With ``train`` unset the synthetic corpora
    are generated inside the study directory.
    """

    train: str | None = None
    external: list[str] = field(default_factory=list)
    synthetic: SyntheticData = field(default_factory=SyntheticData)
    split_seed: int = 0  #: seed of the patient-level split (independent of model seeds)
    #: Shares of patients for validation and internal test (PTB-XL folds override them).
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    workers: int | None = None  #: processes for cache preparation (``None``: library default)


def default_train_config() -> TrainConfig:
    """Training defaults sized for the embedded synthetic study on a 2-core CPU.

    ``seed`` is ignored: each grid cell sets it from ``StudyConfig.seeds``.

    Sized by ``benchmarks/learning_curve.py`` (2026-12-01, 600-record corpus, seed 0, best
    validation score for 3 / 6 / 10 epochs at 388 training records: tier3 macro-F1 0.48 / 0.90 /
    0.93, tier4 0.12 / 0.85 / 0.84, aha44 macro-AUROC 0.77 / 0.87 / 0.87; at 194 records all
    three still rose from 6 to 10 epochs): doubling the records helped more than the epochs
    did, and the default corpus (about 1,950 training records) was not measured, so 10 stays. Early stopping stays off: under the
    one-cycle schedule the best epoch was within the last three of the budget in every run
    (the rate anneals to the end of the budget), so a patience of 2-3 epochs would have
    stopped no run before its last epoch: it would only add a rule to explain. The study's time budget is met by the prediction phase instead
    (``evaluation.robustness_sample``, ONNX Runtime).
    """
    return preset("study-cpu")


@dataclass(frozen=True)
class EvaluationConfig:
    """Test-time settings."""

    bootstrap: int = 200  #: patient-bootstrap resamples for the confidence intervals
    bootstrap_ci: float = 0.95
    #: Names in ``ecgtriage.evaluate.robustness.CORRUPTIONS``. Power-line noise is listed but
    #: reported as not applicable on 100-Hz caches (mains lies at or above their Nyquist rate
    #: and a recorder's anti-aliasing filter removes it); it runs at 250 and 500 Hz.
    corruptions: list[str] = field(
        default_factory=lambda: ["gaussian", "baseline_wander", "muscle", "electrode_motion",
                                 "powerline_50hz", "powerline_60hz", "missing_leads",
                                 "amplitude_gain", "amplitude_attenuation", "time_shift_padded"]
    )
    #: Per corruption, the levels to run (default: the registry's levels, mildest first).
    severities: dict[str, list[float]] = field(default_factory=dict)
    corrupt_external: bool = True  #: corrupt external test sets as well as the internal one
    #: Records per test set that the corrupted copies are made of: a fixed, seeded sample of
    #: whole patients (so the patient bootstrap stays valid), drawn once per test set and shared
    #: by every corruption, level and model. The corrupted copies are most of a study's
    #: prediction work; a sample keeps the degradation curves' shape while their confidence
    #: intervals widen with the smaller n. ``None`` or 0: every record (the full run).
    robustness_sample: int | None = 300
    #: Inference runtime of the prediction tables: ``auto`` uses ONNX Runtime on CPU when the
    #: ``onnx`` extra is installed (checked against PyTorch on the first batch), else PyTorch.
    runtime: Literal["auto", "torch", "onnx"] = "auto"
    batch_size: int = 256
    seed: int = 0  #: seed of corruption noise and bootstrap resampling
    #: Interpretability section (docs/interpretability.md): records per clean test set whose
    #: attributions are scored, a seeded sample of records with a defining region; 0 skips it.
    explain_sample: int = 32
    #: Attribution methods scored there (``ecgtriage.explain.attribute.METHODS``).
    explain_methods: list[str] = field(default_factory=lambda: ["gradcam"])

    def levels(self, name: str) -> list[float]:
        """Severities of corruption ``name``, mildest first."""
        if name in self.severities:
            return [float(v) for v in self.severities[name]]
        return [float(v) for v in CORRUPTIONS[name].severities]


@dataclass(frozen=True)
class StudyConfig:
    """Everything a study run depends on; ``config.json`` in the study directory is this.

    ``preprocess`` is ``ecgtriage prepare``'s own configuration and ``train`` the training
    library's ``TrainConfig``, so every setting of those stages can be set from the study file.
    ``train_preset`` names the recipe ``train`` starts from (``ecgtriage.train.presets``):
    ``"auto"`` is ``"study-cpu"`` for the embedded default and ``"real-cpu"`` when
    ``data.train`` is set; settings given in a ``[train]`` table or as overrides apply on top.
    The saved ``config.json`` holds the resolved name and every resulting setting.
    """

    out: str = "study"
    data: DataConfig = field(default_factory=DataConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    schemes: list[str] = field(default_factory=lambda: list(DEFAULT_SCHEMES))
    seeds: list[int] = field(default_factory=lambda: [0])
    train_preset: str = "auto"
    train: TrainConfig = field(default_factory=default_train_config)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)


def load_study_config(path: str | Path | None = None, **overrides: Any) -> StudyConfig:
    """Build a ``StudyConfig`` from an optional file, then apply CLI overrides.

    Parameters
    ----------
    path : a ``.toml`` or ``.json`` file; ``None`` starts from the defaults.
    overrides : dotted or top-level names (``out``, ``schemes``, ``seeds``, ``train.device``,
        ``data.train``, ``data.external``, ``train.epochs``...); ``None`` values are ignored.

    Raises
    ------
    ConfigError
        On unknown keys or wrong types, naming the file and the key.
    """
    cfg = StudyConfig()
    if path is not None:
        # A partial file overrides the study defaults (not each section's bare defaults), so a
        # ``[train]`` table with only ``epochs`` keeps the study's CPU-sized training settings.
        data = cfgmod.read_table(path)
        merged = _deep_merge(cfgmod.to_dict(cfg), data)
        cfg = cfgmod.from_dict(StudyConfig, merged, where=str(path))
    explicit_train: dict[str, Any] = dict(data.get("train") or {}) if path is not None else {}
    for key, value in overrides.items():
        if value is None:
            continue
        parts = key.replace("__", ".").split(".")
        cfg = _set_dotted(cfg, parts, value, key, "override ")
        if parts[0] == "train" and len(parts) == 2:
            explicit_train[parts[1]] = value
    cfg = _apply_preset(cfg, explicit_train, where=str(path) if path is not None else "override")
    validate(cfg)
    return cfg


def _apply_preset(cfg: StudyConfig, explicit_train: dict[str, Any], where: str) -> StudyConfig:
    """Resolve ``train_preset`` and rebuild ``train`` from it plus the explicit settings."""
    name = resolve_preset(cfg.train_preset, real_data=cfg.data.train is not None)
    train = cfgmod.from_dict(TrainConfig, {**cfgmod.to_dict(preset(name)), **explicit_train},
                             where=f"{where} [train]")
    return dataclasses.replace(cfg, train_preset=name, train=train)


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _set_dotted(obj: Any, parts: list[str], value: Any, full: str, where: str) -> Any:
    names = {f.name for f in dataclasses.fields(obj)}
    if parts[0] not in names:
        raise ConfigError(f"override {full}: unknown setting {parts[0]!r}; expected one of "
                         f"{', '.join(sorted(names))}")
    if len(parts) == 1:
        current = cfgmod.to_dict(obj)
        current[parts[0]] = cfgmod.to_dict(value) if dataclasses.is_dataclass(value) else value
        return cfgmod.from_dict(type(obj), current, where=where.rstrip(". ").rstrip() or "override")
    child = _set_dotted(getattr(obj, parts[0]), parts[1:], value, full,
                        f"{where}{parts[0]}.")
    return dataclasses.replace(obj, **{parts[0]: child})


def validate(cfg: StudyConfig) -> None:
    """Reject settings that would only fail later, with the setting's name in the message."""
    if not cfg.schemes:
        raise ConfigError("schemes: expected at least one label scheme, found none")
    if len(set(cfg.schemes)) != len(cfg.schemes):
        raise ConfigError(f"schemes: expected distinct names, found {cfg.schemes}")
    if not cfg.seeds:
        raise ConfigError("seeds: expected at least one seed, found none")
    if cfg.data.train is None and cfg.data.external:
        raise ConfigError("data.external: given without data.train; pass --train as well "
                         "(or neither, for the synthetic study)")
    syn = cfg.data.synthetic
    if syn.n_train < 30 or syn.n_external < 10:
        raise ConfigError(
            f"data.synthetic: expected n_train >= 30 and n_external >= 10 so that every split "
            f"has records, found n_train={syn.n_train}, n_external={syn.n_external}"
        )
    for name in [*cfg.evaluation.corruptions, *cfg.evaluation.severities]:
        if name not in CORRUPTIONS:
            raise ConfigError(f"evaluation.corruptions: unknown corruption {name!r}; expected "
                             f"some of {', '.join(sorted(CORRUPTIONS))}")
    sample = cfg.evaluation.robustness_sample
    if sample is not None and sample < 0:
        raise ConfigError(f"evaluation.robustness_sample: expected a record count >= 0 (0 or "
                         f"null: every record), found {sample}")
    if cfg.evaluation.bootstrap < 0:
        raise ConfigError(f"evaluation.bootstrap: expected >= 0, found {cfg.evaluation.bootstrap}")
    if not 0 < cfg.evaluation.bootstrap_ci < 1:
        raise ConfigError(f"evaluation.bootstrap_ci: expected in (0, 1), "
                         f"found {cfg.evaluation.bootstrap_ci}")
