"""CLI: ``ecgtriage synth-report`` (real vs synthetic PTB-XL, one measurement pipeline)."""

from __future__ import annotations

import argparse

from ecgtriage.cli.options import add_parser, positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``synth-report`` to the CLI's subparsers."""
    p = add_parser(
        subparsers, "synth-report",
        help="compare a synthetic PTB-XL-format corpus with real PTB-XL (realism report)",
        description="Measure real PTB-XL and a synthetic PTB-XL-format corpus with one pipeline "
        "(NeuroKit2 delineation of lead II, 12-lead QRS boundaries) per statement group (NORM, "
        "AF, LBBB, RBBB, LVH, MI): heart rate, PR, QRS, QT/QTc, frontal axis, R/S amplitudes "
        "V1-V6, P/T amplitudes. Writes features.csv, distances.csv (Wasserstein, KS), "
        "exclusions.csv (records that could not be delineated), figures/ and summary.md.",
    )
    p.add_argument("--real", required=True, help="real PTB-XL folder")
    p.add_argument("--synthetic", required=True, help="synthetic PTB-XL-format folder "
                   "(ecgtriage synth --format ptbxl)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--max-per-group", type=positive_int, default=150,
                   help="records measured per statement group and corpus (bounds the run time)")
    p.add_argument("--seed", type=int, default=0, help="seed of the record sample")
    p.add_argument("--workers", type=positive_int, default=1, help="worker processes")
    p.set_defaults(func=_synth_report)


def _synth_report(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from ecgtriage.synth.realism import realism_report

    command = "ecgtriage " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else None
    result = realism_report(args.real, args.synthetic, args.out, max_per_group=args.max_per_group,
                            seed=args.seed, workers=args.workers, command=command)
    n = result.features.groupby("corpus").record_id.nunique().to_dict()
    print(f"measured {n.get('real', 0)} real and {n.get('synthetic', 0)} synthetic records "
          f"({len(result.exclusions)} excluded); wrote {result.out / 'summary.md'}")
    return 0
