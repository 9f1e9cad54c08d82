"""``ecgtriage download sph|ptbxl --out DIR``: fetch a public release, verified and extracted."""

from __future__ import annotations

import argparse

from ecgtriage.cli.options import add_parser

#: Seconds without data before a transfer fails; equal to ``ecgtriage.io.download``'s default
#: (a test checks it), spelled here so that ``--help`` does not import the download code.
DEFAULT_TIMEOUT = 60.0
#: Extraction limits, equal to ``ecgtriage.io.extract.DEFAULT_LIMITS`` (a test checks it):
#: total uncompressed GiB, compression ratio, member count.
DEFAULT_MAX_GIB = 64.0
DEFAULT_MAX_RATIO = 200.0
DEFAULT_MAX_MEMBERS = 1_000_000


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``download`` command to the CLI's subparsers."""
    parser = add_parser(
        subparsers, "download",
        help="download PTB-XL (PhysioNet) or SPH (figshare), verify checksums, extract",
        description=(
            "Download a public ECG release into the folder DIR with resumable transfers, "
            "checksum verification (PTB-XL: SHA256SUMS.txt per file; SPH: figshare MD5) and "
            "safe archive extraction. Partial downloads live beside it, in "
            "<parent of DIR>/.downloads/<name of DIR>, so a rerun resumes them."
        ),
    )
    parser.add_argument("dataset", choices=("ptbxl", "sph"), help="which release to fetch")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="the dataset folder to create, e.g. data/ptbxl")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="continue partial downloads; --no-resume restarts them")
    parser.add_argument("--base-url", metavar="URL", default=None,
                        help="PhysioNet site root (ptbxl) or figshare API root (sph) "
                             "(default: the public servers)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                        help="seconds without data before failing")
    parser.add_argument("--keep-archives", action="store_true",
                        help="keep the downloaded archives in .downloads after extracting")
    parser.add_argument("--max-extract-gib", type=float, default=DEFAULT_MAX_GIB, metavar="GIB",
                        help="refuse an archive that expands to more than GIB GiB")
    parser.add_argument("--max-ratio", type=float, default=DEFAULT_MAX_RATIO, metavar="R",
                        help="refuse an archive (or zip member over 1 MiB) compressed more than "
                             "R times (a zip bomb)")
    parser.add_argument("--max-members", type=int, default=DEFAULT_MAX_MEMBERS, metavar="N",
                        help="refuse an archive with more than N members")
    parser.set_defaults(func=run_download)


def run_download(args: argparse.Namespace) -> int:
    """Command body: download, report where the data is, return the exit code."""
    from pathlib import Path

    from ecgtriage.errors import ConfigError
    from ecgtriage.io.download_datasets import download_ptbxl, download_sph
    from ecgtriage.io.extract import ExtractLimits

    for option, value in (("--max-extract-gib", args.max_extract_gib),
                          ("--max-ratio", args.max_ratio), ("--max-members", args.max_members)):
        if not value > 0:
            raise ConfigError(f"{option}: expected a positive number, found {value}")
    limits = ExtractLimits(max_total_bytes=int(args.max_extract_gib * (1 << 30)),
                           max_ratio=args.max_ratio, max_members=args.max_members)
    target = Path(args.out)
    common = dict(resume=args.resume, timeout=args.timeout, keep_archives=args.keep_archives,
                  folder=target.name, limits=limits)
    parent = target.parent
    if args.dataset == "ptbxl":
        if args.base_url:
            common["base_url"] = args.base_url
        summary = download_ptbxl(parent, **common)
    else:
        if args.base_url:
            common["api_url"] = args.base_url
        summary = download_sph(parent, **common)
    if summary.already_present:
        print(f"{args.dataset}: already complete in {summary.path} ({summary.n_files} files)")
    else:
        print(f"{args.dataset}: {summary.n_files} files in {summary.path} "
              f"({summary.n_verified} checksums verified)")
    return 0
