"""What ``ecgtriage info`` reports about a source folder."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ecgtriage.io.base import Source
from ecgtriage.io.wfdb_read import read_header


@dataclass
class SourceSummary:
    """Counts describing a source; ``problems`` is a table ``record_id, file, reason``."""

    root: Path
    format: str
    n_records: int
    rates: dict[float, int]
    durations_s: list[float]
    vocabulary: Counter
    n_signal_files: int
    problems: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["record_id", "file", "reason"]))
    #: Signal files on disk (relative to ``root``) that no metadata row names.
    files_without_metadata: list[str] = field(default_factory=list)


def _duration(source: Source, row: dict, path: Path) -> float | None:
    if "n_samples" in row and "fs" in row and not pd.isna(row["n_samples"]):
        return float(row["n_samples"]) / float(row["fs"])
    if source.format == "sph" and not pd.isna(row.get("n_samples")):
        return float(row["n_samples"]) / next(iter(source.native_rates()))
    if path.suffix == ".hea" and path.is_file():
        try:
            header = read_header(path)
        except ValueError:
            return None
        return header.sig_len / header.fs
    return None


def files_without_metadata(source: Source) -> list[str]:
    """Signal files in ``source`` that no metadata row refers to (paths relative to its root).

    Such files are never read by any command, so a user who copied records without their
    metadata rows should hear about it. SPH: ``records/*.h5`` (or ``*.h5``) whose id is not in
    ``metadata.csv``; PTB-XL: ``records100/``/``records500/`` headers not named by
    ``ptbxl_database.csv``; Challenge: ``.mat`` files without a ``.hea`` header beside them.
    Rows left out of the metadata as problems still count as rows.
    """
    root = source.root
    known = set(source.metadata()["record_id"].astype(str)) | set(source.problems()["record_id"].astype(str))
    if source.format == "sph":
        files = sorted(root.glob("records/*.h5")) + sorted(root.glob("*.h5"))
        orphans = [p for p in files if p.stem not in known]
    elif source.format == "ptbxl":
        from ecgtriage.io.ptbxl import DATABASE_FILE

        table = pd.read_csv(root / DATABASE_FILE, dtype=str, keep_default_na=False)
        named = {
            str(name).strip() + ".hea"
            for column in ("filename_lr", "filename_hr") if column in table.columns
            for name in table[column] if str(name).strip()
        }
        files = sorted(root.glob("records*/**/*.hea"))
        orphans = [p for p in files if p.relative_to(root).as_posix() not in named]
    else:
        orphans = [p for p in sorted(root.rglob("*.mat"))
                   if not any(part.startswith(".") for part in p.relative_to(root).parts)
                   and not p.with_suffix(".hea").is_file()]
    return [p.relative_to(root).as_posix() for p in orphans]


def summarize(source: Source, read_signals: bool = False, progress: bool | None = None) -> SourceSummary:
    """Summarise ``source`` from its metadata and file listing (and, with ``read_signals``,
    by reading every record, adding read failures to ``problems``)."""
    from tqdm.auto import tqdm

    meta = source.metadata()
    problems = [source.problems()]
    vocabulary: Counter = Counter()
    for text in meta["statements"].fillna(""):
        vocabulary.update(s for s in text.split(";") if s)
    durations: list[float] = []
    missing: list[dict[str, str]] = []
    n_files = 0
    for row in tqdm(meta.to_dict("records"), desc="info", unit="rec", disable=None if progress is None else not progress):
        rid = row["record_id"]
        path = source.record_file(rid)
        if path.is_file():
            n_files += 1
        else:
            missing.append(source.problem_row(rid, path, f"signal file {path} does not exist"))
        duration = _duration(source, row, path)
        if duration is not None:
            durations.append(duration)
        if read_signals and path.is_file():
            try:
                source.read(rid)
            except (ValueError, OSError) as exc:
                missing.append(source.problem_row(rid, path, str(exc)))
    problems.append(pd.DataFrame(missing, columns=["record_id", "file", "reason"]))
    return SourceSummary(
        root=source.root,
        format=source.format,
        n_records=len(meta),
        rates=source.native_rates(),
        durations_s=durations,
        vocabulary=vocabulary,
        n_signal_files=n_files,
        problems=pd.concat(problems, ignore_index=True),
        files_without_metadata=files_without_metadata(source),
    )


def summary_dict(summary: SourceSummary, names: dict[str, str] | None = None) -> dict:
    """A JSON-ready dict of a :class:`SourceSummary` (``names``: statement → readable name)."""
    names = names or {}
    d = np.asarray(summary.durations_s, dtype=float)
    return {
        "path": str(summary.root),
        "kind": "source",
        "format": summary.format,
        "n_records": int(summary.n_records),
        "sampling_rates_hz": {f"{rate:g}": int(n) for rate, n in sorted(summary.rates.items())},
        "lengths_s": (
            {"min": float(d.min()), "median": float(np.median(d)), "max": float(d.max())}
            if d.size else None
        ),
        "n_signal_files": int(summary.n_signal_files),
        "files_without_metadata": list(summary.files_without_metadata),
        "statements": [
            {"statement": statement, "name": names.get(statement, ""), "records": int(count)}
            for statement, count in summary.vocabulary.most_common()
        ],
        "problems": summary.problems.astype(str).to_dict("records"),
    }


def format_summary(summary: SourceSummary, top: int | None = None, max_problems: int = 20,
                   names: dict[str, str] | None = None) -> str:
    """Human-readable text of a :class:`SourceSummary`.

    Parameters
    ----------
    summary : what :func:`summarize` found.
    top : list only the ``top`` most frequent statements (``None``: all).
    max_problems : problems listed one per line before "... N more".
    names : statement → readable name, shown after the statement.
    """
    names = names or {}
    lines = [
        f"source: {summary.root}",
        f"format: {summary.format}",
        f"records: {summary.n_records}",
        "sampling rates: "
        + (", ".join(f"{rate:g} Hz: {n}" for rate, n in sorted(summary.rates.items())) or "none found"),
    ]
    if summary.durations_s:
        d = np.asarray(summary.durations_s)
        common = Counter(np.round(d, 2)).most_common(6)
        lines.append(
            f"lengths: min {d.min():g} s, median {np.median(d):g} s, max {d.max():g} s; most common: "
            + ", ".join(f"{length:g} s: {n}" for length, n in common)
        )
    else:
        lines.append("lengths: unknown (no signal headers or sample counts)")
    lines.append(f"signal files: {summary.n_signal_files} of {summary.n_records} present")
    orphans = summary.files_without_metadata
    if orphans:
        lines.append(f"files without a metadata row: {len(orphans)} (never read; first: {orphans[0]})")
    items = summary.vocabulary.most_common(top)
    lines.append(f"label vocabulary: {len(summary.vocabulary)} statements (statement: records)")
    lines += [f"  {statement}: {count}" + (f"  ({names[statement]})" if names.get(statement) else "")
              for statement, count in items]
    if top is not None and len(summary.vocabulary) > top:
        lines.append(f"  ... {len(summary.vocabulary) - top} more")
    problems = summary.problems
    lines.append(f"problems: {len(problems)}" if len(problems) else "problems: none")
    missing = problems["reason"].str.startswith("signal file ") & problems["reason"].str.endswith("does not exist")
    if missing.sum() > 1:
        lines.append(f"  {int(missing.sum())} signal files missing (first: {problems.loc[missing, 'file'].iloc[0]})")
        problems = problems.loc[~missing]
    for row in problems.head(max_problems).itertuples():
        lines.append(f"  {row.record_id}: {row.reason}")
    if len(problems) > max_problems:
        lines.append(f"  ... {len(problems) - max_problems} more")
    return "\n".join(lines)
