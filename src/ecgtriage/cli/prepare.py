"""``ecgtriage prepare``: preprocess a source folder into a cache."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prepare",
        help="resample, filter and window every record of a source into a memory-mapped cache",
        description="Read every record of SOURCE (SPH, PTB-XL or Challenge folder), preprocess it "
        "and write OUT/signals.npy, index.csv, excluded.csv and manifest.json. An up-to-date "
        "cache in OUT is reused.",
    )
    parser.add_argument("source", help="source folder")
    parser.add_argument("--out", required=True, help="cache folder to write")
    parser.add_argument("--fs", type=float, default=None, help="target sampling rate in Hz (default 100)")
    parser.add_argument("--seconds", type=float, default=None, help="window length in s (default 10)")
    parser.add_argument("--config", default=None, help="TOML/JSON file with preprocessing settings ([prepare] table in TOML)")
    parser.add_argument("--strict", action="store_true", help="fail (exit 1, listing them) instead of excluding bad records")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.set_defaults(func=run_prepare)


def run_prepare(args: argparse.Namespace) -> int:
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
