"""``ecgtriage train PATH`` (PATH a cache or a source folder) and ``ecgtriage export``."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from ecgtriage.cli.options import (
    add_data_path,
    add_device,
    add_overwrite,
    add_parser,
    check_output_file,
    data_path,
)

#: Folder inside the run directory where ``train`` prepares a source folder it was given.
RUN_CACHE = "cache"
#: Names ``train`` writes into RUN; a non-empty folder holding none of them is not a run.
RUN_FILES = ("config.json", "last.pt", "model_card.json", "model.safetensors", "metrics.csv",
             "splits.csv", RUN_CACHE)


def check_run_folder(out: Path) -> None:
    """Refuse ``--out`` when it is a file or a non-empty folder that is not a training run:
    training writes config.json, metrics.csv, ... there and would replace the user's files.

    Raises
    ------
    ConfigError
        Naming the folder and what it holds.
    """
    from ecgtriage.errors import ConfigError

    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder; expected a run folder")
    if out.is_dir() and any(out.iterdir()) and not any((out / n).exists() for n in RUN_FILES):
        raise ConfigError(f"--out {out}: is a non-empty folder that holds no training run; "
                          "choose a new or empty folder")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train`` and ``export`` to the CLI's subparsers."""
    from ecgtriage.train.presets import TIER_RECIPES, preset_names

    p = add_parser(
        subparsers, "train",
        help="train a model on a cache or source folder for one label scheme",
        description="Train on the 'train' split of PATH (patient-level splits from "
        "ecgtriage.labels.splits), early-stop and tune decision thresholds on 'val', and write "
        "RUN/model.safetensors, model_card.json, config.json, metrics.csv, splits.csv. PATH is "
        "a cache from `ecgtriage prepare` or a source folder; a source folder is prepared with "
        f"the default preprocessing into RUN/{RUN_CACHE} first (reused when up to date). An "
        "interrupted run resumes from RUN/last.pt. Works under `torchrun --nproc_per_node=N -m "
        "ecgtriage train ...` (DDP; rank 0 writes).",
    )
    add_data_path(p, "cache folder written by `ecgtriage prepare`, or a source folder",
                  old_flag="--data")
    p.add_argument("--scheme", required=True,
                   help="aha44, tier4, tier3, a PTB-XL scheme or a scheme CSV")
    p.add_argument("--out", required=True, metavar="RUN", help="run folder to write")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="TOML ([train] table) or JSON file of training settings (default: none)")
    p.add_argument("--seed", type=int, default=None,
                   help="training seed (default: from --config, else 0)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the patient-level split")
    p.add_argument("--splits", default=None, metavar="CSV",
                   help="CSV with record_id,split (train/val/test) to use instead of computing "
                        "splits (default: computed)")
    p.add_argument("--epochs", type=int, default=None,
                   help="maximum epochs (default: from --config, else 20)")
    p.add_argument("--model", default=None,
                   help="registered model name (default: from --config, else resnet1d_small)")
    p.add_argument("--preset", default=None, choices=preset_names(),
                   help="named recipe the settings start from (ecgtriage.train.presets; "
                        "--config and the flags below apply on top; default: library)")
    p.add_argument("--recipe", default=None, choices=[r for r in TIER_RECIPES if r != "fine_to_coarse"],
                   help="tier objective (ecgtriage.train.presets.TIER_RECIPES): weighted or "
                        "direct cross-entropy, or corn (ordinal); tier schemes only (default: the preset's own "
                        "objective)")
    p.add_argument("--loss", default=None, choices=["auto", "bce", "focal", "ce", "corn"],
                   help="objective; auto is BCE multi-label, cross-entropy tiers "
                        "(default: from --config, else auto)")
    add_device(p, default=None, help_default="from --config, else auto")
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads for the run (default: torch's own)")
    p.add_argument("--no-resume", action="store_true", help="ignore RUN/last.pt and start over")
    p.set_defaults(func=run_train)

    e = add_parser(
        subparsers, "export",
        help="export a trained run to ONNX (probabilities out), validated against onnxruntime",
        description="Write RUN's model as ONNX with input 'ecg' (batch, leads, n_samples) in mV "
        "and output 'proba' (batch, classes); checked against onnxruntime before it is kept.",
    )
    e.add_argument("--run", required=True, help="run folder written by `ecgtriage train`")
    e.add_argument("--out", required=True, help="ONNX file to write (never a folder, never a "
                   "file of RUN other than an earlier export)")
    add_overwrite(e, "an existing --out file")
    e.add_argument("--dynamo", action="store_true", help="use the torch.export-based exporter")
    e.set_defaults(func=run_export)


def check_device(device: str | None) -> None:
    """Refuse ``--device cuda`` on a machine without CUDA before any work starts.

    Raises
    ------
    ConfigError
        ``device`` is ``"cuda"`` and torch sees no CUDA device.
    """
    if device != "cuda":
        return
    import torch

    from ecgtriage.errors import ConfigError

    if not torch.cuda.is_available():
        raise ConfigError("--device cuda: this machine has no CUDA device visible to torch; "
                          "use --device cpu or auto")


def _load_config(args: argparse.Namespace):
    import dataclasses

    from ecgtriage import config as cfg
    from ecgtriage.train.config import TrainConfig
    from ecgtriage.train.presets import preset, tier_recipe

    base = preset(args.preset or "library")
    if args.config:
        section = "train" if args.config.endswith(".toml") else None
        explicit = cfg.read_table(args.config)
        explicit = explicit.get(section, {}) if section else explicit
        base = cfg.from_dict(TrainConfig, {**cfg.to_dict(base), **explicit}, where=args.config)
    if args.recipe:
        _, overrides = tier_recipe(args.recipe, args.scheme)
        base = dataclasses.replace(base, **overrides)
    return cfg.replace(base, seed=args.seed, epochs=args.epochs, model=args.model, loss=args.loss,
                       device=args.device, num_threads=args.threads)


def run_train(args: argparse.Namespace) -> int:
    from ecgtriage.errors import ConfigError
    from ecgtriage.labels import load_scheme
    from ecgtriage.labels.splits import make_splits
    from ecgtriage.models import list_models
    from ecgtriage.train.run import train

    config = _load_config(args)
    if config.model not in list_models():
        raise ConfigError(f"--model: expected one of {', '.join(list_models())}, found {config.model!r}")
    check_device(config.device)
    check_run_folder(Path(args.out))
    scheme = load_scheme(args.scheme)
    cache = _cache_for(data_path(args), Path(args.out))
    splits = (read_splits(args.splits) if args.splits
              else make_splits(cache.index, cache.format, seed=args.split_seed))
    start = time.perf_counter()
    out = train(cache, scheme, args.out, config, splits, resume=not args.no_resume)
    if int(os.environ.get("RANK", "0")) == 0:
        from ecgtriage.train.card import ModelCard

        card = ModelCard.read(out)
        shown = ", ".join(f"{k} {v:g}" if k.startswith("n_") else f"{k} {v:.4f}"
                          for k, v in card.val_metrics.items())
        print(f"wrote {out}: scheme {scheme.name} (version {scheme.version}), "
              f"best epoch {card.best_epoch} of {card.epochs_run}, val {shown} "
              f"({time.perf_counter() - start:.0f} s)")
    return 0


def _cache_for(path: str, out: Path):
    """The cache at ``path``, or ``path`` (a source folder) prepared into ``out/cache``."""
    from ecgtriage.data.cache import is_cache, open_cache

    root = Path(path)
    if is_cache(root) or not root.is_dir():
        # A missing folder reaches open_cache, whose message names it.
        return open_cache(root)
    from ecgtriage.data.prepare import prepare
    from ecgtriage.io.sources import open_source

    source = open_source(root)  # names the formats it accepts when this is not a source folder
    target = out / RUN_CACHE
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"{root} is a source folder: preparing it with the default preprocessing into "
              f"{target} (to choose the preprocessing, run `ecgtriage prepare {root} --out "
              "CACHE` and train on CACHE)", flush=True)
        return prepare(source, target)
    # Under torchrun only rank 0 prepares; the other ranks wait for its manifest.
    return _wait_for_cache(target)


def _wait_for_cache(target: Path, timeout_s: float = 24 * 3600):
    from ecgtriage.data.cache import MANIFEST_FILE, open_cache

    start = time.monotonic()
    while not (target / MANIFEST_FILE).is_file():
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"rank {os.environ.get('RANK')}: no cache appeared in {target}")
        time.sleep(2.0)
    return open_cache(target)


def read_splits(path: str):
    """A split table ``record_id,split`` from CSV, with ids kept as text."""
    import pandas as pd

    from ecgtriage.errors import DataError

    if not Path(path).is_file():
        raise FileNotFoundError(f"splits file {path} does not exist")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in ("record_id", "split"):
        if col not in table.columns:
            raise DataError(f"{path}: missing column {col!r}; found {', '.join(table.columns)}")
    from ecgtriage.train.run import check_splits

    check_splits(table, name=str(path))
    return table[["record_id", "split"]]


def run_export(args: argparse.Namespace) -> int:
    from ecgtriage.train.checkpoint import load_checkpoint
    from ecgtriage.train.export import card_path, export_onnx

    run = Path(args.run)
    # The run's own files are never an export target, even with --overwrite: overwriting the
    # weights being exported would lose the trained model.
    own = [p for p in run.iterdir() if p.suffix != ".onnx"] if run.is_dir() else []
    check_output_file(args.out, args.overwrite, protected=own)
    model, card = load_checkpoint(run)
    worst = export_onnx(model, args.out, dynamo=args.dynamo, overwrite=args.overwrite, card=card)
    print(f"wrote {args.out} and its card {card_path(args.out)}: {card.scheme_name} model, input (batch, {len(card.leads)}, "
          f"{card.n_samples}) mV at {card.fs:g} Hz, onnxruntime max |diff| {worst:.2g}")
    return 0
