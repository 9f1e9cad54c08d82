"""``ecgtriage prepare``: preprocess a source folder into a cache."""

from __future__ import annotations

import argparse

from ecgtriage.cli.options import add_data_path, add_parser


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``prepare`` to the CLI's subparsers."""
    parser = add_parser(
        subparsers, "prepare",
        help="resample, filter and window every record of a source into a memory-mapped cache",
        description="Read every record of PATH (SPH, PTB-XL or Challenge folder), preprocess it "
        "and write OUT/signals.npy, index.csv, excluded.csv and manifest.json. An up-to-date "
        "cache in OUT is reused.",
    )
    add_data_path(parser, "source folder", dest="source")
    parser.add_argument("--out", required=True, metavar="CACHE", help="cache folder to write")
    parser.add_argument("--fs", type=float, default=None,
                        help="target sampling rate in Hz (default: from --config, else 100)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="window length in s (default: from --config, else 10)")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="TOML/JSON file with preprocessing settings ([prepare] table in TOML) "
                             "(default: none)")
    parser.add_argument("--strict", action="store_true",
                        help="fail (exit 1, listing them) instead of excluding bad records")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.set_defaults(func=run_prepare)


def run_prepare(args: argparse.Namespace) -> int:
    """Write (or reuse) the cache and print what it holds."""
    from ecgtriage import config as cfg
    from ecgtriage.data.prepare import PrepareConfig, prepare

    if args.config:
        section = "prepare" if args.config.endswith(".toml") else None
        base = cfg.load_file(PrepareConfig, args.config, section=section)
    else:
        base = PrepareConfig()
    config = cfg.replace(base, fs=args.fs, seconds=args.seconds)
    cache = prepare(args.source, args.out, config, strict=args.strict, workers=args.workers)
    verb = "reused" if cache.reused else "wrote"
    print(
        f"{verb} {cache.path}: {len(cache)} records, {cache.manifest['n_excluded']} excluded, "
        f"{cache.fs:g} Hz x {cache.n_samples} samples"
    )
    return 0
