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
    p.add_argument("--model", default=None, metavar="MODEL",
                   help="triage the record with MODEL (run folder, study folder or .onnx, as "
                   "`ecgtriage triage`) and put the result in the figure header (default: no "
                   "triage); PATH may then also be one ECG file")
    add_overwrite(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the record and save its figure."""
    import numpy as np

    from ecgtriage.data.cache import is_cache, open_cache
    from ecgtriage.errors import ConfigError
    from ecgtriage.io.sources import open_source
    from ecgtriage.synth.plot import record_figure

    out = Path(args.out)
    check_output_file(out, args.overwrite)
    root = Path(args.path)
    present = None
    if args.model is not None and root.is_file():
        from ecgtriage.io.single import read_ecg_file

        ecg = read_ecg_file(root)
        rid, signal, fs = root.name, ecg.record.signal, ecg.record.fs
        statements, present = ";".join(ecg.record.statements), ecg.present
    elif is_cache(root):
        if args.model is not None:
            raise ConfigError(f"--model: {root} is a cache (already preprocessed); triage needs "
                              "the source folder or the ECG file")
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
    if args.model is not None:
        from ecgtriage.triage import load_triage_model, triage_signal
        from ecgtriage.triage.plot import triage_figure

        result = triage_signal(signal, fs, load_triage_model(args.model), present=present,
                               path=str(rid))
        path = triage_figure(signal, fs, result, out, title=title, dpi=args.dpi)
        print(f"wrote {path}: {result.headline()}")
        return 0
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
