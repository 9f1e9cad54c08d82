"""``ecgtriage train`` and ``ecgtriage export``."""

from __future__ import annotations

import argparse
import os
import time


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a model on a prepared cache for one label scheme",
        description="Train on the 'train' split of CACHE (patient-level splits from "
        "ecgtriage.labels.splits), early-stop and tune decision thresholds on 'val', and write "
        "RUN/model.safetensors, model_card.json, config.json, metrics.csv, splits.csv. An "
        "interrupted run resumes from RUN/last.pt. Works under `torchrun --nproc_per_node=N -m "
        "ecgtriage train ...` (DDP; rank 0 writes).",
    )
    p.add_argument("--data", required=True, help="cache folder written by `ecgtriage prepare`")
    p.add_argument("--scheme", required=True, help="aha44, tier4, tier3, a PTB-XL scheme or a scheme CSV")
    p.add_argument("--out", required=True, help="run folder to write")
    p.add_argument("--config", default=None, help="TOML ([train] table) or JSON file of TrainConfig settings")
    p.add_argument("--seed", type=int, default=None, help="training seed (default 0)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the patient-level split (default 0)")
    p.add_argument("--splits", default=None,
                   help="CSV with record_id,split (train/val/test) to use instead of computing splits")
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs (default 20)")
    p.add_argument("--model", default=None, help="registered model name (default resnet1d_small)")
    p.add_argument("--loss", default=None, choices=["auto", "bce", "focal", "ce", "corn"],
                   help="objective (default auto: BCE multi-label, cross-entropy tiers)")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"], help="default auto")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the run")
    p.add_argument("--no-resume", action="store_true", help="ignore RUN/last.pt and start over")
    p.set_defaults(func=run_train)

    e = subparsers.add_parser(
        "export",
        help="export a trained run to ONNX (probabilities out), validated against onnxruntime",
        description="Write RUN's model as ONNX with input 'ecg' (batch, leads, n_samples) in mV "
        "and output 'proba' (batch, classes); checked against onnxruntime before it is kept.",
    )
    e.add_argument("--run", required=True, help="run folder written by `ecgtriage train`")
    e.add_argument("--out", required=True, help="ONNX file to write")
    e.add_argument("--dynamo", action="store_true", help="use the torch.export-based exporter")
    e.set_defaults(func=run_export)


def _load_config(args: argparse.Namespace):
    from ecgtriage import config as cfg
    from ecgtriage.train.config import TrainConfig

    if args.config:
        section = "train" if args.config.endswith(".toml") else None
        base = cfg.load_file(TrainConfig, args.config, section=section)
    else:
        base = TrainConfig()
    return cfg.replace(base, seed=args.seed, epochs=args.epochs, model=args.model, loss=args.loss,
                       device=args.device, num_threads=args.threads)


def run_train(args: argparse.Namespace) -> int:
    from ecgtriage.data.cache import open_cache
    from ecgtriage.labels import load_scheme
    from ecgtriage.labels.splits import make_splits
    from ecgtriage.models import list_models
    from ecgtriage.train.run import train

    config = _load_config(args)
    if config.model not in list_models():
        raise ValueError(f"--model: expected one of {', '.join(list_models())}, found {config.model!r}")
    cache = open_cache(args.data)
    scheme = load_scheme(args.scheme)
    splits = (read_splits(args.splits) if args.splits
              else make_splits(cache.index, cache.format, seed=args.split_seed))
    start = time.perf_counter()
    out = train(cache, scheme, args.out, config, splits, resume=not args.no_resume)
    if int(os.environ.get("RANK", "0")) == 0:
        import json

        card = json.loads((out / "model_card.json").read_text(encoding="utf-8"))
        shown = ", ".join(f"{k} {v:g}" if k.startswith("n_") else f"{k} {v:.4f}"
                          for k, v in card["val_metrics"].items())
        print(f"wrote {out}: scheme {scheme.name} (version {scheme.version}), "
              f"best epoch {card['best_epoch']} of {card['epochs_run']}, val {shown} "
              f"({time.perf_counter() - start:.0f} s)")
    return 0


def read_splits(path: str):
    """A split table ``record_id,split`` from CSV, with ids kept as text."""
    from pathlib import Path

    import pandas as pd

    if not Path(path).is_file():
        raise FileNotFoundError(f"splits file {path} does not exist")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in ("record_id", "split"):
        if col not in table.columns:
            raise ValueError(f"{path}: missing column {col!r}; found {', '.join(table.columns)}")
    bad = sorted(set(table["split"]) - {"train", "val", "test"})
    if bad:
        raise ValueError(f"{path}: split: expected train, val or test, found {', '.join(bad)}")
    return table[["record_id", "split"]]


def run_export(args: argparse.Namespace) -> int:
    from ecgtriage.train.checkpoint import load_checkpoint
    from ecgtriage.train.export import export_onnx

    model, card = load_checkpoint(args.run)
    worst = export_onnx(model, args.out, dynamo=args.dynamo)
    print(f"wrote {args.out}: {card['scheme']['name']} model, input (batch, {len(card['leads'])}, "
          f"{card['n_samples']}) mV at {card['fs']:g} Hz, onnxruntime max |diff| {worst:.2g}")
    return 0
