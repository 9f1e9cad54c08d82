"""``ecgtriage study`` (the whole experiment grid) and ``ecgtriage evaluate`` (a new test set)."""

from __future__ import annotations

import argparse

from ecgtriage.cli.options import add_data_path, add_device, add_hidden_alias, add_parser, data_path

_FROM_CONFIG = "from --config, else the study default"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``study`` and ``evaluate`` to the CLI's subparsers."""
    from ecgtriage.train.presets import preset_names

    p = add_parser(
        subparsers, "study",
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
    p.add_argument("--config", metavar="FILE",
                   help="TOML or JSON file with study settings (default: none, built-in settings)")
    p.add_argument("--out", metavar="DIR", help="study directory (default: from --config, else ./study)")
    p.add_argument("--train", metavar="PATH",
                   help="training source folder (SPH, PTB-XL or Challenge layout) or cache "
                        "(default: a generated synthetic corpus)")
    p.add_argument("--external", metavar="PATH", action="append",
                   help="external test source folder or cache; repeat for several "
                        "(default: a generated synthetic corpus)")
    p.add_argument("--scheme", dest="schemes", action="append", metavar="NAME",
                   help="label scheme; repeat for several (default: from --config, else aha44 tier4 tier3)")
    add_hidden_alias(p, "--schemes", "schemes", "--scheme A --scheme B", nargs="+", append=True)
    p.add_argument("--seed", dest="seeds", action="append", type=int, metavar="N",
                   help="model seed; repeat for several (default: from --config, else 0)")
    add_hidden_alias(p, "--seeds", "seeds", "--seed 0 --seed 1", nargs="+", type=int, append=True)
    add_device(p, default=None, help_default="from --config, else auto")
    p.add_argument("--epochs", type=int, metavar="N",
                   help=f"training epochs per model (default: {_FROM_CONFIG})")
    p.add_argument("--model", metavar="NAME", help=f"registered model name (default: {_FROM_CONFIG})")
    p.add_argument("--preset", metavar="NAME",
                   help="training recipe to start from: auto, " + ", ".join(preset_names())
                        + " (ecgtriage.train.presets; default: from --config, else auto: "
                          "study-cpu for the embedded data, real-cpu with --train)")
    p.add_argument("--bootstrap", type=int, metavar="N",
                   help=f"patient-bootstrap resamples for confidence intervals (default: {_FROM_CONFIG})")
    p.add_argument("--workers", type=int, metavar="N",
                   help=f"processes for cache preparation (default: {_FROM_CONFIG})")
    p.set_defaults(func=run_study_command)

    e = add_parser(
        subparsers, "evaluate",
        help="score a new test set with a finished study's models (no retraining)",
        description=(
            "Prepare PATH (a source folder or a cache), predict it with every trained model of "
            "the study, add it to results.json and the tables, and rebuild report.html."
        ),
    )
    add_data_path(e, "source folder or cache to test", old_flag="--data")
    e.add_argument("--study", metavar="STUDY_DIR", help="a finished study directory (required)")
    add_hidden_alias(e, "--run", "study", "--study STUDY_DIR")
    e.add_argument("--name", metavar="NAME", help="name of the test set (default: the folder name)")
    e.add_argument("--folds", type=int, nargs="+", metavar="FOLD",
                   help="test only these PTB-XL strat_fold values (e.g. --folds 10 to score the "
                        "fold a PTB-XL study held out; default: every record)")
    e.set_defaults(func=evaluate_command)


def run_study_command(args: argparse.Namespace) -> int:
    """Run (or resume) the study and print where the report is."""
    import sys
    import time

    from ecgtriage.report import build_report
    from ecgtriage.study import load_study_config, run_study

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
        "train_preset": args.preset,
        "evaluation.bootstrap": args.bootstrap,
    }
    cfg = load_study_config(args.config, **overrides)
    start = time.perf_counter()
    study_dir = run_study(cfg, command="ecgtriage " + " ".join(sys.argv[1:]))
    build_report(study_dir)
    minutes = (time.perf_counter() - start) / 60
    print(f"study finished in {minutes:.1f} min: {study_dir / 'report.html'}")
    return 0


def evaluate_command(args: argparse.Namespace) -> int:
    """Score PATH with the study's models and rebuild its report."""
    from ecgtriage.errors import ConfigError
    from ecgtriage.report import build_report
    from ecgtriage.study import evaluate_study

    path = data_path(args)
    if not args.study:
        raise ConfigError("missing --study STUDY_DIR (the finished study to add the test set to)")
    study_dir = evaluate_study(args.study, path, name=args.name, folds=args.folds)
    build_report(study_dir)
    print(f"added test set; report rebuilt: {study_dir / 'report.html'}")
    return 0
