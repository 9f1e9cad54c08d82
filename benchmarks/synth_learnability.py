"""Are the simulated tiers learnable, but not trivially? (report, not a pass/fail test)

Simulates ``--n`` SPH-distributed 10-s records (SPH device model, labels from the real SPH
statement-set distribution), computes hand-made features (per-lead amplitude statistics, heart
rate and RR irregularity, QRS width, ST level and T amplitude per lead, atrial-band power),
and cross-validates a gradient-boosting classifier on the ``tier4`` scheme
(``ecgtriage.labels``). Prints balanced accuracy, macro one-vs-rest AUC, per-tier AUC and the
confusion matrix, next to a majority-class baseline.

Usage: ``python benchmarks/synth_learnability.py [--n 3000] [--workers 2] [--seed 0]``
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from scipy import signal as sps

FS = 500


def _simulate(job: tuple[int, int, str]) -> np.ndarray:
    seed, index, aha = job
    from ecgtriage.io.aha_code import parse_aha_code
    from ecgtriage.synth import simulator
    from ecgtriage.synth.device import sph_device

    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, index)))
    patient = simulator.sample_patient(rng)
    clean = simulator.simulate_ecg([str(s) for s in parse_aha_code(aha)], FS, 10.0, rng, patient=patient)
    return features(sph_device(clean, FS, rng).astype(np.float64))


def features(x: np.ndarray) -> np.ndarray:
    """Fixed-length feature vector of one (12, n) mV record at 500 Hz."""
    sos = sps.butter(2, [5, 25], btype="bandpass", fs=FS, output="sos")
    energy = (sps.sosfiltfilt(sos, x, axis=1) ** 2).sum(axis=0)
    energy = np.convolve(energy, np.ones(40) / 40, mode="same")
    peaks, _ = sps.find_peaks(energy, height=0.25 * np.percentile(energy, 99), distance=int(0.25 * FS))
    rr = np.diff(peaks) / FS
    if len(rr) >= 2:
        hr = 60 / np.median(rr)
        rr_cv = np.std(rr) / np.mean(rr)
        rr_jump = np.max(np.abs(np.diff(rr))) / np.mean(rr) if len(rr) > 2 else 0.0
    else:
        hr, rr_cv, rr_jump = 0.0, 0.0, 0.0
    widths, st, tw = [], [], []
    for p in peaks:
        if p < int(0.3 * FS) or p + int(0.45 * FS) >= x.shape[1]:
            continue
        seg = energy[p - int(0.15 * FS) : p + int(0.15 * FS)]
        widths.append(np.sum(seg > 0.2 * energy[p]) / FS * 1000)
        base = x[:, p - int(0.1 * FS) : p - int(0.06 * FS)].mean(axis=1)
        st.append(x[:, p + int(0.08 * FS)] - base)
        tw.append(x[:, p + int(0.15 * FS) : p + int(0.42 * FS)].mean(axis=1) - base)
    qrs = np.median(widths) if widths else 0.0
    st_med = np.median(st, axis=0) if st else np.zeros(12)
    t_med = np.median(tw, axis=0) if tw else np.zeros(12)
    f, p = sps.welch(x[6], fs=FS, nperseg=1024)
    atrial = p[(f >= 4) & (f <= 9)].sum() / max(p[(f >= 0.5) & (f <= 40)].sum(), 1e-12)
    per_lead = np.concatenate([x.std(axis=1), np.percentile(x, 99, axis=1), np.percentile(x, 1, axis=1)])
    return np.concatenate([[hr, rr_cv, rr_jump, qrs, atrial, len(peaks)], per_lead, st_med, t_med])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import balanced_accuracy_score, confusion_matrix, roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from tqdm.auto import tqdm

    from ecgtriage.labels import encode_targets, load_scheme
    from ecgtriage.synth.labelsets import sample_sph_plan

    plan = sample_sph_plan(args.n, np.random.default_rng(np.random.SeedSequence(args.seed, spawn_key=(0,))))
    scheme = load_scheme("tier4")
    index = pd.DataFrame({"record_id": [r.ecg_id for r in plan], "statements": [r.aha_code for r in plan]})
    y = encode_targets(index, "sph", scheme).y
    jobs = [(args.seed, i, r.aha_code) for i, r in enumerate(plan)]
    with ProcessPoolExecutor(args.workers) as pool:
        X = np.array(list(tqdm(pool.map(_simulate, jobs, chunksize=16), total=len(jobs), desc="simulate")))
    keep = y >= 0
    X, y = X[keep], y[keep]
    classes = [c for i, c in enumerate(scheme.classes) if (y == i).sum() >= 5]
    labels = [scheme.classes.index(c) for c in classes]
    mask = np.isin(y, labels)
    X, y = X[mask], y[mask]
    clf = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.08, class_weight="balanced",
                                         random_state=args.seed)
    cv = StratifiedKFold(5, shuffle=True, random_state=args.seed)
    proba = cross_val_predict(clf, X, y, cv=cv, method="predict_proba")
    pred = np.array(labels)[proba.argmax(axis=1)]
    print(f"records: {len(y)} (tier4 classes with >= 5 records: {', '.join(classes)})")
    print("counts: " + ", ".join(f"{c}={int((y == l).sum())}" for c, l in zip(classes, labels)))
    print(f"majority-class balanced accuracy: {1 / len(labels):.3f}   macro AUC: 0.500")
    print(f"gradient boosting balanced accuracy: {balanced_accuracy_score(y, pred):.3f}   "
          f"macro AUC: {roc_auc_score(y, proba, multi_class='ovr', average='macro', labels=labels):.3f}")
    for k, (c, l) in enumerate(zip(classes, labels)):
        print(f"  AUC {c:9s} vs rest: {roc_auc_score(y == l, proba[:, k]):.3f}")
    print("confusion (rows true, cols predicted): " + " ".join(classes))
    print(confusion_matrix(y, pred, labels=labels))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
