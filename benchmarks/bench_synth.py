"""Throughput of the synthetic corpus pipeline (not a pass/fail test).

Prints a table: per-stage cost on one core (simulate, SPH device, HDF5 write, PTB-XL device +
downsample + two WFDB writes) and end-to-end ``write_sph_corpus`` / ``write_ptbxl_corpus`` with
``--workers`` processes on ``--n`` 10-s 500 Hz records, extrapolated linearly to 10,000 records
(the target is < 60 s on 2 cores). Records are fixed at 10 s here (the SPH plan would draw
longer ones) by benchmarking the stages on 10-s signals and the writers on their real plans.

Usage: ``python benchmarks/bench_synth.py [--n 200] [--workers 2] [--seed 0]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_N = 10_000


def _stage(fn, reps: int) -> float:
    t0 = time.perf_counter()
    for i in range(reps):
        fn(i)
    return (time.perf_counter() - t0) / reps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="records per end-to-end run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=40, help="repetitions per stage timing")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import h5py

    from ecgtriage.synth import corpus, simulator
    from ecgtriage.synth.device import downsample, ptbxl_device, sph_device

    fs, n = 500, 5000
    statements = [["1"], ["50+346"], ["60+341"], ["106"], ["165+332"], ["22;23"]]
    rng = np.random.default_rng(args.seed)
    patient = simulator.sample_patient(rng)
    clean = simulator.simulate_ecg(["1"], fs, 10.0, rng, patient=patient)
    tmp = Path(tempfile.mkdtemp(prefix="bench_synth_"))
    rows: list[tuple[str, str, float]] = []

    def sim(i):
        simulator.simulate_ecg(statements[i % len(statements)][0].split(";"), fs, 10.0,
                               np.random.default_rng(i), patient=patient)

    rows.append(("simulate_ecg (10 s, 1 core)", "per record", _stage(sim, args.reps)))
    rows.append(("sph_device", "per record",
                 _stage(lambda i: sph_device(clean, fs, np.random.default_rng(i)), args.reps)))
    sig16 = sph_device(clean, fs, np.random.default_rng(0))

    def h5(i):
        with h5py.File(tmp / f"{i}.h5", "w") as fh:
            fh.create_dataset("ecg", data=sig16, track_times=False)

    rows.append(("HDF5 write", "per record", _stage(h5, args.reps)))

    def ptb(i):
        hr, _ = ptbxl_device(clean, fs, np.random.default_rng(i))
        corpus._write_wfdb(tmp, f"p/{i}_hr", hr, 500)
        corpus._write_wfdb(tmp, f"p/{i}_lr", downsample(hr, 500, 100), 100)

    rows.append(("ptbxl_device + downsample + 2 WFDB writes", "per record", _stage(ptb, args.reps)))

    ends = []
    for name, writer, kwargs in (
        ("write_sph_corpus", corpus.write_sph_corpus, {}),
        ("write_ptbxl_corpus", corpus.write_ptbxl_corpus, {}),
    ):
        t0 = time.perf_counter()
        out = writer(tmp / name, args.n, args.seed, workers=args.workers, progress=False, **kwargs)
        dt = time.perf_counter() - t0
        if name == "write_sph_corpus":
            import pandas as pd

            secs = pd.read_csv(out / "metadata.csv").N.sum() / fs
            note = f"{secs / args.n:.1f} s mean record length"
        else:
            note = "10 s records"
        ends.append((name, dt, note))

    print(f"cores available: {os.cpu_count()}, workers: {args.workers}, n: {args.n}")
    print(f"{'stage':45s} {'ms/record':>10s} {'records/s':>10s}")
    for name, _, sec in rows:
        print(f"{name:45s} {sec * 1e3:10.2f} {1 / sec:10.1f}")
    print()
    print(f"{'end to end':22s} {'n':>6s} {'seconds':>9s} {'records/s':>10s} {'10k est. s':>11s}  note")
    for name, dt, note in ends:
        rate = args.n / dt
        print(f"{name:22s} {args.n:6d} {dt:9.2f} {rate:10.1f} {TARGET_N / rate:11.1f}  {note}")
    print(f"(10k estimate = linear extrapolation from n={args.n}; target < 60 s on 2 cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
