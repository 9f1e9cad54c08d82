"""Throughput of the synthetic corpus pipeline (not a pass/fail test).

Prints a table: per-stage cost on one core (simulate, SPH device, HDF5 write, PTB-XL device +
downsample + two WFDB writes) and end-to-end ``write_sph_corpus`` / ``write_ptbxl_corpus`` with
``--workers`` processes on ``--n`` 10-s 500 Hz records, extrapolated linearly to 10,000 records
(the target is < 60 s on 2 cores). Records are fixed at 10 s here (the SPH plan would draw
longer ones) by benchmarking the stages on 10-s signals and the writers on their real plans.

Noise is generated at the nine electrodes and the leads derived from them
(``synth/electrodes.py``), which the per-stage rows include.

Usage: ``python benchmarks/bench_synth.py [--n 200] [--workers 2] [--seed 0]``; ``--n 10000``
measures the full 10,000 records instead of extrapolating.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_N = 10_000


def _stage(fn, reps: int) -> float:
    """CPU seconds per call (CPU time, not wall: the machine may be shared)."""
    t0 = time.process_time()
    for i in range(reps):
        fn(i)
    return (time.process_time() - t0) / reps


def _cpu_with_children() -> float:
    own = time.process_time()
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + kids.ru_utime + kids.ru_stime


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
        t0, c0 = time.perf_counter(), _cpu_with_children()
        out = writer(tmp / name, args.n, args.seed, workers=args.workers, progress=False, **kwargs)
        dt, cpu = time.perf_counter() - t0, _cpu_with_children() - c0
        if name == "write_sph_corpus":
            import pandas as pd

            secs = pd.read_csv(out / "metadata.csv").N.sum() / fs
            note = f"{secs / args.n:.1f} s mean record length"
        else:
            note = "10 s records"
        ends.append((name, dt, cpu, note))

    print(f"cores available: {os.cpu_count()}, workers: {args.workers}, n: {args.n}")
    load = os.getloadavg()[0]
    print(f"load average (1 min) before the end-to-end runs: {load:.1f}")
    print(f"{'stage (one core)':45s} {'CPU ms/rec':>10s} {'records/s':>10s}")
    for name, _, sec in rows:
        print(f"{name:45s} {sec * 1e3:10.2f} {1 / sec:10.1f}")
    print()
    print(f"{'end to end':20s} {'n':>5s} {'wall s':>7s} {'rec/s':>7s} {'10k wall s':>10s} "
          f"{'CPU s':>7s} {'10k s, 2 idle cores':>19s}  note")
    for name, dt, cpu, note in ends:
        print(f"{name:20s} {args.n:5d} {dt:7.2f} {args.n / dt:7.1f} {TARGET_N * dt / args.n:10.1f} "
              f"{cpu:7.2f} {TARGET_N * cpu / args.n / 2:19.1f}  {note}")
    print(f"(10k figures extrapolate linearly from n={args.n}; '2 idle cores' = total CPU time of "
          "parent and workers / 2, i.e. the wall time the same work takes on two unshared cores; "
          "target < 60 s)")
    # The corpora are only timed, never read: a 10,000-record run leaves ~3 GB otherwise.
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
