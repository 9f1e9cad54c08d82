"""I/O throughput on the real PTB-XL: wfdb.rdsamp vs ecgtriage's reader vs the prepared cache.

Usage::

    .venv/bin/python benchmarks/bench_io.py [--source ../shared/data/ptbxl] [--n-read 1000]
        [--batch 64] [--workers 2]

Prints one table. ``prepare`` runs into a temporary folder (so nothing is reused) and its time
is extrapolated linearly to the full PTB-XL (21,837 records). The page cache is warm for all
rows (files were read before), which is the steady state of a training run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

FULL_PTBXL = 21837


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_source = Path(__file__).resolve().parents[2] / "shared" / "data" / "ptbxl"
    parser.add_argument("--source", default=str(default_source))
    parser.add_argument("--n-read", type=int, default=1000, help="records read per reader")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--n-batches", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import wfdb

    from ecgtriage.data.prepare import PrepareConfig, prepare
    from ecgtriage.io.sources import open_source

    source = open_source(args.source)
    meta = source.metadata()
    rng = np.random.default_rng(args.seed)
    ids = list(rng.choice(meta["record_id"].to_numpy(), size=min(args.n_read, len(meta)), replace=False))
    names = meta.set_index("record_id").loc[ids, "filename_lr"].tolist()
    rows = []

    for name in names[:50]:  # warm the page cache so both readers see the same state
        wfdb.rdsamp(str(source.root / name))
    start = time.perf_counter()
    for name in names:
        wfdb.rdsamp(str(source.root / name))
    rows.append(("wfdb.rdsamp (100 Hz .dat)", "records/s", _rate(len(names), time.perf_counter() - start)))

    start = time.perf_counter()
    for rid in ids:
        source.read(rid, fs=100)
    rows.append(("ecgtriage Source.read (fs=100)", "records/s", _rate(len(ids), time.perf_counter() - start)))

    with tempfile.TemporaryDirectory(prefix="bench-io-") as tmp:
        out = Path(tmp) / "cache"
        start = time.perf_counter()
        cache = prepare(source, out, PrepareConfig(), workers=args.workers, progress=False, log=lambda _m: None)
        prep_s = time.perf_counter() - start
        n = len(cache) + len(cache.excluded)
        rows.append((f"prepare {n} records ({args.workers} workers)", "s", prep_s))
        rows.append((f"prepare extrapolated to {FULL_PTBXL}", "s", prep_s * FULL_PTBXL / n))

        signals = cache.signals
        order = rng.permutation(len(cache))
        start = time.perf_counter()
        done = 0
        for b in range(args.n_batches):
            pick = order[(b * args.batch) % len(order):][: args.batch]
            batch = np.asarray(signals[np.sort(pick)], dtype=np.float32)
            done += 1
        rows.append((f"cache shuffled batches of {args.batch} (memmap, float32)", "batches/s", _rate(done, time.perf_counter() - start)))
        del signals, cache, batch

    width = max(len(r[0]) for r in rows)
    print(f"{'measurement'.ljust(width)}  {'value':>10}  unit")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 9}")
    for label, unit, value in rows:
        print(f"{label.ljust(width)}  {value:10.1f}  {unit}")


if __name__ == "__main__":
    main()
