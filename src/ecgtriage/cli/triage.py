"""``ecgtriage triage PATH... --model MODEL``: tier, referral or refusal for each ECG file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ecgtriage.cli.options import add_overwrite, add_parser, check_output_file, positive_int

FORMATS = ("table", "csv", "json")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``triage`` to the CLI's subparsers."""
    p = add_parser(
        subparsers, "triage",
        help="triage ECG files with a trained model (tier, referral, or why not)",
        description="Read each ECG file (WFDB .hea, SPH .h5, Challenge, and the other formats "
        "the single-file reader knows; folders are searched), check its quality, preprocess it "
        "exactly as the model's training data was, and report the model's tier and "
        "probabilities. A record is 'referred' when the model is less sure than the threshold "
        "calibrated on validation, 'unreadable' when it gets no tier (failed quality gate, "
        "unreadable file, or missing leads the model was not validated without). "
        "Exit status: 0 every record ok, 3 at least one referred, 4 at least one unreadable "
        "(4 wins over 3), 1 on a usage or model error.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="ECG files or folders of them")
    p.add_argument("--model", required=True, metavar="MODEL",
                   help="run folder (ecgtriage train), study folder (ecgtriage study; its tier3 "
                   "model of seed 0 unless --scheme) or exported .onnx with its card beside it "
                   "(runs without torch)")
    p.add_argument("--scheme", default=None,
                   help="a study's model to use: tier3, tier4 or aha44 (default: tier3)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="write the output to FILE (default: standard output)")
    p.add_argument("--fs", type=float, default=None, metavar="HZ",
                   help="sampling rate for files that do not state one (default: the file's)")
    p.add_argument("--leads", default=None, metavar="I,II,...",
                   help="lead names of the file's columns, comma-separated (default: the file's)")
    p.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help="threads of the model runtime (default: the runtime's own choice)")
    add_overwrite(p)
    p.set_defaults(func=run)


def _table(results) -> str:
    rows = [("path", "status", "tier", "p(tier)", "uncertainty")]
    for r in results:
        p = r.probabilities.get(r.tier) if r.tier else None
        rows.append((r.path, r.status, r.tier or "-", "-" if p is None else f"{p:.3f}",
                     "-" if r.uncertainty is None else f"{r.uncertainty:.3f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    if results:
        lines.append(f"model: {results[0].model} ({results[0].model_version})")
    for r in results:
        for what, items in (("adapted", r.adaptations), ("quality", r.quality_flags),
                            ("statements", r.statements)):
            if items:
                lines.append(f"{r.path}: {what}: {'; '.join(items)}")
    return "\n".join(lines) + "\n"


def render(results, fmt: str) -> str:
    """The results as a table, CSV (one row per record, probabilities as ``p:<class>``) or JSON."""
    import json

    if fmt == "json":
        return json.dumps([r.to_dict() for r in results], indent=2) + "\n"
    if fmt == "csv":
        import pandas as pd

        rows = []
        for r in results:
            d = r.to_dict()
            probs = d.pop("probabilities")
            row = {k: ("; ".join(v) if isinstance(v, list) else v) for k, v in d.items()}
            row.update({f"p:{c}": p for c, p in probs.items()})
            rows.append(row)
        return pd.DataFrame(rows).to_csv(index=False)
    return _table(results)


def run(args: argparse.Namespace) -> int:
    """Triage every file; print or write the results; exit 0, 3 or 4."""
    from ecgtriage import atomic
    from ecgtriage.triage import exit_code, load_triage_model, triage_files

    if args.out is not None:
        check_output_file(args.out, args.overwrite, protected=[Path(p) for p in args.paths])
    leads = [s.strip() for s in args.leads.split(",")] if args.leads else None
    model = load_triage_model(args.model, scheme=args.scheme, threads=args.threads)
    results = triage_files(args.paths, model, fs=args.fs, leads=leads)
    text = render(results, args.format)
    if args.out is None:
        sys.stdout.write(text)
    else:
        atomic.write_text(args.out, text, replace=args.overwrite)
        print(f"wrote {args.out}: {len(results)} record(s)")
    return exit_code(results)
