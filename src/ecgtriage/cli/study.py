"""CLI: ``ecgtriage study`` (the whole experiment grid) and ``ecgtriage evaluate`` (a new test set).

Heavy imports happen inside the command functions so ``ecgtriage --help`` stays fast.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "study",
        help="run the label-granularity study (synthetic data by default) and write report.html",
        description=(
            "Train one model per label scheme and seed, test each on the internal test split, "
            "every external data set and noisy copies of them, and write results.json, "
            "tables/*.csv and a self-contained report.html. With no data arguments the package "
            "generates SPH-like and PTB-XL-like synthetic corpora. Finished models and "
            "predictions are reused when the study is rerun (each is keyed by a hash of its "
            "configuration), so an interrupted study resumes where it stopped."
        ),
    )
    p.add_argument("--config", metavar="FILE", help="TOML or JSON file with study settings")
    p.add_argument("--out", metavar="DIR", help="study directory (default: ./study)")
    p.add_argument("--train", metavar="PATH",
                   help="training source folder (SPH, PTB-XL or Challenge layout) or cache")
    p.add_argument("--external", metavar="PATH", action="append",
                   help="external test source folder or cache (repeatable)")
    p.add_argument("--schemes", nargs="+", metavar="NAME",
                   help="label schemes (default: aha44 tier4 tier3)")
    p.add_argument("--seeds", nargs="+", type=int, metavar="N", help="model seeds (default: 0)")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), help="training/inference device")
    p.add_argument("--epochs", type=int, metavar="N", help="training epochs per model")
    p.add_argument("--model", metavar="NAME", help="registered model name")
    p.add_argument("--bootstrap", type=int, metavar="N",
                   help="patient-bootstrap resamples for confidence intervals")
    p.add_argument("--workers", type=int, metavar="N", help="processes for cache preparation")
    p.set_defaults(func=run_study_command)

    e = subparsers.add_parser(
        "evaluate",
        help="score a new test set with a finished study's models (no retraining)",
        description=(
            "Prepare the data folder, predict it with every trained model of the study, add it "
            "to results.json and the tables, and rebuild report.html."
        ),
    )
    e.add_argument("--run", required=True, metavar="STUDY_DIR", help="a finished study directory")
    e.add_argument("--data", required=True, metavar="PATH", help="source folder or cache to test")
    e.add_argument("--name", metavar="NAME", help="name of the test set (default: folder name)")
    e.set_defaults(func=evaluate_command)


def run_study_command(args: argparse.Namespace) -> int:
    import sys
    import time

    from ecgtriage.study import run_study
    from ecgtriage.study.config import load_study_config

    overrides = {
        "out": args.out,
        "data.train": args.train,
        "data.external": args.external,
        "data.workers": args.workers,
        "schemes": args.schemes,
        "seeds": args.seeds,
        "train.device": args.device,
        "train.epochs": args.epochs,
        "train.model": args.model,
        "evaluation.bootstrap": args.bootstrap,
    }
    cfg = load_study_config(args.config, **overrides)
    start = time.perf_counter()
    study_dir = run_study(cfg, command="ecgtriage " + " ".join(sys.argv[1:]))
    minutes = (time.perf_counter() - start) / 60
    print(f"study finished in {minutes:.1f} min: {study_dir / 'report.html'}")
    return 0


def evaluate_command(args: argparse.Namespace) -> int:
    from ecgtriage.study import evaluate_study

    study_dir = evaluate_study(args.run, args.data, name=args.name)
    print(f"added test set; report rebuilt: {study_dir / 'report.html'}")
    return 0
