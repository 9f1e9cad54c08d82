"""Difficulty parity (issue 14): the same simple feature baseline on synthetic and real PTB-XL.

A logistic regression on the realism report's measurements (heart rate, PR, QRS, QT/QTc,
frontal axis, P/T amplitudes, R/S amplitudes V1-V6; ``ecgtriage.synth.realism``), 5-fold
patient-grouped cross-validation, Normal (NORM) vs the rest. Real: a random sample of PTB-XL
fold 9 (the shared fold with every record, so natural prevalence). Synthetic: a random sample
of a PTB-XL-format corpus (fold-9 prevalence by construction). The simulator should be no
easier than the real hospital: the two AUROCs should be close.

Usage::

    python scripts/difficulty_parity.py --real ../shared/data/ptbxl --synthetic SYNTH_PTBXL [--n 1000]
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", default="../shared/data/ptbxl")
    parser.add_argument("--synthetic", required=True, help="synthetic PTB-XL-format folder")
    parser.add_argument("--n", type=int, default=1000, help="records measured per corpus")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    from ecgtriage.synth.realism import measure_sample, normal_vs_rest_auroc

    print("| corpus | records (excluded) | Normal share | Normal-vs-rest AUROC |")
    print("|---|---|---|---|")
    for label, path, fold in (("real PTB-XL fold 9", args.real, 9), ("synthetic PTB-XL format", args.synthetic, None)):
        frame = measure_sample(path, args.n, args.seed, fold=fold, workers=args.workers, progress=False)
        auc = normal_vs_rest_auroc(frame, seed=args.seed)
        print(f"| {label} | {len(frame)} ({frame.attrs['n_excluded']}) | {frame.normal.mean():.2f} | "
              f"{auc:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
