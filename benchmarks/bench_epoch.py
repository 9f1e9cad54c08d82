"""Seconds per training epoch of each backbone, on the machine it runs on, at the shared PTB-XL
split's size and with a training preset's protocol.

    python benchmarks/bench_epoch.py                                   # 2-core CPU, real-cpu preset
    python benchmarks/bench_epoch.py --device cuda --preset benchmark  # one GPU, bf16, batch 128

The answer to "how long does a model take per epoch here": each model is trained by the
project's trainer (``train_on_arrays``) for ``--epochs`` epochs on generated records of the real
shape (12 leads, 100 Hz × 10 s; a convolution's cost does not depend on what the signal shows),
``--train`` training and ``--val`` validation records (default: the shared PTB-XL subset's 2,968
and 332). The first epoch is a warm-up; the table gives the median of the others: the training
part (``metrics.csv`` ``train_seconds``) and the whole epoch including the sliding-window
validation. Models run one after another, so on a shared machine compare rows of one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ecgtriage.data.dataset import SignalDataset
from ecgtriage.train.presets import preset, preset_names
from ecgtriage.train.run import train_on_arrays

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from toy import make_toy_task  # noqa: E402

MODELS = ("resnet1d_small", "xresnet1d50", "xresnet1d101", "resnet1d_wang", "inception1d", "resnet1d_ribeiro")


def time_model(model: str, xs: np.ndarray, ys: np.ndarray, n_train: int, config) -> dict:
    """Median training and whole-epoch seconds of ``model`` after the first epoch."""
    train = SignalDataset(xs, np.arange(n_train), ys[:n_train])
    val = SignalDataset(xs, np.arange(n_train, len(xs)), ys[n_train:])
    ends: list[float] = []
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        train_on_arrays(train, val, classes=["Normal", "Monitor", "Serious"], multilabel=False,
                        ordered=True, fs=100.0, config=replace(config, model=model), out_dir=out,
                        scheme_name="tier3", scheme_version="bench", progress=False, resume=False,
                        on_epoch_end=lambda e, row: ends.append(time.perf_counter()))
        metrics = pd.read_csv(Path(out) / "metrics.csv")
    whole = np.diff([t0, *ends])[1:]
    return {"model": model, "train_s": statistics.median(metrics["train_seconds"].iloc[1:]),
            "epoch_s": float(statistics.median(whole))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS[:5]))
    ap.add_argument("--preset", default="real-cpu", choices=preset_names())
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--train", type=int, default=2968)
    ap.add_argument("--val", type=int, default=332)
    ap.add_argument("--epochs", type=int, default=2, help="epochs per model, the first not counted")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.epochs < 2:
        ap.error("--epochs: at least 2 (the first is a warm-up)")
    config = preset(args.preset, epochs=args.epochs, device=args.device, num_threads=args.threads,
                    patience=0, **({"amp": "off"} if args.device == "cpu" else {}))
    xs, ys = make_toy_task(args.train + args.val, 3, fs=100.0, n_samples=1000, multilabel=False, seed=0)
    rows = []
    for model in args.models.split(","):
        rows.append(time_model(model, xs, ys, args.train, config))
        print(f"{model}: {rows[-1]['train_s']:.1f} s training, {rows[-1]['epoch_s']:.1f} s per epoch",
              file=sys.stderr, flush=True)
    where = (torch.cuda.get_device_name() if args.device == "cuda"
             else f"CPU, {args.threads or torch.get_num_threads()} torch threads")
    print(f"\npreset {args.preset} (window {config.window_s} s, sliding {config.predict_stride_s} s, "
          f"batch {config.batch_size}, amp {config.amp}), {args.train} training / {args.val} "
          f"validation records of 100 Hz × 10 s, {where}\n")
    print("| model | training s/epoch | whole epoch s (with validation) |")
    print("|---|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['train_s']:.1f} | {r['epoch_s']:.1f} |")


if __name__ == "__main__":
    main()
