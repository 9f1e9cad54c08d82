"""Learning curve of the synthetic default: validation score vs epochs and vs corpus size.

    python benchmarks/learning_curve.py --study DIR                 # a study folder's cache
    python benchmarks/learning_curve.py --study DIR --epochs 2 4 6 --fractions 0.5 1
    python benchmarks/learning_curve.py --n-train 600               # generate a corpus first

Trains one model per (scheme, training-set fraction, epoch budget) with the study's default
training settings (``study.config.default_train_config``) on the study's own patient-level
split, and prints one Markdown table: the best validation score of each run (macro-F1 for the
tier schemes, macro-AUROC for aha44, the metric early stopping watches), the epoch it was
reached, and the run's training seconds. Each epoch budget is its own run because the
one-cycle schedule anneals the learning rate to the end of the budget: the score after epoch 4
of a 10-epoch run is not what a 4-epoch run reaches. A smaller fraction keeps a seeded random
subset of the training patients' records (validation is unchanged), so the sizes compare on
the same validation records.

The default study's epochs and corpus size are chosen from this table: the smallest budget
whose score is within the seed-to-seed noise of the largest.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", type=Path, help="existing study folder (its cache and split)")
    ap.add_argument("--n-train", type=int, default=600,
                    help="without --study: records of the generated training corpus")
    ap.add_argument("--schemes", nargs="+", default=["tier3", "tier4", "aha44"])
    ap.add_argument("--epochs", nargs="+", type=int, default=[2, 4, 6, 10])
    ap.add_argument("--fractions", nargs="+", type=float, default=[0.5, 1.0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()

    from ecgtriage.labels import load_scheme, targets_for_cache
    from ecgtriage.study.config import default_train_config, load_study_config
    from ecgtriage.study.data import plan_data
    from ecgtriage.train.run import train

    with tempfile.TemporaryDirectory(prefix="learning_curve_") as tmp:
        study = args.study
        if study is None:
            study = Path(tmp) / "study"
            cfg = load_study_config(None, out=str(study),
                                    **{"data.synthetic": {"n_train": args.n_train,
                                                          "n_external": 10}})
        else:
            cfg = load_study_config(study / "config.json", out=str(study))
        plan = plan_data(cfg, study)
        splits = plan.splits.astype({"record_id": str})
        base = dataclasses.replace(default_train_config(), seed=args.seed, num_threads=None)
        rows = []
        for scheme_name in args.schemes:
            scheme = load_scheme(scheme_name)
            targets = targets_for_cache(plan.train.cache, scheme)  # once per scheme
            for fraction in args.fractions:
                train_ids = splits.loc[splits["split"] == "train", "record_id"]
                keep = np.random.default_rng(args.seed).permutation(len(train_ids))
                keep = np.sort(keep[: max(1, int(round(fraction * len(train_ids))))])
                sub = pd.concat([splits[splits["split"] != "train"],
                                 splits[splits["split"] == "train"].iloc[keep]])
                n_train = int((sub["split"] == "train").sum())
                for epochs in args.epochs:
                    run_dir = Path(tmp) / f"{scheme_name}-{fraction:g}-{epochs}"
                    config = dataclasses.replace(base, epochs=epochs)
                    t0 = time.perf_counter()
                    train(plan.train.cache, scheme, run_dir, config, sub, targets=targets,
                          resume=False, progress=False)
                    seconds = time.perf_counter() - t0
                    history = pd.read_csv(run_dir / "metrics.csv")
                    metric = "macro_auroc" if scheme.multilabel else "macro_f1"
                    best = int(history[metric].idxmax())
                    rows.append({"scheme": scheme_name, "n_train": n_train, "epochs": epochs,
                                 "metric": metric, "best": float(history[metric].max()),
                                 "last": float(history[metric].iloc[-1]),
                                 "best_epoch": int(history["epoch"].iloc[best]),
                                 "seconds": round(seconds, 1)})
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(f"\nlearning curve: {plan.train.name}, {len(splits)} records "
          f"(val {int((splits['split'] == 'val').sum())}), seed {args.seed}, "
          f"default_train_config() with the epochs below\n")
    print("| scheme | metric | training records | epochs | best val | last val | best epoch "
          "| seconds |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['scheme']} | {r['metric']} | {r['n_train']} | {r['epochs']} | "
              f"{r['best']:.3f} | {r['last']:.3f} | {r['best_epoch']} | {r['seconds']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
