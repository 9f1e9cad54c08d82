"""Time every registered corruption on a study-sized batch; prints a table.

Run: .venv/bin/python benchmarks/bench_evaluate_corruptions.py
"""

from __future__ import annotations

import time

import numpy as np

from ecgtriage.evaluate.robustness import CORRUPTIONS, CorruptionNotApplicable, apply_corruption


def main(n: int = 2000, fs: float = 100.0, seconds: float = 10.0) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.3, size=(n, 12, int(fs * seconds))).astype(np.float32)
    print(f"batch {x.shape} at {fs:g} Hz; most severe level of each corruption")
    print(f"{'corruption':24} {'severity':>9} {'seconds':>8}")
    for name, c in CORRUPTIONS.items():
        sev = c.severities[-1]
        t0 = time.perf_counter()
        try:
            apply_corruption(x, name, sev, fs=fs, seed=0)
            took = f"{time.perf_counter() - t0:8.2f}"
        except CorruptionNotApplicable:
            took = "     n/a"
        print(f"{name:24} {sev:9g} {took}")


if __name__ == "__main__":
    main()
