"""Training throughput: the project's trainer vs a bare PyTorch loop on the same model and tensors.

    python benchmarks/bench_train.py                      # CPU, resnet1d_small, 100 Hz × 10 s
    python benchmarks/bench_train.py --device cuda        # GPU with bf16 autocast in both loops
    python benchmarks/bench_train.py --model resnet1d_ribeiro --fs 400 --seconds 10.24 --device cuda

Prints a Markdown table of training samples/s. The loops run in interleaved rounds (bare,
trainer without augmentation, trainer with the default augmentation, repeated ``--rounds``
times) so that a shared machine's fluctuating load hits them alike; each run's first epoch is a
warm-up, and the table gives the median over the remaining epochs of all rounds. The trainer's
figure is its own per-epoch ``samples_per_s`` (training only, validation excluded); the target
is trainer / bare ≥ 0.9.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ecgtriage.data.dataset import SignalDataset
from ecgtriage.models import create_model
from ecgtriage.train.config import TrainConfig
from ecgtriage.train.run import train_on_arrays

# The toy task is test-only code kept in tests/; reuse it rather than keep a second copy.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from toy import make_toy_task  # noqa: E402


def bare_loop(x: torch.Tensor, y: torch.Tensor, args, device: torch.device) -> list[float]:
    """Plain PyTorch: shuffled batches from a RAM tensor, AdamW, BCE, no extras."""
    torch.manual_seed(0)
    model = create_model(args.model, n_samples=x.shape[-1], fs=args.fs, n_outputs=y.shape[1]).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = x.to(device), y.to(device)
    gen = torch.Generator().manual_seed(0)
    amp = device.type == "cuda" and args.amp != "off"
    dtype = torch.bfloat16 if args.amp == "bf16" else torch.float16
    rates = []
    for _ in range(args.epochs):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        seen = 0
        perm = torch.randperm(len(x), generator=gen).to(device)
        model.train()
        for start in range(0, len(x), args.batch_size):
            idx = perm[start:start + args.batch_size]
            with torch.autocast(device.type, dtype=dtype, enabled=amp):
                loss = F.binary_cross_entropy_with_logits(model(x[idx]).float(), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(idx)
        loss.item()
        rates.append(seen / (time.perf_counter() - t0))
    return rates


def trainer(xs: np.ndarray, ys: np.ndarray, args, augment: bool) -> list[float]:
    n = len(xs)
    train = SignalDataset(xs, np.arange(n - 32), ys[:n - 32])
    val = SignalDataset(xs, np.arange(n - 32, n), ys[n - 32:])
    cfg = TrainConfig(model=args.model, epochs=args.epochs, batch_size=args.batch_size, lr=1e-3,
                      patience=0, device=args.device, amp=args.amp, num_threads=args.threads,
                      deterministic=args.device == "cpu",
                      noise_std=0.01 if augment else 0.0,
                      scale_range=(0.8, 1.2) if augment else (1.0, 1.0))
    with tempfile.TemporaryDirectory() as out:
        rates = []
        train_on_arrays(train, val, classes=[f"c{i}" for i in range(ys.shape[1])], multilabel=True,
                        ordered=False, fs=args.fs, config=cfg, out_dir=out, scheme_name="bench",
                        scheme_version="1", progress=False,
                        on_epoch_end=lambda e, row: rates.append(row["samples_per_s"]))
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--model", default="resnet1d_small")
    ap.add_argument("--fs", type=float, default=100.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--n", type=int, default=544, help="records (32 of them are the validation set)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--amp", default="bf16", choices=["bf16", "fp16", "off"], help="CUDA only")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    n_samples = round(args.fs * args.seconds)
    xs, ys = make_toy_task(args.n, 5, fs=args.fs, n_samples=n_samples, multilabel=True, seed=0)
    n_train = args.n - 32
    names = ("bare PyTorch loop", "trainer (augmentation off)", "trainer (default augmentation)")
    results: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.rounds):
        results[names[0]] += bare_loop(torch.from_numpy(xs[:n_train]), torch.from_numpy(ys[:n_train]),
                                       args, device)[1:]
        results[names[1]] += trainer(xs, ys, args, augment=False)[1:]
        results[names[2]] += trainer(xs, ys, args, augment=True)[1:]
    base = statistics.median(results[names[0]])
    amp = args.amp if args.device == "cuda" else "off"
    print(f"\n{args.model}, {args.fs:g} Hz × {args.seconds:g} s ({n_samples} samples), batch "
          f"{args.batch_size}, {n_train} training records, device {args.device}"
          f"{' (' + torch.cuda.get_device_name() + ')' if args.device == 'cuda' else ''}, amp {amp}, "
          f"torch threads {torch.get_num_threads()}, {args.rounds} rounds × {args.epochs} epochs (first of each not timed)\n")
    print("| loop | samples/s (median) | ratio to bare |")
    print("|---|---:|---:|")
    for name, rates in results.items():
        med = statistics.median(rates)
        print(f"| {name} | {med:,.0f} | {med / base:.2f} |")


if __name__ == "__main__":
    main()
