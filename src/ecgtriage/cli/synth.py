"""CLI: ``ecgtriage synth`` (write a synthetic corpus) and ``ecgtriage synth-figure``."""

from __future__ import annotations

import argparse

from ecgtriage.cli.options import (
    add_hidden_alias,
    add_overwrite,
    add_parser,
    check_output_file,
    positive_int,
)

FORMATS = ("sph", "ptbxl", "challenge")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``synth`` and ``synth-figure`` to the CLI's subparsers."""
    p = add_parser(
        subparsers, "synth",
        help="write a synthetic corpus in the SPH, PTB-XL or Challenge release layout",
        description="Simulate a 12-lead ECG corpus whose labels, demographics and record lengths "
        "follow the real SPH / PTB-XL distributions, written in that release's exact layout. "
        "Deterministic by --seed, whatever --workers is.",
    )
    p.add_argument("--format", required=True, choices=FORMATS, help="release layout to write")
    p.add_argument("--n", required=True, type=positive_int, help="number of records")
    p.add_argument("--out", required=True, help="output folder (must be absent or empty)")
    p.add_argument("--seed", type=int, default=0, help="corpus seed")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="worker processes (default: all cores)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an --out folder holding a corpus written earlier by synth "
                        "(never any other folder)")
    p.set_defaults(func=_synth)

    f = add_parser(
        subparsers, "synth-figure",
        help="draw simulated 12-lead examples (every tier, several codes) as clinical ECGs",
        description="One 10-s SPH-device example per severity tier and for several codes, laid "
        "out like a clinical ECG (25 mm/s, 10 mm/mV, 3x4 + lead II rhythm strip).",
    )
    f.add_argument("--out", required=True, help="image file (.png, .pdf, .svg)")
    add_overwrite(f)
    f.add_argument("--seed", type=int, default=0, help="simulation seed")
    f.add_argument("--dpi", type=positive_int, default=110, help="resolution of raster images")
    f.add_argument("--code", dest="codes", action="append", metavar="AHA_CODE",
                   help="SPH statement set to draw, e.g. --code 165+330 --code '22;23'; repeat "
                        "for several (default: one example per tier and several codes)")
    add_hidden_alias(f, "--codes", "codes", "--code A --code B", nargs="+", append=True)
    f.set_defaults(func=_synth_figure)


def _synth(args: argparse.Namespace) -> int:
    from ecgtriage.synth import corpus

    writer = {
        "sph": corpus.write_sph_corpus,
        "ptbxl": corpus.write_ptbxl_corpus,
        "challenge": corpus.write_challenge_corpus,
    }[args.format]
    path = writer(args.out, args.n, args.seed, workers=args.workers, overwrite=args.overwrite)
    print(f"wrote {args.n} synthetic {args.format} records to {path}")
    return 0


def _synth_figure(args: argparse.Namespace) -> int:
    from ecgtriage.synth import plot

    check_output_file(args.out, args.overwrite)
    examples = args.codes or plot.DEFAULT_EXAMPLES
    path = plot.synth_figure(args.out, seed=args.seed, examples=examples, dpi=args.dpi)
    print(f"wrote {path}")
    return 0
