"""``ecgtriage plot PATH``: one record of a source folder or cache as a clinical ECG printout."""

from __future__ import annotations

import argparse
from pathlib import Path

from ecgtriage.cli.options import (
    add_data_path,
    add_overwrite,
    add_parser,
    check_output_file,
    positive_int,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``plot`` to the CLI's subparsers."""
    p = add_parser(
        subparsers, "plot",
        help="draw one record of a source folder or cache as a clinical 12-lead ECG",
        description="Draw a record (its first 10 s) at 25 mm/s and 10 mm/mV on millimetre "
        "paper, 3x4 leads plus a lead II rhythm strip, titled with its id, rate and statements. "
        "From a cache the record is drawn as the model sees it (resampled, band-passed).",
    )
    add_data_path(p, "source folder (SPH, PTB-XL, Challenge) or cache folder")
    p.add_argument("--record", metavar="ID", default=None,
                   help="record id to draw (default: the first record)")
    p.add_argument("--out", required=True, metavar="FILE", help="image file (.png, .pdf, .svg)")
    p.add_argument("--dpi", type=positive_int, default=110, help="resolution of raster images")
    add_overwrite(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the record and save its figure."""
    import numpy as np

    from ecgtriage.data.cache import is_cache, open_cache
    from ecgtriage.io.sources import open_source
    from ecgtriage.synth.plot import record_figure

    out = Path(args.out)
    check_output_file(out, args.overwrite)
    root = Path(args.path)
    if is_cache(root):
        cache = open_cache(root)
        ids = cache.index["record_id"].astype(str).tolist()
        rid = _pick(args.record, ids, root)
        signal = np.asarray(cache.signals[cache.rows_for([rid])[0]], dtype=np.float32)
        fs = cache.fs
        statements = str(cache.index.set_index("record_id").loc[rid, "statements"] or "")
    else:
        source = open_source(root)
        rid = _pick(args.record, [str(r) for r in source.record_ids()], root)
        record = source.read(rid)
        signal, fs, statements = record.signal, record.fs, ";".join(record.statements)
    title = f"{rid} · {fs:g} Hz" + (f" · {statements}" if statements else "")
    path = record_figure(signal, fs, out, title=title, dpi=args.dpi)
    print(f"wrote {path}")
    return 0


def _pick(wanted: str | None, ids: list[str], root: Path) -> str:
    from ecgtriage.errors import ConfigError

    if not ids:
        raise ConfigError(f"{root}: holds no records")
    if wanted is None:
        return ids[0]
    if wanted not in set(ids):
        raise ConfigError(f"--record {wanted}: no such record in {root} "
                          f"(first ids: {', '.join(ids[:5])})")
    return wanted
