"""Derive the synthetic-corpus statistics tables in ``src/ecgtriage/synth/data/``.

Reads the real SPH ``metadata.csv`` / ``code.csv`` and the PTB-XL ``ptbxl_database.csv`` /
``scp_statements.csv`` and writes aggregate counts only (no record, patient or date of any
individual), so the tables can ship with the package:

SPH
  ``sph_label_sets.csv``         statement set (sorted, ``;``-joined) -> records
  ``sph_lengths.csv``            primary code -> record length N (samples at 500 Hz) -> records
                                 carrying that code (length is confounded with label: kept)
  ``sph_demographics.csv``       group (normal / abnormal) x sex x age -> records
  ``sph_records_per_patient.csv`` records per patient -> patients
  ``sph_code.csv``               Category, Code, Description (the 44 statements + 15 modifiers)
  ``sph_summary.json``           record count, date range

PTB-XL (statement prevalence from ``strat_fold`` 9 only: the shared copy of folds 1-8 is
enriched for rare statements, fold 9 is complete and therefore representative)
  ``ptbxl_label_sets.csv``       SCP statement set -> records
  ``ptbxl_likelihoods.csv``      SCP statement x likelihood -> occurrences
  ``ptbxl_heart_axis.csv``       context (LAFB / LPFB / other) x heart_axis -> records
  ``ptbxl_stadium.csv``          column x context (mi / no_mi) x value -> records
  ``ptbxl_demographics.csv``     sex (0 male, 1 female) x age -> records
  ``ptbxl_quality.csv``          quality column -> fraction of records annotated
  ``scp_statements.csv``         copy of the release's statement table (CC-BY 4.0)

PhysioNet/CinC Challenge 2021
  ``dx_mapping_scored.csv``, ``dx_mapping_unscored.csv``  copies (CC-BY 4.0), shipped with
                                 Challenge-format corpora so readers can check ``#Dx`` codes

Usage: ``python scripts/make_synth_stats.py [--data ../shared/data] [--out src/ecgtriage/synth/data]``
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd

from ecgtriage.io.aha_code import format_statements, parse_aha_code

REPO = Path(__file__).resolve().parents[1]
MI_SCP = {"IMI", "ASMI", "ILMI", "AMI", "ALMI", "LMI", "IPLMI", "IPMI", "PMI",
          "INJAS", "INJAL", "INJIN", "INJLA", "INJIL"}


def _sph(data: Path, out: Path) -> None:
    meta_path = data / "sph" / "metadata.csv"
    meta = pd.read_csv(meta_path, dtype={"AHA_Code": str})
    codes = pd.read_csv(data / "sph" / "code.csv")
    known = set(codes.loc[codes.Category != "Modifier", "Code"].astype(int))
    modifiers = set(codes.loc[codes.Category == "Modifier", "Code"].astype(int))

    sets: Counter[str] = Counter()
    lengths: Counter[tuple[int, int]] = Counter()
    demo: Counter[tuple[str, str, int]] = Counter()
    for row in meta.itertuples(index=False):
        stmts = parse_aha_code(row.AHA_Code, known, modifiers, where=f"{meta_path}: {row.ECG_ID}")
        key = format_statements(sorted(stmts, key=lambda s: (s.code, s.modifier or 0)))
        sets[key] += 1
        for code in sorted({s.code for s in stmts}):
            lengths[(code, int(row.N))] += 1
        group = "normal" if key == "1" else "abnormal"
        demo[(group, row.Sex, int(row.Age))] += 1

    pd.DataFrame(sorted(sets.items(), key=lambda kv: (-kv[1], kv[0])), columns=["aha_code", "n"]).to_csv(
        out / "sph_label_sets.csv", index=False)
    pd.DataFrame([(c, n, k) for (c, n), k in sorted(lengths.items())],
                 columns=["code", "n_samples", "n"]).to_csv(out / "sph_lengths.csv", index=False)
    pd.DataFrame([(g, s, a, k) for (g, s, a), k in sorted(demo.items())],
                 columns=["group", "sex", "age", "n"]).to_csv(out / "sph_demographics.csv", index=False)
    per_patient = meta.Patient_ID.value_counts().value_counts().sort_index()
    pd.DataFrame({"records": per_patient.index, "n_patients": per_patient.values}).to_csv(
        out / "sph_records_per_patient.csv", index=False)
    shutil.copyfile(data / "sph" / "code.csv", out / "sph_code.csv")
    summary = {
        "n_records": int(len(meta)),
        "n_patients": int(meta.Patient_ID.nunique()),
        "date_min": str(meta.Date.min()),
        "date_max": str(meta.Date.max()),
        "fs": 500,
        "source": "SPH metadata.csv (Liu et al., Sci Data 2022), CC-BY 4.0; counts only",
    }
    (out / "sph_summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def _ptbxl(data: Path, out: Path) -> None:
    db_path = data / "ptbxl" / "ptbxl_database.csv"
    db = pd.read_csv(db_path)
    fold9 = db[db.strat_fold == 9]
    sets: Counter[str] = Counter()
    likelihoods: Counter[tuple[str, float]] = Counter()
    axis: Counter[tuple[str, str]] = Counter()
    stadium: Counter[tuple[str, str, str]] = Counter()
    for row in fold9.itertuples(index=False):
        scp = ast.literal_eval(row.scp_codes)
        if not isinstance(scp, dict):
            raise ValueError(f"{db_path}: ecg_id {row.ecg_id}: scp_codes is not a dict literal")
        sets[";".join(sorted(scp))] += 1
        for code, lik in scp.items():
            likelihoods[(code, float(lik))] += 1
        context = "LAFB" if "LAFB" in scp else "LPFB" if "LPFB" in scp else "other"
        axis[(context, row.heart_axis if isinstance(row.heart_axis, str) else "")] += 1
        mi = "mi" if MI_SCP & set(scp) else "no_mi"
        for col in ("infarction_stadium1", "infarction_stadium2"):
            value = getattr(row, col)
            stadium[(col, mi, value if isinstance(value, str) else "")] += 1

    pd.DataFrame(sorted(sets.items(), key=lambda kv: (-kv[1], kv[0])), columns=["scp_codes", "n"]).to_csv(
        out / "ptbxl_label_sets.csv", index=False)
    pd.DataFrame([(c, lk, k) for (c, lk), k in sorted(likelihoods.items())],
                 columns=["scp", "likelihood", "n"]).to_csv(out / "ptbxl_likelihoods.csv", index=False)
    pd.DataFrame([(c, a, k) for (c, a), k in sorted(axis.items())],
                 columns=["context", "heart_axis", "n"]).to_csv(out / "ptbxl_heart_axis.csv", index=False)
    pd.DataFrame([(c, m, v, k) for (c, m, v), k in sorted(stadium.items())],
                 columns=["column", "context", "value", "n"]).to_csv(out / "ptbxl_stadium.csv", index=False)
    # Demographics from every shared record: age and sex are not what the rare-statement
    # enrichment selected on, so more records give a smoother distribution.
    demo = db.dropna(subset=["age"]).groupby(["sex", "age"]).size().reset_index(name="n")
    demo["age"] = demo.age.astype(int)
    demo.to_csv(out / "ptbxl_demographics.csv", index=False)
    quality_cols = ["baseline_drift", "static_noise", "burst_noise", "electrodes_problems",
                    "extra_beats", "pacemaker"]
    pd.DataFrame({"column": quality_cols,
                  "fraction": [round(float(fold9[c].notna().mean()), 5) for c in quality_cols]}).to_csv(
        out / "ptbxl_quality.csv", index=False)
    shutil.copyfile(data / "ptbxl" / "scp_statements.csv", out / "scp_statements.csv")


def _challenge(data: Path, out: Path) -> None:
    for name in ("dx_mapping_scored.csv", "dx_mapping_unscored.csv"):
        shutil.copyfile(data / "cinc2021" / name, out / name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "src" / "ecgtriage" / "synth" / "data")
    args = parser.parse_args(argv)
    for needed in ("sph/metadata.csv", "sph/code.csv", "ptbxl/ptbxl_database.csv",
                   "ptbxl/scp_statements.csv", "cinc2021/dx_mapping_scored.csv",
                   "cinc2021/dx_mapping_unscored.csv"):
        if not (args.data / needed).is_file():
            raise FileNotFoundError(f"{args.data / needed}: required input not found")
    args.out.mkdir(parents=True, exist_ok=True)
    _sph(args.data, args.out)
    _ptbxl(args.data, args.out)
    _challenge(args.data, args.out)
    print(f"wrote statistics tables to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
