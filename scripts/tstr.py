"""Train on synthetic, test on real (TSTR) beside train on real, test on real (TRTR).

The fidelity figure of the simulator (issue 14): the project's model is trained only on a
synthetic PTB-XL-format corpus (``ecgtriage.synth.corpus.write_ptbxl_corpus``) and tested on
real PTB-XL ``strat_fold`` 9; the same model, trained the same way on the real folds 1-8
(patient-level validation part held out, as ``make_splits`` does without fold 10), is the
ceiling. Both are scored on the same real test records, for the ``tier3`` and
``superdiagnostic`` schemes: macro AUROC (one-vs-rest over classes with positives and
negatives), Normal-vs-abnormal AUROC (score 1 - P(Normal); tier3 class ``Normal``,
superdiagnostic ``NORM``) with a patient-level bootstrap 95 % CI, and per-class sensitivity of
the model card's decisions (``ModelCard.decide``).

Sized for about 10 minutes on 2 CPU cores with the defaults (100 Hz, 10 s, short training);
the caches and the synthetic corpus are reused from ``--work`` when present.

Usage::

    python scripts/tstr.py --real ../shared/data/ptbxl --work /tmp/tstr --out tstr.md
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _normal_index(classes: tuple[str, ...]) -> int:
    for name in ("Normal", "NORM"):
        if name in classes:
            return classes.index(name)
    raise ValueError(f"no Normal class in {classes}")


def score(proba: np.ndarray, targets, rows: np.ndarray, card, patient_ids, seed: int,
          n_boot: int) -> dict:
    """Macro AUROC, Normal-vs-abnormal AUROC (+ patient bootstrap CI), per-class sensitivity."""
    from sklearn.metrics import roc_auc_score

    from ecgtriage.evaluate.bootstrap import cluster_weights, percentile_interval, weighted_auroc

    classes = tuple(targets.classes)
    y = np.asarray(targets.y)[rows]
    known = np.asarray(targets.known)[rows]
    proba, y = proba[known], y[known]
    pids = np.asarray(patient_ids)[known]
    k = _normal_index(classes)
    hot = y.astype(bool) if y.ndim == 2 else np.eye(len(classes), dtype=bool)[y]
    aucs = {}
    for c, name in enumerate(classes):
        if 0 < hot[:, c].sum() < len(hot):
            aucs[name] = float(roc_auc_score(hot[:, c], proba[:, c]))
    abnormal = ~hot[:, k]
    risk = 1.0 - proba[:, k]
    auc_n = float(roc_auc_score(abnormal, risk))
    w = cluster_weights(pids, n_boot, seed)
    lo, hi, _ = percentile_interval(weighted_auroc(risk, abnormal, w))
    decided = card.decide(proba)
    dec_hot = decided if decided.ndim == 2 else np.eye(len(classes), dtype=bool)[decided]
    sens = {name: float((dec_hot[:, c] & hot[:, c]).sum() / hot[:, c].sum())
            for c, name in enumerate(classes) if hot[:, c].any()}
    return {"n_test": int(known.sum()), "macro_auroc": float(np.mean(list(aucs.values()))),
            "auroc": aucs, "normal_vs_abnormal_auroc": auc_n,
            "normal_vs_abnormal_ci": [float(lo), float(hi)], "sensitivity": sens}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", default="../shared/data/ptbxl", help="real PTB-XL folder")
    parser.add_argument("--work", default="tstr_work", help="caches, corpus and runs (reused)")
    parser.add_argument("--out", default=None, help="markdown table file (also printed)")
    parser.add_argument("--synthetic-n", type=int, default=3000, help="synthetic training records")
    parser.add_argument("--synthetic", default=None,
                        help="an existing synthetic PTB-XL-format folder (default: write one)")
    parser.add_argument("--schemes", nargs="+", default=["tier3", "superdiagnostic"])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--regimes", nargs="+", default=["TSTR", "TRTR"], choices=["TSTR", "TRTR"],
                        help="which training sets (TRTR does not depend on the simulator: skip it "
                             "when comparing simulator versions)")
    args = parser.parse_args(argv)

    import torch

    from ecgtriage.data.cache import open_cache
    from ecgtriage.data.prepare import PrepareConfig, prepare
    from ecgtriage.labels import load_scheme, targets_for_cache
    from ecgtriage.labels.splits import make_splits
    from ecgtriage.synth.corpus import write_ptbxl_corpus
    from ecgtriage.train.checkpoint import load_checkpoint
    from ecgtriage.train.config import TrainConfig
    from ecgtriage.train.predict import predict_proba
    from ecgtriage.train.run import train

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    synth_dir = Path(args.synthetic) if args.synthetic else work / f"synth_ptbxl_{args.synthetic_n}_{args.seed}"
    if not synth_dir.exists():
        write_ptbxl_corpus(synth_dir, args.synthetic_n, args.seed, workers=args.threads)
    prep = PrepareConfig()  # 100 Hz, 10 s: the study's default input
    real = prepare(args.real, work / "cache_real", prep, workers=args.threads)
    synth = prepare(synth_dir, work / f"cache_{synth_dir.name}", prep, workers=args.threads)
    real, synth = open_cache(real.path), open_cache(synth.path)
    real_split = make_splits(real.index, "ptbxl", args.seed)
    synth_split = make_splits(synth.index, "ptbxl", args.seed)
    test_ids = real_split.record_id[real_split.split == "test"].astype(str).tolist()
    test_rows = real.rows_for(test_ids)
    patients = real.index.set_index("record_id").loc[test_ids, "patient_id"].astype(str).to_numpy()
    signals = np.asarray(real.signals[test_rows], dtype=np.float32)
    t_prep = time.perf_counter() - t0

    config = TrainConfig(epochs=args.epochs, seed=args.seed, device=args.device, amp="off",
                         num_threads=args.threads, patience=0)
    results = {"config": {"epochs": args.epochs, "seed": args.seed, "synthetic_n": args.synthetic_n,
                          "model": config.model, "real_test": "PTB-XL strat_fold 9",
                          "real_train": dict(getattr(real_split, "roles", {}) or {}),
                          "n_real_train": int((real_split.split == "train").sum()),
                          "n_synthetic_train": int((synth_split.split == "train").sum())},
               "prepare_s": round(t_prep, 1), "runs": {}}
    for name in args.schemes:
        scheme = load_scheme(name)
        real_targets = targets_for_cache(real, scheme)
        # Test rows in the targets' order (targets follow the cache index row order).
        pos = {rid: i for i, rid in enumerate(map(str, real_targets.record_ids))}
        rows = np.array([pos[r] for r in test_ids])
        for regime, cache, split in (("TSTR", synth, synth_split), ("TRTR", real, real_split)):
            if regime not in args.regimes:
                continue
            t1 = time.perf_counter()
            run = train(cache, scheme, work / f"run_{regime}_{name}_{args.seed}_{args.epochs}", config,
                        split, progress=False)
            model, card = load_checkpoint(run, device=args.device)
            proba = predict_proba(model, signals, device=args.device, progress=False)
            res = score(proba, real_targets, rows, card, patients, args.seed, args.n_boot)
            res["seconds"] = round(time.perf_counter() - t1, 1)
            results["runs"][f"{regime} {name}"] = res
            print(f"{regime} {name}: macro AUROC {res['macro_auroc']:.3f}, Normal-vs-abnormal "
                  f"{res['normal_vs_abnormal_auroc']:.3f} [{res['normal_vs_abnormal_ci'][0]:.3f}, "
                  f"{res['normal_vs_abnormal_ci'][1]:.3f}] ({res['seconds']} s)", flush=True)
    results["total_s"] = round(time.perf_counter() - t0, 1)
    text = markdown(results)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
        Path(args.out).with_suffix(".json").write_text(json.dumps(results, indent=1))
    return 0


def markdown(results: dict) -> str:
    """The TSTR/TRTR table as README markdown."""
    lines = ["| scheme | trained on | macro AUROC | Normal-vs-abnormal AUROC (95 % CI) | sensitivity per class |",
             "|---|---|---|---|---|"]
    for key, r in results["runs"].items():
        regime, scheme = key.split(" ", 1)
        where = "synthetic (TSTR)" if regime == "TSTR" else "real folds 1-8 (TRTR)"
        lo, hi = r["normal_vs_abnormal_ci"]
        sens = ", ".join(f"{c} {v:.2f}" for c, v in r["sensitivity"].items())
        lines.append(f"| {scheme} | {where} | {r['macro_auroc']:.3f} | "
                     f"{r['normal_vs_abnormal_auroc']:.3f} ({lo:.3f}-{hi:.3f}) | {sens} |")
    c = results["config"]
    lines.append("")
    lines.append(f"Test: real PTB-XL fold 9 ({next(iter(results['runs'].values()))['n_test']} records with a "
                 f"label); {c['model']}, {c['epochs']} epochs, seed {c['seed']}; synthetic training "
                 f"records {c['n_synthetic_train']} (of {c['synthetic_n']}), real {c['n_real_train']}; "
                 f"total {results['total_s']:.0f} s.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
