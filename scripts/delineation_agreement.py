"""How well NeuroKit2 delineation (``explain.anatomy``) agrees with the simulator's ground truth,
and how often it fails on real PTB-XL records.

1. Writes a small synthetic PTB-XL-format corpus (device noise included, ``fiducials.csv``
   alongside), reads every record at each ``--fs`` through ``ecgtriage.io`` and runs
   ``delineate_fiducials`` on lead II. Truth beats are matched to detected beats by the
   detected R peak lying inside the truth QRS (+-40 ms). Per fiducial it prints the detection
   rate (matched truth beats where the fiducial was found / truth beats that have it), the
   median and IQR of the signed error (detected - truth, ms) and the share within 40 ms; per
   segment, the share of the delineated lead-II mask that lies inside the true segment
   (precision) and of the true segment that it covers (recall).
2. Runs ``delineate`` (all 12 leads) on ``--real`` PTB-XL records (``../shared/data/ptbxl`` by
   default, skipped when absent) and prints the failure rate (empty result with a reason) and
   how many leads kept their own timing.

Usage: ``python scripts/delineation_agreement.py [--n 60] [--seed 0] [--fs 100 500]
[--real 50] [--ptbxl PATH]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

TOL_MS = 40.0
FIDUCIALS = ("p_on", "p_off", "qrs_on", "qrs_off", "t_off")


def match(truth, found, fs: float) -> np.ndarray:
    """Index of the detected beat for each truth beat (-1 when none)."""
    slack = int(round(0.04 * fs))
    out = np.full(len(truth), -1)
    r = found.r_peak
    for k in range(len(truth)):
        a, b = truth.qrs_on[k], truth.qrs_off[k]
        if a < 0:
            continue
        hit = np.flatnonzero((r >= a - slack) & (r <= b + slack))
        if hit.size:
            out[k] = hit[0]
    return out


def synthetic(n: int, seed: int, rates: list[float]) -> None:
    from ecgtriage.explain.anatomy import SEGMENTS, delineate_fiducials, map_fiducials, segment_masks
    from ecgtriage.io.sources import open_source
    from ecgtriage.synth.corpus import write_ptbxl_corpus
    from ecgtriage.synth.fiducials import FIDUCIALS_FILE, read_fiducials

    with tempfile.TemporaryDirectory() as tmp:
        root = write_ptbxl_corpus(Path(tmp) / "ptbxl", n, seed, workers=1, progress=False)
        src = open_source(root)
        for fs in rates:
            errors = {f: [] for f in FIDUCIALS}
            present = Counter()
            found_n = Counter()
            beats = matched = 0
            failures = 0
            inter = {s: 0 for s in SEGMENTS}
            det = {s: 0 for s in SEGMENTS}
            tru = {s: 0 for s in SEGMENTS}
            t0 = time.process_time()
            for rid in src.record_ids():
                rec = src.read(rid, fs=fs)
                n_samples = rec.signal.shape[1]
                truth = map_fiducials(read_fiducials(root / FIDUCIALS_FILE, rid), fs, 0, n_samples)
                got = delineate_fiducials(rec.signal, fs)
                if got.reason:
                    failures += 1
                m = match(truth, got, fs) if not got.reason else np.full(len(truth), -1)
                has_qrs = truth.qrs_on >= 0
                beats += int(has_qrs.sum())
                matched += int((m >= 0).sum())
                for f in FIDUCIALS:
                    tv = getattr(truth, f)
                    sel = has_qrs & (tv >= 0)
                    present[f] += int(sel.sum())
                    for k in np.flatnonzero(sel & (m >= 0)):
                        v = getattr(got, f)[m[k]]
                        if v >= 0:
                            found_n[f] += 1
                            errors[f].append((v - tv[k]) * 1000.0 / fs)
                tm = segment_masks(truth, n_samples)
                dm = segment_masks(got, n_samples)
                for s in SEGMENTS:
                    inter[s] += int((tm[s] & dm[s]).sum())
                    det[s] += int(dm[s].sum())
                    tru[s] += int(tm[s].sum())
            cpu = time.process_time() - t0
            print(f"\n## synthetic, {n} records, lead II at {fs:g} Hz (seed {seed}): "
                  f"{matched}/{beats} truth QRS matched ({matched / max(beats, 1):.1%}), "
                  f"{failures} record(s) failed, {cpu / n * 1000:.0f} ms CPU/record\n")
            print("| fiducial | truth beats | detected | median error ms | IQR ms | within 40 ms |")
            print("|---|---:|---:|---:|---:|---:|")
            for f in FIDUCIALS:
                e = np.asarray(errors[f])
                if e.size:
                    q1, med, q3 = np.percentile(e, [25, 50, 75])
                    within = np.mean(np.abs(e) <= TOL_MS)
                    print(f"| {f} | {present[f]} | {found_n[f] / max(present[f], 1):.1%} | "
                          f"{med:+.0f} | {q1:+.0f} to {q3:+.0f} | {within:.1%} |")
                else:
                    print(f"| {f} | {present[f]} | 0 | - | - | - |")
            print("\n| segment | precision (delineated inside truth) | recall (truth covered) |")
            print("|---|---:|---:|")
            for s in SEGMENTS:
                print(f"| {s} | {inter[s] / max(det[s], 1):.1%} | {inter[s] / max(tru[s], 1):.1%} |")


def real(path: Path, count: int, fs: float) -> None:
    from ecgtriage.explain.anatomy import delineate, delineate_fiducials
    from ecgtriage.io.sources import open_source

    if not (path / "ptbxl_database.csv").is_file():
        print(f"\n(real PTB-XL not found at {path}; skipped)")
        return
    src = open_source(path)
    ids = src.record_ids()
    step = max(1, len(ids) // count)
    picked = ids[::step][:count]
    reasons = Counter()
    own = []
    beats, complete = [], []
    t0 = time.process_time()
    for rid in picked:
        rec = src.read(rid, fs=fs)
        anat = delineate(rec.signal, fs)
        if anat.reason:
            reasons[anat.reason.split(":")[0]] += 1
        else:
            own.append(sum(t == "own" for t in anat.timing))
            f = delineate_fiducials(rec.signal, fs)
            beats.append(len(f))
            complete.append(float(np.mean((f.p_on >= 0) & (f.qrs_on >= 0) & (f.qrs_off >= 0)
                                          & (f.t_off >= 0))) if len(f) else 0.0)
    cpu = time.process_time() - t0
    failed = sum(reasons.values())
    print(f"\n## real PTB-XL, {len(picked)} records (every {step}th id) at {fs:g} Hz: "
          f"{failed} failed ({failed / max(len(picked), 1):.1%}), "
          f"{cpu / max(len(picked), 1):.2f} s CPU/record (12 leads)")
    for r, c in reasons.most_common():
        print(f"- {c} x {r}")
    if beats:
        print(f"- lead II: median {np.median(beats):.0f} beats/record; share of beats with P, QRS "
              f"and T-end boundaries all found: median {np.median(complete):.0%}, "
              f"IQR {np.percentile(complete, 25):.0%} to {np.percentile(complete, 75):.0%}")
    if own:
        print(f"- leads with their own timing: median {np.median(own):.0f}/12, "
              f"min {min(own)}/12 (the rest use lead II's)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60, help="synthetic records (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fs", type=float, nargs="+", default=[100.0, 500.0])
    parser.add_argument("--real", type=int, default=50, help="real PTB-XL records (0: skip)")
    parser.add_argument("--real-fs", type=float, default=100.0)
    parser.add_argument("--ptbxl", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data" / "ptbxl")
    args = parser.parse_args(argv)
    if args.n > 0:
        synthetic(args.n, args.seed, args.fs)
    if args.real > 0:
        real(args.ptbxl, args.real, args.real_fs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
