"""One training run end to end: targets and splits → fit → thresholds → checkpoint + card.

``train_on_arrays`` is the core (datasets + scheme metadata, no cache needed);
``train`` wires it to a prepared cache, a label scheme and a split table.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from ecgtriage import atomic
from ecgtriage.config import save_resolved, to_dict
from ecgtriage.data.dataset import SignalDataset
from ecgtriage.models import create_model
from ecgtriage.train.card import ModelCard, ModelSpec, ObjectiveSpec, SchemeSpec, uncertainty_score
from ecgtriage.train.checkpoint import code_version, save_checkpoint
from ecgtriage.train.config import TrainConfig
from ecgtriage.train.augment import window_note
from ecgtriage.train.loop import fit
from ecgtriage.errors import ConfigError, DataError
from ecgtriage.train.objectives import build_objective
from ecgtriage.train.state import check_resume, splits_fingerprint
from ecgtriage.train.thresholds import fallback_thresholds, tune_f1_thresholds, tune_serious_threshold


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def class_counts(targets: np.ndarray, classes: list[str], multilabel: bool) -> dict[str, int]:
    if multilabel:
        counts = np.asarray(targets).reshape(-1, len(classes)).sum(axis=0)
    else:
        counts = np.bincount(np.asarray(targets, dtype=np.int64), minlength=len(classes))
    return {c: int(n) for c, n in zip(classes, counts)}


def model_window(config: TrainConfig, fs: float, available: int) -> int:
    """Samples per model input: ``window_s × fs``, or the whole cached window."""
    if config.window_s is None:
        return available
    n = round(config.window_s * fs)
    if n > available:
        raise ConfigError(f"window_s: {config.window_s} s at {fs:g} Hz needs {n} samples, "
                         f"but the data holds {available} per record")
    return n


def decision_thresholds(y_val: np.ndarray, val_proba: np.ndarray, classes: list[str], multilabel: bool,
                        ordered: bool, eligible: np.ndarray | None, config: TrainConfig,
                        pos_weight: np.ndarray | None = None) -> dict:
    """Decision rules from validation predictions (see ``ecgtriage.train.thresholds``)."""
    if multilabel:
        fallback = fallback_thresholds(pos_weight, len(classes))
        values = tune_f1_thresholds(y_val, val_proba, eligible, config.min_val_positives, fallback)
        n_pos = np.asarray(y_val).reshape(-1, len(classes)).sum(axis=0)
        elig = np.ones(len(classes), bool) if eligible is None else np.asarray(eligible, bool)
        source = ["untrained" if not e else ("tuned" if n >= max(config.min_val_positives, 1)
                                             else "fallback") for e, n in zip(elig, n_pos)]
        return {"kind": "per_class_f1", "split": "val",
                "rule": "predict class c when P(c) >= threshold[c]; null: absent from training, never "
                        f"predicted; classes with < {config.min_val_positives} validation positives use "
                        "the fallback w/(1+w) of their BCE positive weight w",
                "min_val_positives": config.min_val_positives,
                "values": dict(zip(classes, values)), "source": dict(zip(classes, source))}
    if ordered:
        op = tune_serious_threshold(y_val, val_proba, len(classes) - 1, config.serious_sensitivity,
                                    config.min_val_serious)
        return {"kind": "serious_operating_point", "split": "val", "class": classes[-1], **op,
                "rule": f"predict {classes[-1]} when P({classes[-1]}) >= threshold, otherwise the "
                        f"argmax over the other classes; null threshold: plain argmax"}
    return {"kind": "argmax", "split": "val", "rule": "predict the most probable class"}


#: Share of validation records whose uncertainty exceeds the refer-on-uncertainty threshold.
UNCERTAINTY_REFER_RATE = 0.05


def uncertainty_threshold(val_proba: np.ndarray, multilabel: bool,
                          refer_rate: float = UNCERTAINTY_REFER_RATE) -> dict:
    """The refer-on-uncertainty rule calibrated on validation (``thresholds.uncertainty``).

    The threshold is the ``1 - refer_rate`` quantile of the validation records' uncertainty
    (``ecgtriage.train.card.uncertainty_score``), so triage refers about ``refer_rate`` of
    records like the validation ones, and more of records the model finds unfamiliar. Without
    validation probabilities the threshold is null (no referral by uncertainty).
    """
    p = np.asarray(val_proba, dtype=np.float64)
    finite = p[np.isfinite(p).all(axis=1)] if p.ndim == 2 else p[:0]
    score = "1 - mean max(p, 1 - p) over classes" if multilabel else "1 - max probability"
    if len(finite) == 0:
        threshold = None
    else:
        u = uncertainty_score(finite, multilabel)
        threshold = float(np.quantile(u, 1.0 - refer_rate, method="higher"))
    return {"score": score, "threshold": threshold, "split": "val", "refer_rate": refer_rate,
            "n_val": int(len(finite)),
            "rule": "refer a record whose uncertainty exceeds threshold (the "
                    f"{1 - refer_rate:.0%} quantile of validation uncertainty)"}


def train_on_arrays(
    train_ds: SignalDataset,
    val_ds: SignalDataset,
    *,
    classes: list[str] | tuple[str, ...],
    multilabel: bool,
    ordered: bool,
    fs: float,
    config: TrainConfig,
    out_dir: str | Path,
    scheme_name: str,
    scheme_version: str,
    class_observable: np.ndarray | None = None,
    preprocessing: dict | None = None,
    data_summary: dict | None = None,
    resume: bool = True,
    progress: bool = True,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    resume_context: dict | None = None,
) -> Path:
    """Train one model on in-memory or memmapped datasets and write a complete run directory.

    Parameters
    ----------
    train_ds, val_ds : datasets of (leads, T) windows at ``fs`` with targets in scheme order.
    classes, multilabel, ordered : the label scheme's metadata.
    fs : sampling rate (Hz) of the signals.
    config : training settings.
    out_dir : run directory (created); rank 0 writes ``config.json``, ``metrics.csv``,
        ``tensorboard/``, ``last.pt``, ``model.safetensors``, ``model_card.json`` and
        ``val_predictions.csv``.
    scheme_name, scheme_version : recorded in the card.
    class_observable : (C,) bool, classes that can occur in the source at all.
    preprocessing, data_summary : recorded in the card (from the cache manifest).
    resume : continue from ``last.pt`` when present.
    on_epoch_end : hook called after every epoch (see ``fit``).
    resume_context : what identifies the run's data besides ``config`` (see
        ``ecgtriage.train.state.resume_key``); a ``last.pt`` of another run is refused before
        anything is written.

    Returns
    -------
    The run directory.
    """
    out_dir = Path(out_dir)
    classes = [str(c) for c in classes]
    for name, ds in (("training", train_ds), ("validation", val_ds)):
        if len(ds) == 0:
            raise DataError(f"{name} split: expected at least one record with a known target, found none")
    objective = build_objective(config.loss, multilabel=multilabel, ordered=ordered, n_classes=len(classes),
                                y_train=train_ds.targets, pos_weight_max=config.pos_weight_max,
                                focal_gamma=config.focal_gamma, class_weighting=config.class_weighting)
    model = _initial_model(config, train_ds, fs, objective)
    train_counts = class_counts(train_ds.targets, classes, multilabel)
    trained = np.array([train_counts[c] > 0 for c in classes])
    observable = np.ones(len(classes), bool) if class_observable is None else np.asarray(class_observable, bool)
    # Multi-label classes never seen in training, or impossible in this source, are masked from
    # the loss and get no threshold; single-label softmax has no per-class mask.
    eligible = trained & observable if multilabel else None
    if resume:
        check_resume(out_dir / "last.pt", config, resume_context)
    if _is_main_process():
        out_dir.mkdir(parents=True, exist_ok=True)
        save_resolved(config, out_dir / "config.json")

    result = fit(model, objective, train_ds, val_ds, config, out_dir, eligible=eligible,
                 multilabel=multilabel, resume=resume, progress=progress, on_epoch_end=on_epoch_end,
                 resume_context=resume_context)
    if not _is_main_process():
        return out_dir

    pos_weight = (objective.class_weight.numpy() if multilabel and objective.loss == "bce" else None)
    thresholds = decision_thresholds(val_ds.targets, result.val_proba, classes, multilabel, ordered,
                                     eligible, config, pos_weight)
    thresholds["uncertainty"] = uncertainty_threshold(result.val_proba, multilabel)
    card = ModelCard(
        model=ModelSpec(name=config.model, n_outputs=int(objective.n_outputs),
                        n_parameters=int(sum(p.numel() for p in model.parameters()))),
        **_input_contract(model),
        scheme=SchemeSpec(name=scheme_name, version=scheme_version, classes=tuple(classes),
                          multilabel=multilabel, ordered=ordered),
        objective=_objective_spec(objective, classes, trained, observable, multilabel),
        thresholds=thresholds,
        # The record length the model saw (what triage must rebuild before sliding windows);
        # a cache's manifest says more when train() passes it.
        preprocessing={"cache_fs": float(fs), "cache_n_samples": int(train_ds.n_samples),
                       **(preprocessing or {}), "window": window_note(config)},
        training_data={
            **(data_summary or {}),
            "n": {"train": len(train_ds), "val": len(val_ds)},
            "class_counts": {"train": train_counts,
                             "val": class_counts(val_ds.targets, classes, multilabel)},
        },
        code_version=code_version(),
        seed=config.seed,
        best_epoch=int(result.best_epoch),
        epochs_run=len(result.history),
        val_metrics=result.best_metrics,
        config=to_dict(config),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    save_checkpoint(out_dir, result.model, card)
    if val_ds.record_ids is not None:
        table = pd.DataFrame(result.val_proba, columns=[f"p_{c}" for c in classes])
        table.insert(0, "record_id", val_ds.record_ids)
        atomic.write_csv(out_dir / "val_predictions.csv", table)
    return out_dir


def _initial_model(config: TrainConfig, train_ds: SignalDataset, fs: float, objective) -> torch.nn.Module:
    """The untrained network, with its output activation set for prediction and the card."""
    n_samples = model_window(config, fs, train_ds.n_samples)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)  # weight initialisation, identical on every rank
        model = create_model(config.model, n_leads=train_ds.n_leads, n_samples=n_samples, fs=fs,
                             n_outputs=objective.n_outputs)
    model.output_activation = objective.activation
    if config.init_from:
        from ecgtriage.train.checkpoint import transfer_weights

        transfer_weights(model, config.init_from)
    return model


def _input_contract(model: torch.nn.Module) -> dict:
    """The card's input-contract fields, read off the model so the card cannot disagree with it."""
    contract = model.signal_contract
    return {"fs": float(contract.fs), "n_samples": int(contract.n_samples),
            "leads": tuple(contract.leads), "units": "mV"}


def _objective_spec(objective, classes: list[str], trained: np.ndarray, observable: np.ndarray,
                    multilabel: bool) -> ObjectiveSpec:
    absent = tuple(c for c, t in zip(classes, trained) if not t)
    return ObjectiveSpec(
        loss=objective.loss, activation=objective.activation,
        ordinal=objective.activation == "corn",
        classes_absent_from_training=absent,
        classes_not_observable=tuple(c for c, o in zip(classes, observable) if not o),
        masked_from_loss=absent if multilabel else (),
    )


def check_splits(splits: pd.DataFrame, name: str = "splits") -> None:
    """Refuse a split table that would leak records between splits.

    Raises
    ------
    DataError
        A column is missing, a split is not train/val/test, or a record appears in two rows
        (in two splits: leakage; twice in one: double weight), naming the record.
    """
    for col in ("record_id", "split"):
        if col not in splits.columns:
            raise DataError(f"{name}: missing column {col!r}; found {', '.join(map(str, splits.columns))}")
    bad = sorted(set(map(str, splits["split"])) - {"train", "val", "test"})
    if bad:
        raise DataError(f"{name}: split: expected train, val or test, found {', '.join(bad)}")
    ids = splits["record_id"].astype(str)
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        first = dup.iloc[0]
        where = sorted(set(map(str, splits.loc[ids == first, "split"])))
        kind = (f"in splits {' and '.join(where)} (leakage between splits)" if len(where) > 1
                else f"{int((ids == first).sum())} times in split {where[0]}")
        raise DataError(f"{name}: record {first} appears {kind}; "
                        f"{dup.nunique()} record(s) appear more than once")


def split_datasets(cache, targets, splits: pd.DataFrame) -> tuple[dict[str, SignalDataset], dict]:
    """Datasets per split (records with a known target only), joined on record ids.

    Returns
    -------
    ({"train": ..., "val": ...}, {"n_unknown_target": {split: n}})
    """
    check_splits(splits)
    pos = {str(r): i for i, r in enumerate(targets.record_ids)}
    out, unknown = {}, {}
    for name in ("train", "val"):
        ids = [str(r) for r in splits.loc[splits["split"] == name, "record_id"]]
        missing = [r for r in ids if r not in pos]
        if missing:
            raise DataError(f"splits: {len(missing)} {name} record_id(s) are not in the cache "
                            f"(or have no target), e.g. {missing[:3]}")
        idx = np.array([pos[r] for r in ids], dtype=np.int64)
        known = np.asarray(targets.known, bool)[idx] if len(idx) else np.zeros(0, bool)
        idx, kept = idx[known], [r for r, k in zip(ids, known) if k]
        unknown[name] = int((~known).sum())
        rows = cache.rows_for(kept) if kept else np.zeros(0, np.int64)
        out[name] = SignalDataset(cache.signals, rows, np.asarray(targets.y)[idx], record_ids=kept)
    return out, {"n_unknown_target": unknown}


def train(cache, scheme, out_dir: str | Path, config: TrainConfig, splits: pd.DataFrame, *,
          targets=None, resume: bool = True, progress: bool = True) -> Path:
    """Train ``config.model`` on a prepared cache for a label scheme.

    Parameters
    ----------
    cache : ``ecgtriage.data.cache.Cache``.
    scheme : ``ecgtriage.labels.Scheme``.
    out_dir : run directory.
    config : training settings.
    splits : DataFrame[record_id, split] (``ecgtriage.labels.splits.make_splits``); the "train"
        rows are fitted, "val" drives early stopping and thresholds; "test" is never read.
    targets : precomputed ``targets_for_cache(cache, scheme)`` (e.g. shared by the seeds of a
        study); computed here when ``None``. Only ``y``, ``known``, ``class_observable`` and
        ``record_ids`` are read.

    Returns
    -------
    The run directory (see ``train_on_arrays``).
    """
    if targets is None:
        from ecgtriage.labels import targets_for_cache

        targets = targets_for_cache(cache, scheme)
    datasets, unknown = split_datasets(cache, targets, splits)
    manifest = cache.manifest
    context = {"data": manifest.get("content_hash") or str(cache.path),
               "scheme": f"{scheme.name} {scheme.version} {'|'.join(map(str, scheme.classes))}",
               "splits": splits_fingerprint(splits)}
    if resume:  # before splits.csv is written: a refused resume must leave the folder as it was
        check_resume(Path(out_dir) / "last.pt", config, context)
    if _is_main_process():
        atomic.write_csv(Path(out_dir) / "splits.csv", pd.DataFrame(splits)[["record_id", "split"]])
    summary = {"source": str(manifest.get("source", cache.path)), "format": cache.format,
               "cache_content_hash": manifest.get("content_hash"),
               "split_roles": dict(getattr(splits, "roles", None) or {}), **unknown}
    preprocessing = {"cache_fs": cache.fs, "cache_n_samples": cache.n_samples,
                     **dict(manifest.get("preprocessing", {}))}
    return train_on_arrays(
        datasets["train"], datasets["val"], classes=list(scheme.classes), multilabel=scheme.multilabel,
        ordered=scheme.ordered, fs=cache.fs, config=config, out_dir=out_dir,
        scheme_name=scheme.name, scheme_version=str(scheme.version),
        class_observable=getattr(targets, "class_observable", None), preprocessing=preprocessing,
        data_summary=summary, resume=resume, progress=progress, resume_context=context)
