"""``ecgtriage info``: what a source folder holds."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="describe a folder of ECG records (format, records, rates, lengths, labels, problems)",
        description="Detect the format of PATH (SPH, PTB-XL or PhysioNet/CinC Challenge) and "
        "report its records, sampling rates, lengths, label vocabulary and problems found.",
    )
    parser.add_argument("path", help="source folder")
    parser.add_argument("--read", action="store_true", help="also read every signal file to find unreadable ones")
    parser.add_argument("--top", type=int, default=None, help="list only the N most frequent statements")
    parser.set_defaults(func=run_info)


def run_info(args: argparse.Namespace) -> int:
    from ecgtriage.io.inspect import format_summary, summarize
    from ecgtriage.io.sources import open_source

    summary = summarize(open_source(args.path), read_signals=args.read)
    print(format_summary(summary, top=args.top))
    return 0
