"""``ecgtriage download sph|ptbxl --out DIR``: fetch a public release, verified and extracted."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``download`` command to the CLI's subparsers."""
    from ecgtriage.io.download import DEFAULT_TIMEOUT

    parser = subparsers.add_parser(
        "download",
        help="download PTB-XL (PhysioNet) or SPH (figshare), verify checksums, extract",
        description=(
            "Download a public ECG release into DIR/<dataset> with resumable transfers, "
            "checksum verification (PTB-XL: SHA256SUMS.txt per file; SPH: figshare MD5) and "
            "safe archive extraction. Partial downloads live in DIR/.downloads/<dataset>."
        ),
    )
    parser.add_argument("dataset", choices=("ptbxl", "sph"), help="which release to fetch")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="parent folder; the dataset lands in DIR/ptbxl or DIR/sph")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="continue partial downloads (default); --no-resume restarts them")
    parser.add_argument("--base-url", metavar="URL", default=None,
                        help="PhysioNet site root (ptbxl) or figshare API root (sph); "
                             "default: the public servers")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                        help=f"seconds without data before failing (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--keep-archives", action="store_true",
                        help="keep the downloaded archives in DIR/.downloads after extracting")
    parser.set_defaults(func=run_download)


def run_download(args: argparse.Namespace) -> int:
    """Command body: download, report where the data is, return the exit code."""
    from ecgtriage.io.download_datasets import download_ptbxl, download_sph

    common = dict(resume=args.resume, timeout=args.timeout, keep_archives=args.keep_archives)
    if args.dataset == "ptbxl":
        if args.base_url:
            common["base_url"] = args.base_url
        summary = download_ptbxl(args.out, **common)
    else:
        if args.base_url:
            common["api_url"] = args.base_url
        summary = download_sph(args.out, **common)
    if summary.already_present:
        print(f"{args.dataset}: already complete in {summary.path} ({summary.n_files} files)")
    else:
        print(f"{args.dataset}: {summary.n_files} files in {summary.path} "
              f"({summary.n_verified} checksums verified)")
    return 0
