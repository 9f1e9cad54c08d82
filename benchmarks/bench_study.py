"""The main command's cost: `ecgtriage study` phase by phase, against bare loops on its arrays.

    python benchmarks/bench_study.py                 # the embedded synthetic default study
    python benchmarks/bench_study.py --small         # 600 + 200 records, 2 epochs (minutes)
    python benchmarks/bench_study.py --config X.yaml # any study configuration file
    python benchmarks/bench_study.py --keep DIR      # keep the study folder (default: a temp one)

Runs ``ecgtriage study`` as a new user would (a subprocess, fresh folder), prints the phase
table from ``results.json`` ``timings`` and the command's wall time, then, in the same run and
on the same models and arrays:

* **predictions**: the study's prediction phase in records per second (every record of every
  clean and corrupted table, over the phase's wall time, corruption and CSV writing included)
  against a bare eager-PyTorch ``inference_mode`` loop and a bare ONNX Runtime loop (when the
  ``onnx`` extra is installed) over the clean test arrays, each model in turn;
* **training**: the study's training phase in training records per second (epochs run ×
  training-split records, over the phase's wall time: validation, threshold tuning and
  checkpoints included) against a bare AdamW loop on the same model, training split (in RAM)
  and number of epochs, for the first cell.

Shared machines are noisy: quote the ratios, and the absolute time with the core count printed
in the header.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

SMALL = {"data": {"synthetic": {"n_train": 600, "n_external": 200}}, "train": {"epochs": 2}}


def run_command(out: Path, config: Path | None) -> float:
    """``ecgtriage study --out OUT [--config FILE]`` in a subprocess; returns its wall time."""
    cmd = [sys.executable, "-m", "ecgtriage", "study", "--out", str(out)]
    if config is not None:
        cmd += ["--config", str(config)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def study_objects(out: Path):
    from ecgtriage.study.config import load_study_config
    from ecgtriage.study.data import plan_data
    from ecgtriage.study.run import grid

    cfg = load_study_config(out / "config.json", out=str(out))
    plan = plan_data(cfg, out)
    return cfg, plan, grid(cfg, plan, out)


def bare_inference(out: Path, results: dict) -> dict[str, float]:
    """Records/s of bare loops (eager PyTorch, ONNX Runtime) over the clean test arrays."""
    from ecgtriage.study.predict import load_signals, onnx_available, onnx_predictor
    from ecgtriage.study.testsets import clean_test_sets
    from ecgtriage.train.checkpoint import load_checkpoint

    cfg, plan, cells = study_objects(out)
    arrays = [load_signals(ts, list(ts.record_ids)) for ts in clean_test_sets(plan, [])[0]]
    n = sum(len(a) for a in arrays) * len(cells)
    batch = cfg.evaluation.batch_size
    models = [load_checkpoint(c.run_dir, device="cpu")[0].eval() for c in cells]
    t0 = time.perf_counter()
    with torch.inference_mode():
        for model in models:
            for x in arrays:
                xt = torch.from_numpy(x)
                for i in range(0, len(xt), batch):
                    model(xt[i:i + batch])
    rates = {"bare PyTorch inference_mode loop": n / (time.perf_counter() - t0)}
    if onnx_available():
        sessions = [onnx_predictor(m, batch_size=batch) for m in models]
        t0 = time.perf_counter()
        for predict in sessions:
            for x in arrays:
                predict(x)
        rates["bare ONNX Runtime loop"] = n / (time.perf_counter() - t0)
    return rates


def bare_training(out: Path) -> tuple[float, int, str]:
    """Training records/s of a bare AdamW loop: first cell's model, training split, epochs."""
    from ecgtriage.labels import load_scheme, targets_for_cache
    from ecgtriage.models import create_model

    cfg, plan, cells = study_objects(out)
    cell = cells[0]
    scheme = load_scheme(cell.scheme)
    targets = targets_for_cache(plan.train.cache, scheme)
    ids = plan.splits.loc[plan.splits["split"] == "train", "record_id"].astype(str)
    pos = {str(r): i for i, r in enumerate(targets.record_ids)}
    idx = np.asarray([pos[r] for r in ids if r in pos])
    idx = idx[np.asarray(targets.known, bool)[idx]]
    rows = plan.train.cache.rows_for([str(targets.record_ids[i]) for i in idx])
    x = torch.from_numpy(np.asarray(plan.train.cache.signals[np.sort(rows)], np.float32))
    y = torch.from_numpy(np.asarray(targets.y)[idx][np.argsort(np.argsort(rows))])
    epochs = len(pd.read_csv(cell.run_dir / "metrics.csv"))
    torch.manual_seed(0)
    model = create_model(cfg.train.model, n_samples=x.shape[-1], fs=plan.train.cache.fs,
                         n_outputs=len(scheme.classes))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr)
    gen = torch.Generator().manual_seed(0)
    bs = cfg.train.batch_size
    t0 = time.perf_counter()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), bs):
            b = perm[start:start + bs]
            logits = model(x[b])
            loss = (F.binary_cross_entropy_with_logits(logits, y[b].float()) if scheme.multilabel
                    else F.cross_entropy(logits, y[b].long()))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return epochs * len(x) / (time.perf_counter() - t0), epochs, cell.id


def study_training_rate(out: Path, training_s: float) -> float:
    """Training records/s of the study: Σ cells (epochs run × training records) / phase time."""
    _, plan, cells = study_objects(out)
    records = 0
    for cell in cells:
        n_train = (pd.read_csv(cell.run_dir / "splits.csv")["split"] == "train").sum()
        records += len(pd.read_csv(cell.run_dir / "metrics.csv")) * int(n_train)
    return records / training_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="600 + 200 records, 2 epochs")
    ap.add_argument("--config", type=Path, help="a study configuration file")
    ap.add_argument("--keep", type=Path, help="study folder to keep (default: a temp folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_study_") as tmp:
        out = args.keep or Path(tmp) / "study"
        config = args.config
        if args.small and config is None:
            config = Path(tmp) / "small.json"
            config.write_text(json.dumps(SMALL))
        wall = run_command(out, config)
        results = json.loads((out / "results.json").read_text())
        timings = results["timings"]
        n_cells = timings.get("models_trained", 0) + timings.get("models_reused", 0)
        predicted = sum(t["n_records"] for t in results["test_sets"]) * n_cells
        study_pred = predicted / max(timings["predictions_s"], 1e-9)
        bare_pred = bare_inference(out, results)
        study_train = study_training_rate(out, max(timings["training_s"], 1e-9))
        bare_train, epochs, cell_id = bare_training(out)

    print(f"\n`ecgtriage study{' --config ' + str(args.config) if args.config else ''}"
          f"{' (--small)' if args.small else ''}`: {wall:.0f} s = {wall / 60:.1f} min wall; "
          f"{platform.platform()}, {platform.processor() or platform.machine()}, "
          f"os.cpu_count {os.cpu_count()}, torch threads {torch.get_num_threads()}, "
          f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} at the end\n")
    print("| phase (results.json timings) | seconds | minutes |")
    print("|---|---:|---:|")
    for key, value in timings.items():
        if key.endswith("_s"):
            print(f"| {key[:-2]} | {value:.1f} | {value / 60:.2f} |")
    counts = ", ".join(f"{k} {v}" for k, v in timings.items() if not k.endswith("_s"))
    print(f"| **command wall time** | **{wall:.1f}** | **{wall / 60:.2f}** |\n\n{counts}\n")
    print("| loop | records/s | study / bare |")
    print("|---|---:|---:|")
    print(f"| study prediction phase ({predicted:,} records: clean + corrupted × models) "
          f"| {study_pred:,.0f} | |")
    for name, rate in bare_pred.items():
        print(f"| {name} (clean test arrays × models) | {rate:,.0f} | {study_pred / rate:.2f} |")
    print(f"| study training phase (all cells, validation and checkpoints included) "
          f"| {study_train:,.0f} | |")
    print(f"| bare AdamW loop ({cell_id}'s model and training split, {epochs} epochs) "
          f"| {bare_train:,.0f} | {study_train / bare_train:.2f} |")


if __name__ == "__main__":
    main()
