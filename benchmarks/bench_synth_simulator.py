"""Per-record cost of the physiological simulator (clean signal only; not a pass/fail test).

Prints CPU milliseconds per record for a few statement sets, sampling rates and durations.
The corpus target (10,000 records of 10 s at 500 Hz in < 60 s on 2 cores) leaves about 12 ms
per record per core for simulation plus noise and device filtering.

Usage: ``python benchmarks/bench_synth_simulator.py [--reps 100]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ecgtriage.synth.simulator import EXTRA_PATHOLOGIES, SPH_STATEMENTS, simulate_ecg

CASES = [
    ("normal", ["1"]),
    ("AF rapid + RBBB + T abn.", ["50+346", "106", "147"]),
    ("VPC bigeminy", ["60+341"]),
    ("LBBB", ["104"]),
    ("old anteroseptal MI + ST dep.", ["165+332", "145+362"]),
    ("flutter", ["51"]),
    ("paced", ["PACE"]),
]


def _cpu_ms(statements, fs, duration, reps) -> float:
    rng = np.random.default_rng(0)
    simulate_ecg(statements, fs, duration, rng)  # warm caches
    t0 = time.process_time()
    for _ in range(reps):
        simulate_ecg(statements, fs, duration, rng)
    return (time.process_time() - t0) / reps * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=100)
    args = parser.parse_args(argv)
    print(f"{'case':32s} {'fs':>4s} {'dur s':>6s} {'CPU ms/record':>14s}")
    for name, statements in CASES:
        print(f"{name:32s} {500:4d} {10:6.0f} {_cpu_ms(statements, 500, 10.0, args.reps):14.2f}")
    for fs in (100, 250):
        print(f"{'normal':32s} {fs:4d} {10:6.0f} {_cpu_ms(['1'], fs, 10.0, args.reps):14.2f}")
    print(f"{'normal':32s} {500:4d} {60:6.0f} {_cpu_ms(['1'], 500, 60.0, args.reps // 4):14.2f}")
    everything = [str(c) for c in SPH_STATEMENTS] + list(EXTRA_PATHOLOGIES)
    rng = np.random.default_rng(1)
    t0 = time.process_time()
    for k in range(args.reps):
        simulate_ecg([everything[k % len(everything)]], 500, 10.0, rng)
    mixed = (time.process_time() - t0) / args.reps * 1000
    print(f"{'each statement in turn':32s} {500:4d} {10:6.0f} {mixed:14.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
