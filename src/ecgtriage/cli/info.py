"""``ecgtriage info PATH``: what a source folder, a cache or a folder of data sets holds."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ecgtriage.cli.options import add_data_path, add_parser


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``info`` to the CLI's subparsers."""
    parser = add_parser(
        subparsers, "info",
        help="describe a source folder, a cache or a folder of data sets (records, rates, labels, problems)",
        description="Detect what PATH is: a source folder (SPH, PTB-XL or PhysioNet/CinC "
        "Challenge), a cache written by `ecgtriage prepare`, or a folder holding several data "
        "sets (listed). For a source, report its records, sampling rates, lengths, statements "
        "(with their names), signal files without a metadata row and the problems found; for "
        "a cache, its rate, window, records and exclusions. Exits 1 when problems were found "
        "(unless --no-fail).",
    )
    add_data_path(parser, "source folder, cache folder or folder of data sets")
    parser.add_argument("--read", action="store_true",
                        help="also read every signal file to find unreadable ones")
    parser.add_argument("--top", type=int, default=None, metavar="N",
                        help="list only the N most frequent statements (default: all)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--no-fail", dest="fail", action="store_false",
                        help="exit 0 even when problems were found (default: exit 1 then)")
    parser.set_defaults(func=run_info)


def run_info(args: argparse.Namespace) -> int:
    """Describe ``args.path``; exit 1 when problems were found and ``--no-fail`` is not set."""
    import json

    from ecgtriage.data.cache import is_cache
    from ecgtriage.io.sources import release_folders

    root = Path(args.path)
    if not root.exists():
        raise FileNotFoundError(f"source folder {root} does not exist")
    if is_cache(root):
        report, text, n_problems = _cache_info(root)
    elif not root.is_dir() or _is_release(root) or not _datasets_in(root, release_folders):
        report, text, n_problems = _source_info(root, args.read, args.top)
    else:
        report, text, n_problems = _collection_info(root, _datasets_in(root, release_folders))
    report["n_problems"] = n_problems
    print(json.dumps(report, indent=2) if args.json else text)
    if n_problems and args.fail:
        import sys

        print(f"ecgtriage info: {n_problems} problem(s) found; --no-fail exits 0 anyway",
              file=sys.stderr)
        return 1
    return 0


def _is_release(root: Path) -> bool:
    from ecgtriage.io.ptbxl import DATABASE_FILE
    from ecgtriage.io.sph import METADATA_FILE

    return (root / DATABASE_FILE).is_file() or (root / METADATA_FILE).is_file()


def _datasets_in(root: Path, release_folders) -> list[tuple[Path, str]]:
    """Sub-folders that are releases or caches; empty when ``root`` is one data set."""
    from ecgtriage.data.cache import is_cache

    found = dict(release_folders(root))
    for child in sorted(root.iterdir()):
        if child.is_dir() and not child.name.startswith(".") and is_cache(child):
            found[child] = "cache"
    return sorted(found.items())


def _source_info(root: Path, read: bool, top: int | None) -> tuple[dict[str, Any], str, int]:
    from ecgtriage.io.inspect import format_summary, summarize, summary_dict
    from ecgtriage.io.sources import open_source

    summary = summarize(open_source(root), read_signals=read)
    names = statement_names(summary.format, list(summary.vocabulary))
    n_problems = len(summary.problems) + len(summary.files_without_metadata)
    return (summary_dict(summary, names), format_summary(summary, top=top, names=names),
            n_problems)


def _cache_info(root: Path) -> tuple[dict[str, Any], str, int]:
    from ecgtriage.data.cache import open_cache

    cache = open_cache(root)
    reasons = cache.excluded["reason"].astype(str).value_counts() if len(cache.excluded) else {}
    report = {
        "path": str(root),
        "kind": "cache",
        "format": cache.format,
        "source": cache.manifest.get("source"),
        "fs_hz": cache.fs,
        "n_samples": cache.n_samples,
        "seconds": cache.n_samples / cache.fs,
        "n_records": len(cache),
        "n_excluded": len(cache.excluded),
        "exclusions": {str(k): int(v) for k, v in dict(reasons).items()},
        "created": cache.manifest.get("created"),
    }
    lines = [
        f"cache: {root}",
        f"format: {cache.format} (prepared from {report['source']})",
        f"sampling rate: {cache.fs:g} Hz; window: {cache.n_samples} samples "
        f"({report['seconds']:g} s)",
        f"records: {len(cache)}",
        f"excluded: {len(cache.excluded)}" if len(cache.excluded) else "excluded: none",
    ]
    lines += [f"  {n}: {reason}" for reason, n in report["exclusions"].items()]
    # Exclusions are decisions `prepare` already took and recorded, not problems of the cache.
    return report, "\n".join(lines), 0


def _collection_info(root: Path, datasets: list[tuple[Path, str]]) -> tuple[dict[str, Any], str, int]:
    report = {
        "path": str(root),
        "kind": "collection",
        "datasets": [{"path": str(p), "kind": "cache" if f == "cache" else "source", "format": f}
                     for p, f in datasets],
    }
    lines = [f"{root} holds {len(datasets)} data sets; run `ecgtriage info` on one of them:"]
    lines += [f"  {p}  ({'prepared cache' if f == 'cache' else f})" for p, f in datasets]
    return report, "\n".join(lines), 0


def statement_names(source_format: str, statements: list[str]) -> dict[str, str]:
    """Readable names of raw statements, from the label tables (unknown ones are left out).

    SPH statements ``"60+310"`` are named part by part (``"name of 60 + name of 310"``),
    PTB-XL SCP codes and Challenge SNOMED CT codes by their mapping tables.
    """
    from ecgtriage.labels import tables

    if source_format == "sph":
        table = tables.aha_statements()
        lookup = dict(zip(table["code"].astype(str), table["name"].astype(str)))
        names = {}
        for statement in statements:
            parts = [lookup.get(part) for part in statement.split("+")]
            if all(parts):
                names[statement] = " + ".join(parts)
        return names
    table = tables.scp_table() if source_format == "ptbxl" else tables.snomed_table()
    lookup = dict(zip(table["statement"].astype(str), table["name"].astype(str)))
    return {s: lookup[s] for s in statements if s in lookup}
