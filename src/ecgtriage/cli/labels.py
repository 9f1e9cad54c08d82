"""``ecgtriage labels PATH``: class counts, AHA coverage and unmapped statements, and the tier
counts of the modifier-free aha44 collapse (what a perfect 44-code model can express)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ecgtriage.cli.options import add_data_path, add_overwrite, add_parser

#: The files ``--out`` receives; existing ones are replaced only with ``--overwrite``.
OUT_FILES = ("class_counts.csv", "aha_coverage.csv", "unmapped_statements.csv", "splits.csv",
             "statements.csv", "labels.json")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``labels`` to the CLI's subparsers."""
    parser = add_parser(
        subparsers, "labels",
        help="label schemes of a source or cache: class counts per split, coverage, unmapped",
        description=(
            "Encode the statements of a source folder (SPH, PTB-XL, Challenge) or a prepared "
            "cache under one or more label schemes and report, per split, class counts and "
            "prevalence, the coverage of the 44 AHA codes and the statements no class covers. "
            "Tables are printed; with --out they are also written there as CSV, with the "
            "patient-level split table."
        ),
    )
    add_data_path(parser, "source folder or cache folder (from `ecgtriage prepare`)", dest="source")
    parser.add_argument(
        "--scheme", action="append", metavar="NAME_OR_CSV",
        help="scheme name or scheme CSV (repeatable; default: the schemes the study compares, "
        "ecgtriage.labels.DEFAULT_SCHEMES). Built-in: aha44 tier4 tier3 tier3b all diagnostic subdiagnostic superdiagnostic form rhythm",
    )
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="folder to write the tables to as CSV (default: print only, write nothing)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the patient-level split")
    add_overwrite(parser, "tables that already exist in --out")
    parser.set_defaults(func=run)


def check_out_folder(out: Path | None, overwrite: bool) -> None:
    """Refuse ``--out`` before any work when it is a file, or holds one of our tables already
    and ``--overwrite`` was not given (the user may have edited those tables)."""
    from ecgtriage.cli.options import check_output_file
    from ecgtriage.errors import ConfigError

    if out is None:
        return
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    for name in OUT_FILES:
        check_output_file(out / name, overwrite)


def _open(path: str):
    """(index table, format, cache or None) for a cache folder or a source folder."""
    from ecgtriage.data.cache import is_cache

    root = Path(path)
    if is_cache(root):
        from ecgtriage.data.cache import open_cache

        cache = open_cache(root)
        return cache.index, cache.format, cache
    from ecgtriage.io.sources import open_source

    source = open_source(root)
    return source.metadata(), source.format, None


def _collapse_json(frame) -> dict[str, int]:
    """``{class: count}`` of the modifier-free collapse over all records."""
    whole = frame[frame["split"] == "all"]
    return {str(c): int(n) for c, n in zip(whole["class"], whole["count"])}


def _collapse_line(frame) -> str:
    """One line: the tier counts a perfect aha44 model reaches when collapsed without modifiers."""
    counts = _collapse_json(frame)
    return ("modifier-free collapse (aha44 codes -> tier4 without modifiers, labels.md decision 4): "
            + " / ".join(f"{name} {n:,}" for name, n in counts.items()))


def run(args: argparse.Namespace) -> int:
    """Print the label tables of ``args.source``; write them as CSV under ``--out`` if given."""
    import pandas as pd

    from ecgtriage.atomic import write_csv, write_json
    from ecgtriage.labels import DEFAULT_SCHEMES
    from ecgtriage.labels import splits as splits_mod
    from ecgtriage.labels import summary
    from ecgtriage.labels.schemes import load_scheme
    from ecgtriage.labels.targets import check_scheme_source, encode_targets, statement_table

    check_out_folder(args.out, args.overwrite)
    index, fmt, cache = _open(args.source)
    schemes = [load_scheme(s) for s in (args.scheme or DEFAULT_SCHEMES)]
    for scheme in schemes:
        check_scheme_source(scheme, fmt)
    out = args.out
    signals = cache.signals if cache is not None else None
    fs = cache.fs if cache is not None else None

    split = splits_mod.make_splits(index, fmt, args.seed)
    split_of = pd.Series(split["split"].to_numpy(), index=split["record_id"].to_numpy())
    statements = statement_table(cache if cache is not None else index, fmt)

    counts, unmapped, rate_notes, all_targets = [], [], {}, []
    for scheme in schemes:
        targets = encode_targets(index, fmt, scheme, signals=signals, fs=fs)
        all_targets.append(targets)
        counts.append(summary.class_counts(targets, scheme, split["split"]))
        unmapped.append(summary.unmapped_statements(targets, scheme, statements))
        rates = summary.rate_summary(targets)
        if len(rates):
            rate_notes[scheme.name] = {k: int(v) for k, v in rates.items()}
    aha_targets = next((t for s, t in zip(schemes, all_targets) if s.name == "aha44"), None)
    if aha_targets is None:
        aha_targets = encode_targets(index, fmt, "aha44", signals=signals, fs=fs)
    collapsed = summary.modifier_free_counts(aha_targets, split["split"])
    counts_df = pd.concat(counts, ignore_index=True)
    unmapped_df = pd.concat(unmapped, ignore_index=True)
    coverage = summary.aha_coverage(statements, split_of)

    if out is not None:
        check_out_folder(out, args.overwrite)  # again: the folder may have changed meanwhile
        write_csv(out / "class_counts.csv", counts_df)
        write_csv(out / "aha_coverage.csv", coverage)
        write_csv(out / "unmapped_statements.csv", unmapped_df)
        write_csv(out / "splits.csv", split[["record_id", "split"]])
        write_csv(out / "statements.csv", statements)
        write_json(out / "labels.json", {
            "input": str(Path(args.source).resolve()), "format": fmt, "n_records": len(index),
            "cache": cache is not None, "seed": args.seed,
            "schemes": [s.to_dict() for s in schemes], "split_roles": split.roles,
            "ventricular_rate": rate_notes,
            "modifier_free_collapse": _collapse_json(collapsed),
        })

    with pd.option_context("display.width", 160, "display.max_rows", 500):
        print(f"{args.source}: {fmt}, {len(index)} records; split (seed {args.seed}): "
              + ", ".join(f"{k} {v}" for k, v in split["split"].value_counts().items()))
        for part, role in split.roles.items():
            if part != "folds":
                print(f"  {part}: {role}")
        for scheme, frame in zip(schemes, counts):
            print(f"\nscheme {scheme.name} (version {scheme.version}, "
                  f"{'multi-label' if scheme.multilabel else 'single-label'}"
                  f"{', ordered' if scheme.ordered else ''})")
            table = frame.assign(cell=frame["count"].astype(str) + " (" + (100 * frame["prevalence"]).round(1).astype(str) + "%)")
            pivot = table.pivot(index="class", columns="split", values="cell").reindex(scheme.classes)
            pivot = pivot[[c for c in ("all", "train", "val", "test") if c in pivot.columns]]
            pivot["observable"] = frame.drop_duplicates("class").set_index("class")["observable"]
            print(pivot.to_string())
            known = frame[frame["split"] == "all"][["n_records", "n_known"]].iloc[0]
            if known["n_known"] < known["n_records"]:
                print(f"  {known['n_records'] - known['n_known']} records have no determinable label under this scheme")
        print("\n" + _collapse_line(collapsed))
        occurring = coverage[coverage["occurs"]]
        print(f"\nAHA coverage: {len(occurring)} of 44 codes occur; absent: "
              + (", ".join(str(c) for c in coverage.loc[~coverage["occurs"], "aha_code"]) or "none"))
        print(coverage[["aha_code", "name", "records", "train", "val", "test", "from_statements"]].to_string(index=False))
        if len(unmapped_df):
            print("\nstatements without a class (per scheme):")
            print(unmapped_df.to_string(index=False))
        af_codes = {"AFIB", "AFLT", "164889003", "164890007", "195080001", "426749004", "282825002"}
        if cache is None and fmt in ("ptbxl", "challenge"):
            n_af = int(statements["statement"].isin(af_codes).groupby(statements["record_id"]).any().sum())
            print(f"\nnote: {args.source} is a source folder (no cached signals): the AF/AFL "
                  f"ventricular rate cannot be measured, so the rule 'AF/AFL > 110/min → Serious' "
                  f"is not applied and AF/AFL keep their code tier (Moderate) in {n_af} records. "
                  "Run on a cache from `ecgtriage prepare` to measure it.")
        for name, status in rate_notes.items():
            print(f"ventricular rate ({name}): " + ", ".join(f"{k} {v}" for k, v in status.items()))
    if out is not None:
        print(f"\nwrote {out}/class_counts.csv, aha_coverage.csv, unmapped_statements.csv, "
              "splits.csv, statements.csv, labels.json")
    return 0
