"""Time the patient-level bootstrap on study-sized inputs; prints a table.

Run: .venv/bin/python benchmarks/bench_evaluate_bootstrap.py
"""

from __future__ import annotations

import time

import numpy as np

from ecgtriage.evaluate.bootstrap import bootstrap_metrics


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for n, n_boot in ((3000, 1000), (5000, 1000)):
        pids = [f"p{i // 2}" for i in range(n)]
        # tier4: single-label, 4 classes
        y = rng.integers(0, 4, n)
        logits = rng.normal(size=(n, 4)) + 2 * np.eye(4)[y]
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        t0 = time.perf_counter()
        bootstrap_metrics(y, p, pids, multilabel=False, n_boot=n_boot, seed=0)
        rows.append(("tier4", n, n_boot, time.perf_counter() - t0))
        # aha44: multi-label, 44 classes
        y44 = rng.random((n, 44)) < 0.05
        p44 = np.clip(0.5 * y44 + 0.5 * rng.random((n, 44)), 0, 1)
        t0 = time.perf_counter()
        bootstrap_metrics(y44, p44, pids, multilabel=True, n_boot=n_boot, seed=0)
        rows.append(("aha44", n, n_boot, time.perf_counter() - t0))
    print(f"{'scheme':8} {'records':>8} {'resamples':>10} {'seconds':>8}")
    for scheme, n, b, s in rows:
        print(f"{scheme:8} {n:8d} {b:10d} {s:8.2f}")


if __name__ == "__main__":
    main()
